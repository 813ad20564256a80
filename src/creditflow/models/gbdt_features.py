"""Turning a table into the float matrix a LightGBM model reads, the same way at fit, batch and single-row scoring.

Numeric columns become float64 (missing = NaN; text that is not a number is refused). Categorical
columns (text, or numeric codes named as categorical) become the position of their category in a
stored, sorted category list; missing stays NaN, and a category not seen in training gets the code
just past the list, which every LightGBM categorical split sends to its "other" side. Such rows are
counted (`unseen_counts`) so the caller can say so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from creditflow.binning.process import refuse_nested_value
from creditflow.binning.variable import category_key, category_keys, numeric_values, row_number
from creditflow.data.errors import SchemaError


@dataclass
class FeatureEncoder:
    """Model inputs in order, and the category list of each categorical input (plain data)."""

    features: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame, categorical: Sequence[str]) -> FeatureEncoder:
        """Learn the columns of `frame` and the sorted categories of each `categorical` column."""
        cats = {}
        for name in frame.columns:
            if name in categorical:
                keys = category_keys(frame[name])
                cats[str(name)] = sorted({k for k in keys if k is not None})
        return cls(features=[str(c) for c in frame.columns], categories=cats)

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, f in enumerate(self.features) if f in self.categories]

    def _lookup(self, name: str) -> dict[str, int]:
        cache = self.__dict__.setdefault("_lookups", {})
        if name not in cache:
            cache[name] = {category_key(c): i for i, c in enumerate(self.categories[name])}  # older keys too
        return cache[name]

    def check_columns(self, frame: pd.DataFrame, file: str | None = None) -> None:
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise SchemaError(f"{len(missing)} model column(s) missing from the data: {missing[:10]}",
                              file=file, column=missing[0])

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The (rows, features) float64 C-ordered matrix of `frame`'s model columns."""
        self.check_columns(frame)
        out = np.empty((len(frame), len(self.features)), dtype=np.float64)
        for j, name in enumerate(self.features):
            col = frame[name]
            if name in self.categories:
                out[:, j] = self._codes(name, category_keys(col))
            else:
                out[:, j] = numeric_values(col, name)
                inf = np.isinf(out[:, j])
                if inf.any():
                    raise SchemaError(f"{int(inf.sum())} infinite value(s)", column=name,
                                      row=int(np.flatnonzero(inf)[0]) + 1,
                                      hint="replace them with a missing value")
        return out

    def _codes(self, name: str, keys: np.ndarray) -> np.ndarray:
        lookup = self._lookup(name)
        unseen = float(len(lookup))
        codes = np.array(pd.Series(keys, dtype=object).map(lookup).to_numpy(dtype=float, na_value=np.nan))
        missing = pd.isna(keys)
        codes[np.isnan(codes) & ~missing] = unseen
        return codes

    def row(self, row: Mapping[str, Any]) -> np.ndarray:
        """One applicant (a dict) as a (1, features) matrix, exactly as `matrix` encodes a one-row table."""
        out = np.empty((1, len(self.features)), dtype=np.float64)
        for j, name in enumerate(self.features):
            try:
                value = row[name]
            except KeyError:
                raise SchemaError("model field missing from the applicant", column=name) from None
            refuse_nested_value(value, name)
            if name in self.categories:
                if isinstance(value, float) and np.isinf(value):  # as `refuse_infinite` in a table
                    raise SchemaError(f"infinite value {value!r}", column=name)
                key = category_key(value)
                lookup = self._lookup(name)
                out[0, j] = np.nan if key is None else float(lookup.get(key, len(lookup)))
            else:
                out[0, j] = _number(value, name)
        return out

    def unseen_counts(self, frame: pd.DataFrame, variables: Sequence[str] | None = None) -> dict[str, int]:
        """Rows per categorical input whose category was not seen in training."""
        out = {}
        for name in variables or self.features:
            if name in self.categories and name in frame.columns:
                keys = category_keys(frame[name])
                lookup = self._lookup(name)
                n = int(sum(1 for k in keys if k is not None and k not in lookup))
                if n:
                    out[name] = n
        return out

    def is_unseen(self, X: np.ndarray) -> np.ndarray:
        """(rows, features) bool: the value is a category unseen in training."""
        flags = np.zeros(X.shape, dtype=bool)
        for j, name in enumerate(self.features):
            if name in self.categories:
                flags[:, j] = X[:, j] == len(self.categories[name])
        return flags

    def to_dict(self) -> dict:
        return {"features": list(self.features), "categories": {k: list(v) for k, v in self.categories.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureEncoder:
        return cls(features=list(data["features"]), categories={k: list(v) for k, v in data["categories"].items()})


def _number(value: Any, name: str) -> float:
    """A single value as float (missing as NaN), read as the scorecards read one (`row_number`); infinities,
    written as text ("inf", "1e400") too, are refused."""
    out = row_number(value, name)
    if np.isinf(out):
        raise SchemaError(f"infinite value {value!r}", column=name)
    return out
