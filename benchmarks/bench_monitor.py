"""Benchmark: monitoring 10,000,000 rows against a scorecard's baseline (target: under 60 s on 2 cores).

A scorecard is trained on the real UCI Taiwan data (70/30 split, seed 42). The monitored rows are
drawn with replacement from the real rows, spread over twelve months; in the last two months only
applicants under 30 are drawn, so the run finds real drift and builds every table (per period and
per grade) a risk team would read. Outcomes come with the rows (the UCI target), so realised
performance is computed too. Timed: `creditflow.monitor.monitor` on the in-memory table (scoring,
score PSI, CSI of every column, missing and range checks, per-month tables, AUC/KS and grade
calibration overall and per month, findings), then the HTML report and JSON summary, and separately
reading the same rows back from Parquet.

    .venv/bin/python benchmarks/bench_monitor.py                  # 10,000,000 rows
    .venv/bin/python benchmarks/bench_monitor.py --rows 1000000 --no-write

Writes ``benchmarks/results/monitor.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from creditflow.data.io import read_frame, read_table
from creditflow.monitor import monitor
from creditflow.workflow import train

ROOT = Path(__file__).resolve().parents[1]
UCI = ROOT.parent / "shared" / "data" / "uci_taiwan" / "UCI_Credit_Card.csv"
TARGET = "default.payment.next.month"
RESULTS = ROOT / "benchmarks" / "results" / "monitor.json"
TARGET_SECONDS = 60.0
MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]


def rss_gb() -> float:
    """Peak resident memory of this process so far, in GB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def current_rss_gb() -> float:
    """Resident memory of this process now, in GB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**3


class PeakMemory:
    """Highest resident memory seen while the block runs (sampled every 20 ms), in GB."""

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = current_rss_gb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, current_rss_gb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss_gb())


def make_rows(raw: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """`n` real rows drawn with replacement, a month each; the last two months draw only AGE < 30."""
    rng = np.random.default_rng(seed)
    month = np.sort(rng.integers(0, len(MONTHS), n))
    young = np.flatnonzero(raw["AGE"].to_numpy() < 30)
    pick = rng.integers(0, len(raw), n)
    shifted = month >= len(MONTHS) - 2
    pick[shifted] = young[rng.integers(0, len(young), int(shifted.sum()))]
    cols = {c: raw[c].to_numpy()[pick] for c in raw.columns}
    cols["month"] = pd.Categorical.from_codes(month, categories=MONTHS).astype(str)
    return pd.DataFrame(cols)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/monitor.json")
    args = ap.parse_args()

    raw = pd.read_csv(UCI)
    work = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    train(read_table(raw, TARGET, id="ID"), work)
    model_dir = work / "model"
    t = time.perf_counter()
    rows = make_rows(raw, args.rows)
    make_s = time.perf_counter() - t
    gc.collect()
    load_before = os.getloadavg()[0]
    with PeakMemory() as mem:
        t, cpu = time.perf_counter(), time.process_time()
        result = monitor(model_dir, rows, time="month")
        monitor_s, monitor_cpu = time.perf_counter() - t, time.process_time() - cpu
    load_after = os.getloadavg()[0]

    t = time.perf_counter()
    result.report().to_html(work / "monitor.html")
    result.to_json(work / "monitor.json")
    report_s = time.perf_counter() - t

    rows_gb = float(rows.memory_usage(deep=True).sum()) / 1024**3
    parquet = work / "rows.parquet"
    rows.to_parquet(parquet, index=False)
    size_mb = parquet.stat().st_size / 1e6
    del rows
    gc.collect()
    t = time.perf_counter()
    back = read_frame(parquet)
    read_s = time.perf_counter() - t
    assert len(back) == args.rows
    del back

    d = result.drift
    moved = d.variables.loc[d.variables["status"].isin(["warn", "alert"]), "variable"].tolist()
    last = d.periods.iloc[-1]
    out = {
        "benchmark": "monitor",
        "command": "python benchmarks/bench_monitor.py" + ("" if args.rows == 10_000_000 else f" --rows {args.rows}"),
        "rows": args.rows,
        "columns": int(raw.shape[1]) + 1,
        "periods": len(d.periods),
        "seconds": {"monitor": round(monitor_s, 2), "report_html_and_json": round(report_s, 2),
                    "read_parquet": round(read_s, 2), "make_rows_untimed": round(make_s, 2)},
        "cpu_seconds_monitor": round(monitor_cpu, 2),
        "load_average_1min": [round(load_before, 1), round(load_after, 1)],
        "rows_per_second": round(args.rows / monitor_s),
        "target_seconds": TARGET_SECONDS,
        "meets_target": monitor_s < TARGET_SECONDS,
        "memory_gb": {"rss_before_monitor": round(mem.start, 2), "peak_rss_during_monitor": round(mem.peak, 2),
                      "monitor_extra": round(mem.peak - mem.start, 2),
                      "table_in_memory": round(rows_gb, 2), "process_peak": round(rss_gb(), 2)},
        "parquet_mb": round(size_mb, 1),
        "found": {"status": result.status, "exit_code": result.exit_code, "score_psi": round(d.score_psi, 4),
                  "moved_overall": moved, "last_month": str(last["period"]),
                  "last_month_max_csi_variable": str(last["max_csi_variable"]),
                  "last_month_other_columns_csi": {} if d.other_csi_by_period is None else {
                      k: round(float(v), 3) for k, v in d.other_csi_by_period.iloc[-1].drop("period")
                      .sort_values(ascending=False).head(3).items()},
                  "auc": round(result.performance.summary["auc"], 4)},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "pandas": pd.__version__, "numpy": np.__version__},
    }
    print(json.dumps(out, indent=2))
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    import shutil

    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
