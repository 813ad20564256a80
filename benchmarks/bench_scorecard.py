"""creditflow's side of the scorecard benchmarks (issue #2), on the anchors' split and wide table.

    .venv/bin/python benchmarks/bench_scorecard.py accuracy   # test AUC/KS/Gini on the three datasets
    .venv/bin/python benchmarks/bench_scorecard.py speed      # 1,000,000 x 50 fit, batch and single-row scoring
    .venv/bin/python benchmarks/bench_scorecard.py cv         # 5-fold out-of-fold AUC/KS on TRAIN (anchors' folds)
    .venv/bin/python benchmarks/bench_scorecard.py all
    .venv/bin/python benchmarks/bench_scorecard.py speed --anchors .venv-bench   # + optbinning's fit, same run

With ``--anchors VENV`` the speed run is creditflow, then optbinning's BinningProcess + Scorecard fit
(``anchors.py speed --fit-only`` in the anchors' venv, its own spawned child on the identical table),
then creditflow again, so both sides see the same machine within minutes; the ratio uses the slower
creditflow run.

Results go to benchmarks/results/scorecard_{accuracy,speed}.json and are compared with the anchors'
results (benchmarks/results/anchors_*.json, made by benchmarks/anchors.py in .venv-bench) by
benchmarks/summarise.py.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import split  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _meta() -> dict:
    from importlib.metadata import version

    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": {"nproc": os.cpu_count(), "platform": platform.platform()},
        "versions": {p: version(p) for p in ("creditflow", "numpy", "pandas", "scikit-learn")},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def _metrics(y, p) -> dict:
    from creditflow.evaluation import auc, ks

    a = auc(np.asarray(y), p)
    return {"auc": a, "ks": ks(np.asarray(y), p).statistic, "gini": 2 * a - 1}


def _variants() -> dict:
    import creditflow as cf

    unfiltered = {"min_iv": None, "max_corr": None, "max_vif": None}
    return {"coef_sign_any": lambda: cf.Scorecard(coef_sign="any"),
            "unfiltered_C1": lambda: cf.Scorecard(C=1.0, selection=unfiltered)}


def accuracy() -> dict:
    import creditflow as cf

    out = {}
    for name in split.NAMES:
        X_train, X_test, y_train, y_test = split.load(name)
        t = time.perf_counter()
        card = cf.Scorecard().fit(X_train, y_train.to_numpy())
        fit_s = time.perf_counter() - t
        p = card.predict_proba(X_test)[:, 1]
        out[name] = {**_metrics(y_test, p), "fit_seconds": fit_s, "n_features": len(card.features_),
                     "train_auc": _metrics(y_train, card.predict_proba(X_train)[:, 1])["auc"]}
        print(f"{name:14s} test AUC {out[name]['auc']:.4f} KS {out[name]['ks']:.4f} "
              f"({len(card.features_)} variables, fit {fit_s:.2f} s)", flush=True)
        # the option that lets coefficients run against their WOE, as the anchors do by default, and the
        # sign-consistent card without the IV / correlation / VIF filters
        for key, variant in _variants().items():
            other = variant().fit(X_train, y_train.to_numpy())
            out[name][key] = {**_metrics(y_test, other.predict_proba(X_test)[:, 1]),
                              "n_features": len(other.features_),
                              "negative_coefficients": int((other.coef_ < 0).sum())}
            print(f"{name:14s} {key}: test AUC {out[name][key]['auc']:.4f} KS {out[name][key]['ks']:.4f} "
                  f"({len(other.features_)} variables, {out[name][key]['negative_coefficients']} negative)", flush=True)
    return {"meta": _meta(), "split": "benchmarks/split.py load(name): stratified 70/30, seed 42", "results": out}


def cv(datasets: list[str]) -> dict:
    """Out-of-fold AUC/KS on the TRAIN part with the anchors' folds (split.cv_folds)."""
    import creditflow as cf

    out: dict = {}
    for name in datasets:
        out[name] = {}
        makers = (("scorecard", cf.Scorecard), *_variants().items(),
                  ("boosted-scorecard", lambda: cf.BoostedScorecard(random_state=42)))
        for label, make in makers:
            res = split.cross_validate(
                name, lambda Xa, ya, Xb, make=make: make().fit(Xa, ya.to_numpy()).predict_proba(Xb)[:, 1], _metrics)
            out[name][label] = res
            print(f"{name:14s} {label:24s} cv AUC {res['auc']:.4f} KS {res['ks']:.4f}", flush=True)
    return {"meta": _meta(), "method": "split.cv_folds(name): the anchors' 5 stratified folds of the TRAIN part; "
            "pooled out-of-fold AUC/KS and per-fold mean/std", "results": out}


def _fit_child(rows: int, cols: int, queue: mp.Queue) -> None:
    import creditflow as cf

    X, y = split.make_wide(rows, cols, 42)
    data_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t, c = time.perf_counter(), time.process_time()
    card = cf.Scorecard().fit(X, y.to_numpy())
    fit_s, fit_cpu = time.perf_counter() - t, time.process_time() - c
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # batch scoring of the same 1,000,000 rows (best of 3)
    batch = []
    for _ in range(3):
        t = time.perf_counter()
        card.scores(X)
        batch.append(time.perf_counter() - t)
    score_only = []
    for _ in range(3):
        t = time.perf_counter()
        card.predict_score(X)
        score_only.append(time.perf_counter() - t)
    rows_dicts = X.head(5000).to_dict("records")
    lat = []
    for r in rows_dicts:
        t = time.perf_counter_ns()
        card.score_row(r)
        lat.append(time.perf_counter_ns() - t)
    queue.put({
        "rows": rows, "cols": cols, "table_sha256": split.table_sha256(X, y),
        "fit_seconds": fit_s, "fit_cpu_seconds": fit_cpu, "peak_rss_mib": peak, "rss_after_building_table_mib": data_rss,
        "n_features": len(card.features_),
        "batch_scores_seconds": min(batch), "batch_rows_per_second": rows / min(batch),
        "batch_predict_score_seconds": min(score_only), "predict_score_rows_per_second": rows / min(score_only),
        "single_row_median_us": float(np.median(lat)) / 1000, "single_row_p99_us": float(np.quantile(lat, 0.99)) / 1000,
        "single_row_calls": len(lat),
    })


def _creditflow_child(rows: int, cols: int) -> dict:
    queue: mp.Queue = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=_fit_child, args=(rows, cols, queue))
    load = os.getloadavg()[0]
    proc.start()
    result = queue.get()
    proc.join()
    result["loadavg_1min_before_after"] = [round(load, 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(result, indent=1), flush=True)
    return result


def _optbinning_fit(venv: str, rows: int, cols: int) -> dict:
    import subprocess
    import tempfile

    out = Path(tempfile.mkdtemp()) / "optbinning_fit.json"
    cmd = [str(Path(venv) / "bin" / "python"), str(Path(__file__).resolve().parent / "anchors.py"), "speed",
           "--fit-only", "--rows", str(rows), "--cols", str(cols), "--out", str(out)]
    subprocess.run(cmd, check=True)
    step = json.loads(out.read_text())["steps"]["optbinning_fit"]
    print(json.dumps(step, indent=1), flush=True)
    return step


def speed(rows: int, cols: int, anchors: str | None = None) -> dict:
    runs = [_creditflow_child(rows, cols)]
    payload = {"meta": _meta(), "what": "Scorecard().fit (binning + selection + logistic) on make_wide(rows, cols, 42); "
               "peak_rss_mib is the whole child process's maximum resident size, table included",
               "results": runs[0]}
    if anchors:
        payload["optbinning_fit"] = _optbinning_fit(anchors, rows, cols)
        runs.append(_creditflow_child(rows, cols))
        payload["creditflow_runs"] = runs
        slowest = max(r["fit_seconds"] for r in runs)
        opt = payload["optbinning_fit"]
        payload["fit_speedup_vs_optbinning"] = {
            "wall": opt["fit_seconds"] / slowest,
            "note": "optbinning fit wall seconds / the slower of the two creditflow fits around it; "
                    "both on the identical table (compare table_sha256)",
        }
        print(json.dumps(payload["fit_speedup_vs_optbinning"], indent=1), flush=True)
    return payload


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["accuracy", "speed", "cv", "all"])
    ap.add_argument("--datasets", nargs="+", default=["german_credit", "yinlian"], help="for cv")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--cols", type=int, default=50)
    ap.add_argument("--anchors", metavar="VENV", help="also time optbinning's fit in this venv (e.g. .venv-bench)")
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if args.what in ("accuracy", "all"):
        (RESULTS / "scorecard_accuracy.json").write_text(json.dumps(accuracy(), indent=1))
    if args.what in ("cv", "all"):
        (RESULTS / "scorecard_cv.json").write_text(json.dumps(cv(args.datasets), indent=1))
    if args.what in ("speed", "all"):
        (RESULTS / "scorecard_speed.json").write_text(json.dumps(speed(args.rows, args.cols, args.anchors), indent=1))


if __name__ == "__main__":
    main()
