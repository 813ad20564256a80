"""Fine bins for the boosted scorecard: up to a few hundred quantile bins per numeric column, one bin per
category, and the named Missing / Special / Unseen bins of `VariableBinning`.

The fine bins are what the boosting learns a shape on; the final, readable bins are unions of
adjacent fine bins (numeric) or groups of categories (categorical), so every final bin boundary is
a fine boundary and the same `VariableBinning.bin_indices` maps values at fit and at scoring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditflow.binning.variable import ValueCounts, VariableBinning, category_keys


@dataclass
class FineLayout:
    """Where a variable's fine bins are: regular bins 0..n_regular-1, then Missing, Specials, (Unseen)."""

    n_bins: int
    n_regular: int
    ordered: bool  # numeric: regular bins are ordered by value; categorical: no order

    @property
    def missing(self) -> int:
        return self.n_regular


def fine_numeric(name: str, x: np.ndarray, special_values: list[float], max_bins: int) -> VariableBinning:
    """Quantile fine bins of a numeric column (float array, NaN = missing): each distinct value its own
    bin when there are at most `max_bins` of them, else split points at equal-count quantiles."""
    regular = ~np.isnan(x)
    for v in special_values:
        regular &= x != v
    uniq, counts = np.unique(x[regular], return_counts=True)
    return fine_numeric_counts(name, uniq, counts, special_values, max_bins)


def fine_numeric_counts(
    name: str, uniq: np.ndarray, counts: np.ndarray, special_values: list[float], max_bins: int
) -> VariableBinning:
    """`fine_numeric` from the sorted distinct regular values and their row counts."""
    splits: np.ndarray = np.array([], dtype=float)
    if len(uniq):
        if len(uniq) <= max_bins:
            splits = uniq[1:]
        else:
            # the first distinct value whose cumulative count reaches each k/max_bins step ends a bin
            cum = np.cumsum(counts)
            targets = np.arange(1, max_bins) * (cum[-1] / max_bins)
            pos = np.unique(np.searchsorted(cum, targets, side="left"))
            pos = pos[pos < len(uniq) - 1]
            splits = uniq[pos + 1]
    return VariableBinning(
        name=name, kind="numeric", splits=[float(s) for s in splits], special_values=list(special_values)
    )


def fine_categorical(name: str, keys: np.ndarray, special_values: list[float]) -> VariableBinning:
    """One fine bin per category seen in training, the rare ones (< `RARE_MIN_ROWS` rows) sharing one
    (keys from `category_keys`; None = missing)."""
    from creditflow.binning.variable import category_key

    special_keys = {category_key(v) for v in special_values}
    missing = pd.isna(keys)
    regular = keys[~missing]
    regular = regular[~np.isin(regular, list(special_keys))] if special_keys else regular
    cats, counts = np.unique(regular.astype(str), return_counts=True)
    return fine_categorical_counts(name, cats, counts, len(keys), special_values)


def fine_categorical_counts(
    name: str, cats: np.ndarray, counts: np.ndarray, n_rows: int, special_values: list[float]
) -> VariableBinning:
    """`fine_categorical` from the sorted distinct regular categories, their row counts and the column's
    number of rows (missing and special ones included)."""
    from creditflow.binning.variable import RARE_MIN_ROWS, identifier_note, pool_rare

    note = identifier_note(len(cats), n_rows)
    if note:  # no fine bins: every training value falls in Unseen and the shape stays flat
        return VariableBinning(name=name, kind="categorical", special_values=list(special_values), note=note)
    # categories too small for a bad rate of their own share one fine bin (as in the classic binning)
    groups, _ = pool_rare(cats, counts, RARE_MIN_ROWS)
    return VariableBinning(name=name, kind="categorical", groups=groups, special_values=list(special_values))


def fine_from_counts(
    name: str, stats: ValueCounts, categorical: bool, special_values: list[float], max_bins: int
) -> VariableBinning:
    """The fine bins of one column from its training `ValueCounts` (merged over pieces on a cluster):
    the bins `fine_bins` gives from the rows."""
    if categorical:
        return fine_categorical_counts(name, stats.values, stats.counts, stats.n_rows, special_values)
    return fine_numeric_counts(name, np.asarray(stats.values, dtype=float), stats.counts, special_values, max_bins)


def layout_of(vb: VariableBinning) -> FineLayout:
    return FineLayout(n_bins=len(vb.labels), n_regular=vb.n_regular, ordered=vb.kind == "numeric")


def code_dtype(n_bins: int) -> type:
    """The smallest unsigned integer type that holds bin indices below `n_bins`."""
    return np.uint8 if n_bins <= 256 else np.uint16 if n_bins <= 65536 else np.uint32


def fine_bins(
    frame: pd.DataFrame,
    categorical: set[str],
    specials: dict[str, list[float]],
    max_bins: int,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, VariableBinning], list[np.ndarray]]:
    """Fine bins of every column and each column's bin codes (small unsigned ints, one array per column);
    `progress(name)` is called after each column."""
    from creditflow.binning.process import is_categorical

    bins: dict[str, VariableBinning] = {}
    codes: list[np.ndarray] = []
    for name in frame.columns:
        col = frame[name]
        sv = specials.get(str(name), [])
        if name in categorical or is_categorical(col):
            vb = fine_categorical(str(name), category_keys(col), sv)
        else:
            vb = fine_numeric(str(name), col.to_numpy(dtype=float, na_value=np.nan), sv, max_bins)
        bins[str(name)] = vb
        codes.append(vb.bin_indices(col).astype(code_dtype(len(vb.labels))))
        if progress is not None:
            progress(str(name))
    return bins, codes
