"""Shipping a fitted model to the workers as its bundle documents (plain JSON and text, no pickled model)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

from creditflow.bundle import Bundle, dumps

_CACHE: OrderedDict[str, Any] = OrderedDict()
_CACHE_SIZE = 4


class ModelDocs:
    """A model's bundle documents and their digest; each worker rebuilds the model once per digest."""

    def __init__(self, model_type: str, docs: dict[str, Any]) -> None:
        self.model_type = model_type
        self.docs = dict(docs)
        digest = hashlib.sha256(model_type.encode())
        for name in sorted(self.docs):
            doc = self.docs[name]
            digest.update(name.encode() + b"\0" + (doc.encode() if isinstance(doc, str) else dumps(doc)))
        self.digest = digest.hexdigest()

    @classmethod
    def of(cls, model: Any) -> ModelDocs:
        """The documents of a fitted model (`model.to_bundle()`)."""
        return cls(model.model_type, model.to_bundle())

    @classmethod
    def of_bundle(cls, bundle: Bundle) -> ModelDocs:
        """Every verified document of a loaded bundle (reason codes included)."""
        return cls(bundle.manifest.get("model_type") or bundle.model.model_type, bundle.files)

    def bundle(self) -> Bundle:
        """A `Bundle` holding the rebuilt model and the documents (cached in this process)."""
        found = _CACHE.get(self.digest)
        if found is None:
            from creditflow.models.base import model_class

            model = model_class(self.model_type).from_bundle(self.docs)
            found = Bundle(path=Path("."), model=model, files=self.docs, manifest={"model_type": self.model_type})
            _CACHE[self.digest] = found
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        return found

    def model(self) -> Any:
        """The model rebuilt with `from_bundle` (cached in this process)."""
        return self.bundle().model
