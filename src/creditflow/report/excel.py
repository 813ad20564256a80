"""Write a report as an Excel workbook: one sheet per section, its tables stacked under their titles.
Numbers stay numbers (with the same formats as the HTML page), so a validator can recompute them."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from creditflow.report.content import FORMATS, Note, Section, Table

if TYPE_CHECKING:
    from creditflow.report.report import Report

HEADER_FILL = PatternFill("solid", fgColor="1F3B63")
HEADER_FONT = Font(bold=True, color="FFFFFF")
TITLE_FONT = Font(bold=True, size=12, color="1F3B63")
NOTE_FONT = Font(italic=True, color="6B7280")


def _cell(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    if isinstance(value, int | float | bool):
        return value
    return str(value)


def _put(ws, row: int, column: int, value: object):
    """Write one value; a text starting with '=' (a category "=A", a meaning "=逾期天数/30") stays text: openpyxl
    would store it as a formula, which Excel computes or repairs. The report writes no formulas."""
    cell = ws.cell(row=row, column=column, value=_cell(value))
    if cell.data_type == "f":
        cell.data_type = "s"
    return cell


def text_width(text: str) -> int:
    """Display width of `text` in Excel column units: East Asian wide and full-width characters (Chinese,
    Japanese, Korean, full-width punctuation) take two, others one."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _sheet_name(title: str, used: set[str]) -> str:
    base = "".join(ch for ch in title if ch not in "[]:*?/\\")[:31] or "Sheet"
    name, i = base, 2
    while name in used:
        name = f"{base[:28]} {i}"
        i += 1
    used.add(name)
    return name


def _write_table(ws, t: Table, row: int, widths: dict[int, int]) -> int:
    _put(ws, row, 1, t.title).font = TITLE_FONT
    row += 1
    kinds = t.kinds()
    cols = list(t.frame.columns)
    for j, c in enumerate(cols, start=1):
        cell = _put(ws, row, j, str(c))
        cell.fill, cell.font = HEADER_FILL, HEADER_FONT
        cell.alignment = Alignment(horizontal="center")
        widths[j] = max(widths.get(j, 8), min(text_width(str(c)) + 2, 40))
    values = t.frame.to_numpy(dtype=object)
    formats = [FORMATS.get(kinds[c], FORMATS["text"])[1] for c in cols]
    for i, r in enumerate(values, start=row + 1):
        for j, v in enumerate(r, start=1):
            cell = _put(ws, i, j, v)
            if formats[j - 1] != "@" and isinstance(cell.value, int | float):
                cell.number_format = formats[j - 1]
            if isinstance(cell.value, str):
                widths[j] = max(widths.get(j, 8), min(text_width(cell.value) + 2, 60))
            else:
                widths[j] = max(widths.get(j, 8), 12)
    row += len(values) + 1
    if t.note:
        _put(ws, row, 1, t.note).font = NOTE_FONT
        row += 1
    return row + 1


def _write_section(wb: Workbook, s: Section, used: set[str]) -> None:
    ws = wb.create_sheet(_sheet_name(s.title, used))
    _put(ws, 1, 1, s.title).font = Font(bold=True, size=14, color="1F3B63")
    row = 2
    if s.intro:
        _put(ws, row, 1, s.intro).font = NOTE_FONT
        row += 1
    for b in s.blocks:
        if isinstance(b, Note):
            _put(ws, row, 1, b.text).font = NOTE_FONT
            row += 1
    row += 1
    widths: dict[int, int] = {}
    tables = list(s.tables())
    for t in tables:
        header = row + 1
        row = _write_table(ws, t, row, widths)
        if len(tables) == 1 and len(t.frame):
            # one table: its header stays in view while scrolling, and its columns can be filtered and sorted
            ws.freeze_panes = ws.cell(row=header + 1, column=1)
            last = get_column_letter(max(len(t.frame.columns), 1))
            ws.auto_filter.ref = f"A{header}:{last}{header + len(t.frame)}"
    for j, w in widths.items():
        ws.column_dimensions[get_column_letter(j)].width = w


def write_workbook(report: Report, path: str | Path) -> None:
    """Write the workbook to `path` (not atomically; `Report.to_excel` wraps this)."""
    wb = Workbook()
    info = wb.active
    info.title = "Report"
    _put(info, 1, 1, report.title).font = Font(bold=True, size=14, color="1F3B63")
    _put(info, 2, 1, report.subtitle).font = NOTE_FONT
    for i, (k, v) in enumerate(report.meta.items(), start=4):
        _put(info, i, 1, str(k)).font = Font(bold=True)
        _put(info, i, 2, str(v))
    info.column_dimensions["A"].width = max([24, *(min(text_width(str(k)) + 2, 40) for k in report.meta)])
    info.column_dimensions["B"].width = 80
    used = {"Report"}
    for s in report.sections:
        _write_section(wb, s, used)
    wb.save(path)
