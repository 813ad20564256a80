"""The building blocks of a report: tables, figures and notes grouped into sections.

A report is plain data; `html.py` and `excel.py` render the same blocks, so the HTML page and the
workbook always hold the same numbers. Column formats are chosen once, here, from column names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# Format kinds: how a column is shown (HTML) and its number format (Excel).
FORMATS: dict[str, tuple[str, str]] = {
    "int": ("{:,.0f}", "#,##0"),
    "pct": ("{:.2%}", "0.00%"),
    "f2": ("{:.2f}", "0.00"),
    "f3": ("{:.3f}", "0.000"),
    "f4": ("{:.4f}", "0.0000"),
    "p": ("{:.4f}", '[<0.0001]"<0.0001";0.0000'),  # as format_value shows it, not as 0.0000
    "num": ("{:,.6g}", "General"),
    "text": ("{}", "@"),
}

_RULES: list[tuple[str, str]] = [
    (r"(^|_)(p_value|binom_p|jeffreys_p|hl_p)$", "p"),
    (r"(rate|share|population|gain|approval|missing|observed|predicted|probability|jeffreys_low|jeffreys_high)",
     "pct"),
    (r"(count|rows|bads|goods|approved|rejected|points|distinct|^n_|^df$|^group$|^bins$)", "int"),
    (r"(cutoff|score|min|max|threshold)", "num"),
    (r"(^|_)(auc|gini|ks|psi|csi|woe|iv|se)(_|$)", "f4"),
    (r"(lift|statistic|chi2|z)$", "f3"),
]


def format_of(column: str, series: pd.Series) -> str:
    """The format kind of a column, from its name first and its dtype second."""
    if not (pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)):
        return "text"
    name = str(column).lower()
    for pattern, kind in _RULES:
        if re.search(pattern, name):
            return kind
    if pd.api.types.is_integer_dtype(series.dtype):
        return "int"
    return "f4"


def format_value(value: object, kind: str) -> str:
    """One cell as text: missing values are blank, p-values below 1e-4 read '<0.0001'."""
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if kind == "p" and isinstance(value, int | float | np.number) and 0 <= float(value) < 1e-4:
        return "<0.0001"
    fmt = FORMATS.get(kind, FORMATS["text"])[0]
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


@dataclass
class Table:
    """A titled DataFrame; `formats` overrides the inferred format kind of named columns."""

    key: str
    title: str
    frame: pd.DataFrame
    note: str = ""
    formats: dict[str, str] = field(default_factory=dict)

    def kinds(self) -> dict[str, str]:
        return {c: self.formats.get(str(c)) or format_of(str(c), self.frame[c]) for c in self.frame.columns}


@dataclass
class Figure:
    """A chart: PNG bytes (matplotlib) or an inline SVG string."""

    key: str
    title: str
    png: bytes | None = None
    svg: str | None = None
    note: str = ""


@dataclass
class Note:
    """A short paragraph; `level` is info, ok, warn or fail."""

    text: str
    level: str = "info"


@dataclass
class Metric:
    """A headline number shown as a card (AUC, KS, PSI …)."""

    label: str
    value: str
    detail: str = ""
    level: str = "info"


@dataclass
class Group:
    """Blocks under a sub-heading, e.g. one variable's binning table and chart; `open` = expanded."""

    title: str
    blocks: list = field(default_factory=list)
    subtitle: str = ""
    open: bool = True
    anchor: str = ""


Block = Table | Figure | Note | Group | list  # a list holds Metric cards


@dataclass
class Section:
    key: str
    title: str
    blocks: list = field(default_factory=list)
    intro: str = ""

    def tables(self) -> list[Table]:
        """Every table of the section, nested groups included, in order."""
        out: list[Table] = []

        def walk(blocks: list) -> None:
            for b in blocks:
                if isinstance(b, Table):
                    out.append(b)
                elif isinstance(b, Group):
                    walk(b.blocks)

        walk(self.blocks)
        return out

    def figures(self) -> list[Figure]:
        out: list[Figure] = []

        def walk(blocks: list) -> None:
            for b in blocks:
                if isinstance(b, Figure):
                    out.append(b)
                elif isinstance(b, Group):
                    walk(b.blocks)

        walk(self.blocks)
        return out
