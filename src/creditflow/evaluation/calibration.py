"""Calibration: predicted against observed bad rate per grade or bucket, with exact tests.

Per bucket: the binomial test (H0: the bucket's bads ~ Binomial(n, mean predicted PD)), the Jeffreys
interval for the observed bad rate (Beta(d + ½, n − d + ½) quantiles) and the one-sided Jeffreys test
used in the ECB's validation reporting. Overall: the Hosmer–Lemeshow statistic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from creditflow.data.errors import DataError
from creditflow.evaluation._checks import check_target, check_values

__all__ = ["HLResult", "calibration_table", "hosmer_lemeshow", "jeffreys_interval"]


def jeffreys_interval(bads: ArrayLike, n: ArrayLike, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Jeffreys interval for a bad rate with `bads` out of `n`: (low, high) as rates in [0, 1].

    Low is 0 when there are no bads and high is 1 when all are bad (the usual boundary convention).
    """
    d = np.asarray(bads, dtype=float)
    nn = np.asarray(n, dtype=float)
    a, b = d + 0.5, nn - d + 0.5
    alpha = 1.0 - level
    low = np.where(d <= 0, 0.0, stats.beta.ppf(alpha / 2, a, b))
    high = np.where(d >= nn, 1.0, stats.beta.ppf(1 - alpha / 2, a, b))
    return low, high


def _equal_count_groups(p: np.ndarray, groups: int) -> np.ndarray:
    """Group numbers 0..groups-1 by ascending `p`, equal counts, ties split by row order."""
    n = p.shape[0]
    order = np.argsort(p, kind="mergesort")
    g = np.empty(n, dtype=np.int64)
    g[order] = (np.arange(n) * groups) // n
    return g


def _grouping(p: np.ndarray, groups: int | ArrayLike) -> np.ndarray | pd.Categorical:
    if np.isscalar(groups):
        k = int(groups)  # type: ignore[arg-type]
        if k < 1:
            raise DataError(f"groups must be a positive number, got {groups}")
        return _equal_count_groups(p, min(k, p.shape[0]))
    labels = np.asarray(groups, dtype=object)
    if labels.shape[0] != p.shape[0]:
        raise DataError(
            f"found inconsistent numbers of samples: probabilities have {p.shape[0]}, groups have {labels.shape[0]}"
        )
    codes, uniques = pd.factorize(labels)  # missing labels get code -1
    names = [str(u) for u in uniques]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names.append("missing")
    return pd.Categorical.from_codes(codes, categories=names)


def _check_pd(y: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    yy = check_target(y, need_both=False)
    pp = check_values(p, yy.shape[0], "probability")
    if (pp < 0).any() or (pp > 1).any():
        raise DataError("probabilities must lie in [0, 1]", row=int(np.flatnonzero((pp < 0) | (pp > 1))[0]) + 1)
    return yy, pp


def calibration_table(
    y: ArrayLike, p: ArrayLike, groups: int | ArrayLike = 10, *, level: float = 0.95
) -> pd.DataFrame:
    """Predicted vs observed bad rate per group, ordered by predicted bad rate.

    `groups` is a number of equal-count buckets of `p` or one label per row (e.g. the grade). Columns:
    `group`, `count`, `bads`, `predicted` (mean PD), `observed` (bad rate), `jeffreys_low/high`
    (interval for the observed rate), `binom_p` (two-sided exact binomial test of the bads against
    the mean PD), `jeffreys_p` (one-sided: small when the PD underestimates the bads, ECB style)
    and `verdict`: `ok` when the predicted PD lies inside the Jeffreys interval, else
    `underestimates` (predicted below it) or `overestimates`.
    """
    yy, pp = _check_pd(y, p)
    g = _grouping(pp, groups)
    frame = pd.DataFrame({"group": g, "y": yy, "p": pp})
    out = frame.groupby("group", sort=False, observed=True).agg(
        count=("y", "size"), bads=("y", "sum"), predicted=("p", "mean"),
        min_p=("p", "min"), max_p=("p", "max"),
    )
    out = out.sort_values(["predicted", "min_p"], kind="mergesort").reset_index()
    out["group"] = np.arange(1, len(out) + 1) if np.isscalar(groups) else out["group"].astype(str)
    out["observed"] = out["bads"] / out["count"]
    low, high = jeffreys_interval(out["bads"], out["count"], level)
    out["jeffreys_low"], out["jeffreys_high"] = low, high
    out["binom_p"] = [
        stats.binomtest(int(d), int(n), float(min(max(q, 0.0), 1.0))).pvalue
        for d, n, q in zip(out["bads"], out["count"], out["predicted"], strict=True)
    ]
    out["jeffreys_p"] = stats.beta.cdf(out["predicted"], out["bads"] + 0.5, out["count"] - out["bads"] + 0.5)
    out["verdict"] = np.select(
        [out["predicted"] < out["jeffreys_low"], out["predicted"] > out["jeffreys_high"]],
        ["underestimates", "overestimates"],
        "ok",
    )
    cols = ["group", "count", "bads", "predicted", "observed", "jeffreys_low", "jeffreys_high",
            "binom_p", "jeffreys_p", "verdict", "min_p", "max_p"]
    return out[cols]


@dataclass(frozen=True)
class HLResult:
    """Hosmer–Lemeshow goodness of fit: chi-square `statistic` on `df` degrees of freedom, `p_value`."""

    statistic: float
    df: int
    p_value: float
    table: pd.DataFrame

    def _repr_html_(self) -> str:
        return (
            f"<p><b>Hosmer–Lemeshow</b>: χ² = {self.statistic:.3f} on {self.df} df, p = {self.p_value:.4f}</p>"
            + self.table.to_html(index=False, float_format=lambda v: f"{v:.4f}")
        )


def hosmer_lemeshow(
    y: ArrayLike, p: ArrayLike, groups: int | ArrayLike = 10, *, df: int | None = None
) -> HLResult:
    """Hosmer–Lemeshow statistic Σ (O − E)² / (E·(1 − E/n)) over groups, with its chi-square p-value.

    `groups` is a number of equal-count buckets of `p` (deciles by default) or one label per row.
    Degrees of freedom default to groups − 2 (in-sample); on an independent sample some validators
    use the number of groups: pass `df`.
    """
    yy, pp = _check_pd(y, p)
    g = _grouping(pp, groups)
    frame = pd.DataFrame({"group": g, "y": yy, "p": pp})
    t = frame.groupby("group", sort=False, observed=True).agg(
        count=("y", "size"), observed=("y", "sum"), expected=("p", "sum")
    )
    t = t.sort_values("expected", kind="mergesort").reset_index()
    if not np.isscalar(groups):
        t["group"] = t["group"].astype(str)
    denom = t["expected"] * (1.0 - t["expected"] / t["count"])
    t["contribution"] = np.where(denom > 0, (t["observed"] - t["expected"]) ** 2 / denom.where(denom > 0, 1.0), 0.0)
    stat = float(t["contribution"].sum())
    dof = int(df) if df is not None else max(len(t) - 2, 1)
    return HLResult(statistic=stat, df=dof, p_value=float(stats.chi2.sf(stat, dof)), table=t)
