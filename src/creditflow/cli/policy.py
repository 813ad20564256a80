"""`creditflow policy simulate` and `policy check`: what a lending policy does to a population."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from creditflow.cli.app import (
    app,
    command,
    console,
    encoding_option,
    err_console,
    refuse_overwriting_inputs,
    require_extra,
    sheet_option,
)
from creditflow.data.errors import CreditflowError, located

policy_app = typer.Typer(help="Lending policies: hard rules, cutoffs; simulate them on a table.",
                         no_args_is_help=True)
app.add_typer(policy_app, name="policy")




def policy_fields(pol: Any, bundle: Any) -> list:
    """The inputs a policy with a bundle's model accepts (`service.validation.input_fields`), after printing the
    policy's warnings and refusing it where it does not fit the model's schema or score scale (exit 2), as the
    service does when it loads them: `policy simulate` and `score --policy`."""
    from creditflow.models.base import declared_special_values, training_categories
    from creditflow.service.validation import input_fields

    model = bundle.model
    schema = bundle.files.get("schema.json") or {"fields": [{"name": v, "type": "number"} for v in model.features_]}
    fields = input_fields(schema, pol, specials=declared_special_values(model))
    _print_warnings([*pol.input_warnings({f.name for f in fields if f.model_input}),
                     *pol.unknown_categories(training_categories(model)),
                     *pol.unreachable({f.name: f.span for f in fields if f.type == "number"})])
    s = model.scaling_
    pol.check_against({f.name: f.type for f in fields}, (int(s.min_score), int(s.max_score)))
    return fields


def note_absent(absent: list[str], data: Path) -> None:
    """Say which optional policy fields the table lacks: every row was decided as a request without them."""
    for name in absent:
        err_console.print(f"[yellow]note:[/] file '{data}' has no column '{name}', an optional policy field: every row "
                          "was decided as a request without it", highlight=False, soft_wrap=True)


def decision_mix(decisions: Any, rules_fired: Any, version: str) -> str:
    """One line: how many rows each decision got, and on how many some rule fired."""
    from creditflow.policy import DECISIONS

    n = len(decisions)
    counts = {d: int((decisions == d).sum()) for d in DECISIONS}
    fired = int((rules_fired != "").sum())
    return (f"decisions (policy {escape(version)}): " + ", ".join(f"{d} {c:,} ({_pct(c / n if n else None)})"
                                                                for d, c in counts.items())
            + f"; a rule fired on {fired:,} row(s)")


def _pct(x: float | None) -> str:
    return "-" if x is None or x != x else f"{100 * x:.2f}%"


@command("simulate", on=policy_app)
def simulate_cmd(
    policy: Path = typer.Argument(..., help="Policy YAML."),
    model_dir: Path = typer.Argument(..., help="Model bundle directory."),
    data: Path = typer.Argument(..., help="Population to simulate on: CSV, Parquet or Excel."),
    target: str | None = typer.Option(None, "--target", help="Target column (1 = bad) for realised bad rates."),
    bad: str | None = typer.Option(None, "--bad", help="Value of the target that means bad (needed unless the values are a known pair: 0/1, good/bad, yes/no, 正常/逾期)."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the results as JSON here."),
    out: Path | None = typer.Option(None, "--out", help="Also write each applicant's decision here (.csv, .parquet "
                                                        "or .xlsx): the id column (when the model has one), "
                                                        "probability, score, grade, decision, score_decision (the "
                                                        "cutoffs alone) and rules_fired, in input order."),
    encoding: str | None = encoding_option(),
    sheet: str | None = sheet_option(),
) -> None:
    """Approval rate, expected bad rate (mean predicted probability) and realised bad rate (with --target)
    among the approved, the decision mix, and how often each rule fired; with --out, each row's decision."""
    require_extra("service", "pydantic", command="creditflow policy simulate")
    from creditflow.bundle import load_bundle
    from creditflow.data.excel import naming_sheet
    from creditflow.data.io import encode_target, read_frame
    from creditflow.data.output import atomic_path, write_frame

    refuse_overwriting_inputs({"--out": out, "--json": json_out}, {"the table being simulated": data,
                                                                "the policy file": policy})
    from creditflow.policy import load_policy, simulate

    pol = load_policy(policy)
    bundle = load_bundle(model_dir)
    model = bundle.model
    fields = policy_fields(pol, bundle)
    # the model's text inputs and the policy's `type: string` fields are read as written ("007" stays
    # "007", as the service receives it), not as numbers
    id_col = bundle.files.get("schema.json", {}).get("id_column") if out is not None else None
    at = sheet if sheet is not None else 0
    frame = read_frame(data, encoding=encoding, text=[f.name for f in fields if f.type == "string"],
                       ids=[id_col] if id_col else None, sheet=at)  # ids as `creditflow score` writes them
    y = None
    with naming_sheet(data, at):  # the columns may be on another sheet
        if target is not None:
            if target not in frame.columns:
                raise CreditflowError("target column not found", file=str(data), column=target)
            y = encode_target(frame[target], bad, file=str(data),
                              default_bad=bundle.metadata.get("training", {}).get("bad"))
        with located(str(data)):
            result = simulate(pol, model, frame, y, model_version=bundle.model_version)
    _print(result, str(data))
    note_absent(result.absent, data)
    warn_refused(frame, fields, str(data))
    _note_unseen(model, frame)
    if json_out is not None:
        with atomic_path(json_out) as tmp:
            tmp.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        console.print(f"results: [bold]{json_out}[/]")
    if out is not None:
        decided = result.decided
        if id_col and id_col in frame.columns:
            decided.insert(0, id_col, frame[id_col].to_numpy())
        write_frame(decided, out)
        console.print(f"decisions: [bold]{out}[/] ({len(decided):,} rows)")


def _print(result: Any, source: str) -> None:
    doc = result.to_dict()
    approved = doc["decisions"]["approve"]
    console.print(f"[bold]policy {escape(result.policy_version)}[/] with model {result.model_version} on "
                  f"{escape(source)} ({result.rows:,} rows)")
    line = (f"approval rate [bold]{_pct(doc['approval_rate'])}[/]; expected bad rate among approved "
            f"[bold]{_pct(approved['expected_bad_rate'])}[/]")
    if result.realised_bad_rate is not None:
        line += f"; realised bad rate among approved [bold]{_pct(approved['realised_bad_rate'])}[/]"
    console.print(line)
    mix = Table(title="decision mix", title_justify="left")
    for col in ("decision", "count", "share", "mean score", "expected bad rate", "realised bad rate"):
        mix.add_column(col, justify="left" if col == "decision" else "right")
    for name, d in doc["decisions"].items():
        mean = "-" if d["mean_score"] is None else f"{d['mean_score']:.0f}"
        mix.add_row(name, f"{d['count']:,}", _pct(d["share"]), mean, _pct(d["expected_bad_rate"]),
                    _pct(d["realised_bad_rate"]))
    console.print(mix)
    if doc["rules"]:
        rules = Table(title="rules fired", title_justify="left")
        for col in ("code", "action", "when", "fired", "share", "only rule"):
            rules.add_column(col, justify="right" if col in ("fired", "share", "only rule") else "left")
        for r in doc["rules"]:
            rules.add_row(escape(r["code"]), r["action"], escape(r["when"]), f"{r['fired']:,}", _pct(r["share"]),
                          f"{r['only_rule']:,}")
        console.print(rules)


@command("check", on=policy_app)
def check_cmd(
    policy: Path = typer.Argument(..., help="Policy YAML."),
    model_dir: Path | None = typer.Argument(None, help="Model bundle: also check the rules against its inputs."),
) -> None:
    """Parse a policy and, with a bundle, check that every rule reads a known field with the right type."""
    from creditflow.policy import load_policy

    pol = load_policy(policy)
    if model_dir is not None:
        require_extra("service", "pydantic", command="creditflow policy check with a model bundle")
        from creditflow.service.config import ServiceConfig
        from creditflow.service.state import load_state

        _print_warnings(load_state(ServiceConfig(model_dir=str(model_dir), policy=str(policy))).warnings)
    console.print(f"policy {escape(pol.version)}: {len(pol.rules)} rule(s), approve at {pol.cutoffs.approve}, "
                  f"review at {pol.cutoffs.review}" + (f"; consistent with {escape(str(model_dir))}" if model_dir else ""))


def _print_warnings(warnings: Any) -> None:
    """Print the policy's warnings (`Policy.input_warnings`, and `Policy.unknown_categories`: rules on values
    never seen in training)."""
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)


def _note_unseen(model: Any, frame: Any) -> None:
    """Name the model inputs with categories unseen in training, as `creditflow score` does (the service notes
    each such request): those rows were scored in the Unseen bin and decided on that score. A column of which
    every value is unseen was warned of when it was scored."""
    from creditflow.models.base import recoded_columns

    counts = getattr(model, "unseen_counts", None) or getattr(getattr(model, "binning_", None), "unseen_counts", None)
    unseen = counts(frame, model.features_) if counts else {}
    recoded = set(recoded_columns(unseen, {v: int(frame[v].notna().sum()) for v in unseen}))
    for var, n in unseen.items():
        if var not in recoded:
            err_console.print(f"[yellow]note:[/] column '{escape(var)}': {n:,} row(s) with categories unseen in "
                              "training scored as unseen (the Unseen bin, or the trees' other branch) and decided "
                              "on that score", highlight=False, soft_wrap=True)


def warn_refused(frame: Any, fields: list, source: str) -> None:
    """Say how many rows the service would refuse with 422 (a value outside a field's accepted range, or
    missing where the field may not be): the simulation decided them all the same."""
    problems = []
    for f in fields:
        if f.name in frame.columns and (bad := f.refused(frame[f.name])).any():
            problems.append((f.name, int(bad.sum()), int(bad.nonzero()[0][0]) + 1))
    if problems:
        listed = "; ".join(f"{name}: {n:,} row(s), first row {row}" for name, n, row in problems)
        err_console.print(f"[yellow]warning:[/] file '{source}': rows the service would refuse with 422 (outside a "
                          f"field's accepted range, or missing where it may not be) were decided here too: {listed}",
                          highlight=False, soft_wrap=True)
