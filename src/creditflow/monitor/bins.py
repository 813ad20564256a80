"""Bin layouts for monitoring: the model's own bins, or quantile / category bins for models without them.

A layout is a `VariableBinning` used only for its mapping of values to bins (no goods, bads or WOE),
so Missing, special values and unseen categories land in the same named bins as at scoring.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from creditflow.binning.process import is_categorical
from creditflow.binning.variable import VariableBinning, category_keys

QUANTILE_BINS = 10
"""Equal-count bins for a numeric variable the model has no bins for (deciles)."""
TOP_CATEGORIES = 20
"""A categorical variable without model bins keeps its most frequent categories as bins; the rest share one."""
MAX_CATEGORIES = 1000
"""A categorical variable without model bins and more categories than this (an identifier, free text) keeps
only its `TOP_CATEGORIES` bins; the others are not listed, so they fall in the Unseen bin, at training as now,
and the baseline stays small. (Its category set is not stored either: no unseen-category note for it.)"""


def layout_spec(vb: VariableBinning) -> dict[str, Any]:
    """The plain-data form of a layout (what baseline.json stores)."""
    return {
        "kind": vb.kind,
        "splits": [float(s) for s in vb.splits],
        "groups": [list(g) for g in vb.groups],
        "special_values": [float(v) for v in vb.special_values],
        "labels": vb.labels,
    }


def layout_from_spec(name: str, spec: dict[str, Any]) -> VariableBinning:
    """Rebuild a layout from `layout_spec` output."""
    return VariableBinning(
        name=name, kind=spec["kind"], splits=list(spec.get("splits", [])),
        groups=[list(g) for g in spec.get("groups", [])], special_values=list(spec.get("special_values", [])),
    )


def quantile_splits(values: np.ndarray, bins: int = QUANTILE_BINS) -> list[float]:
    """Interior cut points at the quantiles of the finite values (fewer when values tie)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return []
    qs = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
    cuts = np.unique(qs)
    return [float(c) for c in cuts if c > finite.min()]


def own_layout(name: str, series: pd.Series, bins: int = QUANTILE_BINS, top: int = TOP_CATEGORIES) -> VariableBinning:
    """Layout for a variable without model bins: deciles (numeric) or the `top` categories (text)."""
    if not is_categorical(series):
        x = series.to_numpy(dtype=float, na_value=np.nan)
        return VariableBinning(name=name, kind="numeric", splits=quantile_splits(x, bins))
    keys = pd.Series(category_keys(series)).dropna()
    counts = keys.value_counts(sort=False)
    order = sorted(counts.index, key=lambda k: (-int(counts[k]), k))
    groups = [[k] for k in order[:top]]
    rest = sorted(order[top:])
    if rest and len(order) <= MAX_CATEGORIES:
        groups.append(rest)
    return VariableBinning(name=name, kind="categorical", groups=groups)


def bin_counts(vb: VariableBinning, series: pd.Series, codes: np.ndarray | None = None, n_groups: int = 1) -> np.ndarray:
    """Rows per bin (int64), one row per group code 0..n_groups-1 (all rows in one row without codes)."""
    return grouped_counts(vb.bin_indices(series).astype(np.intp), len(vb.labels), codes, n_groups)


def numeric_codes(vb: VariableBinning, x: np.ndarray, has_nan: bool = True) -> np.ndarray:
    """`vb.bin_indices` for a float array (NaN = missing) as int16, faster on big tables: a few vectorised
    comparisons instead of a binary search per value. Bin i holds [splits[i-1], splits[i]); then Missing,
    then one bin per special value. `has_nan=False` skips the missing-value pass (the caller knows)."""
    splits = vb.splits
    if len(splits) > 24:
        idx = np.searchsorted(np.asarray(splits, dtype=float), x, side="right").astype(np.int16)
    else:
        idx = np.zeros(len(x), dtype=np.int16)
        for s in splits:
            idx += x >= s  # NaN compares False
    if has_nan:
        idx[np.isnan(x)] = vb.missing_index
    for k, v in enumerate(vb.special_values):
        idx[x == v] = vb.missing_index + 1 + k
    return idx


def numeric_indices(vb: VariableBinning, x: np.ndarray) -> np.ndarray:
    """`numeric_codes` as intp: exactly `vb.bin_indices` of the same values."""
    return numeric_codes(vb, x).astype(np.intp)


def grouped_counts(idx: np.ndarray, n_bins: int, codes: np.ndarray | None = None, n_groups: int = 1) -> np.ndarray:
    """Rows per bin (int64) for bin indices `idx`, one row per group code (all rows in one row without codes).

    Small integer inputs are combined in int16 when the product fits, so ten million rows cost one
    widening pass instead of several full-width ones.
    """
    if codes is None:
        return np.bincount(idx.astype(np.intp, copy=False), minlength=n_bins)[None, :]
    if n_groups * n_bins < np.iinfo(np.int16).max and idx.dtype == np.int16 and codes.dtype == np.int16:
        key = (codes * np.int16(n_bins)) + idx
    else:
        key = codes.astype(np.intp, copy=False) * n_bins + idx
    counts = np.bincount(key.astype(np.intp, copy=False), minlength=n_groups * n_bins)
    return counts.reshape(n_groups, n_bins)
