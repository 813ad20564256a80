"""What monitoring reads: a table of recent applicants, its labels (joined by id) and its periods."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from creditflow.binning.variable import category_keys
from creditflow.data.errors import DataError, SchemaError, shown
from creditflow.data.io import (
    DEFAULT_BAD_VALUES,
    DEFAULT_GOOD_VALUES,
    Dataset,
    bad_class,
    check_finite,
    encode_target,
    misread_hint,
    read_frame,
)
from creditflow.data.split import distinct_periods

NO_PERIOD = "(no time)"


@dataclass
class Batch:
    """Rows to monitor: model inputs, labels (NaN = not yet known), period of each row, and their origin.

    `stored` holds what a source recorded at decision time (the audit log's score and decision), aligned
    with `frame`; `notes` says what was dropped or assumed on the way. `rows`: the rows that count for
    drift and performance (the audit log's latest decision per application), None for all.
    """

    frame: pd.DataFrame
    source: str
    id_column: str | None = None
    id_columns: list[str] = field(default_factory=list)
    y: np.ndarray | None = None
    period_codes: np.ndarray | None = None
    periods: list[str] = field(default_factory=list)
    stored: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    rows: np.ndarray | None = None

    @property
    def labelled(self) -> int:
        return 0 if self.y is None else int(np.isfinite(self.y).sum())

    def counted(self) -> Batch:
        """The batch of the rows that count (`rows`), with the periods that still have rows."""
        if self.rows is None:
            return self
        keep = self.rows
        out = Batch(frame=self.frame.loc[keep].reset_index(drop=True), source=self.source, id_column=self.id_column,
                    id_columns=list(self.id_columns), y=None if self.y is None else self.y[keep],
                    stored=None if self.stored is None else self.stored.loc[keep].reset_index(drop=True),
                    notes=self.notes)
        if self.period_codes is not None:
            used = np.unique(self.period_codes[keep])
            remap = np.full(len(self.periods), -1, dtype=np.int64)
            remap[used] = np.arange(len(used))
            out.period_codes, out.periods = remap[self.period_codes[keep]], [self.periods[i] for i in used]
        return out


def check_columns(frame: pd.DataFrame, features: list[str], source: str | None) -> None:
    """Refuse a table that lacks model columns or holds infinities in them."""
    missing = [v for v in features if v not in frame.columns]
    if missing:
        raise SchemaError(f"{len(missing)} model column(s) missing: {missing[:10]}", file=source, column=missing[0],
                          hint=misread_hint(frame.columns))
    check_finite(frame[features], file=source)


def _one_outcome(value: str, default_bad: object, *, file: str | None, column: str) -> float:
    """1.0 or 0.0 for labels that all hold `value`, read in the training's coding: its bad value is bad, and the
    good of a known pair (good/bad, yes/no, 正常/逾期 ...) whose bad the training used is good; without a bad value
    kept in the bundle (trained on a known pair, which told itself), the known pairs' goods and bads. Else refused."""
    if default_bad is None:
        low = value.lower()
        if low in DEFAULT_GOOD_VALUES or low in DEFAULT_BAD_VALUES:
            return float(low in DEFAULT_BAD_VALUES)
        raise DataError(f"labels hold only {value!r}, which is not one of the known good/bad values: whether it is good "
                        "is not told", file=file, column=column, hint="pass --bad VALUE to say which value is bad")
    if bad_class(default_bad, [value]) is not None:
        return 1.0
    trained = str(default_bad).strip().lower()
    if value.lower() in DEFAULT_GOOD_VALUES and trained in DEFAULT_BAD_VALUES:
        return 0.0
    raise DataError(f"labels hold only {value!r}, and the model was trained with bad = {str(default_bad).strip()}: "
                    "whether it is good is not told", file=file, column=column,
                    hint="pass --bad VALUE to say which value is bad")


def encode_labels(
    values: pd.Series, bad: object = None, *, file: str | None = None, default_bad: object = None
) -> np.ndarray:
    """Labels as float 0/1 (1 = bad) with NaN where the outcome is not known yet (`default_bad`: the training's
    bad value, see `encode_target`: it decides where the labels hold it, so 0 = bad at training stays so)."""
    known = values.notna().to_numpy()
    out = np.full(len(values), np.nan)
    if not known.any():
        return out
    kept = values[known]
    try:
        only = kept.astype(str).str.strip().unique()
        if bad is not None and len(only) == 1:  # one outcome so far (no bad matured yet, say): --bad tells which
            out[known] = float(bad_class(bad, list(only)) is not None)
            return out
        if bad is None and pd.api.types.is_numeric_dtype(kept.dtype) and not pd.api.types.is_bool_dtype(kept.dtype):
            arr = kept.to_numpy(dtype=float)
            wrong = ~np.isin(arr, (0.0, 1.0))
            # the labels' value that is the training's bad value, if they hold it
            trained_bad = bad_class(default_bad, list(only)) if default_bad is not None else None
            if default_bad is not None and len(only) == 1:  # one outcome so far, read in the training's coding
                if trained_bad is not None or arr[0] == 0:
                    out[known] = float(trained_bad is not None)
                    return out
                raise DataError(f"labels hold only {arr[0]:g}, and the model was trained with bad = "
                                f"{str(default_bad).strip()}: good in that coding, bad in a 0/1 one, so which is "
                                "not told", file=file, column=str(values.name),
                                hint="pass --bad VALUE to say which value is bad")
            if default_bad is not None and (wrong.any() or trained_bad is not None):
                out[known] = encode_target(kept.reset_index(drop=True), default_bad, file=file)
                return out
            if wrong.any():
                row = int(np.flatnonzero(wrong)[0]) + 1
                raise DataError(f"labels must be 0/1 (1 = bad) or empty, found {arr[wrong][0]:g}",
                                file=file, column=str(values.name), row=row, hint="pass --bad VALUE for other codes")
            out[known] = arr
            return out
        if bad is None and len(only) == 1:  # text labels of one outcome so far
            out[known] = _one_outcome(only[0], default_bad, file=file, column=str(values.name))
            return out
        out[known] = encode_target(kept.reset_index(drop=True), bad, file=file, default_bad=default_bad)
    except DataError as exc:  # a row of the known labels is a row of the column
        if exc.row is not None:
            exc.row = int(np.flatnonzero(known)[exc.row - 1]) + 1
            exc.args = (exc.message,)
        raise
    return out


def _keys(values: pd.Series) -> np.ndarray:
    """Ids as comparable text: 7, 7.0 and '7' are the same id; '0000' and '0' are not (read the id columns of
    files as written: `read_data(ids=...)`)."""
    return category_keys(values)


def _first_repeat(keys: pd.Series) -> int | None:
    """Position of the first id seen before (missing ids are not repeats), or None."""
    dup = (keys.duplicated() & keys.notna()).to_numpy()
    return int(np.flatnonzero(dup)[0]) if dup.any() else None


def join_labels(frame: pd.DataFrame, id_column: str, labels: pd.DataFrame, target: str, bad: object = None,
                *, data_file: str | None = None, labels_file: str | None = None,
                default_bad: object = None) -> tuple[np.ndarray, list[str]]:
    """Each row's label from a labels table joined on `id_column` (NaN where it has none yet), and notes."""
    if id_column not in frame.columns:
        raise DataError("id column not found in the data; pass --id", file=data_file, column=id_column)
    for col in (id_column, target):
        if col not in labels.columns:
            raise DataError(f"column not found in the labels; columns are {list(labels.columns)[:12]}",
                            file=labels_file, column=col, hint=misread_hint(labels.columns))
    keys = pd.Series(_keys(labels[id_column]))
    if keys.isna().any():
        raise DataError("labels have rows without an id", file=labels_file, column=id_column,
                        row=int(np.flatnonzero(keys.isna().to_numpy())[0]) + 1)
    again = _first_repeat(keys)
    if again is not None:
        raise DataError(f"id {shown(labels[id_column].iloc[again])} appears more than once in the labels",
                        file=labels_file, column=id_column, row=again + 1)
    data_keys = pd.Series(_keys(frame[id_column]))
    again = _first_repeat(data_keys)
    if again is not None:  # each row takes its id's label: a repeated row would count its outcome twice
        first = int(np.flatnonzero((data_keys == data_keys.iloc[again]).to_numpy())[0])
        raise DataError(f"id {shown(frame[id_column].iloc[again])} appears more than once in the data (first at "
                        f"row {first + 1}), so its label would be counted once per row", file=data_file,
                        column=id_column, row=again + 1,
                        hint="keep one row per id: drop the duplicates before joining labels")
    y = encode_labels(labels[target], bad, file=labels_file, default_bad=default_bad)
    # each data row's position in the labels (-1: none); ids are unique on both sides (repeats refused above, and a
    # missing id matches none), so the matched rows and the matched labels are as many. get_indexer, not isin:
    # pandas' isin on text ids makes a Python object of every id (35 s for 2,500,000 rows on each side)
    pos = pd.Index(keys.to_numpy()).get_indexer(data_keys.to_numpy())
    found = pos >= 0
    joined = np.full(len(pos), np.nan)
    joined[found] = y[pos[found]]
    matched = int(found.sum())
    if matched == 0:
        seen = frame[id_column].dropna()
        example = f", the data {shown(seen.iloc[0])}" if len(seen) else ""
        raise DataError(f"no id of the labels matches a monitored row (e.g. the labels have {shown(labels[id_column].iloc[0])}"
                        f"{example}; ids are compared as written)", file=labels_file, column=id_column,
                        hint="check --id and that the labels belong to these rows")
    notes = [f"labels: {matched:,} of {len(frame):,} rows matched an id in {labels_file or 'the labels'}; "
             f"{int(np.isfinite(joined).sum()):,} have a known outcome"]
    unmatched = len(labels) - matched
    if unmatched:
        notes.append(f"labels: {unmatched:,} labelled id(s) are not in the monitored data and were ignored")
    return joined, notes


def period_codes(time: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Code of each row's period (calendar month for dates, the value itself otherwise) and the periods in order.

    Rows without a time get the period '(no time)', listed last.
    """
    raw_codes, uniques = pd.factorize(time, sort=True)
    if len(uniques):
        # the periods of the distinct values, read with their row counts: one typo among 90 daily dates is a
        # 1-row period of its own, not a reason to read every date as raw text
        counts = np.bincount(raw_codes[raw_codes >= 0], minlength=len(uniques))
        labels = distinct_periods(pd.Series(uniques, dtype=time.dtype), counts).astype(str).to_numpy()
    else:
        labels = np.array([], dtype=object)
    order = sorted(set(labels), key=_period_sort_key)
    has_missing = bool((raw_codes < 0).any())
    names = order + ([NO_PERIOD] if has_missing else [])
    position = {p: i for i, p in enumerate(names)}
    remap = np.array([position[p] for p in labels] + [position.get(NO_PERIOD, 0)], dtype=np.int64)
    return remap[raw_codes], names  # code -1 (missing) takes the last entry of remap


def _period_sort_key(p: str) -> tuple:
    try:
        return (0, float(p), "")
    except ValueError:
        return (1, 0.0, p)


def read_data(path: Any, encoding: str | None = None, text: list[str] | None = None,
              ids: list[str] | None = None, sheet: str | int = 0,
              sheet_option: str | None = "--sheet") -> tuple[pd.DataFrame, str | None]:
    """A table to monitor (file, DataFrame or `Dataset`), and its file name (None for a DataFrame).

    `encoding` for CSV files; `text` columns (the model's text inputs) are read as written; `ids` columns
    (those present) as `read_frame` reads ids: "0000" keeps its zeros and is not the id 0. `sheet` of a
    workbook, and `sheet_option`, as `read_frame` takes them.
    """
    if isinstance(path, Dataset):  # its features, with its outcomes, ids and times under their own names
        frame = path.X.reset_index(drop=True).copy()
        for name, values in ((path.target, path.y), (path.id_column, path.ids), (path.time_column, path.time)):
            if name is not None and values is not None:
                frame[name] = np.asarray(values)
        return frame, path.source
    if isinstance(path, pd.DataFrame):
        return path.reset_index(drop=True), None
    return read_frame(path, encoding=encoding, text=text, ids=ids, sheet=sheet, sheet_option=sheet_option), str(path)


def undated_note(time: pd.Series, codes: np.ndarray, periods: list[str]) -> str | None:
    """A note on rows whose time is not a date in a column of dates (each such value is a period of its own)."""
    months = [bool(re.fullmatch(r"\d{4}-\d{2}", p)) for p in periods]
    odd = [i for i, (p, m) in enumerate(zip(periods, months, strict=True)) if not m and p != NO_PERIOD]
    if not odd or sum(months) == 0:
        return None
    rows = np.isin(codes, odd)
    first = int(np.flatnonzero(rows)[0])
    return (f"time column '{time.name}': {int(rows.sum()):,} row(s) hold a time that is not a date (first at row "
            f"{first + 1}: {time.iloc[first]!r}); each such value is shown as a period of its own")
