"""Dask scale-out (issue #8): equality with the single-machine path, and out-of-core scoring and training.

    .venv/bin/python benchmarks/bench_dask.py                      # everything, the sizes of the issue
    .venv/bin/python benchmarks/bench_dask.py --score-rows 5e6 --train-rows 1e6   # a quicker run

Parts (results in benchmarks/results/dask.json):

equality  uci_taiwan (30,000 rows) as 7 Parquet files. `workflow.train` vs `train_on_cluster` on
          a LocalCluster of 2 worker processes: bundle documents, coefficients, points, every score,
          metrics. GBDT: both recipes with folds=3, tune=False; test AUC of each.
generate  `--score-rows` rows resampled (with replacement, seed 8) from the real UCI rows, fresh ids,
          written file by file (`--part-rows` rows each) so the generator never holds the table.
score     the scorecard from `equality` scores all generated rows on a LocalCluster of `--workers`
          workers whose memory limit (`--memory-limit` each) is below the size of the data in
          memory; rows/s and the peak RSS of every worker (sampled every 0.25 s). Repeated with one
          worker on the first `--scaling-rows` rows for the 1 -> N projection.
train     `train_on_cluster` on the first `--train-rows` generated rows (the same cluster settings);
          `--train-kind boosted-scorecard` trains the boosted scorecard instead (results key
          "train_boosted-scorecard"): the client then holds the training rows' fine-bin codes, so the
          client's peak RSS is reported too.
Generated data and outputs live in `--work` (default: a temporary directory) and are deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
UCI = ROOT.parent / "shared" / "data" / "uci_taiwan" / "UCI_Credit_Card.csv"
TARGET = "default.payment.next.month"
RESULTS = ROOT / "benchmarks" / "results" / "dask.json"


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _cpu() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return float(t.user + t.system)


class PeakMemory:
    """Peak resident memory of every worker process, sampled from the client every `interval` seconds."""

    def __init__(self, client, interval: float = 0.25) -> None:
        self.client, self.interval, self.peak, self._stop = client, interval, {}, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for worker, rss in self.client.run(_rss).items():
                    self.peak[worker] = max(self.peak.get(worker, 0), rss)
            except Exception:  # noqa: BLE001 - a worker restarting between samples
                pass
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def mib(self) -> list[float]:
        return [round(v / 2**20, 1) for _, v in sorted(self.peak.items())]


def write_parts(frame: pd.DataFrame, folder: Path, n_parts: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(len(frame)), n_parts)):
        frame.iloc[part].to_parquet(folder / f"part.{i:03d}.parquet", index=False)


# ------------------------------------------------------------------------------------------ equality
def equality(work: Path, workers: int) -> dict:
    import creditflow as cf
    from creditflow.distributed import cluster_client, read_labelled
    from creditflow.distributed.score import score_on_cluster
    from creditflow.distributed.train import train_on_cluster
    from creditflow.workflow import score_table, train

    frame = pd.read_csv(UCI)
    write_parts(frame, work / "uci", 7)
    out: dict = {"rows": len(frame), "files": 7}
    clock = time.perf_counter()
    single = train(cf.read_table(work / "uci", TARGET, id="ID"), work / "single", report=False)
    out["single_train_s"] = round(time.perf_counter() - clock, 2)
    gb_params = {"folds": 3, "tune": False}
    clock = time.perf_counter()
    gb_single = train(cf.read_table(work / "uci", TARGET, id="ID"), work / "gb_single", kind="gbdt", params=gb_params)
    out["gbdt_single_train_s"] = round(time.perf_counter() - clock, 2)
    with cluster_client(f"local:{workers}") as client:
        clock = time.perf_counter()
        data = read_labelled(client, work / "uci", TARGET, id="ID")
        dist = train_on_cluster(client, data, work / "dist")
        out["dask_train_s"] = round(time.perf_counter() - clock, 2)
        score_on_cluster(client, work / "dist" / "model", work / "uci", work / "scores")
        clock = time.perf_counter()
        gb_dist = train_on_cluster(client, data, work / "gb_dist", kind="gbdt", params=gb_params)
        out["gbdt_dask_train_s"] = round(time.perf_counter() - clock, 2)
    a, b = work / "single" / "model", work / "dist" / "model"
    out["identical_documents"] = {d: (a / d).read_bytes() == (b / d).read_bytes()
                                  for d in ("binning.json", "selection.json", "schema.json", "dictionary.json")}
    ma, mb = (json.loads((d / "model.json").read_text()) for d in (a, b))
    out["points_identical"] = ma["points"] == mb["points"] and ma["base_points"] == mb["base_points"]
    out["max_abs_coefficient_difference"] = float(np.abs(single.model.coef_ - dist.model.coef_).max())
    out["intercept_difference"] = abs(single.model.intercept_ - dist.model.intercept_)
    mine = pd.read_parquet(work / "scores")
    ref = score_table(work / "single" / "model", work / "uci")
    out["scores_differing"] = int((mine["score"] != ref["score"]).sum())
    out["grades_differing"] = int((mine["grade"] != ref["grade"]).sum())
    out["max_abs_probability_difference"] = float(np.abs(mine["probability"] - ref["probability"]).max())
    out["metrics_identical"] = (work / "single" / "metrics.json").read_text() == (work / "dist" / "metrics.json").read_text()
    out["scorecard_test_auc"] = {"single": single.metrics["test"].auc, "dask": dist.metrics["test"].auc}
    out["gbdt_params"] = gb_params
    out["gbdt_test_auc"] = {"single": gb_single.metrics["test"].auc, "dask": gb_dist.metrics["test"].auc}
    out["gbdt_test_auc_difference"] = abs(gb_single.metrics["test"].auc - gb_dist.metrics["test"].auc)
    return out


# ------------------------------------------------------------------------------------------ generate
def generate(folder: Path, rows: int, part_rows: int, seed: int = 8) -> dict:
    base = pd.read_csv(UCI).drop(columns=["ID"])
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    written = 0
    i = 0
    while written < rows:
        n = min(part_rows, rows - written)
        part = base.iloc[rng.integers(0, len(base), n)].reset_index(drop=True)
        part.insert(0, "ID", np.arange(written + 1, written + n + 1, dtype=np.int64))
        part.to_parquet(folder / f"part.{i:05d}.parquet", index=False)
        written += n
        i += 1
    size = sum(f.stat().st_size for f in folder.iterdir())
    in_memory = int(pd.read_parquet(folder / "part.00000.parquet").memory_usage(deep=True).sum() / min(part_rows, rows)
                    * rows)
    return {"rows": rows, "files": i, "columns": base.shape[1] + 1, "seconds": round(time.perf_counter() - clock, 1),
            "parquet_bytes": size, "in_memory_bytes": in_memory}


# ------------------------------------------------------------------------------------------ score / train
def score(model: Path, data: Path, out: Path, workers: int, memory_limit: str, limit_files: int | None = None) -> dict:
    from creditflow.distributed import cluster_client
    from creditflow.distributed.score import score_on_cluster

    source = data
    if limit_files is not None:
        source = data.parent / f"{data.name}_first{limit_files}"
        source.mkdir(exist_ok=True)
        for f in sorted(data.iterdir())[:limit_files]:
            target = source / f.name
            if not target.exists():
                os.symlink(f, target)
    with cluster_client(f"local:{workers}", memory_limit=memory_limit) as client:
        cpu0 = sum(client.run(_cpu).values())
        with PeakMemory(client) as peak:
            clock = time.perf_counter()
            summary = score_on_cluster(client, model, source, out)
            seconds = time.perf_counter() - clock
        cpu = sum(client.run(_cpu).values()) - cpu0
    result = {"workers": workers, "memory_limit_per_worker": memory_limit, "rows": summary.rows,
              "parts": summary.parts, "seconds": round(seconds, 1), "rows_per_s": round(summary.rows / seconds),
              "worker_cpu_s": round(cpu, 1), "worker_cpu_s_per_million_rows": round(cpu / summary.rows * 1e6, 2),
              "load_average": os.getloadavg()[0], "peak_rss_per_worker_mib": peak.mib(),
              "output_bytes": sum(f.stat().st_size for f in out.iterdir())}
    shutil.rmtree(out)
    return result


def train_big(data: Path, out: Path, rows_files: int, workers: int, memory_limit: str,
              kind: str = "scorecard") -> dict:
    from creditflow.distributed import cluster_client, read_labelled
    from creditflow.distributed.train import train_on_cluster

    source = data.parent / f"{data.name}_train"
    source.mkdir(exist_ok=True)
    for f in sorted(data.iterdir())[:rows_files]:
        if not (source / f.name).exists():
            os.symlink(f, source / f.name)
    stages: list[tuple[str, float]] = []
    with cluster_client(f"local:{workers}", memory_limit=memory_limit) as client:
        cpu0 = sum(client.run(_cpu).values())
        client_cpu0 = _cpu()
        with PeakMemory(client) as peak:
            clock = time.perf_counter()
            table = read_labelled(client, source, TARGET, id="ID")
            stages.append(("read target and split", time.perf_counter() - clock))
            result = train_on_cluster(client, table, out, kind=kind,
                                      progress=lambda msg: stages.append((msg, time.perf_counter() - clock)))
            seconds = time.perf_counter() - clock
        cpu = sum(client.run(_cpu).values()) - cpu0
    rows = len(table.y)
    return {"kind": kind, "workers": workers, "memory_limit_per_worker": memory_limit, "rows": rows,
            "train_rows": table.rows("train"), "seconds": round(seconds, 1), "rows_per_s": round(rows / seconds),
            "stages_s": [[m, round(t, 1)] for m, t in stages], "worker_cpu_s": round(cpu, 1),
            "client_cpu_s": round(_cpu() - client_cpu0, 1), "load_average": os.getloadavg()[0],
            "client_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "peak_rss_per_worker_mib": peak.mib(),
            "features_in_model": len(result.model.features_), "test_auc": result.metrics["test"].auc}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--score-rows", type=float, default=50e6)
    ap.add_argument("--train-rows", type=float, default=10e6)
    ap.add_argument("--part-rows", type=float, default=1e6)
    ap.add_argument("--scaling-rows", type=float, default=5e6)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="1.5GiB")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--skip", nargs="*", default=[], choices=["equality", "score", "train", "scaling"])
    ap.add_argument("--train-kind", default="scorecard", choices=["scorecard", "boosted-scorecard"])
    args = ap.parse_args()
    train_key = "train" if args.train_kind == "scorecard" else f"train_{args.train_kind}"
    work = args.work or Path(tempfile.mkdtemp(prefix="cf-dask-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    part_rows = int(args.part_rows)
    results: dict = {"machine": {"cores": os.cpu_count(), "load_average_at_start": os.getloadavg()[0]},
                     "command": " ".join([Path(sys.executable).name, *sys.argv])}
    try:
        if "equality" not in args.skip:
            results["equality"] = equality(work / "eq", args.workers)
            print(json.dumps(results["equality"], indent=1), flush=True)
        else:
            import creditflow as cf
            from creditflow.workflow import train

            train(cf.read_table(UCI, TARGET, id="ID"), work / "eq" / "dist", report=False)
        model = work / "eq" / "dist" / "model"
        if {"score", "scaling", "train"} - set(args.skip):  # the equality part alone needs no generated data
            gen = generate(work / "big", int(max(args.score_rows, args.train_rows)), part_rows)
            results["generated" if "score" not in args.skip else "train_data" if "train" not in args.skip
                    else "scaling_data"] = gen
            print(json.dumps(gen), flush=True)
        if "score" not in args.skip:
            results["score"] = score(model, work / "big", work / "scores", args.workers, args.memory_limit)
            print(json.dumps(results["score"]), flush=True)
        if "scaling" not in args.skip:
            files = max(1, int(args.scaling_rows) // part_rows)
            results["scaling"] = [score(model, work / "big", work / f"scores{w}", w, args.memory_limit, files)
                                  for w in (1, args.workers)]
            print(json.dumps(results["scaling"]), flush=True)
        if "train" not in args.skip:
            results[train_key] = train_big(work / "big", work / "trained", max(1, int(args.train_rows) // part_rows),
                                           args.workers, args.memory_limit, args.train_kind)
            print(json.dumps(results[train_key]), flush=True)
        results["client_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        results["load_average_at_end"] = os.getloadavg()[0]
        results["date"] = time.strftime("%Y-%m-%d")
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        ran = [k for k in ("equality", "score", "scaling", "train") if k not in args.skip]
        ran = [train_key if k == "train" else k for k in ran]
        if RESULTS.exists() and (len(ran) < 4 or train_key != "train"):  # a partial run updates its own sections
            kept = json.loads(RESULTS.read_text(encoding="utf-8"))
            for key in ran:
                kept[key] = results[key]
                kept[f"{key}_run"] = {"command": results["command"], "date": results["date"],
                                      "load_average": [results["machine"]["load_average_at_start"],
                                                       results["load_average_at_end"]]}
            for key in ("train_data", "scaling_data"):
                if key in results:
                    kept[key] = results[key]
            results = kept
        RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"results -> {RESULTS}")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
