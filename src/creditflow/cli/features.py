"""`creditflow features`: profiles + behaviour events -> a wide point-in-time feature table."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import typer
from rich.markup import escape

from creditflow.cli.app import command, console, encoding_option, err_console, refuse_overwriting_inputs
from creditflow.data.errors import DataError
from creditflow.data.io import read_frame
from creditflow.data.output import write_frame

OUTPUT_SUFFIXES = (".csv", ".parquet", ".pq", ".xlsx")


def _observations(
    labels: Path | None, as_of: str | None, profiles: pd.DataFrame | None, events: pd.DataFrame, spec: object,
    encoding: str | None = None,
) -> tuple[pd.DataFrame, str | None]:
    if labels is not None and as_of is not None:
        raise DataError("give either --labels or --as-of, not both")
    if labels is not None:
        return (read_frame(labels, encoding=encoding, ids=[spec.entity], sheet_option=None),  # type: ignore[attr-defined]
                str(labels))
    if as_of is None:
        raise DataError("give --labels FILE (entity, observation date, label) or --as-of DATE")
    entity = spec.entity  # type: ignore[attr-defined]
    source = profiles if profiles is not None and entity in profiles.columns else events
    if entity not in source.columns:
        raise DataError("column not found, needed by the spec ('entity')", column=entity)
    ids = pd.unique(source[entity].dropna())
    return pd.DataFrame({entity: ids, spec.observation_date: as_of}), None  # type: ignore[attr-defined]


@command("features")
def features_cmd(
    events: Path = typer.Option(..., "--events", help="Behaviour events: CSV or Parquet (statements, repayments ...)."),
    spec: Path = typer.Option(..., "--spec", help="Feature spec (YAML): entity, event time, windows, features."),
    out: Path = typer.Option(
        ..., "--out", help="Output table: .csv, .parquet or .xlsx (dates with a time zone: wall time without it)."
    ),
    profiles: Path | None = typer.Option(None, "--profiles", help="Profiles: JSON lines (nested) or a flat CSV/Parquet."),
    labels: Path | None = typer.Option(
        None, "--labels", help="Observations: entity, observation date and label columns (all kept)."
    ),
    as_of: str | None = typer.Option(None, "--as-of", help="Without --labels: one observation per entity at DATE."),
    tags: Path | None = typer.Option(None, "--tags", help="Tag rules (YAML); replaces the spec's own 'tags'."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (default) or pandas (the reference)."),
    drop_duplicates: bool = typer.Option(
        False, "--drop-duplicates", help="Drop exact duplicate events with a warning instead of refusing."
    ),
    drop_unknown: bool = typer.Option(
        False, "--drop-unknown-entities", help="Drop events of unknown entities with a warning instead of refusing."
    ),
    report: Path | None = typer.Option(None, "--report", help="Also write the build report (counts, warnings) as JSON."),
    encoding: str | None = encoding_option(),
) -> None:
    """Build one row per entity and observation date from profiles and events, strictly before that date."""
    from creditflow.features import BehaviourSpec, TagRules, build_feature_table, read_profiles
    from creditflow.features.build import excel_ready

    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise DataError("unsupported output format; use .csv, .parquet or .xlsx", file=str(out))
    refuse_overwriting_inputs({"--out": out, "--report": report},
                              {"the --events table": events, "the --profiles file": profiles, "the --labels table": labels,
                               "the --spec file": spec, "the --tags file": tags})
    behaviour = BehaviourSpec.from_yaml(spec)
    if drop_duplicates:
        behaviour = replace(behaviour, on_duplicate="drop")
    if drop_unknown:
        behaviour = replace(behaviour, on_unknown_entity="drop")
    rules = TagRules.from_yaml(tags) if tags is not None else None
    ids = [behaviour.entity]  # read as written: "007" is not 7
    flat = read_profiles(profiles, behaviour.profile, encoding=encoding, ids=ids) if profiles is not None else None
    event_frame = read_frame(events, encoding=encoding, ids=ids, sheet_option=None)
    observations, obs_file = _observations(labels, as_of, flat, event_frame, behaviour, encoding)
    files = {"events": str(events), "spec": str(spec)}
    files.update({k: str(v) for k, v in (("profiles", profiles), ("tags", tags)) if v is not None})
    if obs_file:
        files["observations"] = obs_file
    import logging

    # the warnings are printed below, once, with the CLI's prefix (the logger would print them a second time)
    features_log = logging.getLogger("creditflow.features")
    if not features_log.handlers:
        features_log.addHandler(logging.NullHandler())
    table = build_feature_table(flat, event_frame, behaviour, observations, engine=engine, tags=rules, files=files)
    for warning in table.report.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)  # one line
    write_frame(excel_ready(table.frame, behaviour.timezone) if out.suffix.lower() == ".xlsx" else table.frame, out)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(table.report.to_dict(), indent=2), encoding="utf-8")
    r = table.report
    console.print(
        f"{len(table.frame):,} rows x {table.frame.shape[1]} columns -> [bold]{out}[/] "
        f"({r.n_events_used:,} of {r.n_events:,} events, {r.n_features} features, engine {r.engine})",
        highlight=False,
    )
