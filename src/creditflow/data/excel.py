"""Excel (.xlsx) workbooks: their sheets, and the cells pandas would silently read as missing.

pandas reads a sheet through openpyxl's read-only mode, which keeps only the top-left value of a merged
range and a formula's cached value (none in a workbook never calculated, as openpyxl and some exporters
write them). Those cells would become missing values, so they are refused. The checks read the sheet's XML
part from the zip, streaming, and parse it only when it mentions formulas or merged cells.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.etree import ElementTree

from creditflow.data.errors import CreditflowError, DataError

# Workbooks that are zip packages of XML parts (an old .xls is not).
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
_CELL = re.compile(r"([A-Za-z]*)(\d*)")
# Opening tags of a formula or a merged range, with or without a namespace prefix.
_SUSPECT = (b"<f>", b"<f ", b"<f/", b":f>", b":f ", b":f/", b"mergeCell")
_VALUE = (b"<v>", b":v>", b"<is>", b":is>")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _part_rels(book: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Relationship id -> (type, part path) of a package part (from its _rels/NAME.rels)."""
    folder, name = posixpath.split(part)
    root = ElementTree.fromstring(book.read(posixpath.join(folder, "_rels", name + ".rels")))
    out = {}
    for rel in root:
        target = rel.get("Target", "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        out[rel.get("Id", "")] = (rel.get("Type", ""), path)
    return out


def worksheets(path: Path) -> list[tuple[str, str]]:
    """(name, XML part) of each worksheet in the workbook's order (chart sheets left out)."""
    try:
        with zipfile.ZipFile(path) as book:
            main = next(p for t, p in _part_rels(book, "").values() if t.endswith("/officeDocument"))
            rels = _part_rels(book, main)
            out = []
            for el in ElementTree.fromstring(book.read(main)).iter():
                rid = next((v for k, v in el.attrib.items() if k.endswith("}id")), None)
                if _local(el.tag) == "sheet" and rels.get(rid, ("", ""))[0].endswith("/worksheet"):
                    out.append((el.get("name", ""), rels[rid][1]))
            return out
    except (zipfile.BadZipFile, KeyError, StopIteration, ElementTree.ParseError, OSError) as exc:
        raise DataError(f"cannot read as an Excel workbook: {exc!r}", file=str(path)) from None


def pick_sheet(path: Path, sheet: str | int) -> tuple[str, str]:
    """(name, XML part) of `sheet`, a name or 0-based position; an unknown one is refused with the names."""
    sheets = worksheets(path)
    names = [n for n, _ in sheets]
    if isinstance(sheet, int) and -len(sheets) <= sheet < len(sheets):
        return sheets[sheet]
    if sheet in names:
        return sheets[names.index(sheet)]
    raise DataError(f"the workbook has no sheet {sheet!r}; its sheets are {names}", file=str(path))


def _mentions(book: zipfile.ZipFile, part: str, tokens: tuple[bytes, ...]) -> bool:
    """Whether the part's bytes hold any of `tokens` (read in chunks, stopping at the first)."""
    tail = b""
    with book.open(part) as f:
        while chunk := f.read(1 << 20):
            buf = tail + chunk
            if any(t in buf for t in tokens):
                return True
            tail = buf[-16:]
    return False


def _position(ref: str, row: int, col: int) -> tuple[int, int]:
    """(row, column), 1-based, of a cell reference such as 'D12'; the parts it lacks are taken as given."""
    letters, digits = _CELL.match(ref).groups()  # type: ignore[union-attr]  # the pattern matches any text
    if letters:
        col = 0
        for ch in letters.upper():
            col = col * 26 + ord(ch) - 64
    return (int(digits) if digits else row), col


def check_cells(path: Path, name: str, part: str, columns: list[str]) -> None:
    """Refuse a formula without a calculated value and merged cells reaching below the header (row 1).

    `columns` are the sheet's column names as read, to name the column; rows are counted from 1 below the header.
    """
    with zipfile.ZipFile(path) as book:
        if not _mentions(book, part, _SUSPECT):
            return
        row = 0
        merged: list[tuple[int, int, str]] = []
        with book.open(part) as f:
            for _, el in ElementTree.iterparse(f):
                if el.tag.endswith("row") and _local(el.tag) == "row":
                    row = int(el.get("r") or row + 1)
                    for i, cell in enumerate(el):
                        if len(cell) and cell[0].tag.endswith("f") and _uncalculated(cell):
                            at, col = _position(cell.get("r", ""), row, i + 1)
                            raise DataError(f"sheet {name!r}, cell {_name([], col)}{at}: formula without a "
                                            "calculated value", file=str(path), column=_name(columns, col),
                                            row=at - 1 if at > 1 else None,
                                            hint="open and save the file in Excel or LibreOffice, or paste values")
                    el.clear()  # keep memory flat on a large sheet
                elif el.tag.endswith("mergeCell") and _local(el.tag) == "mergeCell":
                    first, _, last = el.get("ref", "").partition(":")
                    top, left = _position(first, 0, 0)
                    if _position(last or first, 0, 0)[0] > 1:
                        merged.append((max(top, 2), left, el.get("ref", "")))
    if merged:
        top, left, ref = min(merged)
        raise DataError(f"sheet {name!r}: merged cells {ref}: only their first cell keeps its value, the others "
                        "would read as missing", file=str(path), column=_name(columns, left), row=top - 1,
                        hint="unmerge them and fill the values in")


def _uncalculated(cell: ElementTree.Element) -> bool:
    """A formula cell without a cached value (an empty one is a value only for a text result, t="str")."""
    v = next((k for k in cell if _local(k.tag) == "v"), None)
    return v is None or (not v.text and cell.get("t") != "str")


def _name(columns: list[str], col: int) -> str:
    """The header name of the 1-based column `col`, else its letters."""
    if 0 < col <= len(columns):
        return columns[col - 1]
    letters = ""
    while col > 0:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def sheet_hint(option: str | None = "--sheet") -> str:
    """How to read another sheet: the command's `option` (--sheet, --oot-sheet), or None where the file's first
    sheet is always read."""
    if option is None:
        return "only the first sheet of this file is read: move the table there"
    return f"choose the sheet with {option} NAME" + (" (sheet= in Python)" if option == "--sheet" else "")


def sheet_note(path: Path, name: str, option: str | None = "--sheet") -> str | None:
    """For a workbook of several sheets: which was read, the others, and the one holding data when only one does;
    `option`: see `sheet_hint`."""
    sheets = worksheets(path)
    others = [n for n, _ in sheets if n != name]
    if not others:
        return None
    with zipfile.ZipFile(path) as book:
        full = [n for n, p in sheets if n != name and _mentions(book, p, _VALUE)]
    note = f"read sheet {name!r}; the workbook's other sheets: {others}"
    if len(full) == 1:
        note += f", of which only {full[0]!r} holds data"
    return f"{note}; {sheet_hint(option)}"


@contextmanager
def naming_sheet(path: str | Path | None, sheet: str | int, option: str | None = "--sheet") -> Iterator[None]:
    """Add to a `CreditflowError` raised inside, when `path` is a workbook of several sheets, which sheet
    was read and which others it has (a missing column may just be on another sheet); `option` chooses
    another sheet in the command at hand (see `sheet_hint`)."""
    try:
        yield
    except CreditflowError as exc:
        if path is None or Path(path).suffix.lower() not in XLSX_SUFFIXES:
            raise
        note = sheet_note(Path(path), pick_sheet(Path(path), sheet)[0], option)
        if note is None:
            raise
        hint = f"{exc.hint}; {note}" if exc.hint else note
        raise type(exc)(exc.reason, file=exc.file, column=exc.column, row=exc.row, hint=hint) from None
