"""The stability step of variable selection: a variable whose rows spread over its bins differently from one
training period to another is dropped (`SelectionSettings.max_csi`).

It runs only when the training rows carry a time column (a `Dataset` read with ``time=``, ``creditflow train
--time``). The periods are those of the out-of-time split (calendar months of dates, or the values themselves),
in time order; a period with fewer than `MIN_PERIOD_ROWS` training rows is pooled with the next (the last with
the one before), so that sampling noise alone stays well below the threshold. For each variable still
selected after the missing-rate and IV steps, the CSI of every period against the whole training sample,

    CSI = Σ (a − e) · ln(a / e)   over the variable's bins (Missing and special bins included),

e and a being the shares of the bins in the whole training sample and in the period (each floored at 1e-4,
as in `evaluation.stability`), is computed from the bin counts, and the variable is dropped when the largest
exceeds `max_csi`. Only counts of rows per (period, bin) are needed, so cluster training sums them per piece.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from creditflow.evaluation.stability import psi_from_shares
from creditflow.selection.filters import reads_above

MIN_PERIOD_ROWS = 500
"""Fewest training rows in a period the stability step compares; smaller periods are pooled with the next.

With k bins, the CSI of a period of n rows drawn from an unchanged population is about (k − 1) / n from
sampling alone (n · CSI is close to a χ² with k − 1 degrees of freedom): at 500 rows and the default 8 bins
plus Missing, 0.016 on average and under 0.06 in 999 periods of 1,000, far below the default threshold 0.25."""


def period_groups(periods: pd.Series | np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(group code of every training row, name of each group): the rows' periods in time order, each period of
    fewer than `MIN_PERIOD_ROWS` rows pooled with the next one (what is left at the end with the group before).
    One group (or none) means the step cannot run."""
    values = pd.Series(np.asarray(periods, dtype=object) if not isinstance(periods, pd.Series) else periods)
    counts = values.value_counts(sort=False).sort_index()
    group = np.zeros(len(counts), dtype=np.int64)
    bounds: list[tuple[int, int]] = []  # first and last period of each group
    start, rows = 0, 0
    for i, n in enumerate(counts.to_numpy()):
        rows += int(n)
        if rows >= MIN_PERIOD_ROWS:
            bounds.append((start, i))
            start, rows = i + 1, 0
    if start < len(counts):  # a short tail joins the last group
        if bounds:
            bounds[-1] = (bounds[-1][0], len(counts) - 1)
        else:
            bounds.append((start, len(counts) - 1))
    labels = [str(v) for v in counts.index]
    names = []
    for k, (a, b) in enumerate(bounds):
        group[a : b + 1] = k
        names.append(labels[a] if a == b else f"{labels[a]} to {labels[b]}")
    code = pd.Series(group, index=counts.index)
    return code.reindex(values.to_numpy()).to_numpy(dtype=np.int64), names


def period_bin_counts(groups: np.ndarray, bins: np.ndarray, n_groups: int, n_bins: int) -> np.ndarray:
    """Rows per (period group, bin) as an (n_groups, n_bins) float array."""
    flat = np.asarray(groups, dtype=np.int64) * n_bins + np.asarray(bins, dtype=np.int64)
    return np.bincount(flat, minlength=n_groups * n_bins).astype(float).reshape(n_groups, n_bins)


def period_csi(counts: np.ndarray) -> np.ndarray:
    """CSI of each period (row of `counts`) against all the periods together."""
    whole = counts.sum(axis=0)
    expected = whole / whole.sum()
    out = np.zeros(len(counts))
    for k, row in enumerate(counts):
        total = row.sum()
        out[k] = float(psi_from_shares(expected, row / total).sum()) if total > 0 else 0.0
    return out


def stability_filter(
    counts: Mapping[str, np.ndarray], names: list[str], max_csi: float
) -> tuple[dict[str, float], dict[str, str]]:
    """The largest period CSI of every variable (`counts`: its rows per (period group, bin)) and the reasons of
    those above `max_csi`."""
    worst: dict[str, float] = {}
    dropped: dict[str, str] = {}
    for var, table in counts.items():
        csi = period_csi(table)
        k = int(np.argmax(csi))
        worst[var] = float(csi[k])
        if csi[k] > max_csi:
            above = int((csi > max_csi).sum())
            dropped[var] = (f"CSI {reads_above(float(csi[k]), max_csi, 3)} > {max_csi} in period {names[k]} against the whole training sample "
                            f"({above} of {len(names)} training periods above {max_csi})")
    return worst, dropped
