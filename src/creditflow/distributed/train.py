"""`train` on a Dask cluster: split, fit, evaluate and save exactly what `creditflow.workflow.train` saves."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditflow.data.errors import DataError
from creditflow.distributed.cluster import worker_info
from creditflow.distributed.labelled import SPLIT_NAMES, LabelledTable
from creditflow.distributed.models import ModelDocs
from creditflow.distributed.source import PartitionedTable, Piece, read_piece
from creditflow.distributed.stats import TableStats, column_types
from creditflow.evaluate import SplitMetrics
from creditflow.evaluation.metrics import auc, bad_rate_by_band, ks
from creditflow.workflow import (
    METRICS_FILE,
    SPLITS_FILE,
    TrainResult,
    refuse_existing_bundle,
    warn_protected,
    write_outputs,
    write_splits,
)


def piece_scores(piece: Piece, model: ModelDocs) -> tuple[np.ndarray, np.ndarray]:
    """Probability of bad (float64) and score (int64) of every row of a piece."""
    m = model.model()
    scored = m.scores(read_piece(piece, list(m.features_)))
    return scored["probability"].to_numpy(dtype=float), scored["score"].to_numpy(dtype=np.int64)


def score_all(client: Any, table: PartitionedTable, model: Any) -> tuple[np.ndarray, np.ndarray]:
    """(probability, score) of every row in table order; 16 bytes a row reach the client."""
    docs = client.scatter(ModelDocs.of(model), broadcast=True, hash=False)
    parts = client.gather(client.map(piece_scores, table.pieces, model=docs, pure=False))
    return np.concatenate([p for p, _ in parts]), np.concatenate([s for _, s in parts])


def split_metrics(model: Any, y: np.ndarray, p: np.ndarray, score: np.ndarray) -> SplitMetrics:
    """What `creditflow.evaluate` reports for these rows, from their probabilities and scores."""
    yv = np.asarray(y).astype(int)
    a = auc(yv, p)
    by_grade = bad_rate_by_band(yv, model.grades_.assign(score))
    order = {g: i for i, g in enumerate(model.grades_.names)}
    by_grade = by_grade.sort_values("band", key=lambda s: s.map(order)).rename(columns={"band": "grade"})
    return SplitMetrics(
        rows=len(yv), bad_rate=float(np.mean(yv)), auc=a, ks=ks(yv, p).statistic, gini=2 * a - 1,
        by_grade=by_grade.reset_index(drop=True),
    )


def train_on_cluster(
    client: Any,
    data: LabelledTable,
    out: str | Path | None = None,
    *,
    kind: str = "scorecard",
    params: dict | None = None,
    progress: Callable[[str], None] | None = None,
    reasons: dict | None = None,
    force: bool = False,
) -> TrainResult:
    """Fit on the training rows, evaluate every split, and write `out/model`, `out/metrics.json` and `out/splits.csv`
    (an `out` holding a bundle already is refused unless `force`, as `creditflow.workflow.train` does).

    kind "scorecard": the bundle (model, binning, selection, schema, monitoring baseline, reason
    codes) and the metrics are those `creditflow.workflow.train` writes for the same table, seed
    and test size; so are those of kind "boosted-scorecard" (`distributed.boosted`). kind "gbdt": the same recipe with data-parallel LightGBM (see `distributed.gbdt`).
    `reasons` as for `creditflow.workflow.train`.
    """
    if out is not None:
        refuse_existing_bundle(Path(out), force)
    say = progress or (lambda _msg: None)
    if kind == "scorecard":
        from creditflow.distributed.scorecard import fit_scorecard_stats

        model, stats = fit_scorecard_stats(client, data, params, say)
    elif kind == "boosted-scorecard":
        from creditflow.distributed.boosted import fit_boosted_stats

        model, stats = fit_boosted_stats(client, data, params, say)
    elif kind == "gbdt":
        from creditflow.distributed.gbdt import fit_gbdt, gbdt_categorical
        from creditflow.distributed.scorecard import feature_stats

        labels = client.scatter(data.labels(), hash=False)
        say(f"counting values of {len(data.features)} columns in {data.table.npartitions} pieces")
        categorical = gbdt_categorical(data, (params or {}).get("categorical"))
        stats = feature_stats(client, data, labels, categorical, {})
        model = fit_gbdt(client, data, stats, params, say)
    else:
        raise DataError(f"model kind {kind!r} cannot be trained on a cluster; use scorecard, boosted-scorecard or gbdt")
    warn_protected(model)
    say("scoring every split")
    p, score = score_all(client, data.table, model)
    metrics = {}
    for code, name in enumerate(SPLIT_NAMES):
        mask = data.role == code
        if mask.any():
            metrics[name] = split_metrics(model, data.y[mask], p[mask], score[mask])
    result = TrainResult(model=model, splits={}, metrics=metrics)
    if out is not None:
        out = Path(out)
        train = data.role == 0
        scored = pd.DataFrame({"probability": p[train], "score": score[train],
                               "grade": model.grades_.assign(score[train])})
        _save(model, data, stats, result, scored, out, client, reasons, overwrite=force)
        result.out = out
    return result


def rows_at(piece: Piece, columns: list[str], positions: np.ndarray) -> pd.DataFrame:
    """The rows of a piece at the given positions inside it."""
    return read_piece(piece, columns).iloc[positions]


def gather_rows(client: Any, data: LabelledTable, rows: np.ndarray) -> pd.DataFrame:
    """Feature columns of the table rows at sorted 0-based positions `rows`, in that order."""
    jobs = []
    for piece in data.table.pieces:
        inside = rows[(rows >= piece.offset) & (rows < piece.offset + piece.n_rows)] - piece.offset
        if len(inside):
            jobs.append(client.submit(rows_at, piece, data.features, inside, pure=False))
    return pd.concat(client.gather(jobs)).reset_index(drop=True)


def reason_reference(client: Any, model: Any, data: LabelledTable, scored: pd.DataFrame, reasons: dict | None) -> Any:
    """The training rows `scoring.reasons` would take its reference from (none needed for 'max')."""
    from creditflow.scoring.reasons import MAX_REFERENCE_ROWS, default_reference, supports_reasons

    settings = dict(reasons or {})
    reference = str(settings.get("reference") or "auto")
    columns = pd.DataFrame(columns=data.features)
    if reference == "auto" and supports_reasons(model):
        reference = default_reference(model)
    if not supports_reasons(model) or reference in ("max", "p95"):  # from the model's own bins
        return columns
    train = np.flatnonzero(data.role == 0)
    if reference.startswith("cutoff"):
        cutoff = float(reference.partition(":")[2] or settings.get("cutoff") or "nan")
        band = settings.get("band")
        width = float(band) if band is not None else float(model.scaling_.pdo) / 2
        s = scored["score"].to_numpy()
        near = np.flatnonzero((s >= cutoff) & (s < cutoff + width))
        if len(near) < 30:
            return columns  # `reason_docs` gives the error
        train = train[near]
    if len(train) > MAX_REFERENCE_ROWS:
        pick = np.sort(np.random.default_rng(0).choice(len(train), MAX_REFERENCE_ROWS, replace=False))
        train = train[pick]
    return gather_rows(client, data, train)


def _save(model: Any, data: LabelledTable, stats: TableStats, result: TrainResult, scored: pd.DataFrame,
          out: Path, client: Any, reasons: dict | None, overwrite: bool = False) -> None:
    from creditflow.distributed.baseline import baseline_from_stats, with_excluded
    from creditflow.monitor.baseline import BASELINE_FILE
    from creditflow.scoring.reasons import bundle_reason_docs

    meta = {
        "training": {
            "source": data.source, "target": data.target, "id_column": data.id_column,
            "time_column": data.time_column, "bad": data.bad_value, "rows": {s: data.rows(s) for s in data.splits},
            "bad_rate": {s: data.bad_rate(s) for s in data.splits}, "seed": data.seed, "test_size": data.test_size,
            "columns": column_types(data.table.meta, stats, data.features), "excluded": list(data.excluded),
        },
        "metrics": result.metrics_json()["splits"],
        "distributed": {"engine": "dask", "workers": len(worker_info(client)),
                        "pieces": data.table.npartitions},
    }
    extras = {
        **schema_doc(model, data, stats),
        BASELINE_FILE: baseline_from_stats(model, *with_excluded(client, data, stats), scored, data.y[data.role == 0]),
    }
    extras.update(bundle_reason_docs(model, reason_reference(client, model, data, scored, reasons), reasons))
    write_outputs(out, model, meta, extras, {
        METRICS_FILE: lambda tmp: tmp.write_text(json.dumps(result.metrics_json(), indent=2), encoding="utf-8"),
        SPLITS_FILE: lambda tmp: write_splits(tmp, data.role, data.id_column,
                                              piece_ids(client, data) if data.id_column else None),
    }, overwrite=overwrite)


def column_of(piece: Piece, column: str) -> pd.Series:
    """One column of a piece."""
    return read_piece(piece, [column])[column]


def piece_ids(client: Any, data: LabelledTable) -> Iterator[pd.Series]:
    """The id column, piece by piece in row order (one piece at a time on the client)."""
    futures = client.map(column_of, data.table.pieces, column=data.id_column, pure=False)
    for future in futures:
        yield future.result()
        future.release()


def schema_doc(model: Any, data: LabelledTable, stats: TableStats) -> dict:
    """`schema.json` as `creditflow.workflow` writes it: each model input's type, meaning, missing rate and range."""
    fields = []
    for var in model.features_:
        dtype = data.table.meta[var].dtype
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        doc: dict[str, Any] = {
            "name": var, "type": "number" if numeric else "string",
            "meaning": model.dictionary_.meaning(var), "missing_rate": float(stats.n_missing[var] / stats.n_rows),
        }
        if numeric:
            doc.update(min=stats.minimum[var], max=stats.maximum[var])
            if var in stats.regular_minimum and (stats.regular_minimum[var], stats.regular_maximum[var]) != (doc["min"], doc["max"]):
                doc.update(regular_min=stats.regular_minimum[var], regular_max=stats.regular_maximum[var])
        fields.append(doc)
    return {"schema.json": {"id_column": data.id_column, "target": data.target, "fields": fields}}
