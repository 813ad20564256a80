"""`creditflow compare`: champion against challenger on the same labelled data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.table import Table

from creditflow.cli.app import (
    command,
    console,
    encoding_option,
    err_console,
    refuse_overwriting_input,
    sheet_option,
)
from creditflow.data.errors import CreditflowError, located


@command("compare")
def compare_cmd(
    champion: Path = typer.Argument(..., help="Champion model bundle directory."),
    challenger: Path = typer.Argument(..., help="Challenger model bundle directory."),
    data: Path = typer.Argument(..., help="Labelled table (CSV, Parquet or Excel)."),
    target: str | None = typer.Option(None, "--target", help="Target column (default: the champion's training target)."),
    bad: str | None = typer.Option(None, "--bad", help="Value of the target that means bad (needed unless the values are a known pair: 0/1, good/bad, yes/no, 正常/逾期)."),
    cutoff: float | None = typer.Option(None, "--cutoff", help="Approve at or above this score (default: the "
                                                               "champion's base score)."),
    out: Path | None = typer.Option(None, "--out", help="Write the comparison: .json or .html."),
    split: bool = typer.Option(False, "--split", help="DATA is the training table: compare on the rows training "
                                                      "held out (test, and out-of-time with a time column), split "
                                                      "with the champion's seed as training did."),
    encoding: str | None = encoding_option(),
    sheet: str | None = sheet_option(),
) -> None:
    """AUC (DeLong test), KS, calibration, score PSI and the swap set at a cutoff of two models on the same rows."""
    from creditflow.bundle import load_bundle
    from creditflow.data.excel import naming_sheet
    from creditflow.data.io import read_frame, read_table, text_columns
    from creditflow.data.output import atomic_path
    from creditflow.evaluation.compare import compare_models

    if out is not None and out.suffix.lower() not in {".json", ".html"}:
        raise CreditflowError("unsupported output format; use .json or .html", file=str(out))
    refuse_overwriting_input(out, data, "the table being compared on")
    a, b = load_bundle(champion), load_bundle(challenger)
    target = target or a.files.get("schema.json", {}).get("target")
    if not target:
        raise CreditflowError("the champion bundle does not record its target; pass --target", file=str(champion))
    at = sheet if sheet is not None else 0
    frame = read_frame(data, encoding=encoding, sheet=at,
                       text=[*text_columns(a.files.get("schema.json", {})), *text_columns(b.files.get("schema.json", {}))])
    with naming_sheet(data, at):  # the columns may be on another sheet
        for bundle, path in ((a, champion), (b, challenger)):
            lacking = [v for v in bundle.model.features_ if v not in frame.columns]
            if lacking:
                raise CreditflowError(f"{len(lacking)} column(s) of the model {path} missing: {lacking[:10]}",
                                      file=str(data), column=lacking[0])
    training = a.metadata.get("training", {})
    time = _check_split(a, b, champion, challenger, frame, str(data)) if split else None
    # only the two models' inputs are features: other columns are not checked
    with located(str(data)), naming_sheet(data, at):
        ds = read_table(frame, target, bad=bad, features=list(dict.fromkeys([*a.model.features_, *b.model.features_])),
                        default_bad=training.get("bad"), time=time)
    ds.source = str(data)
    samples = None
    if split:
        role = ds.roles(test_size=float(training["test_size"]), seed=int(training["seed"]))
        held = np.flatnonzero(role != 0)
        ds = ds.subset(held)
        if (role == 2).any():  # test and out-of-time: each compared on its own too, beside the pooled rows
            samples = np.where(role[held] == 2, "oot", "test")
        console.print(f"--split: comparing on the {len(ds):,} rows training held out", highlight=False)
    else:
        _warn_if_training_table(len(ds), ((a, champion), (b, challenger)), str(data))
    with located(str(data)):  # the models name the column and row
        result = compare_models(a, b, ds, cutoff=cutoff, samples=samples)
    _print(result)
    if out is not None:
        with atomic_path(out) as tmp:
            if out.suffix.lower() == ".html":
                tmp.write_text(result.to_html(), encoding="utf-8")
            else:
                tmp.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        console.print(f"comparison: [bold]{out}[/]")


def _training_rows(bundle: Any) -> int:
    """Rows of the table `creditflow train` split for this bundle (0 when it records none)."""
    rows = bundle.metadata.get("training", {}).get("rows") or {}
    return sum(int(n) for n in rows.values()) if isinstance(rows, dict) else 0


def _check_split(a: Any, b: Any, champion: Path, challenger: Path, frame: Any, data: str) -> str | None:
    """Refuse --split unless it can rebuild the split both models were trained on from this table; the time
    column to read (the out-of-time rows are held out by it), if training had one."""
    training = a.metadata.get("training") or {}
    if not {"seed", "test_size", "rows"} <= set(training):
        raise CreditflowError("--split: the champion records no training split (a bundle not written by "
                              "creditflow train): compare on a holdout table instead", file=str(champion))
    keys = ("seed", "test_size", "time_column", "rows")
    other = b.metadata.get("training") or {}
    differ = [k for k in keys if other.get(k) != training.get(k)]
    if differ:
        raise CreditflowError(f"--split: the challenger was trained on another split ({', '.join(differ)} differ "
                              "from the champion's): rows the champion held out trained it; compare on a holdout "
                              "table neither model saw", file=str(challenger))
    if len(frame) != _training_rows(a):
        raise CreditflowError(f"--split needs the training table ({_training_rows(a):,} rows); this one has "
                              f"{len(frame):,}", file=data)
    time = training.get("time_column")
    if time and time not in frame.columns:
        raise CreditflowError("--split: the table lacks the time column training held its out-of-time rows out by",
                              file=data, column=time)
    return time


def _warn_if_training_table(rows: int, bundles: tuple[tuple[Any, Path], ...], data: str) -> None:
    """A table as long as a model's training table is most likely that table: its training rows flatter the
    model (and the comparison leans its way), so say so and point to --split."""
    for bundle, path in bundles:
        if rows == _training_rows(bundle):
            err_console.print(f"[yellow]warning:[/] file '{data}' has as many rows as the training table of {path} "
                              f"({rows:,}): if it is that table, most rows trained that model and the comparison "
                              "flatters it; pass --split to compare on the rows training held out",
                              highlight=False, soft_wrap=True)
            return


def _print(result) -> None:
    t = Table(title=f"champion vs challenger on {result.rows:,} rows (bad rate {result.bad_rate:.4f})",
              title_justify="left")
    for col in ("model", "type", "AUC", "95% CI", "KS", "Gini", "HL p", "mean PD", f"approve >= {result.cutoff:g}"):
        # fold, never cut: a narrow terminal must not turn 0.0438 into "4.38…"
        t.add_column(col, justify="left" if col in ("model", "type") else "right", overflow="fold")
    for r in result.summary.to_dict(orient="records"):
        t.add_row(r["model"], r["model_type"], f"{r['auc']:.4f}", f"{r['auc_low']:.4f}-{r['auc_high']:.4f}",
                  f"{r['ks']:.4f}", f"{r['gini']:.4f}", f"{r['hl_p_value']:.3g}", f"{r['mean_probability']:.4f}",
                  f"{r['approval_rate']:.1%}")
    console.print(t)
    d = result.delong
    console.print(f"DeLong: AUC difference {d['difference']:+.4f} (challenger - champion), z = {d['z']:.2f}, "
                  f"p = {d['p_value']:.3g};  score PSI {result.psi_value:.4f}")
    s = Table(title=f"swap set at cutoff {result.cutoff:g}", title_justify="left")
    for col in ("segment", "champion", "challenger", "count", "share", "bads", "bad rate"):
        s.add_column(col, justify="left" if col in ("segment", "champion", "challenger") else "right", overflow="fold")
    for r in result.swap.to_dict(orient="records"):
        rate = "" if r["bad_rate"] != r["bad_rate"] else f"{r['bad_rate']:.4f}"
        s.add_row(r["segment"], r["champion"], r["challenger"], f"{r['count']:,}", f"{r['share']:.1%}",
                  f"{r['bads']:,}", rate)
    console.print(s)
    if result.samples:
        _print_samples(result)
    for note in result.notes:
        err_console.print(f"[yellow]note:[/] {note}")


def _print_samples(result) -> None:
    """The comparison on each sample's rows (test, oot) beside the pooled one."""
    t = Table(title=f"by sample (challenger - champion; approval and swap set at cutoff {result.cutoff:g})",
              title_justify="left")
    for col in ("sample", "rows", "bad rate", "AUC champion", "AUC challenger", "AUC diff", "z", "p",
                "approve champion", "approve challenger", "swap-in (bad rate)", "swap-out (bad rate)"):
        t.add_column(col, justify="left" if col == "sample" else "right", overflow="fold")

    def rate(v: float) -> str:
        return "-" if v != v else f"{v:.1%}"

    for r in result.by_sample().to_dict(orient="records"):
        t.add_row(r["sample"], f"{r['rows']:,}", f"{r['bad_rate']:.4f}", f"{r['auc_champion']:.4f}",
                  f"{r['auc_challenger']:.4f}", f"{r['difference']:+.4f}", f"{r['z']:.2f}", f"{r['p_value']:.3g}",
                  f"{r['approval_rate_champion']:.1%}", f"{r['approval_rate_challenger']:.1%}",
                  f"{r['swap_in']:,} ({rate(r['swap_in_bad_rate'])})",
                  f"{r['swap_out']:,} ({rate(r['swap_out_bad_rate'])})")
    console.print(t)
