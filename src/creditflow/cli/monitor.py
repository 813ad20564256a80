"""`creditflow monitor`: drift, stability and realised performance of a live model, with exit codes
for schedulers (0 stable, 3 warning, 4 alert, 5 too few rows to judge; 2 bad input)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from creditflow.cli.app import (
    command,
    console,
    encoding_option,
    err_console,
    refuse_directory_outputs,
    refuse_overwriting_inputs,
    sheet_option,
    working,
)
from creditflow.data.errors import DataError

STYLE = {"stable": "green", "warn": "yellow", "alert": "bold red", "info": "dim", "insufficient": "bold yellow"}


def _print(result) -> None:  # noqa: ANN001 - MonitorResult, imported lazily
    d = result.drift
    style = STYLE[result.status]
    console.print(f"[{style}]{result.status.upper()}[/] · {result.rows:,} rows from {result.source} · "
                  f"score PSI {d.score_psi:.3f} · mean score {result.mean_score:.0f} "
                  f"(training {result.baseline.mean_score:.0f})", highlight=False)
    moved = result.findings[result.findings["level"].isin(["warn", "alert"])]
    if len(moved):
        table = Table(title=_headline(moved, result.thresholds), title_justify="left")
        for col in ("level", "area", "period", "item", "value", "message"):
            table.add_column(col, justify="right" if col == "value" else "left")
        info = result.findings[result.findings["level"] == "info"]
        why = info.groupby(["item", "period"], sort=False)["message"].agg("; ".join).to_dict()
        for r in moved.head(20).itertuples(index=False):
            # the info findings on the same column and period say why it moved (missing rate, new categories)
            message = r.message + (f" — {why[r.item, r.period]}" if (r.item, r.period) in why else "")
            table.add_row(f"[{STYLE[r.level]}]{r.level}[/]", r.area, r.period, r.item, f"{r.value:.3f}",
                          message if r.counts else f"[dim]{message}[/]")
        console.print(table)
    if result.performance is not None:
        s = result.performance.summary
        rank = (f"AUC {s['auc']:.3f}, KS {s['ks']:.3f}" if s["auc"] == s["auc"]
                else "AUC and KS n/a (the labelled rows hold one class)")
        console.print(f"labelled {s['labelled']:,} rows: bad rate {s['bad_rate']:.2%}, {rank}", highlight=False)
    for note in result.notes:
        err_console.print(f"[dim]note:[/] {note}", highlight=False, soft_wrap=True)


def _headline(moved, thresholds) -> str:  # noqa: ANN001 - the findings at warn or alert, Thresholds
    """How many findings are at warn or alert, and, when some do not raise the status, how many do and why."""
    title = f"{len(moved)} finding(s) at warn or alert"
    counted = int(moved["counts"].sum())
    if counted == len(moved):
        return title
    shown_only = moved[~moved["counts"].astype(bool)]
    other = shown_only["area"] == "other column"
    in_period = shown_only["period"].astype(str) != ""  # a period's finding counts by the rows of that period
    why = (["too few rows"] if (~other & ~in_period).any() else []) + \
        ([f"their periods have fewer than --min-period-rows {thresholds.min_period_rows:,} rows"]
         if (~other & in_period).any() else []) + \
        (["not a model input"] if other.any() else [])
    why_text = " / ".join(why)
    return f"{title}, none counted: {why_text}" if counted == 0 else f"{title}, {counted:,} counted (the others: {why_text})"


@command("monitor")
def monitor_cmd(
    model_dir: Path = typer.Argument(..., help="Model bundle directory (DIR/model from train)."),
    data: Path | None = typer.Argument(None, help="Recent rows to monitor: CSV, Parquet or Excel (or use --audit)."),
    audit: str | None = typer.Option(None, "--audit", help="The service's audit database instead of DATA: a SQLite "
                                                           "path / sqlite:///... URL or postgresql://..."),
    audit_table: str | None = typer.Option(None, "--audit-table", help="Audit table name (default: decisions, else audit or audit_log)."),
    labels: Path | None = typer.Option(None, "--labels", help="Outcomes that arrived later, joined to DATA by --id."),
    target: str | None = typer.Option(None, "--target", help="Outcome column (in --labels, or in DATA)."),
    bad: str | None = typer.Option(None, "--bad", help="Outcome value that means bad (needed unless the values are a known pair: 0/1, good/bad, yes/no, 正常/逾期)."),
    id: str | None = typer.Option(None, "--id", help="Id column joining DATA and --labels (default: the training one)."),
    time: str | None = typer.Option(None, "--time", help="Time column: results per calendar month (or value)."),
    policy: Path | None = typer.Option(None, "--policy", help="Decision policy file: compare the decision mix."),
    reference: Path | None = typer.Option(None, "--reference", help="Build the baseline from this table instead of "
                                                                     "the bundle's baseline.json."),
    out: Path = typer.Option(Path("monitor.html"), "--out", help="HTML report to write (self-contained)."),
    xlsx: Path | None = typer.Option(None, "--xlsx", help="Also write the tables to this Excel workbook."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write a JSON summary (status, PSI, CSI, ...)."),
    warn: float = typer.Option(0.10, "--warn", help="PSI/CSI at or above this is a warning (exit 3)."),
    alert: float = typer.Option(0.25, "--alert", help="PSI/CSI at or above this is an alert (exit 4)."),
    min_period_rows: int = typer.Option(1000, "--min-period-rows", help="Smaller periods are shown but do not "
                                                                        "raise the status."),
    min_rows: int = typer.Option(500, "--min-rows", help="With fewer rows in all, drift is not judged (exit 5)."),
    encoding: str | None = encoding_option(),
    sheet: str | None = sheet_option("of DATA "),
) -> None:
    """Compare recent rows (or the audit log) with the model's training baseline; exit 0 stable, 3 warn, 4 alert, 5 too few rows."""
    from creditflow.monitor import Thresholds, monitor

    if sheet is not None and data is None:
        raise DataError("--sheet chooses the sheet of the DATA table: with --audit there is none")
    if out.suffix.lower() not in {".html", ".htm"}:
        raise DataError("the report must be an .html file", file=str(out))
    if xlsx is not None and xlsx.suffix.lower() != ".xlsx":
        raise DataError("the workbook must be an .xlsx file", file=str(xlsx))
    audit_file = Path(audit.removeprefix("sqlite:///")) if audit and ("://" not in audit or
                                                                      audit.startswith("sqlite:///")) else None
    refuse_overwriting_inputs({"--out": out, "--xlsx": xlsx, "--json": json_out},
                              {"the table being monitored": data, "the --labels table": labels,
                               "the --reference table": reference, "the --policy file": policy,
                               "the --audit database": audit_file})
    refuse_directory_outputs({"--out": out, "--xlsx": xlsx, "--json": json_out})
    thresholds = Thresholds(warn=warn, alert=alert, min_period_rows=min_period_rows, min_rows=min_rows)
    with working(f"monitoring {data if data is not None else audit}"):
        result = monitor(model_dir, data, audit=audit, audit_table=audit_table, labels=labels, target=target, bad=bad,
                         id=id, time=time, policy=policy, reference=reference, thresholds=thresholds,
                         encoding=encoding, sheet=sheet if sheet is not None else 0)
        report = result.report()
        report.to_html(out)
        written = [str(out)]
        if xlsx is not None:
            report.to_excel(xlsx)
            written.append(str(xlsx))
        if json_out is not None:
            result.to_json(json_out)
            written.append(str(json_out))
    _print(result)
    console.print("written: " + ", ".join(f"[bold]{w}[/]" for w in written))
    raise typer.Exit(result.exit_code)
