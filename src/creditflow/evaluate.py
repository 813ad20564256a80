"""Model metrics on labelled data: AUC, KS, Gini and bad rate by grade, per split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from creditflow.binning.process import as_frame, as_target, check_aligned
from creditflow.evaluation.metrics import auc, bad_rate_by_band, ks


@dataclass
class SplitMetrics:
    """Metrics of one model on one labelled sample (probabilities of bad, scores higher = better)."""

    rows: int
    bad_rate: float
    auc: float
    ks: float
    gini: float
    by_grade: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "bad_rate": self.bad_rate, "auc": self.auc, "ks": self.ks, "gini": self.gini}

    def _repr_html_(self) -> str:
        head = pd.DataFrame([self.to_dict()]).to_html(index=False, float_format=lambda v: f"{v:.4f}")
        return head + self.by_grade.to_html(index=False, float_format=lambda v: f"{v:.4f}")


def evaluate(model: Any, data: Any, y: Any = None) -> SplitMetrics:
    """AUC, KS and Gini of the model's probability of bad, and bad rate by grade, on `data`: a `Dataset`,
    a table with its target `y`, or an (X, y) pair (as `build_report` takes). A pandas `y` must be in `X`'s
    row order (`check_aligned`)."""
    if y is None and isinstance(data, tuple) and len(data) == 2:
        data, y = data
    check_aligned(data, y)
    yv = as_target(y, data).astype(int)
    frame = as_frame(data)
    scored = model.scores(frame)
    p = scored["probability"].to_numpy()
    a = auc(yv, p)
    by_grade = bad_rate_by_band(yv, scored["grade"].to_numpy())
    order = {g: i for i, g in enumerate(model.grades_.names)}
    by_grade = by_grade.sort_values("band", key=lambda s: s.map(order)).rename(columns={"band": "grade"})
    return SplitMetrics(
        rows=len(yv), bad_rate=float(np.mean(yv)), auc=a, ks=ks(yv, p).statistic, gini=2 * a - 1,
        by_grade=by_grade.reset_index(drop=True),
    )
