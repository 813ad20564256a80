"""Per-piece column statistics, merged exactly: value counts for binning, missing counts, ranges, bad values.

Every number here is an integer count or an exact minimum/maximum, so the merged result does not
depend on how the table is cut into pieces or in which order the pieces are combined.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from creditflow.binning.variable import ValueCounts, categorical_counts, category_keys, numeric_counts
from creditflow.data.errors import DataError
from creditflow.data.io import check_not_row_numbers, fills_like_row_numbers, row_numbers_error
from creditflow.distributed.source import Piece, read_piece

TRAIN = 0


@dataclass
class ColumnIssue:
    """Infinite values in a column: the first one's row in the whole table (0-based), and how many."""

    row: int
    count: int


@dataclass
class TableStats:
    """Merged statistics of the feature columns of a labelled table."""

    n_rows: int = 0  # all rows
    n_train: int = 0
    counts: dict[str, ValueCounts] = field(default_factory=dict)  # train rows only
    n_missing: dict[str, int] = field(default_factory=dict)  # all rows (pandas isna)
    n_missing_train: dict[str, int] = field(default_factory=dict)
    minimum: dict[str, float] = field(default_factory=dict)  # numeric columns, all rows
    maximum: dict[str, float] = field(default_factory=dict)
    regular_minimum: dict[str, float] = field(default_factory=dict)  # as minimum, without special values
    regular_maximum: dict[str, float] = field(default_factory=dict)
    issues: dict[str, ColumnIssue] = field(default_factory=dict)


def piece_stats(
    piece: Piece,
    labels: np.ndarray,
    columns: list[str],
    categorical: list[str],
    specials: dict[str, list[float]],
) -> TableStats:
    """Statistics of one piece; `labels` is 2 * split code + target per row (see `LabelledTable.labels`).

    `categorical` names the columns binned as categories (the others are numeric dtypes).
    """
    frame = read_piece(piece, columns)
    y = (labels % 2).astype(float)
    train = labels // 2 == TRAIN
    ytr = y[train]
    out = TableStats(n_rows=len(frame), n_train=int(train.sum()))
    cats = set(categorical)
    for col in columns:
        s = frame[col]
        na = s.isna().to_numpy()
        out.n_missing[col] = int(na.sum())
        out.n_missing_train[col] = int(na[train].sum())
        x = None
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            x = s.to_numpy(dtype=float, na_value=np.nan)
            inf = np.isinf(x)
            if inf.any():
                out.issues[col] = ColumnIssue(piece.offset + int(np.flatnonzero(inf)[0]), int(inf.sum()))
                continue
            if not na.all():
                out.minimum[col], out.maximum[col] = float(np.nanmin(x)), float(np.nanmax(x))
                regular = x[~na & ~np.isin(x, specials.get(col, []))]
                if len(regular):
                    out.regular_minimum[col], out.regular_maximum[col] = float(regular.min()), float(regular.max())
        sv = specials.get(col, [])
        if col in cats:
            out.counts[col] = categorical_counts(category_keys(s[train]), ytr, sv)
        else:
            assert x is not None, col
            out.counts[col] = numeric_counts(x[train], ytr, sv)
    return out


def merge_stats(*parts: TableStats) -> TableStats:
    """Sum the statistics of pieces (exactly: counts add, extremes compare)."""
    out = TableStats(n_rows=sum(p.n_rows for p in parts), n_train=sum(p.n_train for p in parts))
    columns = list(dict.fromkeys(c for p in parts for c in p.n_missing))
    for col in columns:
        out.n_missing[col] = sum(p.n_missing.get(col, 0) for p in parts)
        out.n_missing_train[col] = sum(p.n_missing_train.get(col, 0) for p in parts)
        lows = [p.minimum[col] for p in parts if col in p.minimum]
        highs = [p.maximum[col] for p in parts if col in p.maximum]
        if lows:
            out.minimum[col], out.maximum[col] = min(lows), max(highs)
        lows = [p.regular_minimum[col] for p in parts if col in p.regular_minimum]
        if lows:
            out.regular_minimum[col] = min(lows)
            out.regular_maximum[col] = max(p.regular_maximum[col] for p in parts if col in p.regular_maximum)
        issues = [p.issues[col] for p in parts if col in p.issues]
        if issues:
            first = min(issues, key=lambda i: i.row)
            out.issues[col] = ColumnIssue(first.row, sum(i.count for i in issues))
        vcs = [p.counts[col] for p in parts if col in p.counts]
        if vcs and not issues:
            out.counts[col] = ValueCounts.merge(vcs)
    return out


def check_stats(stats: TableStats, columns: list[str], source: str, locate: Callable[[int], tuple[str, int]]) -> None:
    """Refuse what `read_table` refuses: an entirely missing column, then infinite values, then a column of row
    numbers (judged, as no piece sees all rows, by its training rows being distinct whole numbers)."""
    for col in columns:
        if stats.n_missing[col] == stats.n_rows:
            raise DataError("the column is entirely missing", file=source, column=col, hint="drop it or pass --exclude (exclude=[...] in Python)")
    for col in columns:
        issue = stats.issues.get(col)
        if issue is not None:
            file, row = locate(issue.row)
            raise DataError(f"{issue.count} infinite value(s)", file=file, column=col, row=row,
                            hint="replace them with a missing value or a declared special value")
    for col in columns:
        if str(col).startswith("Unnamed: "):
            check_not_row_numbers(pd.DataFrame(columns=[col]), file=source)
        vc = stats.counts.get(col)
        if vc is None or vc.values.dtype.kind != "f" or stats.n_missing[col] or vc.special_counts.sum() \
                or not len(vc.values) or not fills_like_row_numbers(stats.n_rows, stats.minimum[col], stats.maximum[col]):
            continue
        if (vc.counts == 1).all() and (vc.values == np.round(vc.values)).all():
            raise row_numbers_error(col, stats.minimum[col], stats.maximum[col], source)


def column_types(meta: pd.DataFrame, stats: TableStats, columns: list[str]) -> dict[str, str]:
    """The dtype name `pandas.read_parquet` gives each column of the whole table (ints with gaps become floats)."""
    out = {}
    for col in columns:
        dtype = meta[col].dtype
        if pd.api.types.is_integer_dtype(dtype) and stats.n_missing.get(col, 0):
            dtype = np.dtype("float64")
        out[col] = str(dtype)
    return out
