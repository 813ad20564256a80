"""`baseline.json` from merged counts and the training scores, as `monitor.baseline.fit_baseline` builds it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from creditflow.binning.variable import VariableBinning, category_key
from creditflow.distributed.stats import TableStats
from creditflow.monitor.baseline import (
    MAX_CATEGORIES,
    SCORE_BINS,
    Baseline,
    Distribution,
    VariableBaseline,
    _grades,
    score_histogram,
)
from creditflow.monitor.bins import quantile_splits


def _variable(name: str, model: Any, stats: TableStats, in_model: bool) -> VariableBaseline:
    vb = model.binning_.bins_[name]
    layout = VariableBinning(name=name, kind=vb.kind, splits=list(vb.splits), groups=[list(g) for g in vb.groups],
                             special_values=list(vb.special_values))
    counts = stats.counts[name]
    rows, _ = counts.bin_totals(layout)
    dist = Distribution(layout=layout, shares=rows / max(rows.sum(), 1.0))
    out = VariableBaseline(name=name, in_model=in_model, source="model bins", dist=dist,
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


def baseline_from_stats(
    model: Any, stats: TableStats, columns: list[str], scored: pd.DataFrame, y: np.ndarray
) -> dict[str, Any]:
    """The baseline document of a binned model on its training rows (`scored`: probability, score, grade)."""
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
        variables=[_variable(c, model, stats, c in features) for c in ordered],
        mean_score=float(score.mean()), mean_probability=float(scored["probability"].mean()),
        performance=performance, features=features, score_histogram=score_histogram(score),
    ).to_dict()
