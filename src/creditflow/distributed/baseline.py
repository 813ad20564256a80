"""`baseline.json` from merged counts and the training scores, as `monitor.baseline.fit_baseline` builds it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from creditflow.binning.variable import ValueCounts, VariableBinning, category_key
from creditflow.distributed.stats import TableStats
from creditflow.monitor.baseline import (
    MAX_CATEGORIES,
    SCORE_BINS,
    Baseline,
    Distribution,
    VariableBaseline,
    _grades,
    model_layout,
    score_histogram,
)
from creditflow.monitor.bins import QUANTILE_BINS, TOP_CATEGORIES, quantile_splits


def own_layout(name: str, counts: ValueCounts, numeric: bool) -> VariableBinning:
    """`monitor.bins.own_layout` from a column's counts: deciles (numeric) or the top categories."""
    if numeric:
        return VariableBinning(name=name, kind="numeric", splits=quantile_splits(np.repeat(counts.values, counts.counts),
                                                                                 QUANTILE_BINS))
    order = sorted(range(len(counts.values)), key=lambda i: (-int(counts.counts[i]), counts.values[i]))
    keys = [str(counts.values[i]) for i in order]
    groups = [[k] for k in keys[:TOP_CATEGORIES]]
    rest = sorted(keys[TOP_CATEGORIES:])
    if rest and len(keys) <= MAX_CATEGORIES:
        groups.append(rest)
    return VariableBinning(name=name, kind="categorical", groups=groups)


def _variable(name: str, model: Any, stats: TableStats, in_model: bool, numeric: bool) -> VariableBaseline:
    counts = stats.counts[name]
    layout = model_layout(name, model)
    if layout is not None:
        source = "model bins"
    else:
        layout = own_layout(name, counts, numeric)
        source = "deciles" if layout.kind == "numeric" else "categories"
    rows, _ = counts.bin_totals(layout)
    dist = Distribution(layout=layout, shares=rows / max(rows.sum(), 1.0))
    out = VariableBaseline(name=name, in_model=in_model, source=source, dist=dist,
                           missing_rate=float(stats.n_missing_train[name] / stats.n_train))
    if layout.kind == "numeric":
        if len(counts.values):
            out.min, out.max = float(counts.values[0]), float(counts.values[-1])
    else:
        n_keys = len(counts.values) + int((counts.special_counts > 0).sum())
        if n_keys <= MAX_CATEGORIES:
            specials = {category_key(v) for v in layout.special_values}
            out.categories = sorted(str(k) for k in counts.values.tolist() if k not in specials)
    dictionary = getattr(model, "dictionary_", None)
    out.meaning = dictionary.meaning(name) if dictionary is not None else ""
    return out


def with_excluded(client: Any, data: Any, stats: TableStats) -> tuple[TableStats, list[str]]:
    """`stats` with the training counts of the columns the user excluded from the model (a protected column,
    say: watched for drift, not in_model, as on one machine), and the baseline's columns: features, then those.
    An excluded column with infinite values gets no counts, so it is left out of the baseline here."""
    from creditflow.binning.process import is_categorical
    from creditflow.distributed.cluster import tree_reduce
    from creditflow.distributed.stats import merge_stats, piece_stats

    kept_out = [c for c in data.excluded if c in data.table.meta.columns and c not in data.features]
    if not kept_out:
        return stats, list(data.features)
    categorical = [c for c in kept_out if is_categorical(data.table.meta[c])]
    futures = client.map(piece_stats, data.table.pieces, data.labels(), columns=kept_out, categorical=categorical,
                         specials={}, pure=False)
    extra = tree_reduce(client, futures, merge_stats).result()
    counted = [c for c in kept_out if c in extra.counts]
    stats = replace(stats, counts={**stats.counts, **{c: extra.counts[c] for c in counted}},
                    n_missing_train={**stats.n_missing_train, **{c: extra.n_missing_train[c] for c in counted}})
    return stats, list(data.features) + counted


def baseline_from_stats(
    model: Any, stats: TableStats, columns: list[str], scored: pd.DataFrame, y: np.ndarray,
    numeric: set[str] | None = None,
) -> dict[str, Any]:
    """The baseline document of a model on its training rows (`scored`: probability, score, grade).

    Columns without model bins get deciles or top categories from their counts; `numeric` names
    the columns binned as numbers (default: those whose counts are of numbers).
    """
    if numeric is None:
        numeric = {c for c, vc in stats.counts.items() if vc.values.dtype.kind == "f"}
    features = list(model.features_)
    score = scored["score"].to_numpy(dtype=float)
    score_layout = VariableBinning(name="score", kind="numeric", splits=quantile_splits(score, SCORE_BINS))
    y = np.asarray(y, dtype=float)
    performance = None
    if 0 < y.sum() < len(y):
        from creditflow.evaluation import auc, ks

        p = scored["probability"].to_numpy(dtype=float)
        performance = {"bad_rate": float(y.mean()), "auc": auc(y, p), "ks": ks(y, p).statistic}
    ordered = features + [c for c in columns if c not in set(features)]
    return Baseline(
        model_type=str(getattr(model, "model_type", type(model).__name__)), rows=len(scored),
        score=Distribution.measure(score_layout, scored["score"]), grades=_grades(model, scored, y),
        variables=[_variable(c, model, stats, c in features, c in numeric) for c in ordered],
        mean_score=float(score.mean()), mean_probability=float(scored["probability"].mean()),
        performance=performance, features=features, score_histogram=score_histogram(score),
    ).to_dict()
