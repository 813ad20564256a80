"""Flattening nested profile records (用户画像) into one typed column per leaf.

Naming: nested keys are joined with ``__`` (``{"demographics": {"age": 24}}`` gives
``demographics__age``), so every column is a valid identifier in expressions and SQL.

Lists:

* a list of scalars gives ``<key>__count`` (number of non-missing items), ``<key>__first`` and
  ``<key>__joined`` (items as text joined by ``|``, in order; ``""`` for an empty list);
* a list of objects gives ``<key>__count``, the fields of the first ``list_items`` objects as
  ``<key>__0__<field>``, ``<key>__1__<field>`` ..., and for every numeric field over all objects
  ``<key>__<field>__sum``, ``__min`` and ``__max`` (a field mixing numbers and text or true/false
  in one list is refused, as a column would be);
* in a list that mixes objects and scalars, a scalar item counts as ``{"value": item}``.

A key absent from a record, or ``null``, is missing. Types: a column of whole numbers without
missing values is ``int64``, other numbers ``float64``, true/false ``boolean``, text ``str``; a
column mixing numbers and text is refused (`DataError` naming the column and a row). Whole numbers
are never rounded: with missing values a column holding one beyond 2**53 (where ``float64`` loses
whole numbers) is nullable ``Int64``; one beyond the 64-bit range, or one beyond 2**53 next to
fractional numbers, is refused; ``__min``/``__max`` of whole numbers are the items themselves.
An infinite number (JSON ``Infinity``) is refused.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditflow.data.errors import DataError, shown

SEP = "__"
JOIN = "|"
_EXACT = 2**53  # float64 holds every whole number up to this exactly
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class FlattenOptions:
    """How lists of objects are flattened: `list_items` indexed items (and sum/min/max of numbers)."""

    list_items: int = 3

    def to_dict(self) -> dict:
        return {"list_items": self.list_items}

    @classmethod
    def from_dict(cls, data: Mapping | None) -> FlattenOptions:
        data = dict(data or {})
        unknown = set(data) - {"list_items"}
        if unknown:
            raise DataError(f"profile options: unknown key(s) {sorted(unknown)}; expected 'list_items'")
        n = data.get("list_items", 3)
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise DataError(f"profile options: 'list_items' must be a whole number >= 0, got {n!r}")
        return cls(list_items=n)


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _put(out: dict[str, Any], key: str, value: object) -> None:
    """Set one flat column, refusing a second value for it (``a__b`` next to ``a: {b: ...}``)."""
    if key in out:
        raise DataError(
            "two fields of a profile flatten to this column name (nested keys are joined with "
            f"'{SEP}', lists add '{SEP}count' ...), so one value would overwrite the other",
            column=key, hint=f"rename one of the fields, e.g. avoid '{SEP}' in key names",
        )
    out[key] = value


def _flatten_list(items: list, prefix: str, out: dict[str, Any], options: FlattenOptions) -> None:
    if any(isinstance(v, Mapping) for v in items):
        objects = [v if isinstance(v, Mapping) else {"value": v} for v in items if not _is_missing(v)]
        _put(out, prefix + SEP + "count", len(objects))
        flat_items = []
        for i, obj in enumerate(objects):
            flat: dict[str, Any] = {}
            try:
                _flatten_value(obj, "", flat, options)
            except DataError as exc:
                exc.column = f"{prefix}{SEP}{i}{SEP}{exc.column}"
                raise
            flat_items.append(flat)
        for i, flat in enumerate(flat_items[: options.list_items]):
            for key, value in flat.items():
                _put(out, f"{prefix}{SEP}{i}{SEP}{key}", value)
        numeric_keys: dict[str, list[float | int]] = {}
        number: dict[str, object] = {}  # first number and first other value per field, to refuse a mix
        other: dict[str, object] = {}
        for flat in flat_items:
            for key, value in flat.items():
                if _is_number(value):
                    numeric_keys.setdefault(key, []).append(value)  # type: ignore[arg-type]
                    number.setdefault(key, value)
                elif not _is_missing(value):
                    other.setdefault(key, value)
        for key in sorted(numeric_keys.keys() & other.keys()):
            raise DataError(
                f"the list's objects mix numbers and {'true/false' if isinstance(other[key], bool) else 'text'} "
                f"in this field (e.g. {shown(number[key])} and {shown(other[key])}), so its sum, min "
                "and max would leave values out",
                column=f"{prefix}{SEP}{key}", hint="make the field one type in every item",
            )
        for key, values in numeric_keys.items():
            _put(out, f"{prefix}{SEP}{key}{SEP}sum", float(sum(values)))  # min, max: the items, unrounded
            _put(out, f"{prefix}{SEP}{key}{SEP}min", min(values))
            _put(out, f"{prefix}{SEP}{key}{SEP}max", max(values))
        return
    present = [v for v in items if not _is_missing(v)]
    as_text = [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in present]
    _put(out, prefix + SEP + "count", len(present))
    _put(out, prefix + SEP + "first", present[0] if present and not isinstance(present[0], list) else (
        as_text[0] if present else None
    ))
    _put(out, prefix + SEP + "joined", JOIN.join(as_text))


_SCALARS = (str, int, float, bool, type(None))


def _flatten_value(value: object, prefix: str, out: dict[str, Any], options: FlattenOptions) -> None:
    kind = type(value)
    if kind in _SCALARS:
        _put(out, prefix, None if (kind is float and value != value) else value)
    elif kind is dict or isinstance(value, Mapping):
        for key, sub in value.items():  # type: ignore[union-attr]
            _flatten_value(sub, f"{prefix}{SEP}{key}" if prefix else str(key), out, options)
    elif isinstance(value, (list, tuple, np.ndarray)):
        _flatten_list(list(value), prefix, out, options)
    else:
        _put(out, prefix, None if _is_missing(value) else value)


def flatten_record(record: Mapping, options: FlattenOptions | None = None) -> dict[str, Any]:
    """One nested record as a flat ``{column: scalar}`` dict."""
    out: dict[str, Any] = {}
    _flatten_value(record, "", out, options or FlattenOptions())
    return out


def _typed(values: pd.Series, column: str, file: str | None) -> pd.Series:
    present = values.dropna()
    if present.empty:
        return values.astype("float64")
    kind = pd.api.types.infer_dtype(present, skipna=True)
    if kind == "boolean":
        return values.astype("boolean")
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        return _numbers(values, present, kind, column, file)
    if kind == "string":
        return values.astype("str").where(values.notna())
    kinds = present.map(lambda v: "bool" if isinstance(v, (bool, np.bool_)) else (
        "number" if _is_number(v) else "text"))
    odd = kinds[kinds != kinds.value_counts().idxmax()]
    if odd.empty:  # e.g. dates or other objects: keep them as text
        return values.astype("str").where(values.notna())
    row = int(odd.index[0]) + 1
    raise DataError(
        f"mixes {', '.join(sorted(set(kinds)))} values ({len(odd)} of {len(present)} differ from the rest, "
        f"e.g. {shown(present[odd.index[0]])})",
        file=file, column=column, row=row, hint="make the field one type in every profile",
    )


def _numbers(values: pd.Series, present: pd.Series, kind: str, column: str, file: str | None) -> pd.Series:
    """Whole numbers stay exact: int64, or with gaps float64 (nullable Int64 beyond 2**53, where
    float64 would round them); beyond int64, or too large next to fractions, they are refused."""
    whole = present[present.map(lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool))]
    big = whole[whole.map(lambda v: abs(int(v)) > _EXACT)]
    if not big.empty:
        huge = big[big.map(lambda v: not _INT64_MIN <= int(v) <= _INT64_MAX)]
        if not huge.empty or kind != "integer":
            bad = huge if not huge.empty else big
            why = ("does not fit a 64-bit integer" if not huge.empty
                   else "cannot be kept exactly in a column that also holds fractional numbers")
            raise DataError(
                f"{len(bad)} whole number(s) too large: {bad.iloc[0]} {why}",
                file=file, column=column, row=int(bad.index[0]) + 1,
                hint="write such ids as text (in quotes) in every profile",
            )
    if kind == "integer":
        if len(present) == len(values):
            return values.astype("int64")
        if not big.empty:
            return values.astype("Int64")
    return values.astype("float64")


def _has_nested_cells(frame: pd.DataFrame) -> bool:
    for col in frame.columns:
        s = frame[col]
        if s.dtype == object and s.map(lambda v: isinstance(v, (Mapping, list, tuple, np.ndarray))).any():
            return True
    return False


def flatten_profiles(
    records: Iterable[Mapping] | pd.DataFrame,
    options: FlattenOptions | None = None,
    *,
    file: str | None = None,
) -> pd.DataFrame:
    """Flatten nested profile records (dicts, or a DataFrame whose cells hold dicts/lists) into typed columns."""
    options = options or FlattenOptions()
    if isinstance(records, pd.DataFrame):
        if not _has_nested_cells(records):
            return records.copy()
        records = records.to_dict("records")
    rows = []
    for i, record in enumerate(records, start=1):
        try:
            rows.append(flatten_record(record, options))
        except DataError as exc:
            raise DataError(exc.reason, file=file, column=exc.column, row=i, hint=exc.hint) from None
    if not rows:
        raise DataError("no profiles to flatten", file=file)
    columns: list[str] = []
    seen: set[str] = set()
    for r in rows:
        for key in r:
            if key not in seen:
                seen.add(key)
                columns.append(key)
    # a key null in some records and an object or list in others: its nested columns say it all, the
    # bare key would be a column missing on every row
    nested = {p for c in columns for p in _prefixes(c)}
    columns = [c for c in columns if not (c in nested and all(r.get(c) is None for r in rows))]
    index = pd.RangeIndex(len(rows))
    # object columns, not from_records: its inference turns whole numbers with gaps into float64
    cells = {c: pd.Series([r.get(c) for r in rows], index=index, dtype=object) for c in columns}
    return pd.DataFrame({c: _typed(cells[c], c, file) for c in columns}, index=index)


def _prefixes(name: str) -> list[str]:
    """"a__b__c" -> ["a", "a__b"]."""
    parts = name.split(SEP)
    return [SEP.join(parts[:k]) for k in range(1, len(parts))]


def read_profiles(
    path: str | Path, options: FlattenOptions | None = None, encoding: str | None = None,
    ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read profiles: JSON lines / a JSON array of objects (flattened), or a flat CSV/Parquet table.

    `encoding`: of a CSV table, or of JSON text (default: UTF-8, then GBK/GB18030, as CSV tables);
    `ids`: id columns of a CSV/Excel table, read as written (`read_frame`)."""
    from creditflow.data.io import check_finite, decode_text, read_frame

    path = Path(path)
    if path.suffix.lower() not in (".jsonl", ".json", ".ndjson"):
        return read_frame(path, encoding=encoding, ids=ids, sheet_option=None)
    if not path.exists():
        raise DataError("no such file", file=str(path))
    text = decode_text(path, path.read_bytes(), encoding)
    if not text.strip():
        raise DataError("the file is empty", file=str(path))
    records: list[dict] = []
    lines_of: list[int] | None = None  # JSON lines: the line of each record, for errors
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON: {exc.msg}", file=str(path), row=exc.lineno) from None
    else:
        # line ends "\r\n", "\r" or "\n" only: splitlines() also splits on U+2028, \x85 ..., characters a
        # JSON string may hold raw (pasted addresses do), and the join turned them into ","
        lines = re.split(r"\r\n?|\n", text)
        lines_of = [n for n, line in enumerate(lines, start=1) if line.strip()]
        try:  # one parse for the whole file; line by line only to find a bad line
            records = json.loads("[" + ",".join(line for line in lines if line.strip()) + "]")
        except json.JSONDecodeError:
            for lineno, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"not valid JSON: {exc.msg}", file=str(path), row=lineno) from None
            raise DataError("not valid JSON lines", file=str(path)) from None
    bad = [i for i, r in enumerate(records, start=1) if not isinstance(r, Mapping)]
    if bad:
        raise DataError(f"{len(bad)} record(s) are not JSON objects", file=str(path), row=bad[0])
    try:
        flat = flatten_profiles(records, options, file=str(path))
        check_finite(flat, str(path))  # JSON's Infinity: events and `train` refuse it too
    except DataError as exc:
        if lines_of is None or exc.row is None:
            raise
        raise DataError(exc.reason, file=exc.file, column=exc.column, row=lines_of[exc.row - 1], hint=exc.hint) from None
    return flat
