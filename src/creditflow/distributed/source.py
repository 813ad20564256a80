"""Partitioned Parquet inputs: files split into row-group pieces that Dask reads one per task.

Row order is the order `pandas.read_parquet(directory)` gives (files in lexicographic path
order, rows in file order), so a distributed run sees the rows the single-machine run sees, and
every error names the file and the row inside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditflow.data.errors import DataError
from creditflow.data.io import PARQUET_SUFFIXES, parquet_files, parquet_schema, stray_file_error

ROWS_PER_PIECE = 1_000_000
PIECE_ATTR = "creditflow_piece"


@dataclass(frozen=True)
class Piece:
    """Rows of one Parquet file read by one task: its row groups, first row in the file and in the table."""

    file: str
    row_groups: tuple[int, ...]
    file_row: int  # 0-based position of the piece's first row inside its file
    offset: int  # 0-based position of the piece's first row in the whole table
    n_rows: int
    # the table's schema when the file's own differs (columns in another order, int64 where the table has
    # double, Arrow null where it has text): the rows are cast to it, as `pandas.read_parquet` casts them
    schema: Any = None
    # the file as an absolute path, which the workers open: a relative `file` would be read from each worker's own
    # working directory (another file, or none), not the client's; `file` stays as given, for messages
    path: str | None = None


@dataclass
class PartitionedTable:
    """A Parquet file or directory seen as ordered pieces (see `read_dataset`)."""

    path: str
    pieces: list[Piece]
    columns: list[str]
    meta: pd.DataFrame  # empty frame with the pandas dtypes of every column

    @property
    def n_rows(self) -> int:
        return sum(p.n_rows for p in self.pieces)

    @property
    def npartitions(self) -> int:
        return len(self.pieces)

    def check_columns(self, needed: list[str], why: str) -> None:
        missing = [c for c in needed if c not in self.columns]
        if missing:
            raise DataError(
                f"{len(missing)} column(s) {why} missing: {missing[:10]}; the data has {self.columns[:12]}"
                + (" ..." if len(self.columns) > 12 else ""),
                file=self.path, column=missing[0],
            )

    def to_dask(self, columns: list[str] | None = None) -> Any:
        """A `dask.dataframe.DataFrame` with one partition per piece, rows in table order.

        Partitions hold exactly what `read_piece` reads (Dask's conversion of text columns to
        ``string[pyarrow]``, whose missing value is ``pd.NA``, is switched off for them); the index
        is the row's position in the whole table.
        """
        import dask
        import dask.dataframe as dd

        cols = list(columns) if columns is not None else list(self.columns)
        self.check_columns(cols, "asked for are")
        with dask.config.set({"dataframe.convert-string": False}):
            return dd.from_map(read_piece, self.pieces, columns=cols, meta=self.meta[cols], enforce_metadata=False)

    def locate(self, row: int) -> tuple[str, int]:
        """(file, 1-based row inside the file) of 0-based row `row` of the table."""
        for p in self.pieces:
            if p.offset <= row < p.offset + p.n_rows:
                return p.file, p.file_row + (row - p.offset) + 1
        raise IndexError(row)


def read_piece(piece: Piece, columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of one piece as a DataFrame (dtypes as `pandas.read_parquet` gives them)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if piece.schema is not None and columns is None:
        columns = list(piece.schema.names)
    try:
        table = pq.ParquetFile(piece.path or piece.file).read_row_groups(
            list(piece.row_groups), columns=columns, use_pandas_metadata=False
        )
        if piece.schema is not None:
            target = pa.schema([piece.schema.field(c) for c in table.column_names], metadata=table.schema.metadata)
            table = table.cast(target)
    except FileNotFoundError:  # the client read its metadata: this worker does not see it
        raise DataError(f"no such file on the Dask worker that reads it (as {piece.path or piece.file})",
                        file=piece.file, hint="every worker must see the data under the path the client reads it "
                                              "from (docs/scaling.md)") from None
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DataError(f"cannot read: {exc}", file=piece.file) from None
    frame = table.to_pandas()
    frame.index = pd.RangeIndex(piece.offset, piece.offset + len(frame))
    frame.attrs[PIECE_ATTR] = (piece.file, piece.file_row, piece.offset)
    return frame


def locate_row(frame: pd.DataFrame, position: int) -> tuple[str | None, int]:
    """(file, 1-based row in the file) of the row at `position` of a frame read by `read_piece`."""
    row = int(frame.index[position])
    where = frame.attrs.get(PIECE_ATTR)
    if where is None:
        return None, row + 1
    file, file_row, offset = where
    return file, file_row + row - offset + 1


def read_dataset(path: str | Path, *, rows_per_piece: int = ROWS_PER_PIECE) -> PartitionedTable:
    """Open a Parquet file or a directory of Parquet files (all with the same columns) for Dask.

    Only metadata is read here. Row groups of a file are grouped into pieces of about
    `rows_per_piece` rows; a piece never spans two files. ``.to_dask()`` gives the Dask DataFrame.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = parquet_files(path)
    pieces: list[Piece] = []
    opened = []
    for f in files:
        try:
            opened.append(pq.ParquetFile(f))
        except (OSError, ValueError, pa.ArrowException) as exc:
            if any(g.suffix.lower() in PARQUET_SUFFIXES for g in files) and f.suffix.lower() not in PARQUET_SUFFIXES:
                raise stray_file_error(f, path) from None  # notes.txt among the Parquet files: not a table to convert
            if f.suffix.lower() in (".csv", ".tsv", ".txt", ".gz", ".xlsx", ".xls", ".jsonl", ".json"):
                raise DataError(f"--cluster reads Parquet, not {f.suffix} files", file=str(f),
                                hint="convert the table to Parquet first, e.g. pandas.read_csv(...).to_parquet(...), "
                                     "or leave out --cluster (docs/scaling.md)") from None
            raise DataError(f"not a readable Parquet file: {exc}", file=str(f)) from None
    schema, own = parquet_schema(files)  # the columns matched by name, one type each, as on one machine
    offset = 0
    for f, pf, s in zip(files, opened, own, strict=True):
        cast = None if s.remove_metadata().equals(schema.remove_metadata()) else schema
        md = pf.metadata
        group: list[int] = []
        rows = 0
        file_row = 0
        for rg in range(md.num_row_groups):
            n = md.row_group(rg).num_rows
            if group and rows + n > rows_per_piece:
                pieces.append(Piece(str(f), tuple(group), file_row, offset, rows, cast, os.path.abspath(f)))
                offset, file_row, group, rows = offset + rows, file_row + rows, [], 0
            group.append(rg)
            rows += n
        if rows:
            pieces.append(Piece(str(f), tuple(group), file_row, offset, rows, cast, os.path.abspath(f)))
            offset += rows
    if offset == 0:
        raise DataError("the data has no rows", file=str(path))
    meta = schema.empty_table().to_pandas()
    for fld in schema:  # an empty table cannot tell which categories a column holds
        if isinstance(meta[fld.name].dtype, pd.CategoricalDtype):
            meta[fld.name] = meta[fld.name].astype(object)
    return PartitionedTable(path=str(path), pieces=pieces, columns=list(schema.names), meta=meta)


def positions_of(pieces: list[Piece], values: np.ndarray) -> list[np.ndarray]:
    """Split a per-row array of the whole table into one array per piece."""
    return [values[p.offset : p.offset + p.n_rows] for p in pieces]
