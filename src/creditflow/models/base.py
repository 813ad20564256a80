"""What every creditflow model offers, so bundles, scoring, reports and the service treat them alike."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from creditflow.data.dictionary import FieldDictionary
from creditflow.scoring.scaling import Grades, Scaling


@runtime_checkable
class CreditModel(Protocol):
    """A fitted model: probabilities of bad, integer scores, and a JSON form for the bundle."""

    model_type: str
    features_: list[str]
    scaling_: Scaling
    grades_: Grades
    dictionary_: FieldDictionary

    def predict_proba(self, X: Any) -> np.ndarray: ...

    def scores(self, X: Any) -> pd.DataFrame: ...

    def score_row(self, row: dict) -> dict: ...

    def to_bundle(self) -> dict[str, Any]: ...

    @classmethod
    def from_bundle(cls, files: dict[str, Any]) -> CreditModel: ...


MODEL_TYPES: dict[str, str] = {
    "scorecard": "creditflow.models.scorecard:Scorecard",
    "gbdt": "creditflow.models.gbdt:GBDTModel",
    "boosted-scorecard": "creditflow.models.boosted:BoostedScorecard",
}


def model_class(model_type: str) -> type:
    """The class registered for a bundle's model type."""
    import importlib

    from creditflow.data.errors import BundleError

    if model_type not in MODEL_TYPES:
        raise BundleError(f"unknown model type {model_type!r}; known: {sorted(MODEL_TYPES)}")
    module, _, name = MODEL_TYPES[model_type].partition(":")
    return getattr(importlib.import_module(module), name)


def coerce_settings(value: Any, cls: type) -> Any:
    """A settings dataclass from None (defaults), an instance, or a dict of its fields."""
    from collections.abc import Mapping

    from creditflow.data.errors import CreditflowError

    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        try:
            return cls(**value)
        except TypeError as exc:
            raise CreditflowError(f"bad {cls.__name__} settings: {exc}") from None
    raise CreditflowError(f"expected {cls.__name__} or dict, got {type(value).__name__}")


def jsonable_params(params: dict) -> dict:
    """An estimator's `get_params()` for model.json: settings dataclasses as dicts, the dictionary left out."""
    from dataclasses import asdict

    out = {}
    for k, v in params.items():
        if k == "dictionary":
            continue
        if hasattr(v, "__dataclass_fields__"):
            v = asdict(v)
        out[k] = v
    return out
