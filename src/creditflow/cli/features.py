"""`creditflow features`: profiles + behaviour events -> a wide point-in-time feature table."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.markup import escape

from creditflow.cli.app import (
    command,
    console,
    encoding_option,
    err_console,
    refuse_directory_outputs,
    refuse_overwriting_inputs,
    working,
)
from creditflow.data.errors import DataError
from creditflow.data.io import read_frame
from creditflow.data.output import write_frame

OUTPUT_SUFFIXES = (".csv", ".parquet", ".pq", ".xlsx")


def _observations(
    labels: Path | None, as_of: str | None, profiles: pd.DataFrame | None,
    events: pd.DataFrame | Callable[[], pd.DataFrame], spec: object, encoding: str | None = None,
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
    if callable(source):  # with --cluster: the events' entity column, read on the workers
        source = source()
    if entity not in source.columns:
        raise DataError("column not found, needed by the spec ('entity')", column=entity)
    _check_as_of(as_of, spec)
    ids = pd.unique(source[entity].dropna())
    return pd.DataFrame({entity: ids, spec.observation_date: as_of}), None  # type: ignore[attr-defined]


def _check_as_of(as_of: str, spec: Any) -> None:
    """Refuse an --as-of that is not a date as --as-of, not as a column of a file that does not exist."""
    from creditflow.features.times import parse_times

    try:
        parse_times(pd.Series([as_of]), column="--as-of", timezone=spec.timezone)
    except DataError as exc:
        raise DataError(f"--as-of {as_of!r} is not a date/time: {exc.reason}"
                        if "not dates/times" not in exc.reason else f"--as-of {as_of!r} is not a date/time",
                        hint="write it as ISO 8601, e.g. 2005-09-30") from None


def _entity_ids(client: Any, events: Any, entity: str) -> pd.DataFrame:
    """The entity column of the events on the cluster (a `PartitionedTable`), each id once per piece, in order:
    `pd.unique` over it gives the ids in the order one machine finds them."""
    if entity not in events.columns:
        return pd.DataFrame()
    ids = events.to_dask([entity])[entity].map_partitions(pd.Series.drop_duplicates)
    return client.compute(ids).result().to_frame()


def _build_on_cluster(
    cluster: str, events: Path, profiles: pd.DataFrame | None, spec: Any, labels: Path | None, as_of: str | None,
    *, engine: str, tags: Any, files: dict[str, str], encoding: str | None,
) -> Any:
    """`build_features_on_cluster`: the events read piece by piece on the workers; the table one machine builds."""
    from creditflow.distributed.cluster import cluster_client
    from creditflow.distributed.features import build_features_on_cluster
    from creditflow.distributed.source import read_dataset
    from creditflow.features.build import check_references

    table = read_dataset(events)  # metadata only: a CSV, a hive folder or a stray file is refused before a cluster
    early = None
    if labels is not None:  # read here, so that derived features and tags naming absent columns stop before a cluster
        early = _observations(labels, as_of, profiles, pd.DataFrame(), spec, encoding)
        check_references(early[0], profiles, spec, tags, files)
    with cluster_client(cluster) as client:
        observations, obs_file = early or _observations(labels, as_of, profiles,
                                                        lambda: _entity_ids(client, table, spec.entity), spec, encoding)
        if obs_file:
            files["observations"] = obs_file
        return build_features_on_cluster(client, profiles, table, spec, observations, engine=engine, tags=tags,
                                         files=files)


@command("features")
def features_cmd(
    events: Path = typer.Option(..., "--events", help="Behaviour events: CSV, Parquet or Excel (statements, repayments ...)."),
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
    cluster: str | None = typer.Option(None, "--cluster", help="Build on Dask: local:N or tcp://host:port; --events "
                                                               "is then a Parquet file or directory."),
) -> None:
    """Build one row per entity and observation date from profiles and events, strictly before that date.

    With --cluster the events are read and shuffled by entity on the workers (profiles and labels are read
    here, as without it); the table is the one built without --cluster."""
    from creditflow.features import ENGINES, BehaviourSpec, TagRules, build_feature_table, read_profiles
    from creditflow.features.build import excel_ready

    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise DataError("unsupported output format; use .csv, .parquet or .xlsx", file=str(out))
    if engine not in ENGINES:  # before the events are read (or a cluster started)
        raise DataError(f"unknown engine {engine!r}; expected one of {list(ENGINES)}")
    refuse_overwriting_inputs({"--out": out, "--report": report},
                              {"the --events table": events, "the --profiles file": profiles, "the --labels table": labels,
                               "the --spec file": spec, "the --tags file": tags})
    refuse_directory_outputs({"--out": out, "--report": report})
    if report is not None and report.resolve() == out.resolve():  # neither need exist yet
        raise DataError("--report is the --out file: the report would overwrite the feature table",
                        file=str(out), hint="write the report to another file, e.g. report.json")
    behaviour = BehaviourSpec.from_yaml(spec)
    if drop_duplicates:
        behaviour = replace(behaviour, on_duplicate="drop")
    if drop_unknown:
        behaviour = replace(behaviour, on_unknown_entity="drop")
    rules = TagRules.from_yaml(tags) if tags is not None else None
    with working("building features") as step:
        ids = [behaviour.entity]  # read as written: "007" is not 7
        if profiles is not None:
            step(f"reading {profiles}")
        flat = read_profiles(profiles, behaviour.profile, encoding=encoding, ids=ids) if profiles is not None else None
        files = {"events": str(events), "spec": str(spec)}
        files.update({k: str(v) for k, v in (("profiles", profiles), ("tags", tags)) if v is not None})
        import logging

        # the warnings are printed below, once, with the CLI's prefix (the logger would print them a second time)
        features_log = logging.getLogger("creditflow.features")
        if not features_log.handlers:
            features_log.addHandler(logging.NullHandler())
        if cluster:
            step("building the features on the cluster")
            table = _build_on_cluster(cluster, events, flat, behaviour, labels, as_of, engine=engine, tags=rules,
                                      files=files, encoding=encoding)
        else:
            step(f"reading {events}")
            event_frame = read_frame(events, encoding=encoding, ids=ids, sheet_option=None)
            observations, obs_file = _observations(labels, as_of, flat, event_frame, behaviour, encoding)
            if obs_file:
                files["observations"] = obs_file
            step("building the features")
            table = build_feature_table(flat, event_frame, behaviour, observations, engine=engine, tags=rules,
                                        files=files)
        for warning in table.report.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)  # one line
        step(f"writing {out}")
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
