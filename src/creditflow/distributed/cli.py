"""What `creditflow train --cluster` and `creditflow score --cluster` run (called from `cli/core.py`)."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

from creditflow.cli.app import console, err_console, warn_repeated_ids, warn_text_dates, warn_text_numbers
from creditflow.data.errors import CreditflowError, ProtectedVariableWarning
from creditflow.distributed.cluster import cluster_client, worker_info
from creditflow.distributed.labelled import read_labelled, repeated_ids
from creditflow.workflow import TrainResult


def _say(start: float):  # noqa: ANN202 - a progress printer
    def say(message: str) -> None:
        err_console.print(f"[dim]{time.perf_counter() - start:7.1f}s[/] {message}", highlight=False)

    return say


def train_command(
    data: Path, target: str, *, bad: str | None, id: str | None, time_column: str | None,
    dictionary: Path | None, exclude: list[str], kind: str, seed: int, out: Path, cluster: str, report: bool,
    reasons: dict | None = None, params: dict | None = None,
) -> TrainResult:
    """Train on a cluster from a Parquet file or directory; the same outputs as `creditflow train`."""
    from creditflow.distributed.train import train_on_cluster

    say = _say(time.perf_counter())
    with cluster_client(cluster) as client:
        n = len(worker_info(client))
        say(f"cluster {cluster}: {n} worker(s)")
        ds = read_labelled(client, data, target, bad=bad, id=id, time=time_column, dictionary=dictionary,
                           exclude=exclude, seed=seed, categorical=(params or {}).get("categorical"))
        say(f"{len(ds.y):,} rows in {ds.table.npartitions} piece(s); splits " +
            ", ".join(f"{s} {ds.rows(s):,}" for s in ds.splits))
        _input_notes(ds, data)
        reasons = dict(reasons or {})
        names = [p.strip() for item in reasons.get("protected") or [] for p in str(item).split(",") if p.strip()]
        lacking = [p for p in names if p not in ds.features]
        if lacking:
            raise CreditflowError(f"protected variable(s) not among the features: {lacking}", file=str(data),
                                  column=lacking[0])
        reasons["protected"] = names
        with warnings.catch_warnings():  # the command's summary prints them below the model's table
            warnings.simplefilter("ignore", ProtectedVariableWarning)
            result = train_on_cluster(client, ds, out, kind=kind, params=params, progress=say, reasons=reasons,
                                      force=True)  # the command checked --out (and --force)
    if report:
        err_console.print("[yellow]note:[/] the validation report is not built on a cluster (it needs the rows in "
                          "memory); run `creditflow report` on a sample of the table")
    return result


def score_command(model_dir: Path, data: Path, out: Path, cluster: str, reasons: bool = True,
                  id_column: str | None = None, allow_unseen: bool = False) -> None:
    """Score a Parquet file or directory on a cluster into a directory of Parquet parts."""
    from creditflow.distributed.score import score_on_cluster

    with cluster_client(cluster) as client:
        summary = score_on_cluster(client, model_dir, data, out, reasons=reasons, id_column=id_column,
                                   allow_unseen=allow_unseen)
    console.print(f"scored {summary.rows:,} rows -> [bold]{summary.out}[/] ({summary.parts} Parquet part(s))")
    for var, n in summary.unseen.items():
        err_console.print(f"[yellow]note:[/] column '{var}': {n} row(s) with categories unseen in training "
                          "scored in the Unseen bin")
    from creditflow.cli.core import missing_id_warning, missing_warnings

    missing_warnings(data, summary.all_missing, summary.untrained_missing)
    if summary.missing_id:
        missing_id_warning(data, summary.missing_id)


def _input_notes(ds: Any, data: Path) -> None:
    """The warnings single-machine `train` gives: repeated ids, text columns holding only numbers or dates."""
    if ds.id_column:
        n, example, rows = repeated_ids(ds.table, ds.id_column)
        if n:
            base = Path(ds.table.path)
            where = " and ".join(f"{Path(f).relative_to(base) if base.is_dir() else Path(f).name} row {r}"
                                 for f, r in rows)
            warn_repeated_ids(data, ds.id_column, n, example, f" in {where}" if where else "")
    for col in ds.text_numbers:
        warn_text_numbers(data, col, f"declare it with --param 'categorical=[\"{col}\"]'")
    for col in ds.text_dates:
        warn_text_dates(data, col)
