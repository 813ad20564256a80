"""LightGBM pieces of the gradient-boosted challenger: fixed settings, candidate settings, early-stopped folds,
averaging fold models into one text model, monotone trends from the binning, and probability calibration.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from creditflow.data.errors import BundleError, CreditflowError

# Shallow trees (at most 8 leaves) keep exact reason codes fast (`scoring.treeshap`) and rank as well
# as deeper ones once several are averaged. Candidates are tried in this order; the first is the default.
DEFAULT_CANDIDATES: tuple[dict[str, Any], ...] = (
    {"num_leaves": 7, "min_data_in_leaf": 100, "feature_fraction": 0.6, "bagging_fraction": 0.7, "lambda_l2": 1.0},
    {"num_leaves": 8, "min_data_in_leaf": 50, "feature_fraction": 0.5, "bagging_fraction": 0.8, "lambda_l2": 5.0},
    {"num_leaves": 4, "min_data_in_leaf": 200, "feature_fraction": 0.8, "bagging_fraction": 0.8, "lambda_l2": 1.0},
)
TUNABLE = {"num_leaves", "min_data_in_leaf", "feature_fraction", "bagging_fraction", "lambda_l1", "lambda_l2",
           "max_depth", "min_gain_to_split", "max_bin", "cat_smooth", "min_data_per_group", "max_cat_to_onehot",
           "path_smooth", "extra_trees", "min_sum_hessian_in_leaf"}


def fixed_params(learning_rate: float, seed: int, num_threads: int) -> dict[str, Any]:
    """The settings every fold shares: deterministic, single-seeded, a fixed number of threads."""
    return {
        "objective": "binary", "metric": "auc", "learning_rate": learning_rate, "bagging_freq": 1,
        "seed": seed, "num_threads": num_threads, "deterministic": True, "force_col_wise": True,
        "verbosity": -1, "feature_pre_filter": False,
    }


# the values LightGBM accepts for each tunable setting: (whole number?, lowest, lowest allowed itself?, highest);
# a value outside them would stop the fit midway with LightGBM's own error (and exit status 1 on the command line)
_RANGES: dict[str, tuple[bool, float, bool, float]] = {
    "num_leaves": (True, 1, False, 131072), "min_data_in_leaf": (True, 0, True, math.inf),
    "feature_fraction": (False, 0, False, 1), "bagging_fraction": (False, 0, False, 1),
    "lambda_l1": (False, 0, True, math.inf), "lambda_l2": (False, 0, True, math.inf),
    "max_depth": (True, -math.inf, True, math.inf), "min_gain_to_split": (False, 0, True, math.inf),
    "max_bin": (True, 1, False, math.inf), "cat_smooth": (False, 0, True, math.inf),
    "min_data_per_group": (True, 0, False, math.inf), "max_cat_to_onehot": (True, 0, False, math.inf),
    "path_smooth": (False, 0, True, math.inf), "min_sum_hessian_in_leaf": (False, 0, True, math.inf),
}


def check_candidate(params: dict[str, Any]) -> dict[str, Any]:
    from creditflow.binning.process import real_number, whole_number

    if not isinstance(params, dict):
        raise CreditflowError(f"each candidate must be a mapping of LightGBM settings, e.g. {{\"num_leaves\": 7}}, "
                              f"not {params!r}")
    unknown = set(params) - TUNABLE
    if unknown:
        raise CreditflowError(f"unknown LightGBM setting(s) in a candidate: {sorted(unknown)}; "
                              f"allowed: {sorted(TUNABLE)}")
    out = dict(params)
    for name, value in params.items():
        if name == "extra_trees":
            if not isinstance(value, (bool, np.bool_)):
                raise CreditflowError(f"candidate setting extra_trees must be true or false, not {value!r}")
            continue
        whole, low, low_ok, high = _RANGES[name]
        what = f"candidate setting {name}"
        number = whole_number(value, what) if whole else float(real_number(value, what))
        if not (low <= number if low_ok else low < number) or number > high:
            span = f"{'at least' if low_ok else 'above'} {low:g}" + (f" and at most {high:g}" if high < math.inf else "")
            raise CreditflowError(f"{what} must be {span}, not {value!r}")
        if whole:  # LightGBM reads 8.0 as no whole number
            out[name] = number
    return out


@dataclass
class FoldFit:
    """One early-stopped fold: its booster (cut at the best iteration), out-of-fold margins and AUC."""

    booster: Any
    best_iteration: int
    valid_auc: float
    valid_index: np.ndarray
    valid_margin: np.ndarray


def fit_fold(
    X: np.ndarray, y: np.ndarray, train_idx: np.ndarray, valid_idx: np.ndarray, params: dict[str, Any], *,
    names: Sequence[str], categorical: Sequence[int], max_rounds: int, patience: int,
) -> FoldFit:
    """Train on `train_idx` rows, stop early on the AUC of `valid_idx` rows; margins = log-odds of bad."""
    import lightgbm as lgb

    from creditflow.evaluation.metrics import auc

    ds_params = {k: params[k] for k in ("max_bin", "min_data_in_bin") if k in params}
    ds_params["feature_pre_filter"] = False
    dtrain = lgb.Dataset(X[train_idx], y[train_idx], feature_name=list(names), categorical_feature=list(categorical),
                         params=ds_params, free_raw_data=True)
    dvalid = lgb.Dataset(X[valid_idx], y[valid_idx], reference=dtrain)
    booster = lgb.train(params, dtrain, num_boost_round=max_rounds, valid_sets=[dvalid],
                        callbacks=[lgb.early_stopping(patience, first_metric_only=True, verbose=False)])
    best = int(booster.best_iteration or booster.current_iteration())
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    margin = booster.predict(X[valid_idx], raw_score=True)
    return FoldFit(booster, best, auc(y[valid_idx], margin), valid_idx, margin)


# ------------------------------------------------------------------------------------------------ averaging
_TREE = re.compile(r"^Tree=\d+\n", re.M)


def average_models(texts: Sequence[str]) -> str:
    """One LightGBM text model whose raw score is the mean of the given models' raw scores.

    The trees of every model are concatenated with their leaf (and internal) values divided by the
    number of models; the header comes from the first model, with recomputed tree sizes.
    """
    if len(texts) == 1:
        return texts[0]
    k = len(texts)
    header, blocks, tail = None, [], None
    for text in texts:
        start = text.index("\nTree=0\n") + 1
        end = text.index("end of trees")
        if header is None:
            header, tail = text[:start], text[end:]
        body = text[start:end]
        starts = [m.start() for m in _TREE.finditer(body)] + [len(body)]
        blocks += [_scale_tree(body[a:b], k) for a, b in zip(starts[:-1], starts[1:], strict=True)]
    blocks = [re.sub(r"^Tree=\d+\n", f"Tree={i}\n", b, count=1) for i, b in enumerate(blocks)]
    sizes = " ".join(str(len(b.encode("utf-8"))) for b in blocks)
    header = re.sub(r"^tree_sizes=.*$", f"tree_sizes={sizes}", header, count=1, flags=re.M)
    if "feature_importances:" in tail and "parameters:" in tail:  # the first model's; LightGBM recomputes them
        tail = tail[: tail.index("feature_importances:")] + tail[tail.index("parameters:"):]
    return header + "".join(blocks) + tail


def _scale_tree(block: str, k: int) -> str:
    def scale(match: re.Match) -> str:
        values = [repr(float(v) / k) for v in match.group(2).split()]
        return f"{match.group(1)}={' '.join(values)}"

    return re.sub(r"^(leaf_value|internal_value)=(.*)$", scale, block, flags=re.M)


# ------------------------------------------------------------------------------------------------ monotone
def monotone_trends(frame: pd.DataFrame, y: np.ndarray, numeric: Sequence[str], min_iv: float = 0.02,
                    keep: float = 0.8) -> dict[str, int]:
    """+1 where risk rises with the value, -1 where it falls, 0 where neither trend holds.

    Each numeric column is binned three times (`BinningProcess` with monotonic ascending, descending
    and none). The better monotone direction is kept when its IV is at least `min_iv` and at least
    `keep` of the unconstrained binning's IV (so U-shapes, e.g. of age, stay unconstrained).
    """
    from creditflow.binning.process import BinningProcess, internal_fit

    if not numeric:
        return {}
    cols = frame[list(numeric)]
    with internal_fit():
        iv = {trend: BinningProcess(monotonic=trend).fit(cols, y).iv_ for trend in ("ascending", "descending", "none")}
    out = {}
    for name in map(str, numeric):
        up, down, free = iv["ascending"][name], iv["descending"][name], iv["none"][name]
        best = max(up, down)
        out[name] = (1 if up >= down else -1) if best >= min_iv and best >= keep * free else 0
    return out


# ------------------------------------------------------------------------------------------------ calibration
@dataclass
class Calibration:
    """Map a model's raw margin (log-odds of bad) to a calibrated probability of bad.

    platt: p = 1 / (1 + exp(-(a * margin + b))). isotonic: p = piecewise-linear interpolation of
    (x, y) (clipped at the ends). none: p = 1 / (1 + exp(-margin)).
    """

    method: str = "platt"
    a: float = 1.0
    b: float = 0.0
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    rows: int = 0

    @classmethod
    def fit(cls, margin: np.ndarray, y: np.ndarray, method: str) -> Calibration:
        """Fit on out-of-sample margins and 0/1 targets (1 = bad)."""
        margin = np.asarray(margin, dtype=float)
        y = np.asarray(y, dtype=float)
        if method == "none":
            return cls(method="none", rows=len(y))
        if method == "platt":
            a, b = _platt(margin, y)
            return cls(method="platt", a=a, b=b, rows=len(y))
        if method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            eps = 1e-6
            iso = IsotonicRegression(y_min=eps, y_max=1 - eps, out_of_bounds="clip").fit(margin, y)
            return cls(method="isotonic", x=iso.X_thresholds_.tolist(), y=iso.y_thresholds_.tolist(), rows=len(y))
        raise CreditflowError(f"calibration must be platt, isotonic or none, not {method!r}")

    @property
    def slope(self) -> float:
        """d(log-odds of bad)/d(margin) used to turn margin contributions into score points (1 unless Platt)."""
        return self.a if self.method == "platt" else 1.0

    def logit(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated log-odds of bad."""
        m = np.asarray(margin, dtype=float)
        if self.method == "platt":
            return self.a * m + self.b
        if self.method == "none":
            return m
        p = np.clip(np.interp(m, self.x, self.y), 1e-12, 1 - 1e-12)
        return np.log(p / (1 - p))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        out = cls(**data)
        if out.method not in {"platt", "isotonic", "none"} or (out.method == "isotonic" and len(out.x) < 1):
            raise BundleError(f"bad calibration in the bundle: {out.method!r}")
        return out


def _platt(margin: np.ndarray, y: np.ndarray, iterations: int = 100) -> tuple[float, float]:
    """Maximum-likelihood logistic fit of y on the margin (Newton-Raphson, no regularisation)."""
    a, b = 1.0, 0.0
    X = np.column_stack([margin, np.ones_like(margin)])
    for _ in range(iterations):
        z = a * margin + b
        p = 1.0 / (1.0 + np.exp(-z))
        w = np.maximum(p * (1 - p), 1e-12)
        grad = X.T @ (y - p)
        hess = (X * w[:, None]).T @ X
        step = np.linalg.solve(hess + 1e-9 * np.eye(2), grad)
        a, b = a + float(step[0]), b + float(step[1])
        if math.hypot(*step) < 1e-12:
            break
    return a, b
