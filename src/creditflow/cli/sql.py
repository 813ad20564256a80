"""`creditflow sql`: a scorecard bundle as one SQL query, to score a table inside PostgreSQL, DuckDB or SQLite."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from creditflow.cli.app import command, console, fail


@command("sql")
def sql_cmd(
    model_dir: Path = typer.Argument(..., help="Scorecard bundle directory (DIR/model from train)."),
    table: str = typer.Option(..., "--table", help="Table (or schema.table) holding the applicants, one per row."),
    dialect: str = typer.Option("postgresql", "--dialect", help="postgresql, duckdb or sqlite."),
    id: list[str] = typer.Option([], "--id", help="Column to carry to the result (repeatable; default: the id "
                                                  "column the model was trained with, when it has one)."),
    points: bool = typer.Option(False, "--points", help="Add base_points and points_<variable> columns."),
    probability: bool = typer.Option(False, "--probability", help="Add the probability of bad (needs EXP)."),
    out: Path | None = typer.Option(None, "--out", help="Write the query to this file (default: standard output)."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out when it exists."),
) -> None:
    """Write the scorecard as one SELECT: id, score and grade per row, exactly as `creditflow score` gives them."""
    from creditflow.bundle import load_bundle
    from creditflow.data.output import atomic_path
    from creditflow.scoring.sql import scorecard_sql

    if out is not None and out.exists() and not force:
        fail("the file exists: pass --force to overwrite it, or name another file", file=str(out))
    bundle = load_bundle(model_dir)
    ids = list(id) or [c for c in [bundle.files.get("schema.json", {}).get("id_column")] if c]
    query = scorecard_sql(bundle.model, table, id_columns=ids, points=points, probability=probability,
                          dialect=dialect, model_version=bundle.model_version)
    if out is None:
        sys.stdout.write(query)
        return
    with atomic_path(out) as tmp:
        tmp.write_text(query, encoding="utf-8")
    console.print(f"SQL for model {bundle.model_version} ({dialect}) -> [bold]{out}[/]")
