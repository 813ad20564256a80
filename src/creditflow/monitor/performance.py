"""Realised performance once labels arrive: AUC, KS and each grade's bad rate against the rate it promised.

The promise of a grade is its mean predicted probability of bad on the training rows (baseline.json).
Each grade gets the tests of `creditflow.evaluation.calibration_table` — the exact binomial test of its
bads against the promised rate, the Jeffreys interval of its observed rate and the one-sided Jeffreys
test — computed here from per-grade counts so that ten million rows cost a few bincounts, with the
same formulas and verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from creditflow.evaluation.calibration import jeffreys_interval
from creditflow.monitor.baseline import Baseline
from creditflow.monitor.scored import Scored, auc_ks_by_group

LEVEL = 0.95


@dataclass
class Performance:
    """`summary`: labelled rows, bad rate, AUC, KS vs training; `grades`: calibration per grade;
    `periods` and `period_grades`: the same per period (when a time column is given)."""

    summary: dict
    grades: pd.DataFrame
    periods: pd.DataFrame | None = None
    period_grades: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def grade_table(names: list[str], count: np.ndarray, bads: np.ndarray, p_sum: np.ndarray,
                promised: list[float | None], level: float = LEVEL) -> pd.DataFrame:
    """Calibration per grade against its promise, from counts: the columns of `calibration_table`
    (count, bads, observed, jeffreys_low/high, binom_p, jeffreys_p, verdict) with `promised` as the
    predicted rate and `predicted_now` the mean predicted probability of this grade's rows now."""
    keep = [i for i, q in enumerate(promised) if count[i] > 0 and q is not None]
    n = count[keep].astype(float)
    d = bads[keep].astype(float)
    q = np.array([promised[i] for i in keep], dtype=float)
    low, high = jeffreys_interval(d, n, level)
    out = pd.DataFrame({
        "grade": [names[i] for i in keep], "count": n.astype(np.int64), "bads": d.astype(np.int64), "promised": q,
        "predicted_now": p_sum[keep] / np.maximum(n, 1), "observed": d / np.maximum(n, 1),
        "jeffreys_low": low, "jeffreys_high": high,
        "binom_p": [stats.binomtest(int(a), int(b), float(min(max(c, 0.0), 1.0))).pvalue for a, b, c in zip(d, n, q,
                                                                                                          strict=True)],
        "jeffreys_p": stats.beta.cdf(q, d + 0.5, n - d + 0.5),
    })
    out["verdict"] = np.select([out["promised"] < out["jeffreys_low"], out["promised"] > out["jeffreys_high"]],
                               ["underestimates", "overestimates"], "ok")
    return out


def measure_performance(
    baseline: Baseline,
    scored: Scored,
    y: np.ndarray,
    codes: np.ndarray | None = None,
    periods: list[str] | None = None,
    held_out: dict[str, dict] | None = None,
) -> Performance:
    """AUC, KS and calibration by grade on the rows with a known outcome (y not NaN), overall and per period.

    `held_out`: the bundle's metrics per split (metadata.json); the AUC/KS to expect on new rows are
    those of the out-of-time split, else the test split, else (optimistic) the training rows.
    """
    known = np.isfinite(y)
    all_known = bool(known.all())
    yk = y if all_known else y[known]
    p = scored.probability if all_known else scored.probability[known]
    g = scored.grade if all_known else scored.grade[known]
    names = scored.grades
    promised = [b.promised_bad_rate for b in baseline.grades]
    n_g = len(names)
    listed = g >= 0
    n_p = len(periods) if codes is not None and periods else 0
    ck = None if n_p == 0 else (codes if all_known else codes[known])
    (a, k), per = auc_ks_by_group(yk, p, ck, n_p)
    base = baseline.performance or {}
    summary = {
        "rows": int(len(y)), "labelled": int(len(yk)), "bads": int(yk.sum()),
        "bad_rate": float(yk.mean()) if len(yk) else float("nan"),
        "predicted_bad_rate": float(p.mean()) if len(p) else float("nan"),
        "auc": a, "ks": k, "baseline_auc": base.get("auc"), "baseline_ks": base.get("ks"),
        "baseline_bad_rate": base.get("bad_rate"),
    }
    split = next((n for n in ("oot", "test") if (held_out or {}).get(n, {}).get("auc") is not None), None)
    expected = held_out[split] if split else base
    summary.update(expected_auc=expected.get("auc"), expected_ks=expected.get("ks"),
                   expected_from=split or ("training" if base else None))
    all_listed = bool(listed.all())
    gl, yl, pl = (g, yk, p) if all_listed else (g[listed], yk[listed], p[listed])
    table = grade_table(names, np.bincount(gl, minlength=n_g), np.bincount(gl, weights=yl, minlength=n_g),
                        np.bincount(gl, weights=pl, minlength=n_g), promised)
    notes = []
    no_promise = [names[i] for i in np.unique(gl) if promised[i] is None]
    if no_promise:
        notes.append(f"grades {no_promise} had no training rows, so no promised bad rate: left out of the calibration")
    if (~listed).any():
        notes.append(f"{int((~listed).sum()):,} labelled rows have a grade the baseline does not list")
    out = Performance(summary=summary, grades=table, notes=notes)
    if n_p > 1:
        key = (ck if all_listed else ck[listed]).astype(np.intp) * n_g + gl
        size = n_p * n_g
        cnt = np.bincount(key, minlength=size).reshape(n_p, n_g)
        bad = np.bincount(key, weights=yl, minlength=size).reshape(n_p, n_g)
        psum = np.bincount(key, weights=pl, minlength=size).reshape(n_p, n_g)
        rows_n = np.bincount(ck, minlength=n_p)
        rows_b = np.bincount(ck, weights=yk, minlength=n_p)
        rows_p = np.bincount(ck, weights=p, minlength=n_p)
        out.periods = pd.DataFrame({
            "period": periods, "labelled": rows_n, "bads": rows_b.astype(np.int64),
            "bad_rate": np.where(rows_n > 0, rows_b / np.maximum(rows_n, 1), np.nan),
            "predicted_bad_rate": np.where(rows_n > 0, rows_p / np.maximum(rows_n, 1), np.nan),
            "auc": [x[0] for x in per], "ks": [x[1] for x in per],
        })
        parts = []
        for i, name in enumerate(periods):
            t = grade_table(names, cnt[i], bad[i], psum[i], promised)
            t.insert(0, "period", name)
            parts.append(t)
        out.period_grades = pd.concat(parts, ignore_index=True)
    return out
