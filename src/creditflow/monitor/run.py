"""`monitor`: score recent rows with a bundle and compare them with its baseline; status and exit code.

Status is the worst of: the score's PSI, each model input's CSI (overall and in every period with at
least `min_period_rows` rows), and, once labels arrive, a grade whose realised bad rate significantly
exceeds its promise or an AUC well below training. Columns the model does not use are shown but never
raise the status. With fewer than `min_rows` rows in all, drift and the AUC are shown but not judged
(their PSI is mostly sampling noise): unless something else raises it, the status is 'insufficient'.
Exit codes for schedulers: 0 stable, 3 warning, 4 alert, 5 insufficient data (2 stays for bad input).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from creditflow.data.errors import CreditflowError, DataError, located
from creditflow.data.excel import naming_sheet
from creditflow.data.io import text_columns
from creditflow.data.output import atomic_path
from creditflow.monitor.baseline import Baseline, fit_baseline, load_baseline
from creditflow.monitor.drift import LEVELS, STATUS_OF_LEVEL, Drift, Thresholds, measure_drift
from creditflow.monitor.performance import Performance, measure_performance
from creditflow.monitor.scored import Scored
from creditflow.monitor.sources import (
    Batch,
    check_columns,
    encode_labels,
    join_labels,
    period_codes,
    read_data,
    undated_note,
)

EXIT_CODES = {"stable": 0, "warn": 3, "alert": 4, "insufficient": 5}


@dataclass
class MonitorResult:
    """The outcome of one monitoring run: drift, realised performance, decision mix, findings and status."""

    model_type: str
    model_version: str
    source: str
    rows: int
    baseline: Baseline
    drift: Drift
    thresholds: Thresholds
    mean_score: float = float("nan")
    performance: Performance | None = None
    decisions: Any = None
    periods: list[str] = field(default_factory=list)
    findings: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)
    audit: dict[str, Any] | None = None

    @property
    def enough_rows(self) -> bool:
        """Whether there are enough rows (`thresholds.min_rows`) to judge drift at all."""
        return self.rows >= self.thresholds.min_rows

    @property
    def sample_note(self) -> str | None:
        """The line that says the sample is too small to judge, or None."""
        if self.enough_rows:
            return None
        return (f"insufficient data: {self.rows:,} rows, at least {self.thresholds.min_rows:,} are needed to judge "
                f"drift (--min-rows); the PSI/CSI of so few rows is mostly sampling noise, so it is shown but does "
                f"not raise the status")

    @property
    def status(self) -> str:
        """'stable', 'warn' or 'alert': the worst finding that counts; 'insufficient' when none counts and
        there are fewer than `thresholds.min_rows` rows."""
        f = self.findings
        counted = f.loc[f["counts"], "level"] if len(f) else []
        status = STATUS_OF_LEVEL[max((LEVELS.get(x, 0) for x in counted), default=0)]
        return "insufficient" if status == "stable" and not self.enough_rows else status

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: status, exit code, score PSI, CSI per column, periods, performance, findings;
        the per-period tables of the report too (CSI, bad rate per grade, decision mix)."""
        d = self.drift
        out: dict[str, Any] = {
            "status": self.status, "exit_code": self.exit_code,
            "thresholds": {"warn": self.thresholds.warn, "alert": self.thresholds.alert,
                           "min_rows": self.thresholds.min_rows, "min_period_rows": self.thresholds.min_period_rows},
            "sample": {"rows": self.rows, "min_rows": self.thresholds.min_rows, "enough_rows": self.enough_rows,
                       "message": self.sample_note},
            "model": {"type": self.model_type, "version": self.model_version},
            "source": self.source, "rows": self.rows,
            "score": {"psi": d.score_psi, "status": self.thresholds.status(d.score_psi), "counts": self.enough_rows,
                      "baseline_mean": self.baseline.mean_score, "current_mean": self.mean_score},
            "variables": _records(d.variables.drop(columns=["meaning"], errors="ignore")),
            "grade_mix": _records(d.grade_mix),
            "findings": _records(self.findings),
            "notes": list(self.notes),
        }
        if d.periods is not None:
            out["periods"] = _records(d.periods)
        if d.csi_by_period is not None:
            out["csi_by_period"] = _records(d.csi_by_period)
        if d.other_csi_by_period is not None:
            out["other_csi_by_period"] = _records(d.other_csi_by_period)
        if self.performance is not None:
            p = self.performance
            out["performance"] = {"summary": p.summary, "grades": _records(p.grades)}
            if p.periods is not None:
                out["performance"]["periods"] = _records(p.periods)
            if p.period_grades is not None:
                out["performance"]["period_grades"] = _records(p.period_grades)
        if self.decisions is not None:
            out["decisions"] = self.decisions.summary()
        if self.audit is not None:
            out["audit"] = self.audit
        return out

    def to_json(self, path: str | Path) -> Path:
        """Write `summary()` as JSON (atomically)."""
        from creditflow.bundle import dumps

        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_bytes(dumps(self.summary()))
        return path

    def report(self) -> Any:
        """The monitoring report (`creditflow.report.Report`): shows in Jupyter, saves as HTML or Excel."""
        from creditflow.monitor.report import build_monitor_report

        return build_monitor_report(self)

    def _repr_html_(self) -> str:
        return self.report()._repr_html_()


def _records(frame: pd.DataFrame | None) -> list[dict]:
    if frame is None or frame.empty:
        return []
    return json.loads(frame.to_json(orient="records", double_precision=10))


def _labels(batch: Batch, bundle: Any, labels: Any, target: str | None, bad: Any, id: str | None,
            encoding: str | None = None) -> None:
    """Attach outcomes to the batch: from a labels table joined by id, or from a target column in the data."""
    schema = bundle.files.get("schema.json", {})
    training = bundle.metadata.get("training", {})
    frame = batch.frame
    if labels is not None:
        trained_id = schema.get("id_column") or training.get("id_column")
        lab, lab_file = read_data(labels, encoding, ids=[c for c in (id, *batch.id_columns, trained_id) if c],
                                  sheet_option=None)
        if batch.id_columns:  # the audit log: joined on application_id, else request_id
            id_col = _audit_join_column(batch, lab, id, lab_file)
        else:
            id_col = id or trained_id
            if id_col is None:
                raise DataError("labels are joined by id: pass --id COLUMN", file=lab_file)
            if id is None:
                batch.notes.append(f"labels joined on the training id column '{id_col}' recorded in the bundle")
        trained_target = schema.get("target") or training.get("target")
        if target is None and trained_target is not None:
            batch.notes.append(f"outcomes read from the training target column '{trained_target}' (recorded in the "
                               f"bundle) of {lab_file or 'the labels'}")
        target = target or trained_target
        if target is None:
            raise DataError("name the outcome column of the labels with --target", file=lab_file)
        batch.y, notes = join_labels(frame, id_col, lab, target, bad, data_file=batch.source, labels_file=lab_file,
                                     default_bad=training.get("bad"))
        batch.notes.extend(notes)
        return
    default = schema.get("target") or training.get("target")
    col = target or (default if default in frame.columns else None)
    if col is None:
        return
    if col not in frame.columns:
        raise DataError("target column not found in the data", file=batch.source, column=col)
    batch.y = encode_labels(frame[col], bad, file=batch.source, default_bad=training.get("bad"))
    if target is None:
        batch.notes.append(f"outcomes read from the training target column '{col}' found in the data")


def _audit_join_column(batch: Batch, labels: pd.DataFrame, id: str | None, labels_file: str | None) -> str:
    """The column the audit log is joined to the labels on: `id` when the log has it (application_id,
    request_id or a field of the logged input), else application_id, else request_id, whichever the labels have."""
    joins = " and ".join(batch.id_columns)
    if id is not None:
        if id not in batch.frame.columns:
            raise DataError(f"--id names a column the audit log does not have: with --audit the labels are joined "
                            f"on application_id, else request_id (this log has {joins}), or on a field of the "
                            f"logged input; the labels' id column must carry that name", file=batch.source,
                            column=id, hint=f"rename the labels' id column to {batch.id_columns[0]} and leave out --id")
        return id
    joinable = [c for c in batch.id_columns if c in labels.columns]
    if not joinable:
        raise DataError(f"the audit log is joined to the labels on application_id, else request_id (this log has "
                        f"{joins}), and the labels have neither; columns are {list(labels.columns)[:12]}",
                        file=labels_file, hint=f"name the labels' id column {batch.id_columns[0]}")
    batch.notes.append(f"labels joined to the audit log on {joinable[0]}")
    return joinable[0]


def load_batch(bundle: Any, data: Any = None, *, audit: str | None = None, audit_table: str | None = None,
               time: str | None = None, encoding: str | None = None, id: str | None = None,
               sheet: str | int = 0) -> Batch:
    """The rows to monitor: a table (file or DataFrame) or the service's audit log (`audit` URL).

    `id`: the id column (default: the training one), read as written from a file; `sheet`: of a workbook."""
    if (data is None) == (audit is None):
        raise DataError("monitor needs exactly one source: a DATA table or --audit URL")
    if audit is not None:
        from creditflow.monitor.audit import read_audit

        batch = read_audit(audit, bundle, table=audit_table)
    else:
        schema = bundle.files.get("schema.json", {})
        id_col = id or schema.get("id_column") or bundle.metadata.get("training", {}).get("id_column")
        ids = [id_col] if id_col and id_col not in bundle.model.features_ else None
        frame, source = read_data(data, encoding, text_columns(schema), ids, sheet=sheet)
        with naming_sheet(source, sheet):  # the columns may be on another sheet
            check_columns(frame, list(bundle.model.features_), source)
        batch = Batch(frame=frame, source=source or "DataFrame")
    if len(batch.frame) == 0:
        raise DataError("no rows to monitor", file=batch.source)
    training_time = bundle.metadata.get("training", {}).get("time_column")
    col = time or (training_time if training_time in batch.frame.columns else None)
    if col is not None and batch.period_codes is None:
        if col not in batch.frame.columns:
            raise DataError("time column not found in the data", file=batch.source, column=col)
        with located(batch.source, col):  # ambiguous day/month dates
            batch.period_codes, batch.periods = period_codes(batch.frame[col])
        note = undated_note(batch.frame[col], batch.period_codes, batch.periods)
        if note:
            batch.notes.append(note)
        if time is None:
            batch.notes.append(f"periods from the training time column '{col}' found in the data")
    return batch


def monitor(
    model: Any,
    data: Any = None,
    *,
    audit: str | None = None,
    audit_table: str | None = None,
    labels: Any = None,
    target: str | None = None,
    bad: Any = None,
    id: str | None = None,
    time: str | None = None,
    policy: Any = None,
    reference: Any = None,
    thresholds: Thresholds | None = None,
    encoding: str | None = None,
    sheet: str | int = 0,
) -> MonitorResult:
    """Monitor a bundle (directory or loaded `Bundle`; or a fitted model with `reference`) on a table or its
    audit log against its baseline.

    `labels`: a table of outcomes joined on `id` (`target` names its outcome column); without it a
    `target` column in the data is used. `time`: column whose calendar month (or value) is the period.
    `policy`: a decision policy file whose decision mix is compared with training's. `reference`: a
    table to build the baseline from instead of the bundle's `baseline.json`. `encoding`: of CSV inputs
    (default UTF-8, then GBK/GB18030). `sheet`: the sheet of a `data` workbook (name or 0-based position).
    """
    from creditflow.bundle import Bundle, load_bundle

    thresholds = thresholds or Thresholds()
    thresholds.check()
    if isinstance(model, Bundle):
        bundle = model
    elif isinstance(model, (str, Path)):
        bundle = load_bundle(model)
    elif hasattr(model, "scores") and hasattr(model, "features_"):  # a fitted model, as a notebook holds it
        if reference is None:
            raise CreditflowError("a fitted model carries no training baseline: pass reference= (its training "
                                  "table) or monitor its bundle (the directory save_bundle or train wrote)")
        bundle = Bundle(path=Path("."), model=model)
    else:
        raise CreditflowError(f"model must be a bundle directory, a loaded Bundle or a fitted model, not "
                              f"{type(model).__name__}")
    mdl = bundle.model
    ref = None
    if reference is not None:
        ref, ref_source = read_data(reference, encoding, text_columns(bundle.files.get("schema.json", {})),
                                    sheet_option=None)
        check_columns(ref, list(mdl.features_), ref_source)
        trained = bundle.metadata.get("training", {})
        roles = [c for c in (id, target, time, trained.get("id_column"), trained.get("target"), trained.get("time_column"))
                 if c]  # ids, outcomes and times change by nature: not monitored
        with located(ref_source):
            baseline = fit_baseline(mdl, ref, exclude=roles)
        note = f"baseline built from the reference table {ref_source or 'DataFrame'} ({len(ref):,} rows)"
    else:
        baseline = load_baseline(bundle)
        note = f"baseline: the {baseline.rows:,} training rows stored in the bundle"
    batch = load_batch(bundle, data, audit=audit, audit_table=audit_table, time=time, encoding=encoding, id=id,
                       sheet=sheet)
    gone = [v.name for v in baseline.variables if v.name not in batch.frame.columns]
    if gone:  # model inputs are refused by load_batch; these are the other columns of the training table
        batch.notes.append(f"{len(gone)} column(s) of the baseline are not in the data and are not monitored: "
                           f"{', '.join(gone[:10])}{', ...' if len(gone) > 10 else ''}")
    with located(batch.source):  # the model names the column and row; the file is known here
        scores = mdl.scores(batch.frame)
    audited = None
    if batch.stored is not None:  # every logged decision is checked against the rescoring
        from creditflow.monitor.audit import compare_stored

        audited = compare_stored(batch.stored, scores)
        if policy is not None:  # and every logged decision against the policy's, under its version
            from creditflow.monitor.audit import compare_decisions

            audited.update(compare_decisions(batch.stored, policy, batch.frame, scores))
    if batch.rows is not None:  # a re-decided application counts once: its latest decision
        scores = scores.loc[batch.rows].reset_index(drop=True)
        batch = batch.counted()
    _labels(batch, bundle, labels, target, bad, id, encoding)
    codes = batch.period_codes if len(batch.periods) > 1 else None
    periods = batch.periods if codes is not None else []
    scored = Scored.from_scores(scores, [g.grade for g in baseline.grades], getattr(mdl, "grades_", None))
    with located(batch.source):  # a watched column the model does not use is read here first
        drift = measure_drift(baseline, batch.frame, scored, thresholds, codes, periods)
    perf = None
    if batch.y is not None and batch.labelled:
        perf = measure_performance(baseline, scored, batch.y, codes, periods,
                                   held_out=None if reference is not None else bundle.metadata.get("metrics"))
    elif batch.y is not None:
        batch.notes.append("no row has a known outcome yet: realised performance is not shown")
    decisions = None
    if policy is not None:
        from creditflow.monitor.decisions import decision_mix

        decisions = decision_mix(policy, bundle, baseline, batch, scores, ref)
    result = MonitorResult(
        model_type=baseline.model_type, model_version=bundle.model_version, source=batch.source,
        rows=len(batch.frame), baseline=baseline, drift=drift, thresholds=thresholds,
        mean_score=float(scored.score.mean()), performance=perf, decisions=decisions, periods=periods,
        notes=[note, *batch.notes],
    )
    result.audit = audited
    from creditflow.monitor.findings import findings

    result.findings = findings(result)
    if result.sample_note:
        result.notes.insert(0, result.sample_note)
    return result


def exit_code_of(status: str) -> int:
    """Exit status for a scheduler: 0 stable, 3 warning, 4 alert, 5 insufficient data."""
    return EXIT_CODES[status]


__all__ = ["MonitorResult", "Thresholds", "exit_code_of", "monitor"]
