"""The one train/test split shared by every benchmark, and the wide table for speed runs.

Importable from the project venv (pandas 3, scikit-learn 1.9) and from the anchors venv
(``.venv-bench``: pandas 2.1, scikit-learn 1.5). Uses only the standard library, numpy,
pandas and scikit-learn, and never imports creditflow.

Split
-----
``load(name)`` reads ``<repo>/../shared/data/<folder>/<file>.csv``, encodes the target as
0/1 (1 = bad), drops the id column and splits 70/30 with
``train_test_split(positions, test_size=0.3, random_state=42, stratify=y)``. The train and
test row positions (0-based, in file order) are written once to
``benchmarks/.cache/split_<name>.json`` and read back on every later call, whichever venv
calls, so that both sides of a comparison use the identical rows. The cache records the
row count and a checksum of the target; a cache that does not match the data is an error
(delete the file to recompute).

Wide table
----------
``make_wide(n_rows, n_cols, seed)`` builds the speed-benchmark table from uci_taiwan; see
its docstring for the exact recipe.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DATA_DIR = ROOT.parent / "shared" / "data"
CACHE_DIR = BENCH_DIR / ".cache"

TEST_SIZE = 0.3
RANDOM_STATE = 42

# name -> (relative csv path, target column, value that means "bad" or None if already 0/1, id columns)
DATASETS: dict[str, tuple[str, str, object, tuple[str, ...]]] = {
    "uci_taiwan": ("uci_taiwan/UCI_Credit_Card.csv", "default.payment.next.month", None, ("ID",)),
    "german_credit": ("german_credit/germancredit.csv", "creditability", "bad", ()),
    "yinlian": ("yinlian/new_sample.csv", "y", None, ("user_id",)),
}
NAMES = tuple(DATASETS)

# uci_taiwan columns that hold amounts, limits or ages (the others are codes: SEX, EDUCATION,
# MARRIAGE, PAY_0, PAY_2..PAY_6). make_wide derives its extra columns from these.
UCI_NUMERIC = (
    "LIMIT_BAL",
    "AGE",
    *(f"BILL_AMT{i}" for i in range(1, 7)),
    *(f"PAY_AMT{i}" for i in range(1, 7)),
)


def data_path(name: str) -> Path:
    """Absolute path of a dataset's CSV (``ROOT.parent / "shared" / "data" / ...``)."""
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
    return DATA_DIR / DATASETS[name][0]


def load_frame(name: str) -> tuple[pd.DataFrame, pd.Series]:
    """The whole dataset: features (id columns dropped) and the 0/1 target (1 = bad)."""
    _, target, bad_value, id_cols = DATASETS[name]
    df = pd.read_csv(data_path(name))
    if bad_value is None:
        y = df[target].astype("int64")
    else:
        y = (df[target].astype(str) == bad_value).astype("int64")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError(f"{name}: target {target!r} is not 0/1 after encoding")
    y = y.rename("target")
    X = df.drop(columns=[target, *id_cols])
    return X, y


def _checksum(y: pd.Series) -> str:
    return hashlib.sha256(np.asarray(y, dtype=np.int8).tobytes()).hexdigest()


def split_positions(name: str, y: pd.Series | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row positions, read from the cache or computed once and cached."""
    if y is None:
        _, y = load_frame(name)
    path = CACHE_DIR / f"split_{name}.json"
    checksum = _checksum(y)
    if path.exists():
        info = json.loads(path.read_text())
        if info.get("n_rows") != len(y) or info.get("target_sha256") != checksum:
            raise RuntimeError(f"{path} does not match the data in {data_path(name)}; delete it to recompute")
        return np.asarray(info["train"], dtype=np.int64), np.asarray(info["test"], dtype=np.int64)

    import sklearn

    train, test = train_test_split(
        np.arange(len(y)), test_size=TEST_SIZE, random_state=RANDOM_STATE, stratify=np.asarray(y)
    )
    info = {
        "dataset": name,
        "n_rows": len(y),
        "target_sha256": checksum,
        "test_size": TEST_SIZE,
        "random_state": RANDOM_STATE,
        "stratify": "target",
        "made_with": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "train": [int(i) for i in train],
        "test": [int(i) for i in test],
    }
    _write_cache(path, info)
    return np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)


def _write_cache(path: Path, info: dict) -> None:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file


def load(name: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """``(X_train, X_test, y_train, y_test)`` for one dataset, on the shared split.

    Indexes are reset to 0..n-1 so frames and targets align whatever library consumes them.
    """
    X, y = load_frame(name)
    train, test = split_positions(name, y)
    X_train = X.iloc[train].reset_index(drop=True)
    X_test = X.iloc[test].reset_index(drop=True)
    y_train = y.iloc[train].reset_index(drop=True)
    y_test = y.iloc[test].reset_index(drop=True)
    return X_train, X_test, y_train, y_test


def make_wide(n_rows: int = 1_000_000, n_cols: int = 50, seed: int = 42) -> tuple[pd.DataFrame, pd.Series]:
    """The speed-benchmark table: real uci_taiwan rows, resampled, widened to ``n_cols`` columns.

    Exactly:

    1. Read uci_taiwan with ``load_frame`` (23 features, ``ID`` dropped, target 0/1).
    2. ``rows = np.random.default_rng(seed).integers(0, 30000, size=n_rows)``: row positions
       drawn with replacement; the features and target of those rows, in that order, make the
       first 23 columns (original names and dtypes) and ``y``.
    3. Extra columns ``k = 0 .. n_cols - 24`` (none if ``n_cols <= 23``; only the first
       ``n_cols`` originals are kept if ``n_cols < 23``): ``base = UCI_NUMERIC[k % 14]`` (the
       14 amount/limit/age columns, in the order LIMIT_BAL, AGE, BILL_AMT1..6, PAY_AMT1..6),
       ``x = base column as float64`` (the n_rows resampled values), ``s`` = the column's
       interquartile range over the 30,000 original rows, taken with
       ``np.quantile(col, [0.25, 0.75], method="higher")`` (so ``s`` is a difference of two
       data values, exact in any numpy; 1.0 if it is 0),
       ``e = np.random.default_rng(seed + 1 + k).standard_normal(n_rows)`` and, by ``k % 3``:

       * 0: ``x + 0.05 * s * e``                         (jitter)
       * 1: ``1.5 * x + 0.05 * s * e``                   (rescale + jitter)
       * 2: ``sign(x) * sqrt(|x|) + 0.05 * e``           (signed square root + jitter)

       The column is named ``f"{base}_w{k}"`` and is float64. Only correctly rounded IEEE
       operations are used (no sums, no transcendental functions), so numpy 1.x and 2.x
       build bit-identical tables.

    Returns ``(X, y)`` with a RangeIndex; ``y`` is int64 named ``target``.
    """
    if n_rows < 1 or n_cols < 1:
        raise ValueError("n_rows and n_cols must be positive")
    X0, y0 = load_frame("uci_taiwan")
    rows = np.random.default_rng(seed).integers(0, len(X0), size=n_rows)
    base = X0.iloc[:, : min(n_cols, X0.shape[1])]
    cols: dict[str, np.ndarray] = {c: base[c].to_numpy()[rows] for c in base.columns}
    for k in range(max(0, n_cols - X0.shape[1])):
        name = UCI_NUMERIC[k % len(UCI_NUMERIC)]
        full = X0[name].to_numpy(dtype=np.float64)
        q25, q75 = np.quantile(full, [0.25, 0.75], method="higher")
        s = float(q75 - q25) or 1.0
        x = full[rows]
        e = np.random.default_rng(seed + 1 + k).standard_normal(n_rows)
        kind = k % 3
        if kind == 0:
            v = x + 0.05 * s * e
        elif kind == 1:
            v = 1.5 * x + 0.05 * s * e
        else:
            v = np.sign(x) * np.sqrt(np.abs(x)) + 0.05 * e
        cols[f"{name}_w{k}"] = v
    X = pd.DataFrame(cols)
    y = pd.Series(y0.to_numpy()[rows], name="target", dtype="int64")
    return X, y


def table_sha256(X: pd.DataFrame, y: pd.Series | None = None) -> str:
    """Fingerprint of a numeric table (values as float64, row-major, plus y as int64).

    Both sides of a speed comparison record it to show that they timed the same table.
    """
    h = hashlib.sha256(np.ascontiguousarray(X.to_numpy(dtype=np.float64)).tobytes())
    h.update(",".join(map(str, X.columns)).encode())
    if y is not None:
        h.update(np.asarray(y, dtype=np.int64).tobytes())
    return h.hexdigest()


if __name__ == "__main__":
    # Print a short summary, creating any missing split caches.
    for n in NAMES:
        Xtr, Xte, ytr, yte = load(n)
        print(f"{n}: train {Xtr.shape} bad rate {ytr.mean():.4f}; test {Xte.shape} bad rate {yte.mean():.4f}")


CV_FOLDS = 5
CV_SEED = 7


def cv_folds(name: str) -> np.ndarray:
    """Fold (0..4) of every TRAIN row of the shared split, stratified by target; cached like the split.

    Numpy only (a permutation per class from ``default_rng(7)``, folds dealt round-robin), so both
    venvs use the identical folds: cross-validation on the training part is a second, less noisy
    comparison than the single 30 % test part, and never looks at it.
    """
    _, y = load_frame(name)
    train, _ = split_positions(name, y)
    y_train = np.asarray(y)[train]
    path = CACHE_DIR / f"folds_{name}.json"
    checksum = _checksum(pd.Series(y_train))
    if path.exists():
        info = json.loads(path.read_text())
        if info.get("target_sha256") != checksum:
            raise RuntimeError(f"{path} does not match the training rows; delete it to recompute")
        return np.asarray(info["fold"], dtype=np.int64)
    rng = np.random.default_rng(CV_SEED)
    fold = np.empty(len(y_train), dtype=np.int64)
    for cls in np.unique(y_train):
        idx = np.flatnonzero(y_train == cls)
        fold[idx[rng.permutation(len(idx))]] = np.arange(len(idx)) % CV_FOLDS
    _write_cache(path, {"dataset": name, "target_sha256": checksum, "folds": CV_FOLDS, "seed": CV_SEED,
                        "fold": [int(f) for f in fold]})
    return fold


def cross_validate(name: str, fit_predict, metrics) -> dict:
    """Out-of-fold metrics of one model on the TRAIN part of `name`, over `cv_folds(name)`.

    `fit_predict(X_fit, y_fit, X_out)` returns the probability of bad of `X_out` (frames and target with
    fresh 0..n-1 indexes); `metrics(y, p)` returns a dict with at least "auc" and "ks". The result is the
    pooled out-of-fold metrics plus the mean and standard deviation of each fold's AUC and KS.
    """
    X_train, _, y_train, _ = load(name)
    fold = cv_folds(name)
    oof = np.full(len(y_train), np.nan)
    per_fold = []
    for k in range(CV_FOLDS):
        tr, va = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        p = fit_predict(X_train.iloc[tr].reset_index(drop=True), y_train.iloc[tr].reset_index(drop=True),
                        X_train.iloc[va].reset_index(drop=True))
        oof[va] = np.asarray(p, dtype=float)
        per_fold.append(metrics(y_train.iloc[va].to_numpy(), oof[va]))
    out = dict(metrics(y_train.to_numpy(), oof))
    for m in ("auc", "ks"):
        out[f"fold_{m}_mean"] = float(np.mean([f[m] for f in per_fold]))
        out[f"fold_{m}_std"] = float(np.std([f[m] for f in per_fold], ddof=1))
    return out
