"""A labelled partitioned table: the target read on the workers, and the same train/test/oot split as `Dataset.split`.

Only two small per-row arrays ever reach the client: the 0/1 target and the code of each row's
period (with ``--time``); they are what `sklearn.model_selection.train_test_split` needs to give
the very rows the single-machine run trains and tests on (and the periods, the stability step of
variable selection).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditflow.binning.process import column_names
from creditflow.data.dictionary import FieldDictionary, read_dictionary
from creditflow.data.errors import DataError, located
from creditflow.data.io import (
    DATE_SAMPLE,
    TextNumbers,
    check_no_dates,
    check_roles,
    dates_as_text,
    encode_target,
    first_distinct,
    numeric_text_error,
    text_columns_to_check,
    text_numbers,
)
from creditflow.data.split import distinct_periods, split_roles, time_problem
from creditflow.distributed.source import ROWS_PER_PIECE, PartitionedTable, Piece, read_dataset, read_piece

SPLIT_NAMES = ("train", "test", "oot")


@dataclass
class LabelledTable:
    """Partitioned features plus the target of every row and its split (0 train, 1 test, 2 oot)."""

    table: PartitionedTable
    target: str
    features: list[str]
    y: np.ndarray  # int8, 1 = bad, one per row in table order
    role: np.ndarray  # int8 split code per row, see SPLIT_NAMES
    id_column: str | None = None
    time_column: str | None = None
    dictionary: FieldDictionary = field(default_factory=FieldDictionary)
    seed: int = 42
    test_size: float = 0.3
    bad_value: str | None = None  # the bad value given (kept in the model's metadata, as read_table's)
    text_numbers: list[str] = field(default_factory=list)  # text feature columns holding only numbers
    text_dates: list[str] = field(default_factory=list)  # text feature columns holding dates
    excluded: list[str] = field(default_factory=list)  # columns kept out by `exclude` (kept in the metadata)
    # with a time column: each row's period (as `period_of` reads it) as a code into `period_names`
    period: np.ndarray | None = None
    period_names: pd.Series | None = None

    @property
    def source(self) -> str:
        return self.table.path

    def labels(self) -> list[np.ndarray]:
        """Per piece, one int8 per row: 2 * split code + target."""
        code = (2 * self.role + self.y).astype(np.int8)
        return [code[p.offset : p.offset + p.n_rows] for p in self.table.pieces]

    def rows(self, split: str) -> int:
        return int((self.role == SPLIT_NAMES.index(split)).sum())

    def bad_rate(self, split: str) -> float:
        return float(np.mean(self.y[self.role == SPLIT_NAMES.index(split)]))

    @property
    def splits(self) -> list[str]:
        return [s for i, s in enumerate(SPLIT_NAMES) if (self.role == i).any()]


def _label_piece(piece: Piece, target: str, time: str | None) -> dict[str, Any]:
    """Per piece: target classes as text (as `encode_target` reads them) with per-row codes, and time values."""
    frame = read_piece(piece, [target] + ([time] if time else []))
    t = frame[target]
    na = t.isna().to_numpy()
    out: dict[str, Any] = {"n_na": int(na.sum()), "first_na": int(np.flatnonzero(na)[0]) if na.any() else -1}
    codes, classes = pd.factorize(t.astype(str).str.strip())
    out["codes"], out["classes"] = _small(codes), list(classes)
    if time:
        tcodes, tvalues = pd.factorize(frame[time], use_na_sentinel=False)
        out["time_codes"], out["time_values"] = _small(tcodes), pd.Series(tvalues, dtype=frame[time].dtype)
    return out


def _small(codes: np.ndarray) -> np.ndarray:
    """Codes in the smallest integer type that holds them (what travels to the client per row)."""
    top = int(codes.max()) if len(codes) else 0
    return codes.astype(np.int8 if top < 2**7 else np.int16 if top < 2**15 else np.int32)


def read_labelled(
    client: Any,
    path: str | Path,
    target: str,
    *,
    bad: object = None,
    id: str | None = None,
    time: str | None = None,
    dictionary: str | Path | FieldDictionary | None = None,
    exclude: list[str] | None = None,
    seed: int = 42,
    test_size: float = 0.3,
    oot_share: float = 0.1,
    rows_per_piece: int = ROWS_PER_PIECE,
    categorical: list[str] | None = None,
) -> LabelledTable:
    """Open partitioned Parquet like `read_table` and split it like `Dataset.split`, reading only the target and time.

    Errors (file, column, row inside the file) are those `read_table` gives for the same data; `categorical`:
    text columns declared codes (the model's `categorical` parameter), which may hold numbers and text.
    """
    table = read_dataset(path, rows_per_piece=rows_per_piece)
    drop = check_roles(list(table.columns), table.path, target=target, id=id, time=time, exclude=exclude)
    features = [c for c in table.columns if c not in drop]
    if not features:
        raise DataError("no feature columns besides the target, id and time", file=table.path)
    check_no_dates(table.meta[features], file=table.path)
    declared = set(column_names(categorical, "categorical"))
    text_numbers, text_dates = _check_numeric_text(client, table,
                                                   text_columns_to_check(table.meta[features], declared))
    parts = client.gather(client.map(_label_piece, table.pieces, target=target, time=time, pure=False))
    y = _encode(parts, table, target, bad)
    periods = _periods(parts, table.pieces, time) if time else None
    role = split_roles(y, periods, test_size=test_size, seed=seed, oot_share=oot_share, source=table.path,
                       time_column=time)
    period, period_names = None, None
    if periods is not None:
        codes, names = pd.factorize(periods[1], use_na_sentinel=False)
        period, period_names = codes.astype(np.int32)[periods[0]], pd.Series(names, dtype=periods[1].dtype)
    if isinstance(dictionary, FieldDictionary):
        fd = dictionary
    elif dictionary is not None:
        fd = read_dictionary(dictionary)
    else:
        fd = FieldDictionary()
    return LabelledTable(table=table, target=target, features=features, y=y, role=role, id_column=id,
                         time_column=time, dictionary=fd, seed=seed, test_size=test_size,
                         bad_value=str(bad).strip() if bad is not None else None, text_numbers=text_numbers,
                         text_dates=text_dates,
                         excluded=[str(c) for c in exclude or []], period=period, period_names=period_names)


def _check_numeric_text(client: Any, table: PartitionedTable, columns: list[str]) -> tuple[list[str], list[str]]:
    """Refuse, as `read_table` does, a text column of numbers but for a few text values (a typo), counted
    over every piece (one piece alone may hold none of them); returns the text columns holding only numbers,
    and those holding dates (judged on the column's first distinct values, as on one machine)."""
    if not columns:
        return [], []
    pieces = client.gather(client.map(_numeric_text_piece, table.pieces, columns=columns, pure=False))
    parts = [{col: p[col][0] for col in columns} for p in pieces]
    only_numbers, dates = [], []
    for col in columns:
        t = sum((p[col] for p in parts), TextNumbers())
        if t.problem():
            # the pieces in order: the first that holds a value like the one `t.where()` shows
            formatted = t.problem() == "formatted"
            at = [p[col].first_formatted if formatted else p[col].first for p in parts]
            k = next(i for i, pos in enumerate(at) if pos >= 0)
            piece = table.pieces[k]
            raise numeric_text_error(t, piece.file, col, piece.file_row + at[k] + 1,
                                     hint=f"if the column holds codes, declare it: --param 'categorical=[\"{col}\"]'")
        if t.only_numbers:
            only_numbers.append(col)
            continue
        distinct = list(dict.fromkeys(v for p in pieces for v in p[col][1]))[:DATE_SAMPLE]
        if distinct and isinstance(distinct[0], str) and dates_as_text(distinct):  # not Decimal objects
            dates.append(col)
    return only_numbers, dates


def _numeric_text_piece(piece: Piece, columns: list[str]) -> dict[str, tuple[TextNumbers, list]]:
    """Per text column of a piece: how its values read as numbers, and its first distinct values."""
    frame = read_piece(piece, columns)
    return {col: (text_numbers(frame[col]), first_distinct(frame[col])) for col in columns}


def _encode(parts: list[dict], table: PartitionedTable, target: str, bad: object) -> np.ndarray:
    n_na = sum(p["n_na"] for p in parts)
    if n_na:
        k = next(i for i, p in enumerate(parts) if p["n_na"])
        piece = table.pieces[k]
        raise DataError(f"target has {n_na} missing value(s)", file=piece.file, column=target,
                        row=piece.file_row + parts[k]["first_na"] + 1)
    classes = sorted({c for p in parts for c in p["classes"]})
    try:
        flags = encode_target(pd.Series(classes, name=target, dtype=object), bad, file=table.path)
    except DataError as exc:
        if exc.row is None:
            raise
        # the row is the position among the distinct classes: name the rarest class by its rows, and its first row
        # in its file, as one machine names it in the table
        raise _rarest_error(exc, parts, table) from None
    lookup = dict(zip(classes, flags.tolist(), strict=True))
    return np.concatenate(
        [np.asarray([lookup[c] for c in p["classes"]], dtype=np.int8)[p["codes"]] for p in parts]
    ).astype(np.int8)


def _rarest_error(exc: DataError, parts: list[dict], table: PartitionedTable) -> DataError:
    """`exc` (a target with more than two classes) naming the least frequent class over every piece and its first row."""
    counts: dict[str, int] = {}
    for p in parts:
        for c, n in zip(p["classes"], np.bincount(p["codes"], minlength=len(p["classes"])), strict=True):
            counts[c] = counts.get(c, 0) + int(n)
    value = min(counts, key=lambda c: counts[c])  # the first class met among the rarest
    k = next(i for i, p in enumerate(parts) if value in p["classes"])
    at = int(np.flatnonzero(parts[k]["codes"] == parts[k]["classes"].index(value))[0])
    piece = table.pieces[k]
    reason = exc.reason.rsplit("; the rarest, ", 1)[0] + f"; the rarest, {value!r}, first here"
    return DataError(reason, file=piece.file, column=exc.column, row=piece.file_row + at + 1, hint=exc.hint)


def _periods(parts: list[dict], pieces: list[Piece], time: str) -> tuple[np.ndarray, pd.Series]:
    """(code per row, period of each code): `period_of` applied to the distinct time values."""
    values = pd.concat([p["time_values"] for p in parts], ignore_index=True)
    gcodes, distinct = pd.factorize(values, use_na_sentinel=False)
    codes, start = [], 0
    for p in parts:
        k = len(p["time_values"])
        codes.append(gcodes[start : start + k][p["time_codes"]])
        start += k
    row_codes = np.concatenate(codes).astype(np.int64)
    counts = np.bincount(row_codes, minlength=len(distinct))
    distinct = pd.Series(distinct, dtype=values.dtype)
    with located(pieces[0].file, time):  # ambiguous day/month dates
        problem = time_problem(distinct, counts)
    if problem:
        at = int(np.flatnonzero(problem[1][row_codes])[0])
        piece = next(p for p in pieces if p.offset <= at < p.offset + p.n_rows)
        raise DataError(problem[0], file=piece.file, column=time, row=piece.file_row + at - piece.offset + 1,
                        hint="every row needs a date to be placed in or out of the out-of-time sample")
    return row_codes, distinct_periods(distinct, counts)


def repeated_ids(table: PartitionedTable, id_column: str) -> tuple[int, Any, list[tuple[str, int]]]:
    """(ids given to more than one row beyond their first, one such id, the (file, 1-based row in the file)
    of its first two rows) of a partitioned table, counted on the cluster (`value_counts` over the pieces;
    blank ids are not repeats). The example is the smallest repeated id (as text), so runs agree."""
    ids = table.to_dask([id_column])[id_column]
    counts = ids.value_counts().compute()
    again = counts[counts > 1]
    if not len(again):
        return 0, None, []
    example = min(again.index, key=lambda v: (str(v), repr(v)))
    rows = ids[ids == example].head(2, npartitions=-1, compute=True).index
    return int((again - 1).sum()), example, [table.locate(int(r)) for r in rows]
