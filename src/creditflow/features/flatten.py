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

Refused too, naming the file, the line and the field: a field with different shapes (object, list of
objects, list of values, value) in different records; one column made of different fields (``"a__b"`` in one
record, ``"a": {"b"}`` in another); a key twice in one JSON object; nesting deeper than `MAX_DEPTH`; lists of
objects nested more than `MAX_LIST_NESTING` deep (each level multiplies the columns); more than
``max_columns`` flattened columns.
"""

from __future__ import annotations

import functools
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


MAX_DEPTH = 64  # levels of objects and lists below a profile record
MAX_LIST_NESTING = 3  # lists of objects inside lists of objects: each level multiplies the columns
MAX_COLUMNS = 10_000  # flattened columns of a profile file, by default (`profile: {max_columns: N}`)
_LINES = "creditflow.profile_lines"  # DataFrame.attrs key: the file's line of each row (JSON lines with gaps)

# the shapes a field takes in a record; a field with different shapes in different records is refused
_OBJECT, _VALUE = "an object", "a value (number, text or true/false)"
_LIST_OBJECTS, _LIST_VALUES, _LIST_EMPTY = "a list of objects", "a list of values", "an empty list"


@dataclass(frozen=True)
class FlattenOptions:
    """How lists of objects are flattened: `list_items` indexed items (and sum/min/max of numbers);
    `max_columns`: more flattened columns than this in a profile file are refused."""

    list_items: int = 3
    max_columns: int = MAX_COLUMNS

    def to_dict(self) -> dict:
        out: dict[str, int] = {"list_items": self.list_items}
        if self.max_columns != MAX_COLUMNS:  # as before unless set: stored specs stay the same
            out["max_columns"] = self.max_columns
        return out

    @classmethod
    def from_dict(cls, data: Mapping | None) -> FlattenOptions:
        data = dict(data or {})
        unknown = set(data) - {"list_items", "max_columns"}
        if unknown:
            raise DataError(f"profile options: unknown key(s) {sorted(unknown)}; expected 'list_items', 'max_columns'")
        n = data.get("list_items", 3)
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise DataError(f"profile options: 'list_items' must be a whole number >= 0, got {n!r}")
        m = data.get("max_columns", MAX_COLUMNS)
        if not isinstance(m, int) or isinstance(m, bool) or m < 1:
            raise DataError(f"profile options: 'max_columns' must be a whole number >= 1, got {m!r}")
        return cls(list_items=n, max_columns=m)


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


class _FieldError(DataError):
    """An error whose column is already the field's full path (not relative to a list item)."""


class _Walk:
    """One record's flattening: the options, the separator, the shape of each field, keys holding the separator."""

    __slots__ = ("list_items", "max_columns", "sep", "shapes", "sep_keys")

    def __init__(self, options: FlattenOptions, sep: str = SEP) -> None:
        self.list_items = options.list_items
        self.max_columns = options.max_columns
        self.sep = sep
        self.shapes: dict[str, str] = {}
        self.sep_keys = False

    def shape(self, path: str, kind: str) -> None:
        old = self.shapes.setdefault(path, kind)
        if old is not kind:
            merged = _merge_shapes(old, kind)
            if merged is None:
                raise _FieldError(
                    f"this field is {old} in one place and {kind} in another of the same profile, so its values "
                    "would land in unrelated columns", column=path, hint="give the field one shape in every profile",
                )
            self.shapes[path] = merged


def _merge_shapes(old: str, new: str) -> str | None:
    """An empty list goes with either kind of list; any other difference is a clash (None)."""
    if old == new:
        return old
    if old is _LIST_EMPTY and new in (_LIST_OBJECTS, _LIST_VALUES):
        return new
    if new is _LIST_EMPTY and old in (_LIST_OBJECTS, _LIST_VALUES):
        return old
    return None


def _too_wide(w: _Walk) -> str:
    return (f"this profile flattens to more than {w.max_columns:,} columns (each key of an object is one, each list "
            f"of objects adds up to {w.list_items} indexed copies of its items' fields and a sum, min and max of "
            "each numeric field)")


_WIDE_HINT = ("keep only the fields the features need, or set 'profile: {max_columns: N}' in the spec if the "
              "profiles really are this wide")


def _put(out: dict[str, Any], key: str, value: object) -> None:
    """Set one flat column, refusing a second value for it (``a__b`` next to ``a: {b: ...}``)."""
    if key in out:
        raise DataError(
            "two fields of a profile flatten to this column name (nested keys are joined with "
            f"'{SEP}', lists add '{SEP}count' ...), so one value would overwrite the other",
            column=key, hint=f"rename one of the fields, e.g. avoid '{SEP}' in key names",
        )
    out[key] = value


def _check_width(out: dict[str, Any], w: _Walk) -> None:
    """Lists of objects are where columns multiply: after each, at most `max_columns` in the record so far."""
    if len(out) > w.max_columns:
        raise DataError(_too_wide(w), column=list(out)[w.max_columns], hint=_WIDE_HINT)


def _flatten_list(
    items: list, prefix: str, out: dict[str, Any], w: _Walk, depth: int, path: str, lists: int,
) -> None:
    sep = w.sep
    if any(isinstance(v, Mapping) for v in items):
        w.shape(path, _LIST_OBJECTS)
        if lists >= MAX_LIST_NESTING:
            raise DataError(
                f"lists of objects nested more than {MAX_LIST_NESTING} deep (each level multiplies the flattened "
                "columns: indexed items, and a sum, min and max of each numeric field)",
                column=prefix, hint="flatten or aggregate the inner lists before this step",
            )
        objects = [v if isinstance(v, Mapping) else {"value": v} for v in items if not _is_missing(v)]
        _put(out, prefix + sep + "count", len(objects))
        flat_items = []
        item_path = path + "[]"
        for i, obj in enumerate(objects):
            flat: dict[str, Any] = {}
            try:
                _flatten_value(obj, "", flat, w, depth + 1, item_path, lists + 1)
            except _FieldError:
                raise
            except DataError as exc:
                exc.column = f"{prefix}{sep}{i}" + ("" if exc.column is None else f"{sep}{exc.column}")
                raise
            flat_items.append(flat)
        for i, flat in enumerate(flat_items[: w.list_items]):
            for key, value in flat.items():
                _put(out, f"{prefix}{sep}{i}{sep}{key}", value)
            _check_width(out, w)
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
                column=f"{prefix}{sep}{key}", hint="make the field one type in every item",
            )
        for key, values in numeric_keys.items():
            _put(out, f"{prefix}{sep}{key}{sep}sum", float(sum(values)))  # min, max: the items, unrounded
            _put(out, f"{prefix}{sep}{key}{sep}min", min(values))
            _put(out, f"{prefix}{sep}{key}{sep}max", max(values))
        _check_width(out, w)
        return
    present = [v for v in items if not _is_missing(v)]
    w.shape(path, _LIST_VALUES if present else _LIST_EMPTY)
    as_text = [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in present]
    _put(out, prefix + sep + "count", len(present))
    _put(out, prefix + sep + "first", present[0] if present and not isinstance(present[0], list) else (
        as_text[0] if present else None
    ))
    _put(out, prefix + sep + "joined", JOIN.join(as_text))


_SCALARS = (str, int, float, bool, type(None))


def _flatten_value(
    value: object, prefix: str, out: dict[str, Any], w: _Walk, depth: int = 0, path: str = "", lists: int = 0,
) -> None:
    """`prefix`: the column name so far (relative to a list item); `path`: the field's name for shapes, with
    ``[]`` for a list's items; `depth`: objects and lists above `value`; `lists`: lists of objects above it."""
    kind = type(value)
    if kind in _SCALARS:
        if value is None or (kind is float and value != value):
            value = None
        elif path:
            w.shape(path, _VALUE)
        _put(out, prefix, value)
        return
    is_object = kind is dict or isinstance(value, Mapping)
    if not is_object and not isinstance(value, (list, tuple, np.ndarray)):
        if path and not _is_missing(value):
            w.shape(path, _VALUE)
        _put(out, prefix, None if _is_missing(value) else value)
        return
    if depth > MAX_DEPTH:
        raise DataError(f"nesting deeper than {MAX_DEPTH} levels (objects and lists)", column=prefix or None,
                        hint="flatten the structure before this step")
    if not is_object:
        _flatten_list(list(value), prefix, out, w, depth, path, lists)  # type: ignore[call-overload]
        return
    shapes, sep = w.shapes, w.sep
    if path and shapes.setdefault(path, _OBJECT) is not _OBJECT:
        w.shape(path, _OBJECT)
    same = path == prefix  # outside lists of objects, the field's name is its column's
    for key, sub in value.items():  # type: ignore[union-attr]
        if type(key) is not str:
            key = str(key)
        elif sep in key:
            w.sep_keys = True
        name = f"{prefix}{sep}{key}" if prefix else key
        field = name if same else (f"{path}{SEP}{key}" if path else key)
        kind = type(sub)
        if kind in _SCALARS:  # the common case, inline
            if sub is None or (kind is float and sub != sub):
                sub = None
            elif shapes.setdefault(field, _VALUE) is not _VALUE:
                w.shape(field, _VALUE)
            if name in out:
                _put(out, name, sub)  # refused
            out[name] = sub
        else:
            _flatten_value(sub, name, out, w, depth + 1, field, lists)


def flatten_record(record: Mapping, options: FlattenOptions | None = None) -> dict[str, Any]:
    """One nested record as a flat ``{column: scalar}`` dict."""
    out: dict[str, Any] = {}
    _flatten_value(record, "", out, _Walk(options or FlattenOptions()))
    return out


def _origins(record: Mapping, options: FlattenOptions) -> dict[str, str]:
    """Of a record with a key holding the separator: ``{column: its keys joined with NUL}`` for each column
    whose keys are not simply its name split at the separator (``"a__b": 5`` next to ``"a": {"b": 6}``)."""
    out: dict[str, Any] = {}
    _flatten_value(record, "", out, _Walk(options, sep="\0"))
    odd = {}
    for origin in out:
        column = origin.replace("\0", SEP)
        if column.replace(SEP, "\0") != origin:
            odd[column] = origin
    return odd


def _keys_shown(origin: str) -> str:
    return "".join(f"[{json.dumps(k, ensure_ascii=False)}]" for k in origin.split("\0"))


def _typed(values: pd.Series, column: str, file: str | None, lines: Sequence[int] | None = None) -> pd.Series:
    present = values.dropna()
    if present.empty:
        return values.astype("float64")
    kind = pd.api.types.infer_dtype(present, skipna=True)
    if kind == "boolean":
        return values.astype("boolean")
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        return _numbers(values, present, kind, column, file, lines)
    if kind == "string":
        return values.astype("str").where(values.notna())
    kinds = present.map(lambda v: "bool" if isinstance(v, (bool, np.bool_)) else (
        "number" if _is_number(v) else "text"))
    odd = kinds[kinds != kinds.value_counts().idxmax()]
    if odd.empty:  # e.g. dates or other objects: keep them as text
        return values.astype("str").where(values.notna())
    row = int(odd.index[0]) + 1
    if lines is not None:
        row = lines[row - 1]
    raise DataError(
        f"mixes {', '.join(sorted(set(kinds)))} values ({len(odd)} of {len(present)} differ from the rest, "
        f"e.g. {shown(present[odd.index[0]])})",
        file=file, column=column, row=row, hint="make the field one type in every profile",
    )


def _numbers(values: pd.Series, present: pd.Series, kind: str, column: str, file: str | None,
             lines: Sequence[int] | None = None) -> pd.Series:
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
                file=file, column=column,
                row=int(bad.index[0]) + 1 if lines is None else lines[int(bad.index[0])],
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
    lines: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Flatten nested profile records (dicts, or a DataFrame whose cells hold dicts/lists) into typed columns.

    `lines`: the line of each record in `file` (JSON lines), for errors; default the record's number."""
    options = options or FlattenOptions()
    if isinstance(records, pd.DataFrame):
        if not _has_nested_cells(records):
            out = records.copy()
            if _LINES in out.attrs:  # read_profiles' lines are for errors, not for the table
                out.attrs = {k: v for k, v in out.attrs.items() if k != _LINES}
            return out
        records = records.to_dict("records")
    where = "line" if lines is not None else "record"

    def line(i: int) -> int:
        return lines[i - 1] if lines is not None else i

    rows = []
    known: dict[str, tuple[str, int]] = {}  # field -> (shape, first record with it)
    clash: dict[str, int] | None = None  # the shapes of the first field seen in two, and a record of each
    clash_field = ""
    previous: dict[str, str] | None = None
    odd: dict[int, dict[str, str]] = {}  # record -> its columns named by keys holding the separator
    walk = _Walk(options)
    for i, record in enumerate(records, start=1):
        walk.shapes, walk.sep_keys = {}, False
        out: dict[str, Any] = {}
        try:
            _flatten_value(record, "", out, walk)
            if walk.sep_keys:
                odd[i] = _origins(record, options)
        except RecursionError:
            raise DataError(f"nesting deeper than {MAX_DEPTH} levels (objects and lists)", file=file,
                            row=line(i), hint="flatten the structure before this step") from None
        except DataError as exc:
            raise DataError(exc.reason, file=file, column=exc.column, row=line(i), hint=exc.hint) from None
        rows.append(out)
        shapes = walk.shapes
        if shapes != previous:  # most records have the shapes of the one before
            for field, kind in shapes.items():
                seen = known.get(field)
                if seen is None:
                    known[field] = (kind, i)
                elif seen[0] is not kind:
                    merged = _merge_shapes(seen[0], kind)
                    if merged is None:
                        if clash is None:
                            clash, clash_field = {seen[0]: seen[1]}, field
                        if field == clash_field:
                            clash.setdefault(kind, i)
                    elif merged is not seen[0]:
                        known[field] = (merged, i)
            previous = shapes
    if clash is not None:
        ordered = sorted(clash.items(), key=lambda kv: kv[1])
        raise DataError(
            "this field has different shapes in different profiles: "
            + ", ".join(f"{kind} on {where} {line(i)}" for kind, i in ordered)
            + ", so its values would land in unrelated columns (or be lost)",
            file=file, column=clash_field, row=line(ordered[1][1]),
            hint="give the field one shape in every profile",
        )
    if not rows:
        raise DataError("no profiles to flatten", file=file)
    if odd:
        _refuse_merged_fields(rows, odd, file, where, line)
    columns: list[str] = []
    seen_columns: set[str] = set()
    for i, r in enumerate(rows, start=1):
        for key in r:
            if key not in seen_columns:
                seen_columns.add(key)
                columns.append(key)
        if len(columns) > options.max_columns:
            raise DataError(
                f"the profiles flatten to more than {options.max_columns:,} columns (this one is the first beyond)",
                file=file, column=columns[options.max_columns], row=line(i), hint=_WIDE_HINT,
            )
    # a key null in some records and an object or list in others: its nested columns say it all, the
    # bare key would be a column missing on every row
    nested = {p for c in columns for p in _prefixes(c)}
    columns = [c for c in columns if not (c in nested and all(r.get(c) is None for r in rows))]
    index = pd.RangeIndex(len(rows))
    # object columns, not from_records: its inference turns whole numbers with gaps into float64
    cells = {c: pd.Series([r.get(c) for r in rows], index=index, dtype=object) for c in columns}
    return pd.DataFrame({c: _typed(cells[c], c, file, lines) for c in columns}, index=index)


def _refuse_merged_fields(rows: list[dict[str, Any]], odd: dict[int, dict[str, str]], file: str | None,
                          where: str, line: Any) -> None:
    """Refuse one column made of different fields in different records (``"a__b"`` and ``"a": {"b"}``)."""
    first: dict[str, tuple[str, int]] = {}
    for i, origins in odd.items():
        for column, origin in origins.items():
            first.setdefault(column, (origin, i))
    order = {c: k for k, c in enumerate(first)}
    for j, r in enumerate(rows, start=1):  # one pass over the rows: each row's columns among those names
        for column in sorted(r.keys() & order.keys(), key=order.__getitem__):
            origin, i = first[column]
            other = odd[j].get(column, column.replace(SEP, "\0")) if j in odd else column.replace(SEP, "\0")
            if other != origin:
                a, b = sorted([(i, origin), (j, other)])
                raise DataError(
                    f"two fields flatten to this column name: {_keys_shown(a[1])} on {where} {line(a[0])} and "
                    f"{_keys_shown(b[1])} on {where} {line(b[0])} (nested keys are joined with '{SEP}'), so one "
                    "column would hold different fields",
                    file=file, column=column, row=line(b[0]),
                    hint=f"rename one of the fields, e.g. avoid '{SEP}' in key names",
                )


def _prefixes(name: str) -> list[str]:
    """"a__b__c" -> ["a", "a__b"]."""
    parts = name.split(SEP)
    return [SEP.join(parts[:k]) for k in range(1, len(parts))]


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # JSON's \ud800 ... \udfff
_ARROW_OPENERS = 1_000  # "{" and "[" of a line read by Arrow: bounds its nesting
_NOT_OPENERS = bytes(b for b in range(256) if b not in b"{[\n")


def _arrow_columns(text: str, options: FlattenOptions) -> tuple[dict[str, Any], Sequence[int]] | None:
    """JSON lines read by Arrow's C++ JSON reader, as ``{column: Arrow column}`` in the order the record walk
    (`flatten_profiles`) gives them and the line of each record (`_ArrowFlat`), or None where only the walk gives the
    right table or the right error: a key twice, a field of two shapes or two types, keys holding the separator,
    whole numbers beyond 2**53 outside lists (Arrow reads those beyond int64 as floats), fractions, dates, lists or
    lists of lists inside lists, escaped surrogates, lone CR line ends, very wide or deep records, lines that are not
    one object each (Arrow reads an object over lines, and two on one line), ``-NaN``, a key first given as null
    after the first record or in a list's objects where more than `_PARSE_BUDGET` lines would settle it.
    The walk holds every record as Python objects: 2.8 GB and 42 s for 1,020,000 uci profiles (without lists)."""
    import pyarrow as pa
    import pyarrow.json as pa_json

    if "\r" in text and text.count("\r") != text.count("\r\n") or (
            ("\\ud" in text or "\\uD" in text) and _SURROGATE_ESCAPE.search(text)) or "-NaN" in text:
        return None  # -NaN: Arrow reads it as NaN, Python's json refuses it
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate of an odd --encoding
        return None
    # Arrow's parser recurses once per level of nesting: some 10,000 levels on a line crash the process (the walk
    # refuses them), so a line with more than _ARROW_OPENERS "{" and "[" (in strings too) is walked
    if re.search(rb"[{\[]{%d}" % (_ARROW_OPENERS + 1), data.translate(None, _NOT_OPENERS)):
        return None
    try:
        table = pa_json.read_json(pa.py_buffer(data))
        if not _lists_sound(table):
            # Arrow 26 reads a list whose first items are null, before their type is known, with fewer items than
            # its offsets count (checked: an invalid array); read again with the types known from the start
            table = pa_json.read_json(pa.py_buffer(data), parse_options=pa_json.ParseOptions(explicit_schema=table.schema))
            if not _lists_sound(table):
                return None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    lines = _record_lines(text, table.num_rows)
    if lines is None:
        return None
    try:
        return _ArrowFlat(table, options, data, lines).columns()
    except (_NoFastPath, pa.ArrowException):
        return None


def _has_list(kind: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_struct(kind):
        return any(_has_list(kind.field(i).type) for i in range(kind.num_fields))
    return pa.types.is_list(kind) or pa.types.is_large_list(kind)


def _lists_sound(table: Any) -> bool:
    """Whether every list is a valid Arrow array (offsets within its items ...); of a list of nulls only, whose
    items are never read (only which lists are null), Arrow may give fewer items than the offsets count."""
    import pyarrow as pa

    def sound(array: Any) -> None:
        kind = array.type
        if pa.types.is_struct(kind):
            for i in range(kind.num_fields):
                if _has_list(kind.field(i).type):
                    sound(array.field(i))
        elif not pa.types.is_null(kind.value_type):
            array.validate(full=True)

    try:
        for column in table.columns:
            if _has_list(column.type):
                for chunk in column.chunks:
                    sound(chunk)
    except pa.ArrowInvalid:
        return False
    return True


@functools.lru_cache(maxsize=1024)
def _key_escapes(key: str) -> tuple[bytes, ...]:
    """The JSON escapes that could spell a character of `key` (``\\u0061`` for a, ``\\"`` for a quote ...), hex in
    lower case (compare with the line in lower case: JSON's hex digits may be of either case)."""
    short = {'"': b'\\"', "\\": b"\\\\", "/": b"\\/", "\b": b"\\b", "\f": b"\\f", "\n": b"\\n", "\r": b"\\r",
             "\t": b"\\t"}
    out: set[bytes] = set()
    for ch in key:
        code = ord(ch)
        units = [code] if code < 0x10000 else [0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)]
        out.update(f"\\u{u:04x}".encode() for u in units)
        if ch in short:
            out.add(short[ch])
    return tuple(sorted(out))


@functools.lru_cache(maxsize=1024)
def _key_pattern(key: str) -> re.Pattern[bytes]:
    """Where a line may write `key` as a JSON key: as it is (in quotes), or any escape of one of its characters
    (hex digits of either case), which can spell it otherwise."""
    parts = [re.escape(json.dumps(key, ensure_ascii=False).encode())]
    for e in _key_escapes(key):
        parts.append(rb"\\u(?i:" + re.escape(e[2:]) + rb")" if e.startswith(b"\\u") else re.escape(e))
    return re.compile(b"|".join(parts))


class _NoFastPath(Exception):
    """Only the record walk gives this file's table (or its error)."""


_PARSE_BUDGET = 10_000  # lines parsed to settle whether a missing key was absent or null (else: the walk)


def _scalar_kind(kind: Any) -> str | None:
    import pyarrow as pa

    if pa.types.is_string(kind):
        return "string"
    if pa.types.is_int64(kind):
        return "int64"
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_null(kind):
        return "null"
    return None


def _has_leaves(kind: Any) -> bool:
    """Whether a field of this Arrow type gives a column somewhere (an object with no keys gives none)."""
    import pyarrow as pa

    if pa.types.is_struct(kind):
        return any(_has_leaves(kind.field(i).type) for i in range(kind.num_fields))
    return True


def _valid(array: Any) -> np.ndarray:
    """Where an Arrow array (or chunked array) is not null."""
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        return np.concatenate([_valid(chunk) for chunk in array.chunks] or [np.zeros(0, dtype=bool)])
    return np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


class _ArrowFlat:
    """The walk's table from an Arrow table of JSON lines, lists included, or `_NoFastPath`.

    Every column gets the first row where the walk's record holds its key (the walk orders columns by first sight:
    a key first seen after the first record is placed where it is first seen); a list's columns are in the rows where
    the list is (``__count``, and ``__first``/``__joined`` of lists of values), where it has an i-th object
    (``__i__field``), where some object has a number (``__sum/__min/__max``). Arrow reads an absent key and
    ``null`` alike, so where an object in a list lacks a value, that line is parsed (few, else the walk) to see
    whether the key was there. The walk's order is then the first sight over those first rows, each flattened
    by the walk itself (`flatten_record`), which also checks the model: any difference falls back to the walk."""

    def __init__(self, table: Any, options: FlattenOptions, data: bytes, lines: Sequence[int]) -> None:
        self.table, self.options, self.data, self.lines = table, options, data, lines
        self.n = table.num_rows
        self.arrays: dict[str, Any] = {}  # column -> Arrow array, in no particular order
        self.first: dict[str, int] = {}  # column -> first row holding it (n: none)
        self.pending: dict[str, tuple[np.ndarray, int]] = {}  # column -> rows that may hold it as null, first sure row
        self.bare: dict[str, tuple[np.ndarray, bool]] = {}  # an object in list items given as null: rows, has leaves
        self.nodes: set[str] = set()  # objects and lists outside lists: null gives a bare column the walk drops
        self._breaks: list[int] = []  # offsets of the first line breaks of `data`
        self._keys: dict[int, list[str]] = {}
        self._parsed = 0

    # -- columns -------------------------------------------------------------------------------------------------

    def add(self, name: str, array: Any, sure: np.ndarray, maybe: np.ndarray | None = None) -> None:
        """A column, the rows sure to hold its key (a value, a list's count ...) and those that may (as null)."""
        if name in self.arrays or name in self.bare or name in self.nodes:
            raise _NoFastPath  # two fields flatten to one name: the walk refuses it or merges them
        self.arrays[name] = array
        first = int(np.argmax(sure)) if sure.any() else self.n
        self.first[name] = first
        if maybe is not None and maybe[:first].any():
            self.pending[name] = (maybe, first)

    def walk(self, name: str, column: Any, depth: int, present: np.ndarray) -> None:
        """The columns of a field outside lists; `present`: the rows where its parent object is."""
        import pyarrow as pa

        kind = column.type
        if pa.types.is_struct(kind):
            if depth >= MAX_DEPTH - 2:
                raise _NoFastPath
            if not _has_leaves(kind) and column.null_count:
                raise _NoFastPath  # "e": {} beside "e": null: the walk keeps a bare column e
            if name:
                self.nodes.add(name)
            children = [chunk.flatten() for chunk in column.chunks]  # each child with its parent's nulls
            there = _valid(column)
            for i in range(kind.num_fields):
                key = kind.field(i).name
                if not key or SEP in key:
                    raise _NoFastPath
                child = pa.chunked_array([c[i] for c in children], kind.field(i).type)
                self.walk(f"{name}{SEP}{key}" if name else key, child, depth + 1, there)
            return
        if pa.types.is_list(kind):
            if depth >= MAX_DEPTH - 4:
                raise _NoFastPath
            self.nodes.add(name)
            if pa.types.is_null(kind.value_type):  # only nulls: Arrow's item array may be short of its offsets
                self.null_list(name, np.concatenate([_valid(chunk) for chunk in column.chunks]))
            else:
                self.list_columns(name, column.chunk(0) if column.num_chunks == 1 else column.combine_chunks(), depth)
            return
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_string(kind)
                or pa.types.is_boolean(kind) or pa.types.is_null(kind)):
            raise _NoFastPath
        if pa.types.is_floating(kind):
            import pyarrow.compute as pc

            big = pc.max(pc.abs(pc.fill_null(column, 0.0)))
            if big.is_valid and not big.as_py() < _EXACT:  # 2**53 + 1 reads as 2**53; NaN falls back too
                raise _NoFastPath
        there = _valid(column)
        self.add(name, column, there, present & ~there)

    def null_list(self, p: str, valid: np.ndarray) -> None:
        """A list whose items are all missing, in every record: a list of values of no values."""
        import pyarrow as pa
        import pyarrow.compute as pc

        n = self.n
        self.add(p + SEP + "count", pa.array(np.zeros(n, dtype=np.int64), mask=~valid), valid)
        self.add(p + SEP + "first", pa.nulls(n), valid)
        self.add(p + SEP + "joined", pc.if_else(pa.array(valid), "", pa.scalar(None, pa.string())), valid)

    def list_columns(self, p: str, arr: Any, depth: int) -> None:
        """The columns of the list at `p` (outside other lists): its items are values or objects without lists."""
        import pyarrow as pa
        import pyarrow.compute as pc

        n, sep = self.n, SEP
        valid = _valid(arr)
        flat = pc.list_flatten(arr)
        rows_of = np.asarray(pc.list_parent_indices(arr).to_numpy(zero_copy_only=False), dtype=np.int64)
        keep = _valid(flat)
        items = flat.filter(pa.array(keep))  # the non-missing items, row by row
        rows_of = rows_of[keep]
        counts = np.bincount(rows_of, minlength=n).astype(np.int64)
        starts = np.cumsum(counts) - counts
        self.add(p + sep + "count", pa.array(counts, mask=~valid), valid)
        value = arr.type.value_type
        if not pa.types.is_struct(value):
            kind = _scalar_kind(value)
            if kind is None:
                raise _NoFastPath  # fractions (5 and 5.0 read alike), dates, lists of lists ...
            some = counts > 0
            first = items.take(pa.array(np.where(some, starts, 0), mask=~some))
            text = items if kind == "string" else pc.cast(items, pa.string())
            offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
            joined = pc.binary_join(pa.ListArray.from_arrays(offsets, text, mask=pa.array(~valid)), JOIN)
            self.add(p + sep + "first", first, valid)
            self.add(p + sep + "joined", joined, valid)
            return
        # a list of objects; one whose items are all missing (or empty) is a list of values to the walk
        empty = valid & (counts == 0)
        if empty.any():
            self.add(p + sep + "first", pa.nulls(n), empty)
            self.add(p + sep + "joined", pc.if_else(pa.array(empty), "", pa.scalar(None, pa.string())), empty)
        leaves: list[tuple[str, Any, np.ndarray, np.ndarray]] = []  # key in the item, values, parent present, present
        objects: list[tuple[str, np.ndarray, np.ndarray, bool]] = []

        def fields(array: Any, prefix: str, present: np.ndarray, level: int) -> None:
            if level >= MAX_DEPTH - 4:
                raise _NoFastPath
            kind = array.type
            children = array.flatten()  # each with its parent's nulls
            for i in range(kind.num_fields):
                key = kind.field(i).name
                if not key or SEP in key:
                    raise _NoFastPath
                child, name = children[i], f"{prefix}{SEP}{key}" if prefix else key
                there = _valid(child)
                if pa.types.is_struct(child.type):
                    if not _has_leaves(child.type) and (present & ~there).any():
                        raise _NoFastPath
                    objects.append((name, present, there, _has_leaves(child.type)))
                    fields(child, name, there, level + 1)
                elif _scalar_kind(child.type) is not None:
                    leaves.append((name, child, present, there))
                else:
                    raise _NoFastPath

        fields(items, "", np.ones(len(items), dtype=bool), depth + 2)
        for i in range(self.options.list_items):
            has = counts > i
            at = starts[has] + i
            take = pa.array(np.where(has, starts + i, 0), mask=~has)
            for key, values, present, there in leaves:
                sure = np.zeros(n, dtype=bool)
                maybe = np.zeros(n, dtype=bool)
                sure[has] = there[at]
                maybe[has] = present[at] & ~there[at]
                self.add(f"{p}{sep}{i}{sep}{key}", values.take(take), sure, maybe)
            for key, present, there, with_leaves in objects:
                maybe = np.zeros(n, dtype=bool)
                maybe[has] = present[at] & ~there[at]
                name = f"{p}{sep}{i}{sep}{key}"
                if name in self.arrays or name in self.bare:
                    raise _NoFastPath
                self.bare[name] = (maybe, with_leaves)
        for key, values, _, there in leaves:
            if not pa.types.is_int64(values.type):
                continue  # text, true/false: no sum, min, max
            numbers = np.asarray(values.fill_null(0).to_numpy(), dtype=np.int64)[there]
            rows = rows_of[there]
            per_row = np.bincount(rows, minlength=n)
            some = per_row > 0
            if not some.any():
                continue
            at = (np.cumsum(per_row) - per_row)[some]
            sums = np.add.reduceat(numbers, at).astype(np.float64)  # float(sum(...)): the whole sum, rounded once
            for j in np.flatnonzero(np.add.reduceat(np.abs(numbers.astype(np.float64)), at) >= 2.0**62):
                sums[j] = float(sum(int(v) for v in numbers[at[j]:at[j] + per_row[some][j]]))  # int64 could wrap
            for agg, column in (("sum", sums), ("min", np.minimum.reduceat(numbers, at)),
                                ("max", np.maximum.reduceat(numbers, at))):
                out = np.zeros(n, dtype=column.dtype)
                out[some] = column
                self.add(f"{p}{sep}{key}{sep}{agg}", pa.array(out, mask=~some), some)

    # -- lines ---------------------------------------------------------------------------------------------------

    def line_bytes(self, row: int) -> bytes:
        k = self.lines[row] - 1  # the file's line, from 0; the line breaks found as far as needed (usually few)
        breaks, data = self._breaks, self.data
        while len(breaks) <= k and (not breaks or breaks[-1] < len(data)):
            at = data.find(b"\n", breaks[-1] + 1 if breaks else 0)
            breaks.append(len(data) if at < 0 else at)
        start = 0 if k == 0 else breaks[k - 1] + 1
        return data[start:breaks[k] if k < len(breaks) else len(data)]

    def rows_spelling(self, name: str, first: int) -> list[int]:
        """The rows before `first` whose line writes the key of column `name`, as it is or with an escape of one of
        its characters (`_key_pattern`), in order: the only rows that can hold it. One regular-expression search of
        the lines before row `first` (a row-by-row look cost about 2 µs a row for each key first seen late)."""
        if first <= 0:
            return []
        self.line_bytes(first - 1)  # the line breaks found as far as that row's line
        k = self.lines[first - 1] - 1
        breaks = self._breaks
        end = breaks[k] if k < len(breaks) else len(self.data)
        offsets = [m.start() for m in _key_pattern(name.rsplit(SEP, 1)[-1]).finditer(self.data, 0, end)]
        if not offsets:
            return []
        line = np.searchsorted(np.asarray(breaks[: k + 1]), offsets, side="left") + 1  # the file's line, from 1
        lines = np.asarray(self.lines[:first])
        rows = np.searchsorted(lines, line)
        found = (rows < first) & (lines[np.minimum(rows, first - 1)] == line)
        return sorted({int(r) for r in rows[found]})

    def keys(self, row: int) -> list[str]:
        """The walk's columns of one record, in its order."""
        if row not in self._keys:
            self._parsed += 1
            if self._parsed > _PARSE_BUDGET:
                raise _NoFastPath
            try:
                self._keys[row] = list(flatten_record(json.loads(self.line_bytes(row).decode("utf-8")), self.options))
            except (ValueError, TypeError, AttributeError, DataError, RecursionError):  # e.g. a BOM Arrow skips
                raise _NoFastPath from None
        return self._keys[row]

    def holds(self, row: int, name: str) -> bool:
        """Whether the record of `row` has the key of column `name` (a list object's key, present as null)."""
        if row not in self._keys:
            key = name.rsplit(SEP, 1)[-1]
            line = self.line_bytes(row)
            if json.dumps(key, ensure_ascii=False).encode() not in line and not (
                    b"\\" in line and any(e in line.lower() for e in _key_escapes(key))):
                # the key is not written on the line, neither as it is nor with an escape of one of its characters
                # (Python's json.dumps writes every Chinese character of a value as \uXXXX: such lines need no parse)
                return False
        return name in self.keys(row)

    # -- order ---------------------------------------------------------------------------------------------------

    def columns(self) -> tuple[dict[str, Any], Sequence[int]]:
        import pyarrow as pa

        for name in self.table.column_names:
            if not name or SEP in name:
                raise _NoFastPath
            self.walk(name, self.table.column(name), 0, np.ones(self.n, dtype=bool))
        for name, (maybe, first) in self.pending.items():  # a key given as null before its first value?
            for row in self.rows_spelling(name, first):
                if maybe[row] and self.holds(row, name):
                    self.first[name] = row
                    break
        seen = {c for c, r in self.first.items() if r < self.n}
        nested = {q for c in seen for q in _prefixes(c)}
        # an object of a list item given as null: a column of missing values, which the walk drops where it has
        # nested columns (its own or those of a deeper one it keeps), deepest first
        for name in sorted(self.bare, key=lambda c: -c.count(SEP)):
            if name in nested:
                continue
            for row in np.flatnonzero(self.bare[name][0]):
                if self.holds(int(row), name):
                    self.arrays[name], self.first[name] = pa.nulls(self.n), int(row)
                    seen.add(name)
                    nested.update(_prefixes(name))
                    break
        if len(seen | self.nodes | set(self.bare)) > self.options.max_columns or not seen:
            raise _NoFastPath
        if any(self.first[p + SEP + "count"] >= self.n for p in self.nodes if p + SEP + "count" in self.first):
            raise _NoFastPath
        # as the walk: a column of an object or a list (nested columns) that is missing everywhere is dropped
        dropped = {c for c in seen if c in nested and self.arrays[c].null_count == len(self.arrays[c])}
        dropped |= set(self.bare) & nested
        kept = seen - dropped
        order: list[str] = []
        added: dict[str, int] = {}
        for row in sorted({0} | {self.first[c] for c in kept}):
            for key in self.keys(row):
                if key not in added:
                    added[key] = row
                    order.append(key)
        for key in order:
            if key not in kept and not (key in dropped or (key in self.nodes and key in nested)):
                raise _NoFastPath  # a column the model does not know
        if any(added.get(c) != self.first[c] for c in kept):
            raise _NoFastPath
        return {c: self.arrays[c] for c in order if c in kept}, self.lines


def _record_lines(text: str, n: int) -> Sequence[int] | None:
    """The line of each of the `n` objects Arrow read from JSON text, where each non-blank line holds exactly one of
    them, as the walk reads it; None otherwise (Arrow also reads an object written over several lines, and several
    objects on one line). A line break inside an object is between tokens, never between a "}" and a "{", so where
    every non-blank line starts with "{" and ends with "}" no object spans lines; n such lines hold one each."""
    lo, hi = 0, len(text)  # the text without its leading and trailing blanks, not copied (190 MB at 1,020,000)
    while lo < hi and text[lo].isspace():
        lo += 1
    while hi > lo and text[hi - 1].isspace():
        hi -= 1
    breaks = text.count("}\n{", lo, hi) + (text.count("}\r\n{", lo, hi) if "\r" in text else 0)
    if breaks == n - 1 and text.count("\n", lo, hi) == n - 1:  # the usual file: every break is between two objects
        first = text.count("\n", 0, lo) + 1  # after any blank lines at the top
        return range(first, first + n)
    lines = [(k, line.strip()) for k, line in enumerate(re.split(r"\r\n?|\n", text), start=1)]
    lines = [(k, line) for k, line in lines if line]
    if len(lines) != n or not all(line[0] == "{" and line[-1] == "}" for _, line in lines):
        return None
    return [k for k, _ in lines]


def _typed_arrow(column: Any, name: str, file: str, lines: Sequence[int] | None) -> pd.Series:
    """`_typed` of an Arrow column from `_arrow_columns`: numbers straight from Arrow where `_typed` gives int64
    (whole numbers, none missing) or float64 (with gaps, or fractions: `_arrow_columns` has left out any beyond
    2**53); other columns through `_typed` itself."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if column.null_count == len(column):  # e.g. a list object's key given as null wherever it is
        return pd.Series(np.full(len(column), np.nan), dtype="float64")
    exact = pa.types.is_floating(kind)
    if pa.types.is_integer(kind):
        low, high = pc.min_max(column).values()
        exact = low.as_py() >= -_EXACT and high.as_py() <= _EXACT
        if exact and column.null_count == 0:
            return pd.Series(column.to_numpy(), dtype="int64")
    if exact:
        return pd.Series(column.to_numpy(zero_copy_only=False), dtype="float64")
    return _typed(pd.Series(column.to_pylist(), dtype=object), name, file, lines)


def read_profiles(
    path: str | Path, options: FlattenOptions | None = None, encoding: str | None = None,
    ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read profiles: JSON lines / a JSON array of objects (flattened), or a flat CSV/Parquet table.

    `encoding`: of a CSV table, or of JSON text (default: UTF-8, then GBK/GB18030, as CSV tables);
    `ids`: id columns of a CSV/Excel table, read as written (`read_frame`)."""
    from creditflow.data.io import decode_text, read_frame

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
            records = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON: {exc.msg}", file=str(path), row=exc.lineno) from None
        except _DuplicateKey as exc:
            raise exc.error(str(path), None) from None
        except RecursionError:
            raise _too_deep(str(path), _deep_record(text)) from None
    else:
        fast = _arrow_columns(text, options or FlattenOptions())
        if fast is not None:
            columns, read_lines = fast
            flat = pd.DataFrame({c: _typed_arrow(v, c, str(path), read_lines) for c, v in columns.items()})
            return _checked_profiles(flat, path, read_lines)
        # line ends "\r\n", "\r" or "\n" only: splitlines() also splits on U+2028, \x85 ..., characters a
        # JSON string may hold raw (pasted addresses do), and the join turned them into ","
        lines = re.split(r"\r\n?|\n", text)
        lines_of = [n for n, line in enumerate(lines, start=1) if line.strip()]
        try:  # one parse for the whole file; line by line only to find a bad line
            records = json.loads("[" + ",".join(line for line in lines if line.strip()) + "]",
                                 object_pairs_hook=_no_duplicate_keys)
        except (json.JSONDecodeError, _DuplicateKey, RecursionError):
            for lineno, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    json.loads(line, object_pairs_hook=_no_duplicate_keys)
                except json.JSONDecodeError as exc:
                    raise DataError(f"not valid JSON: {exc.msg}", file=str(path), row=lineno) from None
                except _DuplicateKey as exc:
                    raise exc.error(str(path), lineno) from None
                except RecursionError:
                    raise _too_deep(str(path), lineno) from None
            raise DataError("not valid JSON lines", file=str(path)) from None
    bad = [i for i, r in enumerate(records, start=1) if not isinstance(r, Mapping)]
    if bad:
        raise DataError(f"{len(bad)} record(s) are not JSON objects", file=str(path),
                        row=bad[0] if lines_of is None else lines_of[bad[0] - 1])
    return _checked_profiles(flatten_profiles(records, options, file=str(path), lines=lines_of), path, lines_of)


def _checked_profiles(flat: pd.DataFrame, path: Path, lines_of: Sequence[int] | None) -> pd.DataFrame:
    """Refuse infinities with their line; keep the file's lines when they are not the rows' numbers."""
    from creditflow.data.io import check_finite

    try:
        check_finite(flat, str(path))  # JSON's Infinity: events and `train` refuse it too
    except DataError as exc:
        if lines_of is None or exc.row is None:
            raise
        raise DataError(exc.reason, file=exc.file, column=exc.column, row=lines_of[exc.row - 1], hint=exc.hint) from None
    if lines_of is not None and len(lines_of) and lines_of[-1] != len(lines_of):  # blank lines: for the id checks
        flat.attrs[_LINES] = _Lines(np.asarray(lines_of))   # of build_feature_table (`profile_lines`)
    return flat


class _Lines:
    """A file's line per row, kept in `DataFrame.attrs`: pandas deep-copies attrs into every frame derived
    from it (each column selection), so a copy returns the same object instead of copying the array."""

    def __init__(self, lines: np.ndarray) -> None:
        self.lines = lines

    def __deepcopy__(self, memo: dict) -> _Lines:
        return self


def profile_lines(profiles: object) -> np.ndarray | None:
    """The file's line of each row of a `read_profiles` frame where they are not the row numbers (JSON lines
    with blank lines) and its rows are still in the file's order (its index untouched), else None."""
    if not isinstance(profiles, pd.DataFrame):
        return None
    kept = profiles.attrs.get(_LINES)
    if not isinstance(kept, _Lines) or len(kept.lines) != len(profiles):
        return None
    return kept.lines if profiles.index.equals(pd.RangeIndex(len(profiles))) else None


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def error(self, file: str, line: int | None) -> DataError:
        return DataError(
            f"a JSON object holds the key {self.key!r} twice, so one value would silently replace the other",
            file=file, column=self.key, row=line, hint="keep one of the two",
        )


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


def _too_deep(file: str, line: int | None) -> DataError:
    return DataError(f"nesting deeper than {MAX_DEPTH} levels (objects and lists)", file=file, row=line,
                     hint="flatten the structure before this step")


def _deep_record(text: str) -> int | None:
    """The number of the record of a JSON array whose objects and lists first nest deeper than `MAX_DEPTH`
    (records of an array are numbered, as in the array's other errors)."""
    depth, record = 0, 1
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{},]', text):
        token = m.group()
        if token == ",":
            record += depth == 1
        elif token in "[{":
            depth += 1
            if depth > MAX_DEPTH + 2:
                return record
        elif token in "]}":
            depth -= 1
    return None
