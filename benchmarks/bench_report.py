"""Speed of the validation report (issue #3): build, HTML and Excel for the demo model.

    .venv/bin/python benchmarks/bench_report.py            # 30,000 and 1,000,000 rows
    .venv/bin/python benchmarks/bench_report.py --rows 30000 --no-write   # a quick check; keeps the results file

The model is the demo scorecard: `Scorecard()` fitted on the train part of uci_taiwan (the shared
split of `split.py`: stratified 70/30, seed 42). The report is built on two samples, train and test:
- 30,000 rows: the real uci_taiwan train (21,000) and test (9,000) rows;
- 1,000,000 rows: `split.make_wide(1_000_000, 23, 42)` (real rows resampled with replacement, the
  23 original columns), the first 700,000 rows as 'train' and the other 300,000 as 'test'.
Each size runs in its own process so its peak memory is its own; timings are best of `--repeat`.
Results go to benchmarks/results/report_speed.json. Target: under 10 s for 30,000 rows.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import split  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_30K_SECONDS = 10.0


def _meta() -> dict:
    from importlib.metadata import version

    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": {"nproc": os.cpu_count(), "platform": platform.platform(),
                    "load_average_1min": os.getloadavg()[0]},
        "versions": {p: version(p) for p in ("creditflow", "numpy", "pandas", "scikit-learn", "matplotlib",
                                             "openpyxl")},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def _samples(rows: int):
    from creditflow.data import Dataset

    X_train, X_test, y_train, y_test = split.load("uci_taiwan")
    if rows == len(X_train) + len(X_test):
        return X_train, y_train, {"train": Dataset(X=X_train, y=y_train.to_numpy()),
                                  "test": Dataset(X=X_test, y=y_test.to_numpy())}
    X, y = split.make_wide(rows, 23, 42)
    cut = int(rows * 0.7)
    return X_train, y_train, {
        "train": Dataset(X=X.iloc[:cut].reset_index(drop=True), y=y.to_numpy()[:cut]),
        "test": Dataset(X=X.iloc[cut:].reset_index(drop=True), y=y.to_numpy()[cut:]),
    }


def _run(rows: int, repeat: int, queue: mp.Queue) -> None:
    from creditflow.models.scorecard import Scorecard
    from creditflow.report import build_report

    X_fit, y_fit, samples = _samples(rows)
    card = Scorecard().fit(X_fit, y_fit.to_numpy())
    data_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    build, html, xlsx = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            t = time.perf_counter()
            report = build_report(card, samples)
            build.append(time.perf_counter() - t)
            t = time.perf_counter()
            report.to_html(Path(tmp) / "r.html")
            html.append(time.perf_counter() - t)
            t = time.perf_counter()
            report.to_excel(Path(tmp) / "r.xlsx")
            xlsx.append(time.perf_counter() - t)
        sizes = {"html_bytes": (Path(tmp) / "r.html").stat().st_size, "xlsx_bytes": (Path(tmp) / "r.xlsx").stat().st_size}
    queue.put({
        "rows": rows, "samples": {k: len(v) for k, v in samples.items()}, "features": len(card.features_),
        "build_seconds": min(build), "html_seconds": min(html), "xlsx_seconds": min(xlsx),
        "total_seconds": min(b + h + x for b, h, x in zip(build, html, xlsx, strict=True)),
        "all_build_seconds": build, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_data_and_fit_mb": data_rss, **sizes,
    })


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="*", default=[30_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/report_speed.json")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    results = []
    for rows in args.rows:
        queue = ctx.Queue()
        proc = ctx.Process(target=_run, args=(rows, args.repeat, queue))
        proc.start()
        res = queue.get()
        proc.join()
        results.append(res)
        print(f"{rows:>9,} rows: build {res['build_seconds']:.2f} s, html {res['html_seconds']:.2f} s, "
              f"xlsx {res['xlsx_seconds']:.2f} s, peak RSS {res['peak_rss_mb']:,.0f} MB", flush=True)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / "report_speed.json"
        out.write_text(json.dumps({"meta": _meta(), "results": results}, indent=2), encoding="utf-8")
        print(f"results: {out}")
    small = [r for r in results if r["rows"] == 30_000]
    if small and small[0]["build_seconds"] >= TARGET_30K_SECONDS:
        print(f"MISSED: 30,000-row report took {small[0]['build_seconds']:.1f} s (target < {TARGET_30K_SECONDS:g} s)")
        return 1
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
