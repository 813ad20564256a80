"""Speed of scoring inside a database with `creditflow sql`, beside `Scorecard.scores` in Python.

    .venv/bin/python benchmarks/bench_sql.py                 # 1,000,000 rows; DuckDB and SQLite
    .venv/bin/python benchmarks/bench_sql.py --rows 100000 --no-write

The model is the demo scorecard (`Scorecard()` fitted on the train part of uci_taiwan, `split.load`); the
table is `split.make_wide(rows, 23, 42)` with a row id, loaded into an in-memory DuckDB and SQLite
database before timing. Timed: the query (`scorecard_sql(..., dialect=...)`) fetched in full, best of
`--repeat`; beside it `card.scores(frame)` on the same rows in pandas. Every run checks that the
query's scores and grades equal the model's on every row. Results: benchmarks/results/sql_speed.json.
No anchor library writes a scorecard as SQL, so there is no side-by-side anchor here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import split  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> int:
    import duckdb

    import creditflow as cf
    from creditflow.scoring.sql import scorecard_sql

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    X_train, _, y_train, _ = split.load("uci_taiwan")
    card = cf.Scorecard().fit(X_train, y_train.to_numpy())
    X, _ = split.make_wide(args.rows, 23, 42)
    X = X.assign(row_id=np.arange(len(X)))
    python_s, expected = _best(lambda: card.scores(X.drop(columns=["row_id"])), args.repeat)
    results = {"rows": len(X), "features": len(card.features_), "python_scores_seconds": python_s}

    duck = duckdb.connect()
    duck.register("frame", X)
    duck.execute("CREATE TABLE applicants AS SELECT * FROM frame")
    lite = sqlite3.connect(":memory:")
    X.to_sql("applicants", lite, index=False)

    def sqlite_fetch(query: str) -> dict:
        rows = lite.execute(query).fetchall()
        return {name: np.asarray([r[k] for r in rows]) for k, name in enumerate(("row_id", "score", "grade"))}

    runners = {"duckdb": lambda q: duck.execute(q).fetchnumpy(), "sqlite": sqlite_fetch}
    for dialect, fetch in runners.items():
        query = scorecard_sql(card, "applicants", id_columns=["row_id"], dialect=dialect)
        seconds, got = _best(lambda q=query, f=fetch: f(q), args.repeat)
        order = np.argsort(np.asarray(got["row_id"]))
        same = (np.array_equal(np.asarray(got["score"])[order].astype(np.int64), expected["score"].to_numpy())
                and list(np.asarray(got["grade"])[order]) == expected["grade"].tolist())
        results[f"{dialect}_seconds"] = seconds
        results[f"{dialect}_rows_per_second"] = len(X) / seconds
        results[f"{dialect}_equal_to_model"] = bool(same)
        print(f"{dialect:7s} {seconds:6.2f} s ({len(X) / seconds / 1e6:.2f} M rows/s), equal to the model: {same}",
              flush=True)
        if not same:
            return 1
    print(f"python  {python_s:6.2f} s (Scorecard.scores)")
    meta = {"timestamp": datetime.now(UTC).isoformat(timespec="seconds"), "python": platform.python_version(),
            "machine": {"nproc": os.cpu_count(), "load_average_1min": os.getloadavg()[0]},
            "duckdb": duckdb.__version__, "sqlite": sqlite3.sqlite_version,
            "command": " ".join([Path(sys.executable).name, *sys.argv])}
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "sql_speed.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
