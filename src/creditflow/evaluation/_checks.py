"""Shared by the evaluation functions: input checks (one binary target, one finite score, same length) and interval labels."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from creditflow.data.errors import DataError


def check_target(y: ArrayLike, *, need_both: bool = True) -> np.ndarray:
    """`y` as an int8 array of 0/1 (1 = bad); refuse other values and, when asked, a single class."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise DataError(f"target must be one-dimensional, got shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.int8)
    try:
        num = arr.astype(float)
    except (TypeError, ValueError):
        raise DataError("target must be 0/1 (1 = bad), got non-numeric values") from None
    if np.isnan(num).any():
        row = int(np.flatnonzero(np.isnan(num))[0]) + 1
        raise DataError(f"target has {int(np.isnan(num).sum())} missing value(s)", row=row)
    if not np.isin(num, (0.0, 1.0)).all():
        bad = np.unique(num[~np.isin(num, (0.0, 1.0))])[:5].tolist()
        raise DataError(f"target must be 0/1 (1 = bad), found values {bad}")
    out = num.astype(np.int8)
    if need_both and (out.size == 0 or out.min() == out.max()):
        raise DataError("target needs both goods (0) and bads (1)")
    return out


def check_values(values: ArrayLike, n: int, name: str = "score", *, allow_missing: bool = False) -> np.ndarray:
    """`values` as a float array of length `n`; refuse infinities and (unless allowed) missing values."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be numeric") from None
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise DataError(f"found inconsistent numbers of samples: target has {n}, {name} has {arr.shape[0]}")
    if np.isinf(arr).any():
        raise DataError(f"{name} has infinite values", row=int(np.flatnonzero(np.isinf(arr))[0]) + 1)
    if not allow_missing and np.isnan(arr).any():
        raise DataError(
            f"{name} has {int(np.isnan(arr).sum())} missing value(s)", row=int(np.flatnonzero(np.isnan(arr))[0]) + 1
        )
    return arr


def risk_of(y: ArrayLike, values: ArrayLike, higher_is_better: bool, name: str = "score") -> tuple[np.ndarray, np.ndarray]:
    """(y, risk) where risk grows with the chance of bad: `values` itself, or `-values` for a credit score."""
    yy = check_target(y)
    v = check_values(values, yy.shape[0], name)
    return yy, (-v if higher_is_better else v)


def interval_labels(cuts: np.ndarray) -> list[str]:
    """Labels "[a, b)" of the intervals between -inf, the sorted `cuts` and +inf.

    Printed with 6 significant digits, or more where that would make two labels alike (cuts that
    differ only past the sixth digit), so every interval keeps a label of its own.
    """
    bounds = np.r_[-np.inf, cuts, np.inf]
    for digits in range(6, 18):
        labels = [f"[{bounds[i]:.{digits}g}, {bounds[i + 1]:.{digits}g})" for i in range(bounds.size - 1)]
        if len(set(labels)) == len(labels):
            break
    return labels
