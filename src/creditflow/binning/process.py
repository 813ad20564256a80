"""`BinningProcess`: supervised binning of every column of a table, and WOE encoding (scikit-learn API)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from creditflow.binning.variable import (
    BinningSettings,
    VariableBinning,
    category_keys,
    fit_categorical,
    fit_numeric,
)
from creditflow.data.errors import CreditflowError, DataError, SchemaError
from creditflow.data.io import check_numeric_text

PARALLEL_CELLS = 2_000_000
"""Bin the columns in several threads when the table has at least this many cells."""


def as_frame(X: Any) -> pd.DataFrame:
    """Accept a DataFrame, a creditflow Dataset, or an array (columns named x0, x1, ...)."""
    if hasattr(X, "X") and isinstance(X.X, pd.DataFrame):
        return X.X
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise DataError(f"expected a 2-D table, got an array of shape {arr.shape}")
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])


def as_target(y: Any, X: Any = None) -> np.ndarray:
    """0/1 target as float64, from `y` or a Dataset's own target."""
    if y is None and hasattr(X, "y"):
        y = X.y
    if y is None:
        raise DataError("a target is needed to fit")
    arr = np.asarray(y, dtype=float).ravel()
    if np.isnan(arr).any():
        raise DataError("target has missing values")
    if not np.isin(arr, (0.0, 1.0)).all():
        raise DataError(f"target must be 0/1 (1 = bad), found values {np.unique(arr)[:10].tolist()}")
    if arr.min() == arr.max():
        raise DataError("target has a single class; need both goods and bads")
    return arr


def is_categorical(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype))


class BinningProcess(TransformerMixin, BaseEstimator):
    """Supervised binning of all columns and WOE encoding.

    Parameters
    ----------
    max_bins, min_bin_share, n_prebins, monotonic, alpha
        See `BinningSettings`: at most `max_bins` regular bins, each holding at least
        `min_bin_share` of the rows, WOE monotonic in the value (auto picks the better direction, and
        bins free of a trend only when their extra likelihood passes a BIC test).
    special_values
        Values that get their own named bin, e.g. ``[-999]`` for every column or ``{"x_001": [-1]}``.
    user_splits
        ``{column: [split, ...]}`` for numeric or ``{column: [[cat, ...], ...]}`` for categorical
        columns; honoured as given, or refused with the reason.
    categorical
        Numeric columns to treat as categorical codes.
    """

    def __init__(
        self,
        max_bins: int = 8,
        min_bin_share: float = 0.03,
        n_prebins: int = 50,
        monotonic: str = "auto",
        special_values: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
        user_splits: Mapping[str, Sequence[Any]] | None = None,
        categorical: Sequence[str] | None = None,
        alpha: float = 0.5,
    ) -> None:
        self.max_bins = max_bins
        self.min_bin_share = min_bin_share
        self.n_prebins = n_prebins
        self.monotonic = monotonic
        self.special_values = special_values
        self.user_splits = user_splits
        self.categorical = categorical
        self.alpha = alpha

    def _settings(self) -> BinningSettings:
        s = BinningSettings(self.max_bins, self.min_bin_share, self.n_prebins, self.monotonic, self.alpha)
        s.check()
        return s

    def _specials(self, name: str) -> list[float]:
        sv = self.special_values
        if sv is None:
            return []
        if isinstance(sv, Mapping):
            return [float(v) for v in sv.get(name, [])]
        return [float(v) for v in sv]

    def fit(self, X: Any, y: Any = None, progress: Callable[[str], None] | None = None) -> BinningProcess:
        """Fit the bins of every column of `X` against the 0/1 target `y` (1 = bad)."""
        yv = as_target(y, X)
        frame = as_frame(X)
        if len(frame) != len(yv):
            raise DataError(f"X has {len(frame)} rows but y has {len(yv)}")
        settings = self._settings()
        unknown = set(self.user_splits or {}) - set(frame.columns)
        if unknown:
            raise CreditflowError(f"user splits given for columns not in the data: {sorted(unknown)}")
        categorical = set(self.categorical or [])
        check_numeric_text(frame, skip={str(c) for c in categorical})
        self.bins_: dict[str, VariableBinning] = {}

        def fit_one(name: Any) -> VariableBinning:
            col = frame[name]
            user = (self.user_splits or {}).get(name)
            try:
                if name in categorical or is_categorical(col):
                    return fit_categorical(str(name), category_keys(col), yv, settings, self._specials(name), user)
                x = col.to_numpy(dtype=float, na_value=np.nan)
                return fit_numeric(str(name), x, yv, settings, self._specials(name), user)
            except CreditflowError as exc:
                exc.column = exc.column or str(name)
                raise

        # columns are independent and their sorts release the GIL: on a large table, bin them on
        # all cores (the bins do not depend on the order or the thread a column is fitted in)
        workers = min(os.cpu_count() or 1, 8) if len(frame) * frame.shape[1] >= PARALLEL_CELLS else 1
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for name, vb in zip(frame.columns, pool.map(fit_one, frame.columns), strict=True):
                self.bins_[str(name)] = vb
                if progress is not None:
                    progress(str(name))
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.iv_ = pd.Series({k: v.iv for k, v in self.bins_.items()}, name="iv").sort_values(ascending=False)
        return self

    @property
    def tables_(self) -> dict[str, pd.DataFrame]:
        """Binning table of every variable (bin, count, share, goods, bads, bad_rate, woe, iv)."""
        check_is_fitted(self, "bins_")
        return {k: v.table() for k, v in self.bins_.items()}

    def binning_table(self, variable: str) -> pd.DataFrame:
        check_is_fitted(self, "bins_")
        if variable not in self.bins_:
            raise CreditflowError(f"no binning for variable {variable!r}")
        return self.bins_[variable].table()

    def _check_columns(self, frame: pd.DataFrame, variables: Sequence[str]) -> None:
        missing = [v for v in variables if v not in frame.columns]
        if missing:
            raise SchemaError(
                f"{len(missing)} model column(s) missing from the data: {missing[:10]}",
                column=missing[0],
            )

    def transform(self, X: Any, variables: Sequence[str] | None = None) -> pd.DataFrame:
        """WOE of every fitted (or each named) variable, as float64 columns of the same names."""
        check_is_fitted(self, "bins_")
        frame = as_frame(X)
        names = list(variables) if variables is not None else list(self.bins_)
        self._check_columns(frame, names)
        return pd.DataFrame({n: self.bins_[n].transform(frame[n]) for n in names}, index=frame.index)

    def bin_indices(self, X: Any, variables: Sequence[str] | None = None) -> pd.DataFrame:
        """Bin index of every value (int32 columns); look labels up in `bins_[v].labels`."""
        check_is_fitted(self, "bins_")
        frame = as_frame(X)
        names = list(variables) if variables is not None else list(self.bins_)
        self._check_columns(frame, names)
        return pd.DataFrame({n: self.bins_[n].bin_indices(frame[n]) for n in names}, index=frame.index)

    def unseen_counts(self, X: Any, variables: Sequence[str] | None = None) -> dict[str, int]:
        """Rows per categorical variable whose category was not seen in training (they go to Unseen)."""
        idx = self.bin_indices(X, variables)
        out = {}
        for n in idx.columns:
            vb = self.bins_[n]
            if vb.kind == "categorical":
                k = int((idx[n].to_numpy() == len(vb.labels) - 1).sum())
                if k:
                    out[n] = k
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "bins_")
        return np.asarray(list(self.bins_), dtype=object)

    def to_dict(self) -> dict:
        check_is_fitted(self, "bins_")
        return {"params": self.get_params(), "variables": [v.to_dict() for v in self.bins_.values()]}

    @classmethod
    def from_dict(cls, data: dict) -> BinningProcess:
        params = dict(data.get("params", {}))
        obj = cls(**{k: v for k, v in params.items() if k in cls().get_params()})
        obj.bins_ = {d["name"]: VariableBinning.from_dict(d) for d in data["variables"]}
        obj.feature_names_in_ = np.asarray(list(obj.bins_), dtype=object)
        obj.n_features_in_ = len(obj.bins_)
        obj.iv_ = pd.Series({k: v.iv for k, v in obj.bins_.items()}, name="iv").sort_values(ascending=False)
        return obj

    def _repr_html_(self) -> str:
        check_is_fitted(self, "bins_")
        return self.iv_.to_frame().to_html()
