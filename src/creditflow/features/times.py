"""Parsing event times and observation dates into naive timestamps, refusing what is ambiguous.

* Unparseable or missing values are refused with a count and a sample row.
* Time zones: values with different UTC offsets, or some with and some without an offset, are
  refused unless a `timezone` is given; then values with an offset are converted to that zone and
  values without one are taken as already in it. Values that all carry the same offset keep their
  wall-clock time, or with ``to_utc=True`` become UTC (used when events and observation dates carry
  different explicit offsets: both sides are then instants, see `compare_in_utc`). The result is always
  naive (no zone), so comparisons are plain.
* Periods: with ``period='month'`` a value such as ``2005-09`` (or any date inside the month) is
  stamped at the first instant of the month (``anchor='start'``) or its last day, 00:00
  (``anchor='end'``); with ``period='day'`` at the day's midnight.

Values are parsed once per distinct value, so ten million monthly rows cost a factorize.
"""

from __future__ import annotations

import re
from typing import Literal, overload

import numpy as np
import pandas as pd

from creditflow.data.errors import DataError

_OFFSET = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)


def _first_row(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0]) + 1


def _offset_of(text: str) -> str:
    m = _OFFSET.search(text.strip())
    if not m:
        return "no offset"
    off = m.group(1).upper().replace(":", "")
    return "+00:00" if off == "Z" else f"{off[:3]}:{off[3:] or '00'}"  # +08, +0800 and +08:00 are one offset


def utc_offset(values: pd.Series) -> str:
    """The UTC offset of the first value ("+08:00", or "no offset"); parsed times share one unless a
    `timezone` is set (`parse_times` refuses a mix)."""
    if values.empty:
        return "no offset"
    first = values.iloc[0]
    if isinstance(first, pd.Timestamp) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        delta = pd.Timestamp(first).utcoffset()
        if delta is None:
            return "no offset"
        minutes = int(delta.total_seconds()) // 60
        return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return _offset_of(str(first))


def same_zone(times: pd.Series, dates: pd.Series) -> bool:
    """Both columns in one named time zone (offsets then differ only by daylight saving)."""
    zones = [getattr(s.dtype, "tz", None) for s in (times, dates)]
    return zones[0] is not None and str(zones[0]) == str(zones[1])


def wall_clock_offsets(times: pd.Series, dates: pd.Series) -> tuple[str, str] | None:
    """The two columns' UTC offsets (`utc_offset`) when one has an offset and the other none, so they are
    compared by wall-clock time and a time hours after a date may count before it; None otherwise."""
    if times.empty or dates.empty:  # nothing to compare (a Dask bucket without events or observations)
        return None
    offsets = (utc_offset(times), utc_offset(dates))
    if offsets[0] == offsets[1] or "no offset" not in offsets or same_zone(times, dates):
        return None
    return offsets


def compare_in_utc(times: pd.Series, dates: pd.Series) -> bool:
    """Whether both columns carry explicit UTC offsets (or zones) that differ: both are then instants, to be
    compared in UTC (``parse_times(to_utc=True)``), not by wall-clock times hours apart."""
    if times.empty or dates.empty:
        return False
    offsets = (utc_offset(times), utc_offset(dates))
    if "no offset" in offsets or same_zone(times, dates):
        return False
    # a named zone's first offset may match the other column's in winter only: judge zones, not one value
    return offsets[0] != offsets[1] or any(getattr(s.dtype, "tz", None) is not None for s in (times, dates))


def _parse_text(uniques: pd.Index, fmt: str | None, timezone: str | None, where: dict,
                to_utc: bool = False) -> pd.DatetimeIndex:
    text = pd.Index([str(u) for u in uniques])
    try:
        parsed = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce")
    except ValueError as exc:
        if "Mixed timezones" not in str(exc):
            raise DataError(f"cannot parse times: {exc}", **where) from None
        parsed = None
    if parsed is not None and (parsed.tz is None or timezone is None):
        if parsed.tz is not None and to_utc:
            parsed = parsed.tz_convert("UTC")
        return parsed.tz_localize(None) if parsed.tz is not None else parsed
    offsets = np.array([_offset_of(t) for t in text])
    if timezone is None:
        raise _MixedZones(offsets)
    aware = offsets != "no offset"
    values = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[us]")
    try:
        if aware.any():
            conv = pd.to_datetime(text[aware], format=fmt or "ISO8601", errors="coerce", utc=True)
            values[aware] = conv.tz_convert(timezone).tz_localize(None).to_numpy(dtype="datetime64[us]")
        if (~aware).any():
            naive = pd.to_datetime(text[~aware], format=fmt or "ISO8601", errors="coerce")
            values[~aware] = naive.to_numpy(dtype="datetime64[us]")
    except (ValueError, KeyError) as exc:
        raise DataError(f"cannot convert times to time zone {timezone!r}: {exc}", **where) from None
    return pd.DatetimeIndex(values)


class _MixedZones(Exception):
    def __init__(self, offsets: np.ndarray) -> None:
        self.offsets = offsets


def offset_counts(values: pd.Series) -> dict[str, tuple[int, int, str]]:
    """For each UTC offset among text `values` ("+08:00", "no offset"): (rows, position of its first row,
    that row's value as text). Lets parts of one column (e.g. the buckets of a cluster) be judged together
    with `mixed_zone_error`; empty for values already parsed as times (they share one zone)."""
    if values.empty or pd.api.types.is_datetime64_any_dtype(values.dtype):
        return {}
    codes, uniques = pd.factorize(values)
    return _by_offset(np.array([_offset_of(str(u)) for u in uniques])[codes], values)


def _by_offset(offsets: np.ndarray, values: pd.Series) -> dict[str, tuple[int, int, str]]:
    out = {}
    for kind in np.unique(offsets):
        mask = offsets == kind
        first = int(np.flatnonzero(mask)[0])
        out[str(kind)] = (int(mask.sum()), first, str(values.iloc[first]))
    return out


def mixed_zone_error(counts: dict[str, tuple[int, int, str]], where: dict) -> DataError:
    """The refusal of a column with several UTC offsets; `counts` as `offset_counts` gives it, with
    positions counted from 0 (the error names the minority offset's first row, from 1)."""
    kinds = sorted(counts)
    summary = ", ".join(f"{counts[k][0]} row(s) with {k}" for k in kinds)
    minority = min(kinds, key=lambda k: counts[k][0])
    _, first, example = counts[minority]
    return DataError(
        f"mixed time zones: {summary}; e.g. {example!r}", row=first + 1, **where,
        hint="give all times the same UTC offset, or set 'timezone' in the spec to convert them",
    )


def _mixed_zone_error(offsets: np.ndarray, values: pd.Series, where: dict) -> DataError:
    return mixed_zone_error(_by_offset(offsets, values), where)


@overload
def parse_times(values: pd.Series, *, column: str, file: str | None = ..., period: str | None = ...,
                anchor: str = ..., fmt: str | None = ..., timezone: str | None = ..., to_utc: bool = ...,
                raw: Literal[False] = ...) -> pd.Series: ...


@overload
def parse_times(values: pd.Series, *, column: str, file: str | None = ..., period: str | None = ...,
                anchor: str = ..., fmt: str | None = ..., timezone: str | None = ..., to_utc: bool = ...,
                raw: Literal[True]) -> tuple[pd.Series, pd.Series]: ...


def parse_times(
    values: pd.Series,
    *,
    column: str,
    file: str | None = None,
    period: str | None = None,
    anchor: str = "start",
    fmt: str | None = None,
    timezone: str | None = None,
    to_utc: bool = False,
    raw: bool = False,
) -> pd.Series | tuple[pd.Series, pd.Series]:
    """Parse `values` to naive ``datetime64`` (see the module notes); `DataError` names column and row.

    With ``raw=True`` returns (stamped, raw): the raw times as written, before `period` stamping."""
    where = {"file": file, "column": column}
    missing = values.isna().to_numpy()
    if missing.any():
        raise DataError(f"{int(missing.sum())} missing time(s)", row=_first_row(missing), **where)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        parsed = pd.Series(pd.DatetimeIndex(values), index=values.index)
        if parsed.dt.tz is not None:
            zone = timezone or ("UTC" if to_utc else None)
            parsed = parsed.dt.tz_convert(zone) if zone else parsed
            parsed = parsed.dt.tz_localize(None)
    else:
        codes, uniques = pd.factorize(values)
        if pd.api.types.is_numeric_dtype(uniques.dtype):
            uniques = pd.Index([str(int(u)) if float(u).is_integer() else str(u) for u in uniques])
        try:
            idx = _parse_text(uniques, fmt, timezone, where, to_utc)
        except _MixedZones as exc:
            raise _mixed_zone_error(exc.offsets[codes], values, where) from None
        bad_unique = np.asarray(idx.isna())
        if bad_unique.any():
            bad = bad_unique[codes]
            first = _first_row(bad)
            raise DataError(
                f"{int(bad.sum())} value(s) are not dates/times, e.g. {str(values.iloc[first - 1])!r}",
                row=first, hint=f"expected {fmt or 'ISO 8601, e.g. 2005-09 or 2005-09-30'}", **where,
            )
        stamped = _stamp(pd.Series(idx), period, anchor).to_numpy(dtype="datetime64[us]")
        out = pd.Series(stamped[codes], index=values.index)
        if raw:
            return out, pd.Series(idx.to_numpy(dtype="datetime64[us]")[codes], index=values.index)
        return out
    parsed = parsed.astype("datetime64[us]")
    out = _stamp(parsed, period, anchor)
    return (out, parsed) if raw else out


def _stamp(times: pd.Series, period: str | None, anchor: str) -> pd.Series:
    """Map times to the timestamp of their period (see the module notes)."""
    if period == "month":
        months = times.dt.to_period("M")
        times = months.dt.start_time if anchor == "start" else months.dt.end_time.dt.normalize()
    elif period == "day":
        times = times.dt.normalize()
    return times.astype("datetime64[us]")
