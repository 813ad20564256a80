"""The monitoring report: the validation report's blocks (`creditflow.report`), so HTML, Excel and
Jupyter look and work the same — one self-contained page, figures embedded, nothing from the network."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from creditflow.monitor import figures
from creditflow.report.content import Figure, Group, Metric, Note, Section, Table
from creditflow.report.report import Report

LEVEL_CARD = {"stable": "ok", "warn": "warn", "alert": "fail", "insufficient": "warn", "n/a": "info"}
PCT = {"promised": "pct", "predicted_now": "pct"}
MAX_DETAIL = 12
"""Bin tables are shown for at most this many moved inputs."""


def _summary_section(r: Any) -> Section:
    t, d = r.thresholds, r.drift
    inputs = d.variables[d.variables["in_model"]] if len(d.variables) else d.variables
    moved = int((inputs["status"].isin(["warn", "alert"])).sum()) if len(inputs) else 0
    judged = r.enough_rows
    not_judged = f"not judged: fewer than {t.min_rows:,} rows"
    cards = [
        Metric("status", r.status.upper(), f"exit code {r.exit_code}", LEVEL_CARD[r.status]),
        Metric("score PSI", f"{d.score_psi:.3f}", f"warn {t.warn:g} · alert {t.alert:g}" if judged else not_judged,
               LEVEL_CARD[t.status(d.score_psi)] if judged else "info"),
        Metric("inputs moved", f"{moved} of {len(inputs)}", "CSI at or above warn" if judged else not_judged,
               ("warn" if moved else "ok") if judged else "info"),
        Metric("rows", f"{r.rows:,}", f"mean score {r.mean_score:.0f} (training {r.baseline.mean_score:.0f})",
               "info" if judged else "warn"),
    ]
    if r.performance is not None:
        s = r.performance.summary
        base = s.get("expected_auc")
        cards.append(Metric("AUC", f"{s['auc']:.3f}" if pd.notna(s["auc"]) else "n/a",
                            f"{s['expected_from']} {base:.3f}" if base is not None else f"{s['labelled']:,} labelled"))
    findings = r.findings.rename(columns={"level": "status"})
    blocks: list = [cards]
    if not judged:
        blocks.append(Note(f"Insufficient data: {r.rows:,} rows, at least {t.min_rows:,} are needed to judge drift. "
                           f"A PSI over ten bins averages about {9 / max(r.rows, 1):.2f} from sampling noise alone on this many "
                           f"rows, so the PSI/CSI below are shown but do not raise the status.", "warn"))
    if len(findings):
        blocks.append(Table("summary.findings", "Findings", findings,
                            note="counts = whether the finding can raise the status (model inputs and the score, "
                                 f"overall on at least {t.min_rows:,} rows and in periods with enough rows; other "
                                 "columns are shown only).",
                            formats={"value": "f4"}))
    elif judged:
        blocks.append(Note("Nothing moved: the score and every model input are within the warning threshold.", "ok"))
    blocks.extend(Note(n) for n in r.notes if n != r.sample_note)
    return Section("summary", "Summary", blocks,
                   intro="Exit status for schedulers: 0 stable, 3 warning, 4 alert, 5 insufficient data "
                         "(2 = bad input).")


def _score_section(r: Any) -> Section:
    d = r.drift
    return Section("score", "Score stability", [
        Table("score.bins", f"Score by training decile — PSI {d.score_psi:.4f}", d.score_bins),
        Figure("score.chart", "Score distribution", svg=figures.shares(d.score_bins, "Score: training vs now")),
        Table("score.grades", "Grade mix", d.grade_mix),
    ], intro="Bins are the training score deciles, stored with their edges in the bundle's baseline.json.")


def _inputs_section(r: Any) -> Section:
    d, t = r.drift, r.thresholds
    cols = ["variable", "meaning", "in_model", "source", "csi", "status", "baseline_missing", "current_missing",
            "missing_change", "out_of_range", "out_of_range_share", "note"]
    table = d.variables[[c for c in cols if c in d.variables.columns]]
    blocks: list = [Table("inputs.csi", "Characteristic stability (CSI) per column", table,
                          formats={"in_model": "text"})]
    if len(table) and table["in_model"].any():
        blocks.append(Figure("inputs.chart", "CSI of the model inputs", svg=figures.csi_ranking(table, t.warn, t.alert)))
    moved = table[table["status"].isin(["warn", "alert"])].head(MAX_DETAIL)
    for row in moved.itertuples(index=False):
        bins = d.bins[row.variable]
        blocks.append(Group(f"{row.variable}: CSI {row.csi:.3f} ({row.status})", [
            Table(f"inputs.{row.variable}.bins", f"{row.variable}: bin shares", bins),
            Figure(f"inputs.{row.variable}.chart", f"{row.variable}: bin shares",
                   svg=figures.shares(bins, f"{row.variable}: training vs now")),
        ], subtitle=row.meaning or "", open=False, anchor=f"input-{row.variable}"))
    return Section("inputs", "Inputs", blocks,
                   intro="Bins: the model's own (Missing, special values and unseen categories included) or, "
                         "for a model without bins, training deciles / top categories.")


def _period_section(r: Any) -> Section | None:
    d, t = r.drift, r.thresholds
    if d.periods is None:
        return None
    blocks: list = [
        Table("periods.table", "Stability by period", d.periods,
              formats={"score_psi": "f4", "max_csi": "f4", "mean_score": "f2", "counts_for_status": "text"}),
        Figure("periods.trend", "PSI and CSI by period",
               svg=figures.psi_trend(d.periods, d.csi_by_period, t.warn, t.alert)),
    ]
    if d.csi_by_period is not None and d.csi_by_period.shape[1] > 1:
        blocks.append(Table("periods.csi", "CSI of each model input by period", d.csi_by_period,
                            formats={c: "f4" for c in d.csi_by_period.columns if c != "period"}))
    if d.other_csi_by_period is not None:
        blocks.append(Table("periods.other_csi", "CSI of each other watched column by period (not model inputs: "
                            "shown, they do not raise the status)", d.other_csi_by_period,
                            formats={c: "f4" for c in d.other_csi_by_period.columns if c != "period"}))
    return Section("periods", "By period", blocks,
                   intro=f"Periods with fewer than {t.min_period_rows:,} rows are shown but do not raise the status.")


def _performance_section(r: Any) -> Section | None:
    p = r.performance
    if p is None:
        return None
    s = pd.DataFrame([p.summary])
    blocks: list = [Table("performance.summary", "Realised performance", s)]
    if len(p.grades):
        blocks.append(Table("performance.grades", "Bad rate per grade against its promise", p.grades,
                            formats=PCT))
        if "jeffreys_low" in p.grades.columns:
            blocks.append(Figure("performance.calibration", "Promised vs realised bad rate",
                                 svg=figures.calibration(p.grades)))
    if p.periods is not None:
        blocks.append(Table("performance.periods", "Realised performance by period", p.periods))
        blocks.append(Figure("performance.trend", "Bad rate by period", svg=figures.bad_rate_trend(p.periods)))
    if p.period_grades is not None:
        blocks.append(Table("performance.period_grades", "Bad rate per grade and period", p.period_grades,
                            formats=PCT))
    blocks.extend(Note(n) for n in p.notes)
    return Section("performance", "Realised performance", blocks,
                   intro="A grade's promise is its mean predicted probability of bad on the training rows; "
                         "binom_p tests its realised bads against it (exact binomial).")


def _decision_section(r: Any) -> Section | None:
    blocks: list = []
    if r.decisions is not None:
        blocks.extend(r.decisions.blocks())
    audit = r.audit or {}
    if audit.get("decisions"):
        mix = pd.Series(audit["decisions"], name="count").rename_axis("decision").reset_index()
        mix["share"] = mix["count"] / mix["count"].sum()
        blocks.append(Table("decisions.audit", "Decisions logged by the service", mix))
    if "score_mismatches" in audit:
        blocks.append(Note(f"{audit['score_mismatches']:,} of {audit['rows']:,} logged scores differ from this "
                           f"bundle's rescoring of the logged inputs (largest difference "
                           f"{audit['max_score_difference']:g} points).",
                           "warn" if audit["score_mismatches"] else "ok"))
    if "decision_mismatches" in audit:
        blocks.append(Note(f"{audit['decision_mismatches']:,} of {audit['decisions_checked']:,} decisions logged under "
                           f"policy {audit['decision_policy_version']} differ from that policy's decision on the "
                           "logged inputs and score.", "warn" if audit["decision_mismatches"] else "ok"))
    if not blocks:
        return None
    return Section("decisions", "Decisions", blocks)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("creditflow")
    except PackageNotFoundError:
        return "dev"


def build_monitor_report(result: Any, title: str | None = None) -> Report:
    """The monitoring `Report` of a `MonitorResult`."""
    sections = [_summary_section(result), _score_section(result), _inputs_section(result)]
    for make in (_period_section, _performance_section, _decision_section):
        s = make(result)
        if s is not None:
            sections.append(s)
    meta = {
        "status": f"{result.status} (exit code {result.exit_code})",
        "model": f"{result.model_type} {result.model_version or ''}".strip(),
        "monitored": f"{result.source}: {result.rows:,} rows"
                     + (f" in {len(result.periods)} periods" if result.periods else ""),
        "baseline": f"{result.baseline.rows:,} training rows",
        "thresholds": f"warn {result.thresholds.warn:g}, alert {result.thresholds.alert:g}, "
                      f"at least {result.thresholds.min_rows:,} rows to judge",
    }
    return Report(
        title=title or f"Model monitoring — {result.model_type}",
        subtitle="Score and input drift against training, realised performance and decisions.",
        meta=meta, sections=sections, metrics={"summary": result.summary()},
        created=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), version=_version(),
    )
