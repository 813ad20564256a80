"""Periods of a time column and the train / test / out-of-time split, shared by one machine and Dask.

Both work on the distinct time values with their row counts, so a Dask table needs only the
distinct values of each piece, and both give the same periods and the same rows per split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from creditflow.data.errors import CreditflowError, DataError

# Below this share of rows a non-date time value is a typo in a date column, above it a label ('2024Q1').
DATE_TYPO_SHARE = 0.5
# A text column is read as dates when at least this share of its rows parse.
DATE_SHARE = 0.99


def parse_dates(values: pd.Series) -> pd.Series:
    """The dates of distinct time values (NaT where a value is not a date), read in one format for the column.

    Parsed value by value, "02/01/2024" would be February 1st and "15/01/2024" January 15th in the same
    column. So one format is inferred for the whole column (from its first value, as pandas does), month
    first and then day first, values that do not fit it being no date; the read that places more values
    wins. Year-first formats (2024-02-01, 2024/02/01, 20240201) are not ambiguous; any other column that
    both reads place equally but on different dates (every day 12 or less) is refused as ambiguous.
    """
    import warnings

    from pandas.tseries.api import guess_datetime_format

    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values
    reads = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for dayfirst in (False, True):
            try:
                reads.append(pd.to_datetime(values, errors="coerce", dayfirst=dayfirst))
            except (ValueError, TypeError, OverflowError):  # e.g. mixed time zones: no date at all
                reads.append(pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]"))
    month, day = reads
    placed = month.notna().to_numpy()
    first = next((str(v) for v, ok in zip(values, placed, strict=True) if ok), None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fmt = guess_datetime_format(first) if first is not None else None
    if fmt is not None and fmt.startswith("%Y"):
        return month
    n_month, n_day = int(month.notna().sum()), int(day.notna().sum())
    if n_month != n_day:
        return month if n_month > n_day else day
    both = month.notna().to_numpy() & day.notna().to_numpy()
    differ = both & (month.to_numpy() != day.to_numpy())
    if differ.any():
        raise DataError(f"dates such as {values[differ].iloc[0]!r} read as day/month or month/day alike",
                        hint="write the dates as YYYY-MM-DD")
    return month


def time_problem(values: pd.Series, counts: np.ndarray) -> tuple[str, np.ndarray] | None:
    """Why a time column cannot place every row in a period, and which distinct values are at fault.

    `values` are the distinct times (missing included), `counts` their rows. Missing times, and
    text that is not a date in a column that is mostly dates, would put rows in no period (or the
    wrong one) and so silently into training.
    """
    missing = values.isna().to_numpy()
    if missing.any():
        return f"{int(counts[missing].sum())} missing time value(s)", missing
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        return None
    bad = parse_dates(values).isna().to_numpy()
    share = counts[bad].sum() / max(counts.sum(), 1)
    if bad.any() and share < DATE_TYPO_SHARE:
        first = values[bad].iloc[0]
        return f"{int(counts[bad].sum())} value(s) that are not dates, e.g. {first!r}", bad
    return None


def distinct_periods(values: pd.Series, counts: np.ndarray) -> pd.Series:
    """Calendar month ('YYYY-MM') of each distinct time value, or the values themselves when not dates."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values
    parsed = parse_dates(values)
    if counts[parsed.notna().to_numpy()].sum() / counts.sum() < DATE_SHARE:
        return values.astype(str)
    # a value that is no date in a date column (a typo: refused by train, shown by monitor) keeps its own text
    return parsed.dt.strftime("%Y-%m").where(parsed.notna(), values.astype(str))


def factorize_times(time: pd.Series) -> tuple[np.ndarray, pd.Series, np.ndarray]:
    """(code per row, distinct values, rows per distinct value) of a time column."""
    codes, uniques = pd.factorize(time, use_na_sentinel=False)
    return codes, pd.Series(uniques, dtype=time.dtype), np.bincount(codes, minlength=len(uniques))


def period_of(time: pd.Series) -> pd.Series:
    """Calendar month of a time column (as 'YYYY-MM'), or the raw values when they are not dates."""
    codes, values, counts = factorize_times(time)
    return pd.Series(distinct_periods(values, counts).to_numpy()[codes], index=time.index, name=time.name)


def split_roles(
    y: np.ndarray,
    periods: tuple[np.ndarray, pd.Series] | None,
    *,
    test_size: float = 0.3,
    seed: int = 42,
    oot_share: float = 0.1,
    source: str | None = None,
    time_column: str | None = None,
) -> np.ndarray:
    """Split code of every row (0 train, 1 test, 2 out-of-time).

    With `periods` (code per row, period of each code) the latest periods, at least `oot_share`
    of the rows, are held out first; the rest is split train/test, stratified by `y`, by `seed`.
    """
    from sklearn.model_selection import train_test_split

    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise CreditflowError(f"the seed must be a whole number from 0 to 4294967295, not {str(seed)[:40]}")
    n = len(y)
    role = np.zeros(n, dtype=np.int8)
    positions = np.arange(n)
    if periods is not None:
        codes, per = periods
        counts = np.bincount(codes, minlength=len(per))
        order = np.sort(per.dropna().unique())[::-1]
        held: list[Any] = []
        share = 0.0
        for p in order:
            if share >= oot_share:
                break
            held.append(p)
            share = float(counts[per.isin(held).to_numpy()].sum() / n)
        if share >= 0.9 or len(held) == len(order):
            raise DataError("the time column has too few periods to hold out an out-of-time sample",
                            file=source, column=time_column)
        is_oot = per.isin(held).to_numpy()[codes]
        role[is_oot] = 2
        positions = positions[~is_oot]
    classes = np.bincount(np.asarray(y)[positions], minlength=2)
    if classes.min() < 5:
        raise DataError(
            f"too few rows to split into train and test: {int(classes[0])} good(s) and {int(classes[1])} bad(s)"
            + (" outside the out-of-time periods" if periods is not None else ""),
            file=source, hint="need at least 5 of each",
        )
    _, test = train_test_split(positions, test_size=test_size, random_state=seed, stratify=y[positions])
    role[test] = 1
    return role
