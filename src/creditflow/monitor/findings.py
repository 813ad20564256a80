"""Findings: what moved, how far, and whether it raises the monitoring status.

Each finding has a `level` (info, warn, alert), an `area`, the `item` it is about, the `value`
(PSI, CSI, share, p-value ...), a `message` and `counts` (whether it can raise the status).
On fewer rows than `thresholds.min_rows` the drift findings and the AUC are shown but do not count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from creditflow.monitor.drift import LEVELS

COLUMNS = ["level", "area", "period", "item", "value", "message", "counts"]
MISSING_CHANGE = 0.05
"""A model input whose missing rate moves by at least this much (absolute) gets an info finding."""


def _too_few(rows: int, minimum: int) -> str:
    return f" (only {rows:,} of the {minimum:,} rows needed to judge: shown, not counted)"


def _drift_findings(result: Any, add: Any) -> None:
    t, d = result.thresholds, result.drift
    enough = result.rows >= t.min_rows
    small = "" if enough else _too_few(result.rows, t.min_rows)
    status = t.status(d.score_psi)
    if LEVELS[status]:
        add(status, "score", "", "score", d.score_psi,
            f"score PSI {d.score_psi:.3f} against the training deciles{small}", enough)
    for r in d.variables.itertuples(index=False):
        if LEVELS.get(r.status, 0):
            extra = small if r.in_model else " (not a model input: shown, does not raise the status)"
            what = f"CSI {r.csi:.3f}" if np.isfinite(r.csi) else r.note  # NaN: a column no longer measurable
            add(r.status, "input" if r.in_model else "other column", "", r.variable, r.csi,
                f"{what}{extra}", bool(r.in_model) and enough)
        if r.in_model and r.out_of_range:
            add("info", "range", "", r.variable, r.out_of_range_share, r.note, False)
        if r.in_model and abs(r.missing_change) >= MISSING_CHANGE:
            add("info", "missing", "", r.variable, r.missing_change,
                f"missing rate {r.baseline_missing:.1%} at training, {r.current_missing:.1%} now", False)
    if d.periods is None:
        return
    csi = d.csi_by_period.set_index("period") if d.csi_by_period is not None else pd.DataFrame()
    others = d.other_csi_by_period.set_index("period") if d.other_csi_by_period is not None else pd.DataFrame()
    for r in d.periods.itertuples(index=False):
        small = "" if r.counts_for_status else f" (only {r.rows:,} rows: shown, not counted)"
        if LEVELS.get(r.score_status, 0):
            add(r.score_status, "score", r.period, "score", r.score_psi, f"score PSI {r.score_psi:.3f}{small}",
                bool(r.counts_for_status))
        if r.period in csi.index and (m := _moved(csi.loc[r.period], t)):
            add(m[0], "input", r.period, m[1], m[2], f"CSI: {m[3]}{small}", bool(r.counts_for_status))
        if r.period in others.index and (m := _moved(others.loc[r.period], t)):
            few = "" if r.counts_for_status else f", and only {r.rows:,} rows"
            add(m[0], "other column", r.period, m[1], m[2],
                f"CSI: {m[3]} (not a model input{few}: shown, does not raise the status)", False)


def _moved(row: pd.Series, t: Any) -> tuple[str, str, float, str] | None:
    """One period's columns at warn or above: the level, the worst column, its CSI, and all of them with their
    CSI ("AGE 0.413, MARRIAGE 0.301"); None when none moved."""
    moved = row[row >= t.warn].sort_values(ascending=False)
    if not len(moved):
        return None
    names = ", ".join(f"{v} {x:.3f}" for v, x in moved.items())
    return "alert" if moved.iloc[0] >= t.alert else "warn", moved.index[0], float(moved.iloc[0]), names


def _performance_findings(result: Any, add: Any) -> None:
    p, t = result.performance, result.thresholds
    if p is None:
        return
    s = p.summary
    if s.get("expected_auc") is not None and np.isfinite(s["auc"]) and s["expected_auc"] - s["auc"] >= t.auc_drop:
        enough = s["labelled"] >= t.min_rows  # the AUC of a few hundred rows moves by several points by chance
        add("warn", "performance", "", "AUC", s["auc"],
            f"AUC {s['auc']:.3f} on {s['labelled']:,} labelled rows, {s['expected_auc']:.3f} on the "
            f"{s['expected_from']} sample at training" + ("" if enough else _too_few(s["labelled"], t.min_rows)),
            enough)
    g = p.grades
    if len(g) and "verdict" in g.columns:
        for r in g.itertuples(index=False):
            if r.verdict == "underestimates" and r.binom_p < t.p_value:
                why = (f"; the model's own mean PD for these rows is {r.predicted_now:.2%}, so the mix within "
                       "the grade moved" if r.jeffreys_low <= r.predicted_now <= r.jeffreys_high else "")
                add("warn", "performance", "", f"grade {r.grade}", r.observed,
                    f"bad rate {r.observed:.2%} on {r.count:,} rows against the promised {r.promised:.2%} "
                    f"(binomial p {r.binom_p:.2g}){why}")
    if p.period_grades is not None and "verdict" in p.period_grades.columns:
        for r in p.period_grades.itertuples(index=False):
            if r.verdict == "underestimates" and r.binom_p < t.p_value:
                add("info", "performance", r.period, f"grade {r.grade}", r.observed,
                    f"bad rate {r.observed:.2%} on {r.count:,} rows against the promised {r.promised:.2%} "
                    f"(binomial p {r.binom_p:.2g})", False)


def findings(result: Any) -> pd.DataFrame:
    """All findings of a `MonitorResult`, most severe first."""
    rows: list[dict] = []

    def add(level: str, area: str, period: str, item: str, value: float, message: str, counts: bool = True) -> None:
        rows.append({"level": level, "area": area, "period": period, "item": str(item), "value": float(value),
                     "message": message, "counts": counts})

    _drift_findings(result, add)
    _performance_findings(result, add)
    if result.decisions is not None:
        t = result.thresholds

        def add_mix(level: str, area: str, period: str, item: str, value: float, message: str,
                    counts: bool = True) -> None:
            enough = result.rows >= t.min_rows
            add(level, area, period, item, value, message + ("" if enough else _too_few(result.rows, t.min_rows)),
                counts and enough)

        result.decisions.findings(t, add_mix)
    audit = result.audit or {}
    if audit.get("score_mismatches"):
        add("warn", "audit", "", "score", audit["score_mismatches"],
            f"{audit['score_mismatches']:,} logged score(s) differ from this bundle's score for the logged inputs "
            f"(e.g. request {audit['mismatch_examples'][0]})")
    if audit.get("decision_mismatches"):
        add("warn", "audit", "", "decision", audit["decision_mismatches"],
            f"{audit['decision_mismatches']:,} of {audit['decisions_checked']:,} decision(s) logged under policy "
            f"{audit['decision_policy_version']} differ from what that policy decides on the logged inputs and score "
            f"(e.g. request {audit['decision_mismatch_examples'][0]}): the service ran another policy under this "
            "version")
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if len(frame):
        rank = frame["level"].map(LEVELS).fillna(0) + frame["counts"].astype(int) * 0.5
        frame = frame.assign(_r=-rank).sort_values(["_r", "area"], kind="mergesort").drop(columns="_r")
    return frame.reset_index(drop=True)
