"""Batch scoring on a Dask cluster: `map_partitions` over Parquet pieces, written as partitioned Parquet.

Output part ``part.NNNNNN.parquet`` holds the scores of input piece NNNNNN, rows in input order, so
reading the output directory gives the rows of the input in the same order (the id column, when
the model knows one, is carried along). The numbers are those of `creditflow.workflow.score_table`.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditflow.bundle import load_bundle
from creditflow.data.errors import CreditflowError, DataError, SchemaError, UnseenCategoryWarning
from creditflow.data.io import INFINITE_HINT, first_infinite
from creditflow.data.output import atomic_path
from creditflow.distributed.models import ModelDocs
from creditflow.distributed.source import locate_row, read_dataset
from creditflow.workflow import missing_notes, recoded_columns, recoded_error

PART_NAME = "part.{:06d}.parquet"


@dataclass
class ScoreSummary:
    """What a distributed scoring run wrote."""

    out: Path
    rows: int
    parts: int
    unseen: dict[str, int] = field(default_factory=dict)  # rows scored in the Unseen bin, per variable
    missing_id: str | None = None  # the bundle's id column, when the table lacks it (scores without ids)
    all_missing: dict[str, float | None] = field(default_factory=dict)  # see `workflow.missing_notes`
    untrained_missing: dict[str, int] = field(default_factory=dict)


def _check_finite(frame: pd.DataFrame, columns: list[str]) -> None:
    hit = first_infinite(frame, columns)
    if hit is not None:
        col, pos, n = hit
        file, row = locate_row(frame, pos)
        raise DataError(f"{n} infinite value(s)", file=file, column=col, row=row, hint=INFINITE_HINT)


def score_partition(frame: pd.DataFrame, model: ModelDocs, id_column: str | None, n_reasons: int = 0) -> pd.DataFrame:
    """id (when given), probability, score, grade and `n_reasons` reason codes of every row of one partition."""
    bundle = model.bundle()
    m = bundle.model
    _check_finite(frame, list(m.features_))
    with _located_in_file(frame), warnings.catch_warnings():
        # the estimators warn of a column every value of which is unseen: score_on_cluster refuses it by name
        warnings.simplefilter("ignore", UnseenCategoryWarning)
        scored = m.scores(frame)
        scored.index = frame.index
        if id_column:
            scored.insert(0, id_column, frame[id_column].to_numpy())
        if n_reasons:
            from creditflow.scoring.reasons import reason_table

            for col, values in reason_table(bundle, frame, n_reasons).items():
                scored[col] = values.to_numpy()
    return scored


@contextlib.contextmanager
def _located_in_file(frame: pd.DataFrame) -> Iterator[None]:
    """A model's error names the row of the partition: make it the Parquet file and the row in that file."""
    try:
        yield
    except CreditflowError as exc:
        if exc.row is not None and exc.file is None:
            exc.file, exc.row = locate_row(frame, exc.row - 1)
        raise


def unseen_partition(frame: pd.DataFrame, model: ModelDocs) -> pd.DataFrame:
    """Rows per categorical model variable whose category was not seen in training, and rows where each model
    variable is not missing (one-row frame: columns "unseen:VAR" and "present:VAR")."""
    m = model.model()
    _check_finite(frame, list(m.features_))  # the same located error as score_partition, whichever runs first
    counts = getattr(m, "unseen_counts", None) or getattr(getattr(m, "binning_", None), "unseen_counts", None)
    with _located_in_file(frame):
        found = counts(frame, m.features_) if counts else {}
    return pd.DataFrame({**{f"unseen:{v}": [found.get(v, 0)] for v in m.features_},
                         **{f"present:{v}": [int(frame[v].notna().sum())] for v in m.features_}}, dtype=np.int64)


def score_on_cluster(
    client: Any, model_dir: str | Path, data: str | Path, out: str | Path, *, id_column: str | None = None,
    reasons: bool = False, n_reasons: int = 4, allow_unseen: bool = False,
) -> ScoreSummary:
    """Score a Parquet file or directory with a bundle into directory `out` (one Parquet part per input piece).

    Columns are those of `creditflow.workflow.score_table`: id, probability, score, grade and, with
    `reasons` (for models that give them), reason_k_code / reason_k_text for k = 1..n_reasons.

    `out` is replaced atomically and must be a path every worker can write (local disk for a
    ``local:N`` cluster, a shared file system for a multi-machine one). A categorical input whose every
    value is unseen in training is refused, as on one machine, unless `allow_unseen`; `out` is then
    left as it was.
    """
    import dask

    out = Path(out)
    if out.suffix.lower() in {".csv", ".xlsx", ".xls", ".txt"}:
        raise DataError("on a cluster the scores are written as a directory of Parquet files; give a directory",
                        file=str(out))
    bundle = load_bundle(model_dir)
    model = bundle.model
    table = read_dataset(data)
    schema = bundle.files.get("schema.json", {})
    if id_column is not None and id_column not in table.columns:
        raise SchemaError(f"no column {id_column!r} to carry as the id", file=table.path, column=id_column)
    id_col = id_column or schema.get("id_column")
    missing_id = id_col if id_col and id_col not in table.columns else None
    id_col = id_col if id_col in table.columns else None
    missing = [v for v in model.features_ if v not in table.columns]
    if missing:
        raise SchemaError(f"{len(missing)} model column(s) missing: {missing[:10]}", file=table.path, column=missing[0])
    from creditflow.scoring.reasons import supports_reasons

    n_reasons = n_reasons if reasons and supports_reasons(model) else 0
    columns = list(dict.fromkeys([*([id_col] if id_col else []), *model.features_]))
    local = ModelDocs.of_bundle(bundle)
    docs = client.scatter(local, broadcast=True, hash=False)
    frame = table.to_dask(columns)
    meta = score_partition(table.meta[columns].iloc[:0], local, id_col, n_reasons)
    for col in meta.columns:  # what `scores` gives for rows (an empty frame says object)
        if meta[col].dtype == object:
            meta[col] = meta[col].astype("str")
    unseen_meta = pd.DataFrame({f"{kind}:{v}": pd.Series(dtype=np.int64) for kind in ("unseen", "present")
                                for v in model.features_})
    with atomic_path(out, replaces=_only_parts) as tmp, dask.config.set({"dataframe.convert-string": False}):
        scored = frame.map_partitions(score_partition, docs, id_col, n_reasons, meta=meta)
        unseen = frame.map_partitions(unseen_partition, docs, meta=unseen_meta).sum()
        write = scored.to_parquet(str(tmp), write_index=False, compute=False, write_metadata_file=False,
                                  name_function=PART_NAME.format)
        _, counts = dask.compute(write, unseen, scheduler=client.get)
        found = {v: int(counts[f"unseen:{v}"]) for v in model.features_ if counts[f"unseen:{v}"]}
        present = {v: int(counts[f"present:{v}"]) for v in model.features_}
        recoded = [] if allow_unseen else recoded_columns(found, present)
        if recoded:
            var = recoded[0]
            first = frame[var].dropna().head(1, npartitions=-1, compute=True)  # every value present is unseen
            file, row = table.locate(int(first.index[0])) if len(first) else (table.path, None)
            raise recoded_error(var, found[var], file, row=row, example=first.iloc[0] if len(first) else None)
    blank, untrained = missing_notes(schema, list(model.features_), table.n_rows,
                                     {v: table.n_rows - n for v, n in present.items()})
    return ScoreSummary(out=out, rows=table.n_rows, parts=table.npartitions, unseen=found, missing_id=missing_id,
                        all_missing=blank, untrained_missing=untrained)


def _only_parts(folder: Path) -> bool:
    """Whether `folder` holds only Parquet files (an earlier cluster scoring's output, which may be replaced)."""
    return all(p.is_file() and p.suffix == ".parquet" for p in folder.iterdir())
