"""Benchmark: reading nested JSON-lines profiles into flat columns, creditflow vs pandas, same file, same run.

The file is the real uci_taiwan ``profiles.jsonl`` repeated ``--copies`` times with new client ids
(34 copies: 1,020,000 profiles, 190 MB). Each reader runs in its own child process, so each peak RSS
(``ru_maxrss``) is its own:

- ``creditflow``: `creditflow.features.read_profiles` as ``creditflow features --profiles`` reads it
  (Arrow's JSON reader where the file allows it, checked against the record walk);
- ``creditflow (record walk)``: the same with the Arrow reading turned off, i.e. every record walked
  as Python objects (what files with lists, or fields first seen after the first line, get);
- ``pandas``: ``pd.json_normalize`` over ``json.loads`` of each line, the usual hand-written way
  (no checks: duplicate keys, mixed types and line numbers are not looked at).

The three tables must hold the same values (the column names differ: pandas joins keys with ``.``).

``--lists`` adds to each profile a list of values (``phones``: 0-3 numbers as text, some null) and a list of objects
(``loans``: 0-5 of ``{amount, term, status}``, whole numbers, some keys null or absent, some items null), drawn with a
fixed seed; pandas is then left out (``json_normalize`` keeps lists as cells), and the two creditflow readings must
give the same values.

    .venv/bin/python benchmarks/bench_profiles.py                 # 34 copies, writes results/profiles.json
    .venv/bin/python benchmarks/bench_profiles.py --lists         # writes results/profiles_lists.json
    .venv/bin/python benchmarks/bench_profiles.py --copies 5 --no-write
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import platform
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT.parent / "shared" / "data" / "uci_taiwan" / "profiles.jsonl"
RESULTS = ROOT / "benchmarks" / "results"


def _lists(rng: random.Random) -> dict:
    """A phone list and a loan list of one profile."""
    phones = [None if rng.random() < 0.05 else str(rng.randrange(13_000_000_000, 19_000_000_000))
              for _ in range(rng.randrange(4))]
    loans = []
    for _ in range(rng.randrange(6)):
        if rng.random() < 0.05:
            loans.append(None)
            continue
        loan = {"amount": rng.randrange(1_000, 200_000), "term": rng.choice([6, 12, 24, 36, None]),
                "status": rng.choice(["current", "closed", "overdue"])}
        if rng.random() < 0.1:
            del loan["status"]
        loans.append(loan)
    return {"phones": phones, "loans": loans}


def synthesise(copies: int, path: Path, lists: bool = False) -> int:
    """Write `copies` of the real profiles with client ids shifted by 100,000 per copy (with `lists`, each with
    a phone and a loan list); return the line count."""
    records = [json.loads(line) for line in PROFILES.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(20261207)
    n = 0
    with open(path, "w", encoding="utf-8") as out:
        for k in range(copies):
            for record in records:
                extra = _lists(rng) if lists else {}
                out.write(json.dumps({**record, "client_id": record["client_id"] + 100_000 * k, **extra}) + "\n")
                n += 1
    return n


def _digest(frame: pd.DataFrame) -> str:
    """A digest of the values, column by column in sorted name order, names with '.' read as '__'."""
    frame = frame.rename(columns=lambda c: c.replace(".", "__"))
    h = hashlib.sha256()
    for c in sorted(frame.columns):
        h.update(c.encode())
        h.update(pd.util.hash_pandas_object(frame[c].astype(object), index=False).to_numpy().tobytes())
    return h.hexdigest()


def _child(reader: str, path: str, queue: mp.Queue) -> None:
    clock = time.perf_counter()
    if reader == "pandas":
        with open(path, encoding="utf-8") as f:
            frame = pd.json_normalize([json.loads(line) for line in f if line.strip()])
    else:
        from creditflow.features import flatten, read_profiles

        if reader == "creditflow (record walk)":
            flatten._arrow_columns = lambda text, options: None
        frame = read_profiles(path)
    seconds = time.perf_counter() - clock
    queue.put({"reader": reader, "seconds": round(seconds, 2),
               "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
               "rows": len(frame), "columns": frame.shape[1], "values_sha256": _digest(frame)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=34)
    parser.add_argument("--lists", action="store_true", help="profiles with a list of values and a list of objects")
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/profiles*.json")
    args = parser.parse_args()
    results = RESULTS / ("profiles_lists.json" if args.lists else "profiles.json")
    from importlib.metadata import version

    result: dict = {
        "benchmark": "nested JSON-lines profiles -> flat columns: creditflow (Arrow, record walk) vs pandas json_normalize",
        "command": "python benchmarks/bench_profiles.py" + ("" if args.copies == 34 else f" --copies {args.copies}")
                   + (" --lists" if args.lists else ""),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "versions": {p: version(p) for p in ("creditflow", "pandas", "pyarrow")},
    }
    ctx = mp.get_context("spawn")  # a fresh process per reader: its own peak memory
    with tempfile.TemporaryDirectory(prefix="cf_bench_profiles_") as tmp:
        path = Path(tmp) / "profiles.jsonl"
        result["profiles"] = synthesise(args.copies, path, args.lists)
        result["file_mb"] = round(path.stat().st_size / 1e6, 1)
        print(f"{result['profiles']:,} profiles, {result['file_mb']} MB", flush=True)
        runs = []
        for reader in ("creditflow", "creditflow (record walk)") + (() if args.lists else ("pandas",)):
            queue: mp.Queue = ctx.Queue()
            child = ctx.Process(target=_child, args=(reader, str(path), queue))
            child.start()
            runs.append(queue.get())
            child.join()
            print(runs[-1], flush=True)
    result["runs"] = runs
    result["same_values"] = len({r["values_sha256"] for r in runs}) == 1
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    if not result["same_values"]:
        sys.exit("the readers' tables differ")
    if not args.no_write:
        results.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {results}")


if __name__ == "__main__":
    main()
