"""Field dictionaries (字段解释): which variable means what, used to label every table we print or write."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from creditflow.data.errors import DataError

# Header words that mark the variable-name and meaning columns, lower-cased.
_VARIABLE_HEADERS = ("variable", "var", "field", "column", "name", "变量名", "变量", "字段名", "字段", "特征",
                     "变量名称", "字段名称", "变量代码", "字段代码", "列名")
_MEANING_HEADERS = ("meaning", "description", "label", "desc", "变量解释", "字段解释", "含义", "解释", "说明", "中文名",
                    "变量含义", "字段含义", "中文含义", "中文名称", "变量说明", "字段说明", "变量描述", "字段描述", "描述",
                    "业务含义")
_LOGIC_HEADERS = ("logic", "business logic", "业务逻辑说明", "业务逻辑", "取值说明")
_CATEGORY_HEADERS = ("category", "cat", "group", "变量分类", "分类", "类别")
_HEADER_HINT = "expected headers such as 'variable'/'meaning' or '变量名'/'变量解释'"


@dataclass
class FieldDictionary:
    """Variable -> meaning (and optional logic and category) as read from a field dictionary."""

    meanings: dict[str, str] = field(default_factory=dict)
    logic: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    # dictionary name -> column name, for the names `matched_to` matched regardless of case (not stored)
    case_matched: dict[str, str] = field(default_factory=dict, compare=False)

    def meaning(self, variable: str, default: str = "") -> str:
        """The meaning of `variable`, or `default` when the dictionary does not list it."""
        return self.meanings.get(str(variable), default)

    def label(self, variable: str) -> str:
        """`variable (meaning)` when a meaning is known, else the variable name."""
        m = self.meanings.get(str(variable))
        return f"{variable} ({m})" if m and m != variable else str(variable)

    def __len__(self) -> int:
        return len(self.meanings)

    def __contains__(self, variable: object) -> bool:
        return str(variable) in self.meanings

    def matched_to(self, columns: list[str]) -> FieldDictionary:
        """The dictionary with each name that differs from a column only by case (X_078 exported by SAS for
        the data's x_078) renamed to the column, when that pairing is unambiguous: no entry has the exact
        name, and no other entry or column has the same name in lower case. The renames are in
        `case_matched`; other names are kept as they are."""
        columns = [str(c) for c in columns]
        exact = set(self.meanings) | set(self.logic) | set(self.categories)
        names = list(dict.fromkeys([*self.meanings, *self.logic, *self.categories]))
        by_lower_names: dict[str, list[str]] = {}
        for n in names:
            by_lower_names.setdefault(n.lower(), []).append(n)
        by_lower_cols: dict[str, list[str]] = {}
        for c in columns:
            by_lower_cols.setdefault(c.lower(), []).append(c)
        rename = {}
        for key, found in by_lower_names.items():
            cols = by_lower_cols.get(key, [])
            if len(found) == 1 and len(cols) == 1 and found[0] != cols[0] and cols[0] not in exact:
                rename[found[0]] = cols[0]
        if not rename:
            return self

        def moved(d: dict[str, str]) -> dict[str, str]:
            return {rename.get(k, k): v for k, v in d.items()}

        return FieldDictionary(meanings=moved(self.meanings), logic=moved(self.logic),
                               categories=moved(self.categories), source=self.source, case_matched=rename)

    def to_dict(self) -> dict:
        return {"meanings": self.meanings, "logic": self.logic, "categories": self.categories}

    def __repr__(self) -> str:  # a workbook's dictionary has hundreds of entries: a notebook shows the count
        source = f" from {Path(self.source).name}" if self.source else ""
        return f"<FieldDictionary: {len(self.meanings)} meanings{source}>"

    @classmethod
    def of(cls, value: object) -> FieldDictionary | None:
        """A model's `dictionary` parameter as a dictionary: a `FieldDictionary`, the path of a dictionary file
        (as `read_table(dictionary=)` takes), or a mapping of column to meaning; None stays None."""
        if value is None or isinstance(value, FieldDictionary):
            return value
        if isinstance(value, (str, Path)):
            return read_dictionary(value)
        if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
            return cls(meanings={str(k): v for k, v in value.items()})
        from creditflow.data.errors import CreditflowError

        raise CreditflowError(f"dictionary must be a FieldDictionary, the path of a field dictionary file or a "
                              f"mapping of column to meaning, not {type(value).__name__}")

    @classmethod
    def from_dict(cls, data: Mapping | None) -> FieldDictionary:
        data = data or {}
        return cls(
            meanings=dict(data.get("meanings", {})),
            logic=dict(data.get("logic", {})),
            categories=dict(data.get("categories", {})),
        )


def _match(cell: object, names: tuple[str, ...]) -> bool:
    return isinstance(cell, str) and cell.strip().lower() in names


def _find_header(raw: pd.DataFrame) -> tuple[int, int, int]:
    """Locate (header row, variable column, meaning column) in a sheet read without a header."""
    for r in range(min(len(raw), 20)):
        row = list(raw.iloc[r])
        var_col = next((i for i, c in enumerate(row) if _match(c, _VARIABLE_HEADERS)), None)
        mean_col = next((i for i, c in enumerate(row) if _match(c, _MEANING_HEADERS)), None)
        if var_col is not None and mean_col is not None and var_col != mean_col:
            return r, var_col, mean_col
    raise DataError("no variable and meaning columns found in the first 20 rows", hint=_HEADER_HINT)


def _find_sheet(sheets: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, tuple[int, int, int]]:
    """The first sheet with variable and meaning columns, and where they are (see `_find_header`)."""
    for raw in sheets.values():
        try:
            return raw, _find_header(raw)
        except DataError:
            if len(sheets) == 1:
                raise
    raise DataError(f"no variable and meaning columns found in the first 20 rows of any sheet (searched "
                    f"{list(sheets)})", hint=_HEADER_HINT)


def read_dictionary(path: str | Path) -> FieldDictionary:
    """Read a field dictionary from CSV or XLSX with variable and meaning columns.

    The header row may sit below a title line (as in 字段解释.xlsx); category cells that
    span several rows (merged cells) are carried down, and so is a merged logic cell over the block of variables
    it explains; a variable's own merged cell over several rows (one a code) joins their logic texts with "; ".
    In a workbook, the first sheet that has the variable and meaning columns is read.
    """
    from creditflow.data.io import read_raw_cells

    path = Path(path)
    try:
        raw, (r, vcol, mcol) = _find_sheet(read_raw_cells(path))
    except DataError as exc:
        exc.file = exc.file or str(path)
        raise
    header = [str(c).strip().lower() if isinstance(c, str) else "" for c in raw.iloc[r]]
    lcol = next((i for i, c in enumerate(header) if c in _LOGIC_HEADERS), None)
    ccol = next((i for i, c in enumerate(header) if c in _CATEGORY_HEADERS), None)
    out = FieldDictionary(source=str(path))
    # merged cells (Excel): one logic text over the block of variables it explains is every row's; a variable's own
    # cell over several rows (one row per code: 1=男, 2=女 ...) makes those rows its, their logic texts joined
    merged = [m for m in raw.attrs.get("merged", []) if m[0] > r]
    if lcol is not None:
        raw = raw.copy()
        for r0, r1, c0, c1 in merged:
            if c0 <= lcol <= c1:
                raw.iloc[r0 + 1 : r1 + 1, lcol] = raw.iloc[r0, lcol]
    owner = {row: r0 for r0, r1, c0, c1 in merged if c0 <= vcol <= c1 for row in range(r0 + 1, r1 + 1)}
    category = ""
    first_row: dict[str, int] = {}
    logic_row: dict[str, int] = {}
    for i, (_, row) in enumerate(raw.iloc[r + 1 :].iterrows(), start=1):
        var = row.iloc[vcol]
        if ccol is not None and isinstance(row.iloc[ccol], str) and row.iloc[ccol].strip():
            category = row.iloc[ccol].strip()
        if (r + i) in owner and lcol is not None:  # a further row of a variable's merged cell: more of its logic
            top = raw.iloc[owner[r + i], vcol]
            more = row.iloc[lcol]
            if isinstance(top, str) and top.strip() in out.logic and isinstance(more, str) and more.strip() \
                    and more.strip() != out.logic[top.strip()]:
                out.logic[top.strip()] += "; " + more.strip()
            continue
        if var is None or (isinstance(var, float) and pd.isna(var)) or str(var).strip() == "":
            continue
        name = str(var).strip()
        meaning = row.iloc[mcol]
        if isinstance(meaning, str) and meaning.strip():
            if name in first_row and out.meanings.get(name) != meaning.strip():
                # rows are counted from 1 below the header row, as everywhere in creditflow
                raise DataError(f"variable {name!r} is explained twice, differently (rows {first_row[name]} and {i})",
                                file=str(path), row=i, hint="keep one row per variable")
            first_row.setdefault(name, i)
            out.meanings[name] = meaning.strip()
        if lcol is not None and isinstance(row.iloc[lcol], str) and row.iloc[lcol].strip():
            logic = row.iloc[lcol].strip()
            if name in logic_row and out.logic[name] != logic:
                # the logic is printed beside the bins and points: a second row must not silently replace it
                raise DataError(f"variable {name!r} is given two different business logic texts (rows "
                                f"{logic_row[name]} and {i}): {out.logic[name]!r} and {logic!r}",
                                file=str(path), row=i, hint="keep one row per variable")
            logic_row.setdefault(name, i)
            out.logic[name] = logic
        if category:
            out.categories[name] = category
    if not out.meanings:
        raise DataError("the field dictionary lists no variable with a meaning", file=str(path))
    return out
