"""`creditflow train`, `score` and `demo`."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from creditflow.cli.app import (
    check_output_dir,
    command,
    console,
    encoding_option,
    err_console,
    fail,
    refuse_directory_outputs,
    refuse_overwriting_inputs,
    require_extra,
    sheet_option,
    warn_repeated_ids,
    warn_text_dates,
    warn_text_numbers,
    working,
)
from creditflow.data.dictionary import FieldDictionary
from creditflow.data.errors import CreditflowError, ProtectedVariableWarning
from creditflow.data.io import Dataset, read_table
from creditflow.workflow import TrainResult, score_table, train


def _progress_train(data, out: Path, kind: str, seed: int, params: dict | None = None,
                    report: bool = True, reasons: dict | None = None) -> TrainResult:
    if kind == "gbdt":  # it says which candidate or fold it fits: no count of columns to fill a bar with
        columns = [SpinnerColumn(), TextColumn("[bold]training gbdt[/] {task.fields[var]}"), TimeElapsedColumn()]
    else:
        columns = [TextColumn("[bold]binning[/] {task.fields[var]}"), BarColumn(),
                   TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn()]
    with Progress(
        *columns, console=err_console, transient=True,
        disable=not err_console.is_terminal,  # a bar in a pipe or log only leaves a blank line behind
    ) as bar:
        task = bar.add_task("binning", total=None if kind == "gbdt" else data.X.shape[1], var="")

        def tick(var: str) -> None:
            if kind == "gbdt":
                bar.update(task, var=var, refresh=True)
                return
            bar.update(task, advance=1, var=var)
            if bar.tasks[0].completed >= data.X.shape[1]:  # the bar stays while the rest of the fit runs
                bar.update(task, var="done; selecting, fitting, evaluating and writing")

        with warnings.catch_warnings():  # `_summary` prints them below the model's table
            warnings.simplefilter("ignore", ProtectedVariableWarning)
            return train(data, out, kind=kind, seed=seed, progress=tick, params=params, report=report,
                         reasons=reasons, force=True)  # the command checked --out (and --force) before the work


def _summary(result: TrainResult, report: bool = True) -> None:
    table = Table(title="creditflow model", title_justify="left")
    for col in ("split", "rows", "bad rate", "AUC", "KS", "Gini"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for name, m in result.metrics.items():
        table.add_row(name, f"{m.rows:,}", f"{m.bad_rate:.4f}", f"{m.auc:.4f}", f"{m.ks:.4f}", f"{m.gini:.4f}")
    console.print(table)
    model = result.model
    if hasattr(model, "selection_"):
        d = model.dictionary_
        sel = Table(title=f"{len(model.features_)} variables in the model", title_justify="left")
        coefs = getattr(model, "coef_", None)
        for col in ("variable", "meaning", "IV", "coefficient" if coefs is not None else "points range"):
            sel.add_column(col)
        pts = model.points_.groupby("variable")["points"] if coefs is None else None
        for i, var in enumerate(model.features_):
            last = f"{coefs[i]:.3f}" if coefs is not None else f"{pts.get_group(var).min()} to {pts.get_group(var).max()}"
            sel.add_row(var, d.meaning(var), f"{model.iv_[var]:.3f}", last)
        console.print(sel)
        pairs = getattr(model, "pairs_", None) or []
        if pairs:
            tables = Table(title=f"{len(pairs)} interaction table(s): their points are added to the score",
                           title_justify="left")
            for col in ("table", "cells", "points range"):
                tables.add_column(col)
            by_unit = model.points_.groupby("variable")["points"]
            for t in pairs:
                p = by_unit.get_group(t.name)
                tables.add_row(t.name, str(len(p)), f"{p.min()} to {p.max()}")
            console.print(tables)
    from creditflow.binning.variable import identifier_reason
    from creditflow.data.protected import protected_variables
    from creditflow.workflow import protected_warning

    meanings = getattr(model, "dictionary_", None) or FieldDictionary()
    for var, what in protected_variables(model.features_, meanings).items():  # after the table it concerns
        err_console.print(f"[yellow]warning:[/] {escape(protected_warning(var, what, meanings))}", highlight=False,
                          soft_wrap=True)
    left_out = {var: identifier_reason(note) for var, note in getattr(model, "unused_", {}).items()}
    selection = getattr(model, "selection_", None)
    if selection is not None and "step" in selection:
        warn = selection["step"].isin(["identifier", "monotone", "min_bin_share", "merge_points"])
        left_out.update({row.variable: row.reason for row in selection[warn].itertuples()})
    for var, why in left_out.items():
        err_console.print(f"[yellow]warning:[/] column {var!r} left out of the model: {why}")
    if hasattr(model, "grades_"):
        from creditflow.report.model_view import Development
        from creditflow.scoring.scaling import empty_grades

        found = None
        if "train" in result.splits:
            found = empty_grades(model.grades_, model.scores(result.splits["train"].X)["score"].to_numpy(dtype=float))
        elif result.out is not None and (result.out / "model" / "baseline.json").is_file():
            # a cluster run keeps no rows here: the training scores' histogram its baseline stores, as the report reads
            dev = Development.of_files(
                {"baseline.json": json.loads((result.out / "model" / "baseline.json").read_text(encoding="utf-8"))})
            if dev is not None and dev.histogram:
                found = empty_grades(model.grades_, *dev.score_values())
        if found:
            err_console.print(f"[yellow]note:[/] {found[1]}", highlight=False, soft_wrap=True)
    if result.out is not None:
        console.print(f"model bundle: [bold]{result.out / 'model'}[/]   metrics: {result.out / 'metrics.json'}")
        html = result.out / "report.html"
        if report and html.exists():
            console.print(f"validation report: [bold]{html}[/] and {result.out / 'report.xlsx'}")
        elif html.exists():
            err_console.print(f"[yellow]note:[/] {html} is from an earlier run (--no-report leaves it as it was): "
                              "it does not describe this model", highlight=False, soft_wrap=True)


@command("train")
def train_cmd(
    data: Path = typer.Argument(..., help="Training table: CSV (UTF-8/GBK), Parquet or Excel."),
    target: str = typer.Option(..., "--target", help="Target column (overdue / bad flag)."),
    bad: str | None = typer.Option(None, "--bad", help="Value of the target that means bad (needed unless the values are a known pair: 0/1, good/bad, yes/no, 正常/逾期)."),
    id: str | None = typer.Option(None, "--id", help="Id column, carried to scores."),
    time: str | None = typer.Option(None, "--time", help="Time column; the latest periods (at least 10% of rows) are held "
                                                       "out as out-of-time."),
    dictionary: Path | None = typer.Option(None, "--dictionary", help="Field dictionary (CSV/XLSX: variable, meaning)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Columns not to use as features (repeatable)."),
    categorical: list[str] = typer.Option([], "--categorical", help="Columns of codes to bin as categories even "
                                                                    "when they look numeric (repeatable)."),
    model: str = typer.Option("scorecard", "--model", help="Model kind: scorecard (WOE + logistic), "
                                                           "boosted-scorecard (glass-box, boosted points) or gbdt "
                                                           "(LightGBM challenger)."),
    seed: int = typer.Option(42, "--seed", help="Random seed of the split and the model."),
    out: Path = typer.Option(Path("out"), "--out", help="Output directory: model/ and metrics.json."),
    report: bool = typer.Option(True, "--report/--no-report", help="Also write the validation report "
                                                                   "(report.html, report.xlsx)."),
    cluster: str | None = typer.Option(None, "--cluster", help="Run on Dask (Parquet input): local:N or tcp://host:port."),
    protected: list[str] = typer.Option([], "--protected", help="Variables never given as reasons, e.g. SEX,AGE."),
    reason_codes: Path | None = typer.Option(None, "--reason-codes", help="Reason-code table (CSV/XLSX: variable, "
                                                                         "code, text) replacing the defaults."),
    reason_reference: str = typer.Option("auto", "--reason-reference", help="Reasons against: auto, max or p95 (scorecards; "
                                                                           "auto = max for the WOE card, p95 for the boosted "
                                                                           "card), mean (gbdt) or cutoff:SCORE."),
    param: list[str] = typer.Option([], "--param", "-p", help="Model parameter KEY=VALUE (repeatable; VALUE as "
                                                             "JSON or text), e.g. coef_sign=any, binning.max_bins=6, "
                                                             "shape.max_bins=8."),
    encoding: str | None = encoding_option(),
    sheet: str | None = sheet_option(),
    force: bool = typer.Option(False, "--force", help="Replace a model bundle already in DIR/model."),
) -> None:
    """Train a model on a labelled table; write DIR/model (bundle), DIR/metrics.json, DIR/splits.csv and the
    validation report."""
    from creditflow.models.base import MODEL_TYPES
    from creditflow.workflow import model_params

    if model not in MODEL_TYPES:
        fail(f"unknown model kind {model!r}; choose one of {sorted(MODEL_TYPES)}")
    params = model_params(model, param, seed=seed) if param else None
    check_output_dir(out, replace=force)
    if cluster:
        if encoding:
            fail("--encoding applies to CSV input; with --cluster the table is Parquet", file=str(data))
        if sheet is not None:
            fail("--sheet applies to Excel input; with --cluster the table is Parquet", file=str(data))
        if categorical:  # the cluster reads the model's own parameter, which one machine takes too
            fail(f"--categorical is not read with --cluster; declare the code columns with --param "
                 f"'categorical={json.dumps(categorical, ensure_ascii=False)}' instead", file=str(data))
        from creditflow.distributed.cli import train_command

        result = train_command(data, target, bad=bad, id=id, time_column=time, dictionary=dictionary,
                               exclude=exclude, kind=model, seed=seed, out=out, cluster=cluster, report=report,
                               params=params, reasons={"protected": protected, "codes": reason_codes,
                                                       "reference": reason_reference})
        return _summary(result, report=False)  # a cluster run writes no report
    # --param categorical=[...] (the cluster's way) declares codes as --categorical does: read as written too,
    # so both give the same bins and the same input schema (text)
    named = (params or {}).get("categorical")
    if isinstance(named, list) and all(isinstance(c, str) for c in named):
        categorical = list(dict.fromkeys([*categorical, *named]))
    # an --exclude name that is not a column is refused by read_table (a typo would leave it in the model)
    with working(f"reading {data}"):
        ds = read_table(data, target, bad=bad, id=id, time=time, dictionary=dictionary, exclude=exclude,
                        encoding=encoding, categorical=categorical, sheet=sheet if sheet is not None else 0)
    if ds.time is not None:
        _time_note(ds)
    _input_notes(ds, data, categorical or [])
    if dictionary is not None and not set(ds.dictionary.meanings) & set(ds.X.columns):
        err_console.print(f"[yellow]warning:[/] the dictionary '{dictionary}' explains none of the columns of "
                          f"'{data}' (it names e.g. {sorted(ds.dictionary.meanings)[:3]}): is it the right file?",
                          highlight=False, soft_wrap=True)
    if ds.dictionary.case_matched:
        pairs = list(ds.dictionary.case_matched.items())
        shown = ", ".join(f"{a} as {b}" for a, b in pairs[:3]) + (", ..." if len(pairs) > 3 else "")
        err_console.print(f"[yellow]note:[/] the dictionary '{dictionary}' names {len(pairs)} column(s) with another "
                          f"case than '{data}' does ({shown}): matched regardless of case", highlight=False,
                          soft_wrap=True)
    names = [p.strip() for item in protected for p in item.split(",") if p.strip()]
    lacking = [p for p in names if p not in ds.X.columns]
    if lacking:
        raise CreditflowError(f"protected variable(s) not among the features: {lacking}", file=str(data),
                              column=lacking[0])
    reasons = {"protected": names, "codes": reason_codes, "reference": reason_reference}
    result = _progress_train(ds, out, model, seed, params=params, report=report, reasons=reasons)
    _summary(result, report=report)
    if dictionary is not None and set(ds.dictionary.meanings) & set(ds.X.columns):
        _unexplained_note(dictionary, [v for v in getattr(result.model, "features_", []) if v not in ds.dictionary])


def _unexplained_note(dictionary: Path, lacking: list[str]) -> None:
    """Warn of model variables the dictionary gives no meaning (their tables, report and reasons show bare names)."""
    if lacking:
        shown = ", ".join(lacking[:5]) + (", ..." if len(lacking) > 5 else "")
        err_console.print(f"[yellow]warning:[/] the dictionary '{dictionary}' gives no meaning for {len(lacking)} model "
                          f"variable(s): {shown}; their tables, report and reason texts show the bare name",
                          highlight=False, soft_wrap=True)


@command("score")
def score_cmd(
    model_dir: Path = typer.Argument(..., help="Model bundle directory (DIR/model from train)."),
    data: Path = typer.Argument(..., help="Table to score."),
    out: Path = typer.Option(..., "--out", help="Output file (.csv, .parquet or .xlsx)."),
    cluster: str | None = typer.Option(None, "--cluster", help="Run on Dask: local:N or tcp://host:port; "
                                                               "--out is then a directory of Parquet parts."),
    reasons: bool = typer.Option(True, "--reasons/--no-reasons", help="Add reason_1..4 code and text columns."),
    points: bool = typer.Option(False, "--points", help="Scorecards: add base_points and points_<variable> columns "
                                                        "(they add up to the score before clipping)."),
    id: str | None = typer.Option(None, "--id", help="Column to carry to the scores as the id (default: the id "
                                                     "column the model was trained with)."),
    allow_unseen: bool = typer.Option(False, "--allow-unseen", help="Score a categorical column even when every "
                                                                    "value is unseen in training (else refused)."),
    policy: Path | None = typer.Option(None, "--policy", help="Lending policy YAML: also decide each row as "
                                                              "`policy simulate --out` and the service do (columns "
                                                              "decision, score_decision, rules_fired)."),
    encoding: str | None = encoding_option(),
    sheet: str | None = sheet_option(),
) -> None:
    """Score a table: id, probability (of bad), score (350-950, higher is better) and grade per row, in input order.

    The id column is --id, else the one the model was trained with; when the table lacks the training
    id the scores carry no id (a warning says so) and stay in input order. With --policy, each row's
    decision too."""
    from creditflow.bundle import load_bundle

    refuse_overwriting_inputs({"--out": out}, {"the table being scored": data, "the policy file": policy})
    if cluster and policy is not None:
        fail("--policy is not available with --cluster: decide on one machine (`creditflow score MODEL DATA --out "
             "FILE --policy POLICY`, or `creditflow policy simulate POLICY MODEL DATA --out FILE`)", file=str(data))
    if cluster:
        from creditflow.distributed.cli import score_command

        if encoding:
            fail("--encoding applies to CSV input; with --cluster the table is Parquet", file=str(data))
        if sheet is not None:
            fail("--sheet applies to Excel input; with --cluster the table is Parquet", file=str(data))
        if points:
            fail("--points is not available with --cluster", file=str(data))
        return score_command(model_dir, data, out, cluster, reasons=reasons, id_column=id, allow_unseen=allow_unseen)
    refuse_directory_outputs({"--out": out})  # (with --cluster --out is a directory of parts)
    from creditflow.data.output import check_frame_path

    check_frame_path(out)  # not only when the scores are written, after the whole table
    bundle = load_bundle(model_dir)  # a wrong bundle path fails before a big table is read
    pol = fields = frame = None
    if policy is not None:  # checked against the model as `policy simulate` and the service check it
        require_extra("service", "pydantic", command="creditflow score --policy")
        from creditflow.cli.policy import policy_fields
        from creditflow.policy import load_policy

        pol = load_policy(policy)
        fields = policy_fields(pol, bundle)
    at = sheet if sheet is not None else 0
    with working(f"scoring {data}"):
        table: Path | object = data
        if pol is not None:  # read here, for the rows the service would refuse (below)
            from creditflow.workflow import read_for_scoring

            table = frame = read_for_scoring(bundle, data, id_column=id, encoding=encoding, sheet=at, policy=pol)
        scored = score_table(bundle, table, out, id_column=id, reasons=reasons, encoding=encoding, points=points,
                             allow_unseen=allow_unseen, sheet=at, policy=pol, source=str(data))
    console.print(f"scored {len(scored):,} rows -> [bold]{out}[/]")
    id_col = id or bundle.files.get("schema.json", {}).get("id_column")
    if id_col and id_col not in scored.columns:
        missing_id_warning(data, id_col)
    # with a policy, the rows the service would refuse are counted per field, nullable declarations included
    missing_warnings(data, scored.attrs.get("all_missing", {}),
                     scored.attrs.get("untrained_missing", {}) if pol is None else {})
    if pol is not None:
        from creditflow.cli.policy import decision_mix, note_absent, warn_refused

        console.print(decision_mix(scored["decision"].to_numpy(), scored["rules_fired"].to_numpy(), pol.version),
                      highlight=False, soft_wrap=True)
        note_absent(scored.attrs.get("absent", []), data)
        warn_refused(frame, fields, str(data))
    for var, n in scored.attrs.get("unseen", {}).items():
        err_console.print(f"[yellow]note:[/] column '{var}': {n} row(s) with categories unseen in training "
                          "scored as unseen (the Unseen bin, or the trees' other branch)")


def missing_warnings(data: Path, all_missing: dict, untrained_missing: dict) -> None:
    """Warn of model inputs blank on every scored row, or missing on rows though on no training row
    (`workflow.missing_notes`)."""
    for var, rate in all_missing.items():
        was = f" (missing in {rate:.1%} of the training rows)" if isinstance(rate, float) else ""
        err_console.print(f"[yellow]warning:[/] column '{var}' is blank on every row of '{data}'{was}: each row was "
                          "scored as missing (its Missing bin's points, or the trees' missing-value branch); check the "
                          "column was not dropped upstream",
                          highlight=False, soft_wrap=True)
    for var, n in untrained_missing.items():
        err_console.print(f"[yellow]warning:[/] column '{var}' is missing in {n:,} row(s) of '{data}' but in no training "
                          "row: they were scored as missing (its Missing bin's points, or the trees' missing-value branch), "
                          "as no training row was; the service refuses "
                          "such requests with 422 (unless the policy declares the field nullable)",
                          highlight=False, soft_wrap=True)


def _input_notes(ds: Dataset, data: Path, categorical: list[str]) -> None:
    """Warn of repeated ids (one applicant could fall in both train and test) and of text columns that hold
    only numbers (a Parquet string column: binned as categories, unlike the same values in a CSV)."""
    import pandas as pd

    if ds.ids is not None:
        ids = ds.ids
        repeated = (ids.duplicated(keep=False) & ids.notna()).to_numpy()  # blank ids are not repeats
        if repeated.any():
            first_pos = int(repeated.nonzero()[0][0])
            first = ids.iloc[first_pos]
            again = int(((ids == first).to_numpy() & repeated).nonzero()[0][1])
            n = int(ids[ids.notna()].duplicated().sum())
            warn_repeated_ids(data, ds.id_column, n, first, f" in rows {first_pos + 1} and {again + 1}")
    from creditflow.data.io import dates_as_text, first_distinct, text_numbers

    for col in ds.X.columns:
        s = ds.X[col]
        if col in categorical or pd.api.types.is_numeric_dtype(s.dtype) or isinstance(s.dtype, pd.CategoricalDtype):
            continue
        t = text_numbers(s)
        if t.present and not isinstance(s.loc[s.first_valid_index()], str):
            continue  # Decimal objects (a Parquet decimal column) are binned as numbers
        if t.only_numbers:
            warn_text_numbers(data, col, f"pass --categorical {col}")
            continue
        if dates_as_text(first_distinct(s)):
            warn_text_dates(data, col)


def _time_note(ds: Dataset) -> None:
    """Say so when the time column holds neither numbers nor dates: its periods are then ordered as text."""
    import pandas as pd

    from creditflow.data.split import distinct_periods, factorize_times, parse_dates

    _, values, counts = factorize_times(ds.time)
    periods = distinct_periods(values, counts)
    if pd.api.types.is_numeric_dtype(periods.dtype) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        return
    if parse_dates(values).notna().mean() < 0.5:  # read as distinct_periods reads it
        last = sorted(periods.unique())[-3:]
        err_console.print(f"[yellow]warning:[/] time column '{ds.time_column}' holds neither dates nor numbers: its "
                          f"values are ordered as text, the last ones ({', '.join(map(str, last))}) held out as "
                          "out-of-time", highlight=False, soft_wrap=True)


def missing_id_warning(data: Path, id_col: str) -> None:
    err_console.print(f"[yellow]warning:[/] file '{data}' has no column '{id_col}' (the model's id column): "
                      "the scores carry no id; their rows are in the input's order", highlight=False, soft_wrap=True)


@command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("creditflow-demo"), "--out", help="Output directory."),
) -> None:
    """Train and score a scorecard on the UCI Taiwan credit-card data shipped with creditflow."""
    check_output_dir(out, replace=True, force="")  # the demo's own folder: a second run replaces the first
    from creditflow.datasets import UCI_TAIWAN_ID, UCI_TAIWAN_MEANINGS, UCI_TAIWAN_TARGET, uci_taiwan_path

    path = uci_taiwan_path()
    if not path.exists():
        raise CreditflowError("the bundled demo data is missing from this installation", file=str(path))
    console.print(f"[bold]creditflow demo[/]: UCI default of credit card clients (CC BY 4.0), {path.name}")
    # Sex is a protected characteristic in most lending law: the demo model does not use it.
    ds = read_table(path, UCI_TAIWAN_TARGET, id=UCI_TAIWAN_ID, exclude=["SEX"],
                    dictionary=FieldDictionary(meanings=dict(UCI_TAIWAN_MEANINGS)))
    console.print("SEX is left out of the model: a protected characteristic.")
    result = _progress_train(ds, out, "scorecard", 42)
    _summary(result)
    scored = score_table(out / "model", path, out / "scores.csv", reasons=True)
    console.print(f"scores: [bold]{out / 'scores.csv'}[/] ({len(scored):,} rows); grade mix: "
                  + json.dumps(scored["grade"].value_counts().sort_index().to_dict()), soft_wrap=True)
