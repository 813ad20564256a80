"""Discrimination metrics on arrays: AUC, Gini, KS, DeLong confidence intervals, lift/gain and band tables.

Conventions: `y` is 0/1 with 1 = bad. The second argument is a *risk* by default (the probability
of bad: higher = riskier). For a credit score (higher = safer) pass `higher_is_better=True`; every
function then reads the score the right way round, so AUC is above 0.5 for a useful model either way.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from creditflow.data.errors import DataError, caller_level
from creditflow.evaluation._checks import check_target, check_values, interval_labels, risk_of

__all__ = [
    "AUCResult",
    "KSResult",
    "auc",
    "auc_ci",
    "bad_rate_by_band",
    "delong_test",
    "gini",
    "ks",
    "lift_gain_table",
]


def _frame_html(rows: dict[str, object], title: str) -> str:
    body = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>" for k, v in rows.items())
    return f"<table><caption style='text-align:left'><b>{title}</b></caption>{body}</table>"


def _auc_from_risk(y: np.ndarray, risk: np.ndarray) -> float:
    ranks = stats.rankdata(risk)  # average ranks: ties count one half
    n_bad = int(y.sum())
    n_good = y.shape[0] - n_bad
    return float((ranks[y == 1].sum() - n_bad * (n_bad + 1) / 2) / (n_bad * n_good))


def auc(y: ArrayLike, p: ArrayLike, *, higher_is_better: bool = False) -> float:
    """Area under the ROC curve: the chance a random bad looks riskier than a random good (ties count 1/2).

    `p` is a probability of bad; pass `higher_is_better=True` when it is a credit score.
    """
    yy, risk = risk_of(y, p, higher_is_better)
    return _auc_from_risk(yy, risk)


def gini(y: ArrayLike, p: ArrayLike, *, higher_is_better: bool = False) -> float:
    """Gini (accuracy ratio) = 2·AUC − 1, in [−1, 1]."""
    return 2.0 * auc(y, p, higher_is_better=higher_is_better) - 1.0


# --- DeLong -------------------------------------------------------------------------------------------


def _midranks(sorted_values: np.ndarray) -> np.ndarray:
    """1-based ranks of sorted values, ties sharing their mean rank (scipy's rankdata 'average')."""
    if not sorted_values.size:
        return np.empty(0)
    starts = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], sorted_values.size] - 1
    return ((first + last) / 2 + 1)[np.cumsum(starts) - 1]


def _three_midranks(bads: np.ndarray, goods: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Midranks of the bads among themselves, of the goods among themselves and of both together, from one
    stable sort of both together (a stable sort keeps each group's own order): a third of rankdata's sorting."""
    z = np.concatenate([bads, goods])
    order = np.argsort(z, kind="stable")
    zs = z[order]
    tz = np.empty(z.size)
    tz[order] = _midranks(zs)
    is_bad = order < bads.size
    tx, ty = np.empty(bads.size), np.empty(goods.size)
    tx[order[is_bad]] = _midranks(zs[is_bad])
    ty[order[~is_bad] - bads.size] = _midranks(zs[~is_bad])
    return tx, ty, tz


def _delong_components(y: np.ndarray, risks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs and DeLong structural components for k risk vectors (rows of `risks`), O(k·n log n).

    The fast midrank form of Sun & Xu (2014): v10 holds one value per bad, v01 one per good.
    """
    bads, goods = risks[:, y == 1], risks[:, y == 0]
    m, n = bads.shape[1], goods.shape[1]
    tx, ty, tz = np.empty(bads.shape), np.empty(goods.shape), np.empty((risks.shape[0], m + n))
    for r in range(risks.shape[0]):  # values were checked finite (check_values)
        tx[r], ty[r], tz[r] = _three_midranks(bads[r], goods[r])
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return aucs, v10, v01


def _delong_cov(v10: np.ndarray, v01: np.ndarray) -> np.ndarray:
    """DeLong covariance of the AUCs; NaN when there are fewer than two bads or goods (no variance to take)."""
    m, n = v10.shape[1], v01.shape[1]
    if m < 2 or n < 2:
        return np.full((v10.shape[0], v10.shape[0]), np.nan)
    s10 = np.atleast_2d(np.cov(v10, ddof=1))
    s01 = np.atleast_2d(np.cov(v01, ddof=1))
    return s10 / m + s01 / n


@dataclass(frozen=True)
class AUCResult:
    """AUC and Gini with a DeLong confidence interval (`level`, e.g. 0.95)."""

    auc: float
    se: float
    auc_low: float
    auc_high: float
    level: float
    n_bads: int
    n_goods: int

    @property
    def gini(self) -> float:
        return 2.0 * self.auc - 1.0

    @property
    def gini_low(self) -> float:
        return 2.0 * self.auc_low - 1.0

    @property
    def gini_high(self) -> float:
        return 2.0 * self.auc_high - 1.0

    @property
    def variance(self) -> float:
        return self.se**2

    def to_dict(self) -> dict[str, float]:
        return {
            "auc": self.auc, "auc_low": self.auc_low, "auc_high": self.auc_high, "auc_se": self.se,
            "gini": self.gini, "gini_low": self.gini_low, "gini_high": self.gini_high,
            "level": self.level, "n_bads": self.n_bads, "n_goods": self.n_goods,
        }

    def _repr_html_(self) -> str:
        pct = f"{self.level:.0%}"
        return _frame_html(
            {
                "AUC": f"{self.auc:.4f} ({pct} CI {self.auc_low:.4f} – {self.auc_high:.4f})",
                "Gini": f"{self.gini:.4f} ({pct} CI {self.gini_low:.4f} – {self.gini_high:.4f})",
                "bads / goods": f"{self.n_bads:,} / {self.n_goods:,}",
            },
            "Discrimination (DeLong)",
        )


def auc_ci(y: ArrayLike, p: ArrayLike, *, level: float = 0.95, higher_is_better: bool = False) -> AUCResult:
    """AUC with its DeLong standard error and a two-sided `level` interval (clipped to [0, 1]); Gini follows.

    Uses the fast midrank algorithm (Sun & Xu 2014), O(n log n).
    """
    yy, risk = risk_of(y, p, higher_is_better)
    aucs, v10, v01 = _delong_components(yy, risk[None, :])
    var = float(_delong_cov(v10, v01)[0, 0])
    se = float(np.sqrt(max(var, 0.0))) if np.isfinite(var) else float("nan")  # NaN: under two bads or goods
    z = stats.norm.ppf(0.5 + level / 2)
    a = float(aucs[0])
    low, high = (max(0.0, a - z * se), min(1.0, a + z * se)) if np.isfinite(se) else (float("nan"), float("nan"))
    return AUCResult(
        auc=a, se=se, auc_low=float(low), auc_high=float(high), level=level,
        n_bads=int(yy.sum()), n_goods=int(yy.shape[0] - yy.sum()),
    )


def delong_test(
    y: ArrayLike, p_a: ArrayLike, p_b: ArrayLike, *, higher_is_better: bool = False
) -> dict[str, float]:
    """DeLong test that two correlated models on the same rows have equal AUC (two-sided p-value)."""
    yy = check_target(y)
    a = check_values(p_a, yy.shape[0], "p_a")
    b = check_values(p_b, yy.shape[0], "p_b")
    risks = -np.vstack([a, b]) if higher_is_better else np.vstack([a, b])
    aucs, v10, v01 = _delong_components(yy, risks)
    cov = _delong_cov(v10, v01)
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    diff = float(aucs[0] - aucs[1])
    if not np.isfinite(var):  # under two bads or goods: no test
        return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "difference": diff,
                "se": float("nan"), "z": float("nan"), "p_value": float("nan")}
    z = diff / np.sqrt(var) if var > 0 else (0.0 if diff == 0 else np.inf * np.sign(diff))
    return {
        "auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "difference": diff,
        "se": float(np.sqrt(max(var, 0.0))), "z": float(z), "p_value": float(2 * stats.norm.sf(abs(z))),
    }


# --- KS -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KSResult:
    """Kolmogorov–Smirnov: the largest lead of the cumulative share of bads over that of goods, rejecting
    from the riskiest value (0 for a model that ranks the wrong way round).

    `threshold` is the value (score or probability) where it occurs; `curve` has one row per distinct
    value, ordered from riskiest to safest, with `population` (cumulative share of rows), `bads`
    (cumulative share of bads = TPR), `goods` (= FPR) and `ks` = bads − goods.
    """

    statistic: float
    threshold: float
    population: float
    curve: pd.DataFrame
    higher_is_better: bool

    @property
    def rule(self) -> str:
        op = "<=" if self.higher_is_better else ">="
        return f"reject when value {op} {self.threshold:g}"

    def _repr_html_(self) -> str:
        return _frame_html(
            {"KS": f"{self.statistic:.4f}", "at": self.rule, "population beyond": f"{self.population:.1%}"},
            "Kolmogorov–Smirnov",
        )


def ks(y: ArrayLike, p: ArrayLike, *, higher_is_better: bool = False) -> KSResult:
    """KS = max (TPR − FPR) over all cutoffs, rejecting the riskiest first; the cutoff and the KS curve.

    In the model's direction: bads ahead of goods when rejecting from the riskiest value (highest
    probability of bad, or lowest score with `higher_is_better`). A model that ranks the wrong way round
    (AUC below 0.5) has a KS near 0, not the gap of its reversed ranking. For any model with AUC above 0.5
    in practice this is the two-sample KS statistic between the values of bads and of goods.
    """
    yy, risk = risk_of(y, p, higher_is_better)
    order = np.argsort(-risk, kind="mergesort")  # riskiest first
    r, ys = risk[order], yy[order]
    n_bad = int(ys.sum())
    n_good = ys.shape[0] - n_bad
    last = np.r_[r[1:] != r[:-1], True]  # last row of each run of equal values
    cum_bad = np.cumsum(ys)[last] / n_bad
    cum_good = np.cumsum(1 - ys)[last] / n_good
    pop = (np.flatnonzero(last) + 1) / ys.shape[0]
    diff = cum_bad - cum_good  # its last value is 1 - 1 = 0: rejecting everyone separates nothing
    i = int(np.argmax(diff))
    # called by the user (2): the report and the monitor judge a model ranking the wrong way round themselves
    if -diff.min() > diff[i] + 0.1 and caller_level() == 2:
        # a score given where a probability of bad was meant (or the reverse) reads as "no separation"
        warnings.warn(f"KS {diff[i]:.3f} with {'lower' if higher_is_better else 'higher'} values the riskier, "
                      f"{-diff.min():.3f} the other way round: pass higher_is_better={not higher_is_better} if "
                      f"{'a higher' if not higher_is_better else 'a lower'} value is the safer", stacklevel=2)
    thresholds = -r[last] if higher_is_better else r[last]
    curve = pd.DataFrame(
        {"threshold": thresholds, "population": pop, "bads": cum_bad, "goods": cum_good, "ks": diff}
    )
    return KSResult(
        statistic=float(diff[i]), threshold=float(thresholds[i]), population=float(pop[i]),
        curve=curve, higher_is_better=higher_is_better,
    )


# --- Lift, gain, bands --------------------------------------------------------------------------------


def lift_gain_table(
    y: ArrayLike, p: ArrayLike, *, groups: int = 10, higher_is_better: bool = False
) -> pd.DataFrame:
    """Lift and gain by `groups` equal-count groups, group 1 the riskiest (deciles by default).

    Ties are split by row order so the groups have equal counts. Columns: value range (`min`, `max`,
    in the units of `p`), `count`, `bads`, `goods`, `bad_rate`, `cum_population`, `cum_bads`,
    `gain` (cumulative share of all bads captured), `lift` (bad rate / overall), `cum_lift`, `ks`.
    """
    yy, risk = risk_of(y, p, higher_is_better)
    values = -risk if higher_is_better else risk
    n = yy.shape[0]
    groups = max(1, min(int(groups), n))
    order = np.argsort(-risk, kind="mergesort")
    g = np.empty(n, dtype=np.int64)
    g[order] = (np.arange(n) * groups) // n
    count = np.bincount(g, minlength=groups)
    bads = np.bincount(g, weights=yy, minlength=groups).astype(np.int64)
    frame = pd.DataFrame({"g": g, "v": values}).groupby("g")["v"].agg(["min", "max"])
    total_bads, overall = int(yy.sum()), float(yy.mean())
    out = pd.DataFrame({"group": np.arange(1, groups + 1), "min": frame["min"].to_numpy(),
                        "max": frame["max"].to_numpy(), "count": count, "bads": bads, "goods": count - bads})
    out["bad_rate"] = out["bads"] / out["count"]
    out["cum_population"] = out["count"].cumsum() / n
    out["cum_bads"] = out["bads"].cumsum()
    out["cum_bad_rate"] = out["cum_bads"] / out["count"].cumsum()
    out["gain"] = out["cum_bads"] / total_bads
    out["lift"] = out["bad_rate"] / overall
    out["cum_lift"] = out["cum_bad_rate"] / overall
    out["ks"] = out["gain"] - out["goods"].cumsum() / (n - total_bads)
    return out


def bad_rate_by_band(
    y: ArrayLike, values: ArrayLike, edges: ArrayLike | None = None, *, bands: int = 10
) -> pd.DataFrame:
    """Count, share and bad rate per band.

    Numeric `values` (e.g. a score) are cut at `edges` into left-closed intervals [a, b); without edges
    at the quantiles of `values` (`bands` equal-count bands, fewer when values tie). Non-numeric
    values (e.g. grades) are their own bands, in sorted order.
    """
    yy = check_target(y, need_both=False)
    v = pd.Series(np.asarray(values))
    if len(v) != yy.shape[0]:
        raise DataError(f"found inconsistent numbers of samples: target has {yy.shape[0]}, values has {len(v)}")
    numeric = pd.api.types.is_numeric_dtype(v.dtype) and not pd.api.types.is_bool_dtype(v.dtype)
    if numeric:
        arr = check_values(v.to_numpy(dtype=float), yy.shape[0], "values", allow_missing=True)
        if edges is None:
            qs = np.nanquantile(arr, np.linspace(0, 1, bands + 1)[1:-1]) if np.isfinite(arr).any() else []
            cuts = np.unique(qs)
        else:
            cuts = np.unique(np.asarray(edges, dtype=float))
            cuts = cuts[np.isfinite(cuts)]
        idx = np.searchsorted(cuts, arr, side="right")
        labels = interval_labels(cuts)
        band = pd.Categorical.from_codes(np.where(np.isnan(arr), -1, idx), categories=labels)
        key = pd.Series(band).cat.add_categories(["missing"]).fillna("missing")
    else:
        key = v.astype(object).where(v.notna(), "missing").astype(str)
    frame = pd.DataFrame({"band": key, "y": yy, "v": v if numeric else np.nan})
    out = frame.groupby("band", observed=True, sort=True).agg(
        count=("y", "size"), bads=("y", "sum"), min=("v", "min"), max=("v", "max")
    ).reset_index()
    out["band"] = out["band"].astype(str)
    out["share"] = out["count"] / yy.shape[0]
    out["goods"] = out["count"] - out["bads"]
    out["bad_rate"] = out["bads"] / out["count"]
    cols = ["band", "min", "max", "count", "share", "bads", "goods", "bad_rate"]
    return out[cols] if numeric else out[[c for c in cols if c not in ("min", "max")]]
