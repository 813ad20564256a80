"""Shipping a fitted model to the workers as its bundle documents (plain JSON, no pickled model object)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

from creditflow.bundle import dumps

_CACHE: OrderedDict[str, Any] = OrderedDict()
_CACHE_SIZE = 4


class ModelDocs:
    """A model's bundle documents and their digest; each worker rebuilds the model once per digest."""

    def __init__(self, docs: dict[str, Any]) -> None:
        self.docs = dict(docs)
        digest = hashlib.sha256()
        for name in sorted(self.docs):
            doc = self.docs[name]
            digest.update(name.encode() + b"\0" + (doc.encode() if isinstance(doc, str) else dumps(doc)))
        self.digest = digest.hexdigest()

    @classmethod
    def of(cls, model: Any) -> ModelDocs:
        """The documents of a fitted model (`model.to_bundle()`)."""
        return cls(model.to_bundle())

    def model(self) -> Any:
        """The model rebuilt with `from_bundle` (cached in this process)."""
        model = _CACHE.get(self.digest)
        if model is None:
            from creditflow.models.base import model_class

            model = model_class(self.docs["model.json"]["model_type"]).from_bundle(self.docs)
            _CACHE[self.digest] = model
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        return model
