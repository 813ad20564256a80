"""Reading wide tables (CSV, Parquet, Excel) into a labelled `Dataset`."""

from __future__ import annotations

import codecs
import csv
import io
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditflow.data import excel
from creditflow.data.dictionary import FieldDictionary, read_dictionary
from creditflow.data.errors import CreditflowError, DataError, located
from creditflow.data.split import (
    distinct_periods,
    factorize_times,
    period_of,  # noqa: F401  (imported from here before data/split.py)
    split_roles,
    time_problem,
)

CSV_SUFFIXES = {".csv", ".txt", ".tsv", ".gz"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
# Tried in order: UTF-8 (a BOM is dropped), then GB18030, a superset of GBK/GB2312.
ENCODINGS = ("utf-8-sig", "gb18030")
# Target values read as "bad" when --bad is not given.
DEFAULT_BAD_VALUES = ("1", "1.0", "bad", "yes", "true", "y", "default", "逾期", "坏")
# The text cells read as missing: pandas' default NA tokens (`pandas._libs.parsers.STR_NA_VALUES`), given to the
# CSV and Excel readers explicitly so that this is the set they use; the decision service reads a request's text
# value the same way (`missing_text`), so "None" or "NA" is missing there too, not a category.
NA_TEXT = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
                     "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
DEFAULT_GOOD_VALUES = ("0", "0.0", "good", "no", "false", "n", "ok", "current", "normal", "正常", "好", "未逾期")


def decode_text(path: Path, data: bytes, encoding: str | None) -> str:
    """A file's bytes as text: in `encoding`, else UTF-8 (a BOM dropped), then GB18030 (refused when that
    reading gives mostly rare characters, as Latin-1 text does)."""
    if encoding:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            hint = None
            if codecs.lookup(encoding).name != "gb18030":
                try:
                    data.decode("gb18030")
                    hint = "it reads as GBK/GB18030: leave --encoding out, or pass --encoding gbk"
                except UnicodeDecodeError:
                    pass
            raise DataError(f"cannot decode as {encoding}: {exc.reason} at {_byte_place(data, exc.start)}",
                            file=str(path), hint=hint) from None
        except LookupError as exc:
            raise DataError(f"cannot decode as {encoding}: {exc}", file=str(path)) from None
    failed: list[str] = []
    for enc in ENCODINGS:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError as exc:
            failed.append(_byte_place(data, exc.start))
            continue
        if enc != ENCODINGS[0]:
            chars = {c for c in set(text) if ord(c) > 0x7F}
            _check_looks_chinese(path, text, chars)
            _check_not_big5(path, text, data, chars)
        return text
    # a file of both (a UTF-8 export with rows pasted in from a GBK one) fails each at another place: name both
    raise DataError(f"cannot decode the file as UTF-8 (first failing at {failed[0]}) or GBK/GB18030 (at {failed[1]})",
                    file=str(path), hint="pass --encoding, or re-save the lines named in one encoding")


def _byte_place(data: bytes, at: int) -> str:
    """Where byte `at` of a file is, for a person: its line (the header is line 1) and the text before it there."""
    line = data.count(b"\n", 0, at) + 1
    start = data.rfind(b"\n", 0, at) + 1
    before = data[max(start, at - 30):at].decode("utf-8", "ignore").replace("\r", "")
    return f"line {line}, after {before!r}" if before else f"line {line}, at its start"


def _check_looks_chinese(path: Path, text: str, chars: set[str]) -> None:
    """Refuse a non-UTF-8 file that decodes as GB18030 into what Latin-1 / cp1252 text turns into.

    An accented letter followed by a letter ("gerät": E4 74) is a valid GBK pair, but one outside the
    common GB2312 area, led by a byte of Latin-1's letters (C0-FF) and trailed by an ASCII letter. Real
    Chinese text is mostly GB2312 characters, and its rarer (traditional, name) characters are not all of
    that one shape; a misread Latin-1 file is nothing else. Its categories would come out garbled.
    """
    latin = latin_misread(chars)
    if latin is not None:
        raise DataError(f"the file is not UTF-8, and read as GBK/GB18030 it gives rare characters "
                        f"(e.g. {_around(text, text.index(latin))!r}) of the kind Latin-1/cp1252 accented letters turn into", file=str(path),
                        hint="pass --encoding latin-1 (or cp1252); --encoding gbk if it really is GBK")


def latin_misread(chars: set[str]) -> str | None:
    """The first of a GB18030 reading's non-ASCII characters `chars` that shows it to be Latin-1 / cp1252 text
    misread (see `_check_looks_chinese`), or None when the reading looks like Chinese."""
    rare = sorted(c for c in chars if not _gb2312_pair(c.encode("gb18030")))
    latin = [c for c in rare if _latin_letter_pair(c.encode("gb18030"))]
    return latin[0] if rare and len(rare) > len(chars) / 2 and len(latin) >= 0.9 * len(rare) else None


def _around(text: str, at: int) -> str:
    """Up to 30 characters either side of position `at`, within its line: a misread character shown in context."""
    end = text.find("\n", at)
    return text[max(text.rfind("\n", 0, at) + 1, at - 30) : min(at + 30, len(text) if end < 0 else end)]


def _odd_in_chinese(c: str) -> bool:
    """Characters Chinese text read in its own encoding hardly holds: private use, kana, Greek, Cyrillic, box drawing.
    Big5's most frequent characters (lead bytes A4-AF) read as GBK are exactly these."""
    o = ord(c)
    return 0xE000 <= o <= 0xF8FF or 0x3040 <= o <= 0x30FF or 0x0370 <= o <= 0x04FF or 0x2500 <= o <= 0x257F


def _check_not_big5(path: Path, text: str, data: bytes, chars: set[str]) -> None:
    """Refuse a file that reads as GB18030 into kana, Greek or private-use characters and as Big5 cleanly:
    traditional Chinese (Taiwan, Hong Kong) written in Big5, whose text values would come out garbled and
    match no filter or category. Kana alone do not count (a GBK file may hold Japanese names): Big5's
    frequent characters also land in GBK's private-use, Greek or Cyrillic rows."""
    odd = sorted(c for c in chars if _odd_in_chinese(c))
    if len(odd) < 0.2 * len(chars) or all(0x3040 <= ord(c) <= 0x30FF for c in odd):
        return
    try:
        big5 = data.decode("big5")
    except UnicodeDecodeError:
        return
    at = text.index(odd[0])
    lines = big5.splitlines()
    line = lines[text.count("\n", 0, at)] if lines else ""
    # the same place in the Big5 reading: both readings take a CJK character's two bytes as one character
    shown = _around(line, min(at - text.rfind("\n", 0, at) - 1, len(line)))
    raise DataError(f"the file is not UTF-8, and read as GBK/GB18030 it gives characters Chinese text does not "
                    f"hold (e.g. {_around(text, at)!r}); read as Big5 (traditional Chinese) it gives {shown!r}", file=str(path),
                    hint="pass --encoding big5 (encoding='big5' in Python); --encoding gbk if it really is GBK")


def misread_hint(columns: Sequence[Any]) -> str | None:
    """A hint when column names look like UTF-8 read in another encoding ('閫炬湡' for '逾期': a forced
    --encoding gbk on a UTF-8 file): their bytes in that encoding are valid UTF-8, which text really written
    in GBK or Latin-1 almost never is. Also when they look like GBK read as Latin-1/cp1252 ('ÄêÁä' for '年龄':
    Latin-1 decodes any byte, so a GBK file read with it fails nowhere but in its column names)."""
    for name in (str(c) for c in columns if not str(c).isascii()):
        for enc, shown_as in (("gb18030", "GBK/GB18030"), ("cp1252", "cp1252"), ("latin-1", "Latin-1")):
            try:
                meant = name.encode(enc).decode("utf-8")
            except UnicodeError:
                continue
            if meant != name:
                return (f"column names look like UTF-8 read as {shown_as} ({name!r} is {meant!r} in UTF-8): "
                        "the file is UTF-8; --encoding applies to every file read (data, labels, reference), "
                        "so leave it out to detect each file's own")
    names = [str(c) for c in columns if not str(c).isascii()]
    for enc in ("cp1252", "latin-1"):
        try:
            meant = [name.encode(enc).decode("gb18030") for name in names]
        except UnicodeError:
            continue
        # GBK text read byte by byte: every name common Chinese characters (GB2312 pairs) only, and some name two
        # of them in a row (a word), which Latin-1 names with accented letters ('Gerät', 'Größe') never give
        if names and all(_gb2312_pair(c.encode("gb18030")) for m in meant for c in m if not c.isascii()) and any(
                not a.isascii() and not b.isascii() for m in meant for a, b in zip(m, m[1:], strict=False)):
            at = next(k for k, m in enumerate(meant) if any(not c.isascii() for c in m))
            return (f"column names look like GBK read as Latin-1/cp1252 ({names[at]!r} is {meant[at]!r} in GBK): "
                    "the file is GBK; leave --encoding out (UTF-8 and GBK are detected), or pass --encoding gbk")
    return None


def _gb2312_pair(b: bytes) -> bool:
    return len(b) == 2 and 0xA1 <= b[0] <= 0xF7 and 0xA1 <= b[1] <= 0xFE


def _latin_letter_pair(b: bytes) -> bool:
    return len(b) == 2 and b[0] >= 0xC0 and (0x41 <= b[1] <= 0x5A or 0x61 <= b[1] <= 0x7A)


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise DataError("no such file", file=str(path))
    if path.is_dir():
        parquet_files(path)  # hive folders and a directory without files are refused, as on the cluster


def parquet_files(path: str | Path) -> list[Path]:
    """The Parquet files of a file or directory, in the order `pandas.read_parquet` reads them."""
    path = Path(path)
    if not path.exists():
        raise DataError("no such file or directory", file=str(path))
    if path.is_file():
        return [path]
    files, hive = [], []
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path).parts
        if any(part.startswith((".", "_")) for part in rel):
            continue
        if p.is_dir():
            if "=" in p.name:
                hive.append(p)
            continue
        files.append(p)
    if hive:
        raise DataError(
            f"hive-partitioned directories (e.g. {hive[0].name}) are not supported; "
            "write the partition key as a column", file=str(path),
        )
    files = sorted(files, key=lambda f: f.relative_to(path).as_posix())
    if not files:
        raise DataError("is a directory without Parquet files", file=str(path))
    return files


def _parquet_directory_schema(path: Path) -> dict:
    """`pandas.read_parquet`'s arguments for a directory: its files checked against each other first.

    pandas reads every file with the first file's schema, matching columns by name: a column that one file
    lacks would silently become missing values there, and one it has in addition would be dropped. Those are
    refused here, as on the cluster (`parquet_schema`). A column whose type differs between files (int64 in
    one, double in another; Arrow's ``null`` type of a column written all missing) is read in the one type
    that holds them all; clean directories are read exactly as before.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    for f in parquet_files(path):  # a stray file (notes.txt) is named, not left to Arrow's dataset error
        if f.suffix.lower() not in PARQUET_SUFFIXES:
            try:
                pq.read_schema(f)
            except (OSError, ValueError, pa.ArrowException):
                raise stray_file_error(f, path) from None
    try:
        dataset = ds.dataset(str(path), format="parquet", partitioning="hive")
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read: {exc}", file=str(path)) from None
    files = [Path(f) for f in sorted(dataset.files)]
    if not files:
        return {}
    schema, own = parquet_schema(files)
    if all(s.equals(schema) for s in own):
        return {}
    extra = [f for f in dataset.schema if f.name not in schema.names]  # hive partition keys
    return {"schema": parquet_schema_with(schema, extra)}


def stray_file_error(f: Path, path: str | Path) -> DataError:
    """A file of a directory of Parquet files that is not one (notes.txt), named with how to have it skipped."""
    return DataError(f"not a Parquet file ({f.suffix or 'no suffix'}), but every file of the directory {path} is read "
                     "as part of one table", file=str(f),
                     hint="move it out of the directory, or start its name with _ or . to have it skipped")


def parquet_schema_with(schema: Any, fields: list) -> Any:
    import pyarrow as pa

    return pa.schema([*schema, *fields], metadata=schema.metadata)


INDEX_COLUMN_PREFIX = "__index_level_"


def parquet_schema(files: Sequence[Path]) -> tuple[Any, list[Any]]:
    """(the schema a table of these Parquet files is read with, each file's own schema), index columns left out.

    Columns are matched by name, in the first file's order: every file must hold the same columns (a file
    lacking one or holding another is refused, naming the file and the column). A column's type may differ
    between files when one type holds all: int64 in one file and double in another is read as double, and a
    column all missing in one file (Arrow type ``null``, as pandas writes an all-None text column) takes the
    type of the others. Types that cannot be read as one (numbers in one file, text in another) are refused.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    own: list[Any] = []
    for f in files:
        try:
            s = pq.read_schema(f)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise DataError(f"not a readable Parquet file: {exc}", file=str(f)) from None
        own.append(pa.schema([fld for fld in s if not fld.name.startswith(INDEX_COLUMN_PREFIX)], metadata=s.metadata))
    first = own[0]
    names = set(first.names)
    for f, s in zip(files, own, strict=True):
        if set(s.names) != names or len(s.names) != len(first.names):
            missing = [c for c in first.names if c not in s.names]
            extra = [c for c in s.names if c not in names]
            raise DataError(
                f"columns differ from {files[0]}: missing {missing[:5]}, extra {extra[:5]}"
                if missing or extra else f"a column name appears twice (the first file {files[0]} has each once)",
                file=str(f), column=(missing or extra or [None])[0],
                hint="every file of a directory must hold the same columns; write a column missing from a file "
                     "as all-missing values of its type",
            )
    fields = []
    for i, name in enumerate(first.names):
        kinds = [s.field(name) for s in own]
        try:
            field_ = pa.unify_schemas([pa.schema([k]) for k in kinds], promote_options="permissive").field(name)
        except (pa.ArrowException, ValueError, TypeError):
            field_ = None
        if field_ is None or not _same_kind(field_.type, [k.type for k in kinds]):
            base = first.field(i).type
            bad = next(j for j, k in enumerate(kinds) if not k.type.equals(base) and not pa.types.is_null(k.type))
            raise DataError(
                f"type {kinds[bad].type} cannot be read together with type {base} in {files[0]}",
                file=str(files[bad]), column=name,
                hint="cast the column to one type in every file before writing it "
                     "(e.g. frame[col].astype(float), or .astype(str) for codes)",
            )
        fields.append(field_)
    return pa.schema(fields, metadata=first.metadata), own


def _same_kind(merged: Any, types: list) -> bool:
    """Whether `merged` holds every one of `types` as a value of the same kind: numbers stay numbers and text
    stays text (Arrow's permissive promotion would also turn, say, a date and a string into a string)."""
    import pyarrow as pa

    def kind(t: Any) -> str:
        if pa.types.is_dictionary(t):
            return kind(t.value_type)
        for name, test in (("number", lambda x: pa.types.is_integer(x) or pa.types.is_floating(x)
                            or pa.types.is_decimal(x)), ("text", lambda x: pa.types.is_string(x)
                            or pa.types.is_large_string(x) or pa.types.is_string_view(x)),
                           ("bool", pa.types.is_boolean), ("time", pa.types.is_temporal)):
            if test(t):
                return name
        return str(t)

    target = kind(merged)
    return all(pa.types.is_null(t) or kind(t) == target for t in types)


def read_frame(
    path: str | Path, encoding: str | None = None, sheet: str | int = 0, text: Sequence[str] | None = None,
    ids: Sequence[str] | None = None, sheet_option: str | None = "--sheet",
) -> pd.DataFrame:
    """Read a CSV (UTF-8, UTF-8 with BOM, GBK), Parquet file/directory or Excel sheet into a DataFrame.

    `sheet`: the Excel sheet's name or 0-based position. `text` columns of a CSV or Excel file are read as
    written ("01" stays "01"), not as numbers; `ids` columns too, then as whole numbers when every id is one
    written plainly (`id_values`). A cell of only spaces is missing. Merged cells below the header and
    formulas without a calculated value (read as missing by pandas) are refused. Parquet keeps its types.
    `sheet_option`: the command's option choosing the sheet, for the hint of an error (`excel.sheet_hint`).
    """
    path = Path(path)
    as_written = list(dict.fromkeys([*(text or ()), *(ids or ())]))
    dtype = {c: str for c in as_written} or None
    _check_exists(path)
    suffix = path.suffix.lower()
    if sheet != 0 and suffix not in EXCEL_SUFFIXES:
        raise DataError(f"a sheet ({sheet!r}) is chosen, but the file is not an Excel workbook", file=str(path))
    part = None
    try:
        if path.is_dir():
            frame = pd.read_parquet(path, **_parquet_directory_schema(path))
        elif suffix in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
            named = [n for n in frame.index.names if n is not None and n not in frame.columns]
            if named:  # pandas wrote set_index("ID"): a column again (set_index(drop=False) kept it as one)
                frame = frame.reset_index(level=named)
        elif suffix in EXCEL_SUFFIXES:
            if suffix in excel.XLSX_SUFFIXES:
                sheet, part = excel.pick_sheet(path, sheet)
            frame = pd.read_excel(path, sheet_name=sheet, dtype=dtype, na_values=NA_TEXT, keep_default_na=False)
            _check_header(path, pd.read_excel(path, sheet_name=sheet, header=None, nrows=1).iloc[0].tolist()
                          if len(frame.columns) else [])
        else:
            data = path.read_bytes()
            if suffix == ".gz":
                import gzip

                data = gzip.decompress(data)
            if not data.strip():
                raise DataError("the file is empty", file=str(path))
            content = decode_text(path, data, encoding)
            sep = "\t" if suffix == ".tsv" else _sniff_separator(content)
            header = next(csv.reader(io.StringIO(content), delimiter=sep), [])
            _check_header(path, header)
            frame = _read_csv(path, content, sep, dtype, header)
    except DataError:
        raise
    except csv.Error as exc:
        raise DataError(f"cannot parse: {exc}", file=str(path)) from None
    except pd.errors.EmptyDataError:
        raise DataError("the file is empty", file=str(path)) from None
    except pd.errors.ParserError as exc:
        raise DataError(f"cannot parse: {exc}", file=str(path)) from None
    except (ValueError, OSError, ImportError) as exc:
        raise DataError(f"cannot read: {exc}", file=str(path)) from None
    if frame.shape[1] == 0 or len(frame) == 0:
        with excel.naming_sheet(path, sheet, sheet_option):
            raise DataError("the file has no data rows", file=str(path))
    frame.columns = [str(c).strip() for c in frame.columns]
    dupes = frame.columns[frame.columns.duplicated()].tolist()
    if dupes:
        raise DataError(f"duplicate column names: {dupes}", file=str(path))
    if part is not None:
        excel.check_cells(path, str(sheet), part, list(frame.columns))
    if not (path.is_dir() or suffix in PARQUET_SUFFIXES):  # text files and workbooks; Parquet keeps its types
        _blank_whitespace(frame, set(as_written))
        for col in ids or ():
            if col in frame.columns:
                frame[col] = id_values(frame[col])
    return frame


def missing_text(value: Any) -> bool:
    """Whether a text value is one `read_frame` reads as a missing cell: one of `NA_TEXT` as written, or only
    spaces (the decision service treats a request's text value so, as the CSV it is compared with)."""
    return isinstance(value, str) and (value in NA_TEXT or value.isspace())


def is_text(values: pd.Series) -> bool:
    """Whether a column holds text as pandas stores it (object or string dtype)."""
    return pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype)


def id_values(s: pd.Series) -> pd.Series:
    """An id column read as text, as whole numbers when every id is one written plainly (no blank, no leading
    zero, within int64), else as the text: "00000001" keeps its zeros, and 19-digit ids beside a blank are not
    rounded through float."""
    if not is_text(s) or s.isna().any():
        return s
    text = s.astype(str).str.strip()  # " 7" is the id 7, as pandas reads a column of numbers; text ids stay as written
    if text.str.fullmatch(r"-?(?:0|[1-9]\d{0,17})").all():  # 18 digits always fit int64
        return text.astype(np.int64)
    return s


def _blank_whitespace(frame: pd.DataFrame, as_written: set[str]) -> None:
    """Cells of only spaces are blank (missing), as an empty cell is; a column of numbers with such cells is then
    numbers, as pandas would have read it without them (`as_written` columns stay text)."""
    for col in frame.columns:
        s = frame[col]
        if not is_text(s):
            continue
        try:
            blank = s.str.isspace().fillna(False).to_numpy(dtype=bool)  # not "": pandas reads an empty cell as missing
        except AttributeError:  # an Excel column of dates or numbers only: no text
            continue
        if not blank.any():
            continue
        s = s.mask(blank)
        if col not in as_written and text_numbers(s).only_numbers:
            s = pd.to_numeric(s.astype(str).str.strip().where(s.notna()), errors="raise")
        frame[col] = s


def _read_csv(path: Path, text: str, sep: str, dtype: dict | None, header: list[str]) -> pd.DataFrame:
    """Parse CSV text whose rows must have the header's width: a row with more fields (unless the extra ones
    are empty, a trailing separator) or fewer is refused with its row number, never shifted or filled.

    index_col=False: pandas otherwise takes the first column as the row index when the first row has one
    field more than the header, which shifts every column silently. Rows with too many fields make pandas
    warn (first row) or fail (later rows); rows with too few leave the last column missing. Only then are
    the rows counted one by one (`_check_field_counts`), so a clean file is parsed once.
    """
    import warnings

    # pandas reads the text as UTF-8 bytes: a StringIO would hold a copy of it at 4 bytes a character (1 GB for a
    # 263 MB file of 2,500,000 rows), beside the bytes and the text
    raw = text.encode("utf-8")

    def parse(strict: bool) -> pd.DataFrame:
        with warnings.catch_warnings():
            warnings.simplefilter("error" if strict else "ignore", pd.errors.ParserWarning)
            return pd.read_csv(io.BytesIO(raw), encoding="utf-8", sep=sep, low_memory=False, dtype=dtype,
                               index_col=False, na_values=NA_TEXT, keep_default_na=False)

    try:
        frame = parse(strict=True)
    except (pd.errors.ParserError, pd.errors.ParserWarning):
        _check_field_counts(path, text, sep, header)
        return parse(strict=False)  # extra fields were all empty; any other fault raises again
    if frame.shape[1] and frame.iloc[:, -1].isna().any():
        _check_field_counts(path, text, sep, header)
    return frame


def _check_field_counts(path: Path, text: str, sep: str, header: list[str]) -> None:
    """Refuse a data row with fewer fields than the header (pandas would fill the rest with missing values)
    or with more, unless the extra ones are empty (a trailing separator). Header cells that are blank at its
    end (a trailing separator on the header alone) may be absent from the rows. Rows are counted from 1 below
    the header, blank lines skipped, as everywhere in creditflow."""
    expected = len(header)
    core = expected
    while core > 1 and not str(header[core - 1]).strip():
        core -= 1
    if '"' in text:
        csv.field_size_limit(max(csv.field_size_limit(), len(text)))  # a long quoted note is a field too
        rows = csv.reader(io.StringIO(text), delimiter=sep)
        next(rows, None)
        counts = ((len(r), r) for r in rows if r)
    else:
        # lines end at \n (and \r\n) only, as pandas reads them: not at the other breaks str.splitlines knows
        lines = (line.rstrip("\r") for line in text.split("\n")[1:])
        counts = ((line.count(sep) + 1, line) for line in lines if line)
    for i, (n, row) in enumerate(counts, start=1):
        if core <= n <= expected:
            continue
        fields = row if isinstance(row, list) else row.split(sep)
        if n > expected and not any(f.strip() for f in fields[expected:]):
            continue
        if n == 1 and not fields[0].strip():
            continue  # a line of blanks only
        hint = "a separator is missing or extra in this row (or a text value holds the separator and is not quoted)"
        if i == 1 and n == expected + 1:
            hint += "; or the file has a first column of row names without a header cell"
        raise DataError(f"the row has {n} field(s) but the header has {expected}", file=str(path), row=i, hint=hint)


def _check_header(path: Path, names: list) -> None:
    """Refuse a header that names a column twice (pandas would silently rename the second to NAME.1)."""
    seen: set[str] = set()
    for name in (str(n).strip() for n in names if not (isinstance(n, float) and np.isnan(n))):
        if not name:  # blank header cells (trailing commas): pandas names them "Unnamed: N"
            continue
        if name in seen:
            raise DataError("the header names this column more than once", file=str(path), column=name,
                            hint="rename or remove the duplicate")
        seen.add(name)


def _sniff_separator(text: str) -> str:
    head = text[:20000]
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _note_merged_cells(path: Path, sheets: dict[str, pd.DataFrame]) -> None:
    """Record each sheet's merged ranges in ``frame.attrs["merged"]`` as (first row, last row, first column, last
    column), from 0 and inclusive, the frame's [0, 0] being A1 (pandas keeps blank leading rows): only the top-left
    cell of a range holds its value, and a field dictionary decides which columns' ranges explain every row."""
    from openpyxl import load_workbook

    wb = load_workbook(path, data_only=True)
    try:
        for ws in wb.worksheets:
            frame = sheets.get(ws.title)
            if frame is not None:
                frame.attrs["merged"] = [(m.min_row - 1, m.max_row - 1, m.min_col - 1, m.max_col - 1)
                                         for m in ws.merged_cells.ranges]
    finally:
        wb.close()


def read_raw_cells(path: Path) -> dict[str, pd.DataFrame]:
    """All cells of each sheet of an Excel workbook, in order, or of a CSV (one entry, named ''), no header
    inferred (for dictionaries with title rows); a workbook's merged ranges in each frame's ``attrs["merged"]``."""
    _check_exists(path)
    if path.suffix.lower() in EXCEL_SUFFIXES:
        try:
            sheets = pd.read_excel(path, sheet_name=None, header=None, dtype=object)
            if path.suffix.lower() != ".xls":
                _note_merged_cells(path, sheets)
            return sheets
        except (ValueError, OSError) as exc:
            raise DataError(f"cannot read: {exc}", file=str(path)) from None
    text = decode_text(path, path.read_bytes(), None)
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise DataError("the file is empty", file=str(path))
    width = max(len(r) for r in rows)
    return {"": pd.DataFrame([r + [None] * (width - len(r)) for r in rows], dtype=object)}


def encode_target(
    values: pd.Series, bad: object = None, *, file: str | None = None, default_bad: object = None
) -> np.ndarray:
    """Turn a target column into 0/1 (1 = bad), using `bad` as the bad value when given.

    Without `bad`, `default_bad` (e.g. the bad value a model was trained with, `train --bad`) decides when the
    column holds it, so data coded as the training data was reads the same (0 = bad stays 0 = bad); else a
    recognised pair (0/1, good/bad ...) decides; else `default_bad` is used when given.
    """
    name = str(values.name)
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0]) + 1
        n = int(values.isna().sum())
        raise DataError(f"target has {n} missing value(s)", file=file, column=name, row=row)
    text = values.astype(str).str.strip()
    classes = sorted(text.unique())
    if bad is None and default_bad is not None and bad_class(default_bad, classes) is not None:
        bad = default_bad
    if bad is not None:
        bad_text = bad_class(bad, classes)
        if bad_text is None:
            raise DataError(f"bad value '{bad}' not found; the column holds {classes[:10]}", file=file, column=name)
        y = (text == bad_text).to_numpy(dtype=np.int8)
    else:
        if len(classes) == 1:
            raise DataError(f"target has a single class ({classes[0]!r}); need both goods and bads",
                            file=file, column=name)
        if len(classes) != 2:
            value, row = _rarest(text)
            raise DataError(f"target must have exactly two classes, found {len(classes)}: {classes[:10]}; the rarest, "
                            f"{value!r}, first here", file=file, column=name, row=row)
        # only a recognised pair (0/1, good/bad, 正常/逾期 ...) decides by itself: with 1/2 codings
        # either value can mean bad (german_credit's original file has 1 = good, 2 = bad)
        lowered = [c.lower() for c in classes]
        bad_matches = [c for c, low in zip(classes, lowered, strict=True) if low in DEFAULT_BAD_VALUES]
        good_matches = [c for c, low in zip(classes, lowered, strict=True) if low in DEFAULT_GOOD_VALUES]
        if len(bad_matches) != 1 or len(good_matches) != 1 or bad_matches == good_matches:
            if default_bad is not None:
                return encode_target(values, default_bad, file=file)
            raise DataError(
                f"cannot tell which of {classes} is bad", file=file, column=name, hint="pass --bad VALUE (bad= in Python)"
            )
        y = (text == bad_matches[0]).to_numpy(dtype=np.int8)
    if len(classes) > 2:
        value, row = _rarest(text)
        raise DataError(f"target must be binary, found {len(classes)} values: {classes[:10]}; the rarest, {value!r}, "
                        "first here", file=file, column=name, row=row)
    if y.min() == y.max():
        raise DataError("target has a single class; need both goods and bads", file=file, column=name)
    return y


def _rarest(text: pd.Series) -> tuple[str, int]:
    """The least frequent value of a target column and its first row (from 1): a stray header line, a typo."""
    value = text.value_counts(sort=True).index[-1]
    return value, int(np.flatnonzero((text == value).to_numpy())[0]) + 1


def bad_class(bad: object, classes: Sequence[str]) -> str | None:
    """The class (as text) that the bad value `bad` names, or None: as written, or as the same number (numeric
    targets written as 1.0 still match --bad 1)."""
    bad_text = str(bad).strip()
    if bad_text in classes:
        return bad_text
    num = _as_float(bad_text)
    match = [c for c in classes if num is not None and _as_float(c) == num]
    return match[0] if match else None


def _as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def first_infinite(frame: pd.DataFrame, columns: Sequence[Any] | None = None) -> tuple[str, int, int] | None:
    """(column, 0-based position of its first infinity, how many) of the first column holding one."""
    for col in frame.columns if columns is None else columns:
        s = frame[col]
        if pd.api.types.is_float_dtype(s.dtype):
            bad = np.isinf(s.to_numpy(dtype=float, na_value=np.nan))
        elif pd.api.types.is_object_dtype(s.dtype) and pd.api.types.infer_dtype(s, skipna=True) == "integer":
            # whole numbers beyond float64's range (pandas keeps a CSV column holding one as Python ints): infinite
            bad = np.array([not pd.isna(v) and abs(v) > sys.float_info.max for v in s.to_numpy()], dtype=bool)
        else:
            continue
        if bad.any():
            return str(col), int(np.flatnonzero(bad)[0]), int(bad.sum())
    return None


INFINITE_HINT = "replace them with a missing value or a declared special value"


def check_finite(
    frame: pd.DataFrame, file: str | None = None, columns: Sequence[Any] | None = None,
    error: type[CreditflowError] = DataError,
) -> None:
    """Refuse infinities (in `columns`, default all): they have no place in a bin and would score silently wrong."""
    hit = first_infinite(frame, columns)
    if hit is not None:
        col, pos, n = hit
        raise error(f"{n} infinite value(s)", file=file, column=col, row=pos + 1, hint=INFINITE_HINT)


# A column whose non-missing values parse as numbers at least this often is numeric: the rest are typos.
NUMERIC_SHARE = 0.95


def check_not_nested(
    frame: pd.DataFrame, file: str | None = None, columns: Sequence[Any] | None = None,
    hint: str = "flatten it into columns of their own (creditflow features) or --exclude it",
) -> None:
    """Refuse columns of lists, dicts or arrays (Parquet list/struct columns): a bin holds one value per row."""
    for name in frame.columns if columns is None else columns:
        s = frame[name]
        pos = first_nested(s)
        if pos >= 0:
            raise DataError(f"the column holds nested values ({type(s.iloc[pos]).__name__}), not numbers or categories",
                            file=file, column=str(name), row=pos + 1, hint=hint)


NESTED_TYPES = (list, tuple, dict, set, np.ndarray)


# what `pandas.api.types.infer_dtype` calls a column with no list, dict or array in it
_FLAT_KINDS = frozenset({"string", "bytes", "floating", "integer", "mixed-integer-float", "decimal", "complex",
                         "boolean", "datetime", "datetime64", "date", "timedelta", "timedelta64", "time", "period",
                         "interval", "categorical", "empty"})


def first_nested(s: pd.Series) -> int:
    """Position of the first value of `s` that is a list, dict or array, else -1 (also for an empty or
    all-missing column). A Parquet list/struct column holds one type, so its first value tells; a DataFrame
    built in Python can hold one dict among strings (in rows of JSON, say), which pandas' type scan tells."""
    if not pd.api.types.is_object_dtype(s.dtype):
        return -1
    present = s.notna().to_numpy()
    if not present.any():  # no rows (an applicant without events), or all missing
        return -1
    pos = int(present.argmax())
    if isinstance(s.iloc[pos], NESTED_TYPES):
        return pos
    if pd.api.types.infer_dtype(s, skipna=True) in _FLAT_KINDS:
        return -1
    nested = np.fromiter((isinstance(v, NESTED_TYPES) for v in s), dtype=bool, count=len(s))
    return int(nested.argmax()) if nested.any() else -1


# A column of whole numbers, each row its own, filling at least half their range over this many rows is a row
# number or an id (a saved pandas index, a serial number), not a feature: on a file sorted by outcome it
# would separate the classes perfectly.
ROW_NUMBER_MIN_ROWS = 200
ROW_NUMBER_FILL = 0.5


def check_not_row_numbers(frame: pd.DataFrame, file: str | None = None) -> None:
    """Refuse feature columns without a name in the header, and columns of row numbers or serial ids."""
    for name in frame.columns:
        if str(name).startswith("Unnamed: "):
            raise DataError("the column has no name in the header (a pandas index saved with to_csv?)", file=file,
                            column=str(name), hint=f"name it in the header or --exclude '{name}'; pandas writes no "
                                                   "index with to_csv(index=False)")
        s = frame[name]
        if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype) or s.isna().any():
            continue
        v = s.to_numpy(dtype=float)
        if len(v) and fills_like_row_numbers(len(v), v.min(), v.max()) and (v == np.round(v)).all() \
                and pd.Series(v).is_unique:
            raise row_numbers_error(str(name), v.min(), v.max(), file)


def fills_like_row_numbers(n_rows: int, low: float, high: float) -> bool:
    """`n_rows` distinct whole numbers from `low` to `high` are row numbers or ids: enough rows, dense enough."""
    return n_rows >= ROW_NUMBER_MIN_ROWS and np.isfinite(high - low) and n_rows >= ROW_NUMBER_FILL * (high - low + 1)


def row_numbers_error(column: str, low: float, high: float, file: str | None) -> DataError:
    return DataError(f"the column holds row numbers or ids ({low:.0f} to {high:.0f}, each row its own), not a "
                     "feature", file=file, column=column, hint=f"give it as the id (--id {column}; id= in Python) or --exclude {column} (exclude=)")


def check_no_dates(frame: pd.DataFrame, file: str | None = None) -> None:
    """Refuse feature columns of date, duration or period dtype (as categories every date would be its own
    bin, and any later date would fall in Unseen at scoring)."""
    for name in frame.columns:
        dtype = frame[name].dtype
        if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype) \
                or isinstance(dtype, pd.PeriodDtype):
            raise DataError(f"the column holds dates or durations ({dtype}); a scorecard needs numbers or categories",
                            file=file, column=str(name),
                            hint="derive a number from it (e.g. days since the date at the observation point), "
                                 "pass it as --time, or --exclude it (time= / exclude=[...] in Python)")


def check_numeric_text(frame: pd.DataFrame, skip: set[str] | None = None, file: str | None = None) -> None:
    """Refuse text cells in a column that is otherwise numeric, and numbers written for people ('20,000', '37%').

    pandas reads such a column as text, so one typo ('abc', '-', '\\N') would silently turn a numeric
    variable into categories: every value unseen as a string at scoring time, the trend lost.
    """
    for col in text_columns_to_check(frame, skip):
        t = text_numbers(frame[col])
        if t.problem():
            raise numeric_text_error(t, file, str(col), t.where()[0] + 1,
                                     "if the column holds codes, declare it categorical (--categorical COL; categorical=[...] in Python)")


def text_columns_to_check(frame: pd.DataFrame, skip: set[str] | None = None) -> list[str]:
    """The text columns (object or string dtype) of `frame` not declared categorical (by name or by dtype)."""
    return [c for c in frame.columns if str(c) not in (skip or set())
            and not isinstance(frame[c].dtype, pd.CategoricalDtype)
            and is_text(frame[c])]


DATE_SAMPLE = 1000  # distinct values enough to tell a column of dates, cheap on an id-like one


def first_distinct(values: pd.Series, n: int = DATE_SAMPLE) -> list:
    """The first `n` distinct values present, in row order."""
    return values.dropna().unique()[:n].tolist()


def dates_as_text(distinct: list) -> bool:
    """Whether the distinct values of a text column (`first_distinct`) are dates written as text."""
    from creditflow.data.split import parse_dates

    if len(distinct) <= 1:
        return False
    try:
        return bool(parse_dates(pd.Series(distinct)).notna().mean() >= 0.99)
    except DataError:  # dates ambiguous between day/month and month/day are dates all the same
        return True


# Numbers written for people: thousands separators (20,000), a percent sign (37%), a decimal comma (0,196).
_FORMATTED = r"[+-]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?\s*%|\d+,\d+)"
_KEEP_NUMBERS, _KEEP_OTHERS = 10, 4  # distinct values kept: enough to judge, bounded for an id-like column


@dataclass(frozen=True)
class TextNumbers:
    """How the values of a text column read as numbers: counts of rows, and a few distinct values."""

    present: int = 0  # values not missing
    numeric: int = 0  # values that read as plain numbers
    formatted: int = 0  # numbers written for people (see _FORMATTED)
    first: int = -1  # position of the first value that is not a plain number, or -1
    example: Any = None  # that value
    numbers: frozenset = frozenset()  # up to _KEEP_NUMBERS distinct number-like values
    others: frozenset = frozenset()  # up to _KEEP_OTHERS distinct values that are neither
    first_formatted: int = -1  # position of the first number written for people, or -1
    formatted_example: Any = None

    def __add__(self, later: TextNumbers) -> TextNumbers:
        """The counts of two pieces of one column (positions are the earlier piece's when it has one)."""
        first, example = (self.first, self.example) if self.first >= 0 else (later.first, later.example)
        ff, fe = ((self.first_formatted, self.formatted_example) if self.first_formatted >= 0
                  else (later.first_formatted, later.formatted_example))
        return TextNumbers(self.present + later.present, self.numeric + later.numeric,
                           self.formatted + later.formatted, first, example,
                           frozenset(list(self.numbers | later.numbers)[:_KEEP_NUMBERS]),
                           frozenset(list(self.others | later.others)[:_KEEP_OTHERS]), ff, fe)

    def where(self) -> tuple[int, Any]:
        """(position, value) to show for `problem()`: the first formatted number, else the first non-number."""
        if self.problem() == "formatted":
            return self.first_formatted, self.formatted_example
        return self.first, self.example

    @property
    def only_numbers(self) -> bool:
        """Every value present reads as a plain number (a Parquet string column of numbers)."""
        return 0 < self.present == self.numeric

    def problem(self) -> str | None:
        """'formatted' or 'typo' when the column is numbers spoilt by formatting or a few text values, else None
        (all numbers, or codes: text throughout, or a few numbers among many texts)."""
        if self.present == 0 or self.numeric == self.present:
            return None
        numberish = self.numeric + self.formatted
        # most rows numbers; or many distinct numbers beside at most three texts ('-', '\\N', 'unknown') however
        # often those occur: placeholders for missing, not the categories of a code column
        if numberish >= NUMERIC_SHARE * self.present or (
                len(self.numbers) >= _KEEP_NUMBERS and len(self.others) < _KEEP_OTHERS):
            return "formatted" if self.formatted else "typo"
        return None


def text_numbers(s: pd.Series) -> TextNumbers:
    """Count how the values of text column `s` read as numbers (each distinct value parsed once)."""
    present = s.notna().to_numpy()
    if not present.any():
        return TextNumbers()
    codes, uniques = pd.factorize(s[present])
    text = pd.Series(uniques, dtype=object).astype(str).str.strip()
    parsed = pd.to_numeric(text, errors="coerce").notna().to_numpy()
    formatted = ~parsed & text.str.fullmatch(_FORMATTED).to_numpy(dtype=bool)
    wide = ~parsed & ~formatted & ~text.map(str.isascii).to_numpy(dtype=bool)
    if wide.any():  # numbers in full-width characters ('３２．０', as a Chinese input method types them)
        formatted[wide] = text[wide].map(lambda v: full_width_hint(v) is not None).to_numpy(dtype=bool)
    counts = np.bincount(codes, minlength=len(uniques))
    rows = np.flatnonzero(present)

    def first_of(hit: np.ndarray) -> tuple[int, Any]:
        at = np.flatnonzero(hit[codes])
        return (int(rows[at[0]]), s.iloc[int(rows[at[0]])]) if len(at) else (-1, None)

    first, example = first_of(~parsed)
    first_formatted, formatted_example = first_of(formatted) if formatted.any() else (-1, None)
    return TextNumbers(int(present.sum()), int(counts[parsed].sum()), int(counts[formatted].sum()), first, example,
                       frozenset(uniques[parsed | formatted][:_KEEP_NUMBERS].tolist()),
                       frozenset(uniques[~(parsed | formatted)][:_KEEP_OTHERS].tolist()),
                       first_formatted, formatted_example)


def full_width_hint(value: Any) -> str | None:
    """A hint when text that is not a number is one written in full-width characters ('３２', '１．５', '－３', as a
    Chinese input method types them), naming the number meant; else None."""
    if not isinstance(value, str) or value.isascii():
        return None
    meant = unicodedata.normalize("NFKC", value).strip()
    if meant == value.strip() or not meant.isascii() or _as_float(meant) is None:
        return None
    return (f"{value!r} is written in full-width characters, as a Chinese input method types them: write "
            f"half-width (ASCII) digits, {meant!r}")


def numeric_text_error(t: TextNumbers, file: str | None, column: str, row: int, hint: str) -> DataError:
    """The error for a column `t.problem()` finds fault with, at `row` (from 1) of `file` (see `t.where()`)."""
    example = t.where()[1]
    wide = full_width_hint(example)
    if t.problem() == "formatted":
        how = ("thousands separators, a percent sign or a decimal comma" if wide is None else
               "full-width digits, thousands separators, a percent sign or a decimal comma")
        return DataError(f"{t.formatted} value(s) are numbers written with {how}, e.g. {example!r}", file=file,
                         column=column, row=row,
                         hint=f"{wide or 'write plain numbers (20000, 0.37, 0.196)'}; {hint}")
    if wide is not None:
        hint = f"{wide}; {hint}"
    return DataError(f"{t.present - t.numeric} non-numeric value(s) in a column that is otherwise numeric, "
                     f"e.g. {example!r}", file=file, column=column, row=row,
                     hint=f"fix or blank them (a blank is a missing value); {hint}")


@dataclass
class Dataset:
    """A labelled table: features, 0/1 target (1 = bad), optional ids and times, and a field dictionary."""

    X: pd.DataFrame
    y: np.ndarray | None = None
    ids: pd.Series | None = None
    time: pd.Series | None = None
    target: str | None = None
    id_column: str | None = None
    time_column: str | None = None
    dictionary: FieldDictionary = field(default_factory=FieldDictionary)
    source: str | None = None
    bad_value: str | None = None  # the bad value given to read_table (recorded in a model's metadata)
    excluded: list[str] = field(default_factory=list)  # columns kept out by `exclude` (recorded in the metadata)
    # their values: no model input, but watched for drift (a protected column, say) by the monitoring baseline
    excluded_values: pd.DataFrame | None = None
    _splits: dict | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.X)

    @property
    def bad_rate(self) -> float:
        return float(np.mean(self.y)) if self.y is not None else float("nan")

    def subset(self, index: np.ndarray) -> Dataset:
        """Rows at positions `index`."""
        return replace(
            self,
            X=self.X.iloc[index].reset_index(drop=True),
            y=None if self.y is None else self.y[index],
            ids=None if self.ids is None else self.ids.iloc[index].reset_index(drop=True),
            time=None if self.time is None else self.time.iloc[index].reset_index(drop=True),
            excluded_values=None if self.excluded_values is None
            else self.excluded_values.iloc[index].reset_index(drop=True),
            _splits=None,
        )

    def split(self, test_size: float = 0.3, seed: int = 42, oot_share: float = 0.1,
              roles: np.ndarray | None = None) -> dict[str, Dataset]:
        """Stratified train/test split; with a time column the latest periods are held out as `oot` first.
        `roles`: the split of every row as `roles` makes it, when the caller has it already."""
        role = self.roles(test_size, seed, oot_share) if roles is None else roles
        out = {"train": self.subset(np.flatnonzero(role == 0)), "test": self.subset(np.flatnonzero(role == 1))}
        if self.time is not None:
            out["oot"] = self.subset(np.flatnonzero(role == 2))
        self._splits = out
        return out

    def roles(self, test_size: float = 0.3, seed: int = 42, oot_share: float = 0.1) -> np.ndarray:
        """The split of every row, as `split` makes it: 0 train, 1 test, 2 out-of-time."""
        if self.y is None:
            raise DataError("cannot split a table without a target", file=self.source)
        periods = None
        if self.time is not None:
            codes, values, counts = factorize_times(self.time)
            periods = (codes, distinct_periods(values, counts))
        return split_roles(self.y, periods, test_size=test_size, seed=seed, oot_share=oot_share,
                           source=self.source, time_column=self.time_column)

    @property
    def train(self) -> Dataset:
        return (self._splits or self.split())["train"]

    @property
    def test(self) -> Dataset:
        return (self._splits or self.split())["test"]

    @property
    def oot(self) -> Dataset | None:
        return (self._splits or self.split()).get("oot")


def text_columns(schema: dict) -> list[str]:
    """A model's inputs that are text (`schema.json` type "string"): read them as written when scoring."""
    return [f["name"] for f in schema.get("fields", []) if f.get("type") == "string" and "name" in f]


def closest_column(name: str, columns: Sequence[Any]) -> str | None:
    """The column `name` most likely meant: the same text but for letter width, case and spaces (`还款状态(8月)`
    typed for the header's `还款状态（8月）`, `ＡＧＥ` for `AGE`), else the closest by `difflib` (`用户编码` for
    `用户编号`), else None."""
    import difflib
    import unicodedata

    def norm(text: object) -> str:
        return "".join(unicodedata.normalize("NFKC", str(text)).casefold().split())

    names = [str(c) for c in columns if str(c) != name]
    same = [c for c in names if norm(c) == norm(name)]
    if same:
        return same[0]
    by_norm = {norm(c): c for c in names}
    close = difflib.get_close_matches(norm(name), list(by_norm), n=1, cutoff=0.5)
    return by_norm[close[0]] if close else None


def did_you_mean(name: str, columns: Sequence[Any]) -> str:
    """' (did you mean 'X'?)' for the closest column (see `closest_column`), or ''."""
    close = closest_column(name, columns)
    return f" (did you mean {close!r}?)" if close is not None else ""


def check_roles(
    columns: list[str],
    source: str | None,
    *,
    target: str | None = None,
    id: str | None = None,
    time: str | None = None,
    exclude: list[str] | None = None,
    categorical: list[str] | None = None,
) -> list[str]:
    """Check that every named column exists and no column has two roles; the columns that are not features."""
    listing = f"columns are {columns[:12]}" + (" ..." if len(columns) > 12 else "")
    roles = [(r, c) for r, c in (("target", target), ("id", id), ("time", time)) if c is not None]
    roles += [("categorical", c) for c in categorical or []]
    unnamed = sum(str(c).startswith("Unnamed: ") for c in columns)
    title = ("the first row looks like a title, not the header (most columns are unnamed): remove the rows above "
             "the header" if len(columns) > 1 and unnamed >= len(columns) / 2 else None)
    for role, col in roles:
        if col not in columns:
            raise DataError(f"{role} column not found{did_you_mean(col, columns)}; {listing}", file=source, column=col,
                            hint=title or misread_hint(columns))
    unknown = [c for c in exclude or [] if c not in columns]
    if unknown:  # a typo would leave the column in the model
        raise DataError(f"--exclude (exclude=) names {len(unknown)} column(s) the table does not have: {unknown}"
                        f"{did_you_mean(unknown[0], columns)}; {listing}", file=source, column=unknown[0])
    named = [(r, c) for r, c in roles if r in ("target", "id", "time")]
    for i, (role, col) in enumerate(named):
        other = next((r for r, c in named[:i] if c == col), None)
        if other is not None:
            raise DataError(f"the same column is given as the {other} and the {role}", file=source, column=col)
    return list(dict.fromkeys([c for _, c in named] + list(exclude or [])))


def read_table(
    path: str | Path | pd.DataFrame,
    target: str | None = None,
    *,
    bad: object = None,
    id: str | None = None,
    time: str | None = None,
    dictionary: str | Path | FieldDictionary | None = None,
    exclude: list[str] | None = None,
    encoding: str | None = None,
    categorical: list[str] | None = None,
    features: list[str] | None = None,
    text: list[str] | None = None,
    default_bad: object = None,
    sheet: str | int = 0,
) -> Dataset:
    """Load a wide table (or take a DataFrame) as a `Dataset` with the target encoded 0/1 (1 = bad).

    Infinite values, an all-missing feature column, a one-class target, text in an otherwise
    numeric column and unreadable times are refused with a `DataError` naming the file, column
    and row. `categorical` columns are codes: read as written and binned as categories whatever
    their values look like. `features` (a model's inputs, to validate or report on a model) keeps
    only those columns as features, unchecked beyond them; `text` columns are read as written
    (a model's text inputs, see `text_columns`). `default_bad`: see `encode_target`. `sheet`: the Excel
    sheet to read (name or 0-based position); a missing column names the sheet read and the others.
    """
    if isinstance(path, pd.DataFrame):
        frame, source = path.copy(), None
        dupes = frame.columns[frame.columns.duplicated()].tolist()
        if dupes:
            raise DataError(f"duplicate column names: {dupes}")
    else:
        as_text = list(dict.fromkeys([*(text or []), *(categorical or [])]))
        frame, source = read_frame(path, encoding=encoding, sheet=sheet, text=as_text, ids=[id] if id else None), \
            str(path)
    with excel.naming_sheet(source, sheet):
        drop = check_roles(list(frame.columns), source, target=target, id=id, time=time, exclude=exclude,
                           categorical=categorical)
        lacking = [c for c in features or [] if c not in frame.columns]
        if lacking:
            raise DataError(f"{len(lacking)} model column(s) missing: {lacking[:10]}", file=source, column=lacking[0])
    if features is not None:
        drop = [c for c in frame.columns if c not in features or c in drop]
    y = encode_target(frame[target], bad, file=source, default_bad=default_bad) if target else None
    if time is not None:
        codes, values, counts = factorize_times(frame[time])
        with located(source, time):  # ambiguous day/month dates
            problem = time_problem(values, counts)
        if problem:
            raise DataError(problem[0], file=source, column=time, row=int(np.flatnonzero(problem[1][codes])[0]) + 1,
                            hint="every row needs a date to be placed in or out of the out-of-time sample")
    X = frame.drop(columns=drop)
    kept_out = [c for c in dict.fromkeys(exclude or []) if c not in (target, id, time)]
    for col in categorical or []:
        if col in X.columns:
            X[col] = X[col].astype("category")  # codes, whatever they look like (see is_categorical)
    check_not_nested(X, file=source)
    check_numeric_text(X, skip=set(categorical or []), file=source)
    check_no_dates(X, file=source)
    if X.shape[1] == 0:
        raise DataError("no feature columns besides the target, id and time", file=source)
    for col in X.columns:
        if X[col].isna().all():
            hint = ("a model input blank on every row would score as Missing throughout: fill it from the source "
                    "before validating the model on this table") if features is not None else "drop it or pass --exclude (exclude=[...] in Python)"
            raise DataError("the column is entirely missing", file=source, column=str(col), hint=hint)
    check_finite(X, file=source)
    if features is None:
        check_not_row_numbers(X, file=source)
    if isinstance(dictionary, FieldDictionary):
        fd = dictionary
    elif dictionary is not None:
        fd = read_dictionary(dictionary)
    else:
        fd = FieldDictionary()
    fd = fd.matched_to(list(X.columns))
    return Dataset(
        X=X.reset_index(drop=True),
        y=y,
        ids=frame[id].reset_index(drop=True) if id else None,
        time=frame[time].reset_index(drop=True) if time else None,
        target=target,
        id_column=id,
        time_column=time,
        dictionary=fd,
        source=source,
        bad_value=str(bad).strip() if bad is not None and y is not None else None,
        excluded=[str(c) for c in exclude or []],
        excluded_values=frame[kept_out].reset_index(drop=True) if kept_out else None,
    )
