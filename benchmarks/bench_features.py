"""Benchmark: windowed behaviour features on DuckDB vs a plain pandas groupby, same data, same run.

Events are synthesised by resampling rows of the real UCI ``statements.csv`` (bill, paid, status)
onto ``--entities`` synthetic clients with ``--events / --entities`` consecutive monthly
statements each (ending 2005-09); each client is observed at the end of a random month in
2005-06 .. 2005-09, so some statements fall after the observation and must be ignored. The data
is written to a temporary Parquet file and read back, as a lender's extract would be.

    .venv/bin/python benchmarks/bench_features.py            # 10,000,000 events, 1,000,000 clients
    .venv/bin/python benchmarks/bench_features.py --events 1000000 --entities 100000 --no-write

Writes ``benchmarks/results/features.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from creditflow.features import BehaviourSpec, build_feature_table

ROOT = Path(__file__).resolve().parents[1]
STATEMENTS = ROOT.parent / "shared" / "data" / "uci_taiwan" / "statements.csv"
RESULTS = ROOT / "benchmarks" / "results" / "features.json"

WINDOWS = ["1m", "2m", "3m", "6m", "9m"]
SPEC = {
    "entity": "client_id",
    "event_time": "statement_month",
    "event_period": "month",
    "windows": WINDOWS,
    "features": [
        {"name": "paid_sum_{window}", "agg": "sum", "column": "paid_amount"},
        {"name": "bill_mean_{window}", "agg": "mean", "column": "bill_amount"},
        {"name": "bill_max_{window}", "agg": "max", "column": "bill_amount"},
        {"name": "worst_status_{window}", "agg": "max", "column": "repayment_status"},
        {"name": "months_delinquent_{window}", "agg": "count", "filter": "repayment_status >= 1"},
        {"name": "bill_std_{window}", "agg": "std", "column": "bill_amount"},
        {"name": "last_status_{window}", "agg": "last", "column": "repayment_status"},
        {"name": "bill_slope_{window}", "agg": "slope", "column": "bill_amount"},
        {"name": "days_since_delinquent_{window}", "agg": "days_since_last", "filter": "repayment_status >= 1"},
        {
            "name": "pay_ratio_{window}", "agg": "ratio",
            "numerator": {"agg": "sum", "column": "paid_amount"},
            "denominator": {"agg": "sum", "column": "bill_amount"},
        },
    ],
}


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads), in seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def current_rss_gb() -> float:
    """Resident memory of this process now, in GB (Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**3


def synthesise(n_events: int, n_entities: int, path: Path, seed: int = 42) -> pd.DataFrame:
    """Write the events Parquet file at `path`; return the observations (one per client)."""
    rng = np.random.default_rng(seed)
    real = pd.read_csv(STATEMENTS)
    per = n_events // n_entities
    months = pd.period_range(end="2005-09", periods=per, freq="M").strftime("%Y-%m").to_numpy()
    pick = rng.integers(0, len(real), size=per * n_entities)
    events = pd.DataFrame({
        "client_id": np.repeat(np.arange(1, n_entities + 1, dtype=np.int64), per),
        "statement_month": np.tile(months, n_entities),
        "bill_amount": real["bill_amount"].to_numpy()[pick],
        "paid_amount": real["paid_amount"].to_numpy()[pick],
        "repayment_status": real["repayment_status"].to_numpy()[pick],
    })
    events.to_parquet(path, index=False, row_group_size=1_000_000)
    obs_months = pd.period_range("2005-06", "2005-09", freq="M").to_timestamp(how="end").normalize()
    return pd.DataFrame({
        "client_id": np.arange(1, n_entities + 1, dtype=np.int64),
        "observation_date": obs_months[rng.integers(0, len(obs_months), size=n_entities)].strftime("%Y-%m-%d"),
    })


def run_engine(engine: str, events: pd.DataFrame, obs: pd.DataFrame, spec: BehaviourSpec) -> tuple[dict, pd.DataFrame]:
    gc.collect()
    cpu, clock = cpu_seconds(), time.perf_counter()
    table = build_feature_table(None, events, spec, obs, engine=engine)
    total = time.perf_counter() - clock
    timing = {"total_s": round(total, 2), **{f"{k}_s": round(v, 2) for k, v in table.report.seconds.items()},
              "cpu_s": round(cpu_seconds() - cpu, 2)}
    return timing, table.frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas groupby run")
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/features.json")
    args = parser.parse_args()
    spec = BehaviourSpec.from_dict(SPEC)
    n_features = len(spec.output_names)
    result: dict = {
        "benchmark": "behaviour features: DuckDB SQL vs pandas groupby",
        "command": "python benchmarks/bench_features.py"
        + ("" if (args.events, args.entities) == (10_000_000, 1_000_000)
           else f" --events {args.events} --entities {args.entities}"),
        "events": args.events,
        "entities": args.entities,
        "features": n_features,
        "windows": WINDOWS,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
    }
    with tempfile.TemporaryDirectory(prefix="cf_bench_features_") as tmp:
        path = Path(tmp) / "events.parquet"
        clock = time.perf_counter()
        obs = synthesise(args.events, args.entities, path)
        result["synthesise_s"] = round(time.perf_counter() - clock, 2)
        result["parquet_mb"] = round(path.stat().st_size / 1e6, 1)
        clock = time.perf_counter()
        events = pd.read_parquet(path)
        result["read_parquet_s"] = round(time.perf_counter() - clock, 2)
    print(f"{len(events):,} events, {len(obs):,} observations, {n_features} features", flush=True)

    import duckdb

    result["duckdb_version"] = duckdb.__version__
    result["pandas_version"] = pd.__version__
    result["rss_before_engines_gb"] = round(current_rss_gb(), 2)
    result["duckdb"], fast = run_engine("duckdb", events, obs, spec)
    result["peak_rss_after_duckdb_gb"] = round(peak_rss_gb(), 2)  # before pandas runs
    print("duckdb:", result["duckdb"], flush=True)
    if not args.no_pandas:
        result["pandas"], slow = run_engine("pandas", events, obs, spec)
        print("pandas:", result["pandas"], flush=True)
        names = spec.output_names
        diff = (fast[names] - slow[names]).abs().to_numpy()
        scale = np.maximum(1.0, slow[names].abs().to_numpy())
        same_missing = bool((fast[names].isna().to_numpy() == slow[names].isna().to_numpy()).all())
        result["max_relative_difference"] = float(np.nanmax(diff / scale))
        result["same_missing_pattern"] = same_missing
        result["speedup_behaviour"] = round(result["pandas"]["behaviour_s"] / result["duckdb"]["behaviour_s"], 2)
        result["speedup_total"] = round(result["pandas"]["total_s"] / result["duckdb"]["total_s"], 2)
    result["peak_rss_gb"] = round(peak_rss_gb(), 2)
    print(json.dumps(result, indent=2))
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
