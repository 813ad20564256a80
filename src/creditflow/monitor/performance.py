"""Realised performance once labels arrive: AUC, KS and each grade's bad rate against the rate it promised.

The promise of a grade is its mean predicted probability of bad on the training rows (baseline.json).
Each grade is tested with `creditflow.evaluation.calibration_table`: exact binomial test of its bads
against the promised rate and the Jeffreys interval of its observed rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from creditflow.evaluation import auc, calibration_table, ks
from creditflow.monitor.baseline import Baseline


@dataclass
class Performance:
    """`summary`: labelled rows, bad rate, AUC, KS vs training; `grades`: calibration per grade;
    `periods` and `period_grades`: the same per period (when a time column is given)."""

    summary: dict
    grades: pd.DataFrame
    periods: pd.DataFrame | None = None
    period_grades: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def _discrimination(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    if y.size == 0 or y.min() == y.max():
        return float("nan"), float("nan")
    return auc(y, p), ks(y, p).statistic


def _grade_table(baseline: Baseline, y: np.ndarray, p: np.ndarray, grade: np.ndarray) -> pd.DataFrame:
    """Calibration per grade against the promised rate; grades with no promise are left out."""
    promised = {g.grade: g.promised_bad_rate for g in baseline.grades if g.promised_bad_rate is not None}
    keep = pd.Series(grade).isin(promised.keys()).to_numpy()
    if not keep.any():
        return pd.DataFrame(columns=["grade", "count", "bads", "promised", "observed"])
    promise = pd.Series(grade[keep]).map(promised).to_numpy(dtype=float)
    table = calibration_table(y[keep], promise, groups=grade[keep])
    now = pd.DataFrame({"g": grade[keep], "p": p[keep]}).groupby("g")["p"].mean()
    table = table.rename(columns={"group": "grade", "predicted": "promised"})
    table.insert(4, "predicted_now", table["grade"].map(now).to_numpy(dtype=float))
    order = {g.grade: i for i, g in enumerate(baseline.grades)}
    table = table.sort_values("grade", key=lambda s: s.map(order), kind="mergesort").reset_index(drop=True)
    return table.drop(columns=["min_p", "max_p"])


def measure_performance(
    baseline: Baseline,
    scores: pd.DataFrame,
    y: np.ndarray,
    codes: np.ndarray | None = None,
    periods: list[str] | None = None,
) -> Performance:
    """AUC, KS and calibration by grade on the rows with a known outcome (y not NaN), overall and per period."""
    known = np.isfinite(y)
    yk = y[known].astype(np.int8)
    p = scores["probability"].to_numpy(dtype=float)[known]
    grade = scores["grade"].to_numpy(dtype=object)[known]
    a, k = _discrimination(yk, p)
    base = baseline.performance or {}
    summary = {
        "rows": int(len(y)), "labelled": int(known.sum()), "bads": int(yk.sum()),
        "bad_rate": float(yk.mean()) if yk.size else float("nan"),
        "predicted_bad_rate": float(p.mean()) if p.size else float("nan"),
        "auc": a, "ks": k, "baseline_auc": base.get("auc"), "baseline_ks": base.get("ks"),
        "baseline_bad_rate": base.get("bad_rate"),
    }
    notes = []
    missing = sorted({g.grade for g in baseline.grades if g.promised_bad_rate is None} & set(grade))
    if missing:
        notes.append(f"grades {missing} had no training rows, so no promised bad rate: left out of the calibration")
    out = Performance(summary=summary, grades=_grade_table(baseline, yk, p, grade), notes=notes)
    if codes is not None and periods and len(periods) > 1:
        ck = codes[known]
        rows, grade_rows = [], []
        for i, name in enumerate(periods):
            m = ck == i
            yi, pi = yk[m], p[m]
            ai, ki = _discrimination(yi, pi)
            rows.append({"period": name, "labelled": int(m.sum()), "bads": int(yi.sum()),
                         "bad_rate": float(yi.mean()) if yi.size else np.nan,
                         "predicted_bad_rate": float(pi.mean()) if pi.size else np.nan, "auc": ai, "ks": ki})
            if m.any():
                t = _grade_table(baseline, yi, pi, grade[m])
                t.insert(0, "period", name)
                grade_rows.append(t)
        out.periods = pd.DataFrame(rows)
        out.period_grades = pd.concat(grade_rows, ignore_index=True) if grade_rows else None
    return out
