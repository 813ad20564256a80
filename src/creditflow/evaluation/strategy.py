"""Cutoff strategy: what each score cutoff approves and rejects, and champion/challenger swap sets.

A row is approved when its score is at or above the cutoff (credit scores: higher is better). For a
probability of bad pass `higher_is_better=False`: approved when at or below the cutoff.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from creditflow.data.errors import DataError
from creditflow.evaluation._checks import check_target, check_values

__all__ = ["default_cutoffs", "strategy_table", "swap_set"]


def default_cutoffs(score: ArrayLike, steps: int = 20) -> np.ndarray:
    """Cutoffs at the 1/steps … (steps−1)/steps quantiles of `score` (5 % steps by default), distinct,
    rounded to integers when the score is integer-valued."""
    s = np.asarray(score, dtype=float)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return np.array([])
    q = np.quantile(s, np.linspace(0, 1, steps + 1)[1:-1])
    if np.all(s == np.round(s)):
        q = np.round(q)
    return np.unique(q)


def strategy_table(
    y: ArrayLike, score: ArrayLike, cutoffs: ArrayLike | None = None, *, higher_is_better: bool = True
) -> pd.DataFrame:
    """One row per cutoff: approved/rejected counts, approval rate, bad rate among approved and rejected,
    share of all bads rejected and of all goods rejected. O(n log n + k)."""
    yy = check_target(y, need_both=False)
    s = check_values(score, yy.shape[0], "score")
    cuts = default_cutoffs(s) if cutoffs is None else np.asarray(cutoffs, dtype=float)
    order = np.argsort(s, kind="mergesort")
    ss = s[order]
    cum_bads = np.r_[0, np.cumsum(yy[order])]
    n, total_bads = yy.shape[0], int(yy.sum())
    if higher_is_better:
        n_low = np.searchsorted(ss, cuts, side="left")  # rows below the cutoff are rejected
        rejected, bads_rej = n_low, cum_bads[n_low]
    else:
        n_low = np.searchsorted(ss, cuts, side="right")  # rows at or below the cutoff are approved
        rejected, bads_rej = n - n_low, total_bads - cum_bads[n_low]
    approved = n - rejected
    bads_app = total_bads - bads_rej
    total_goods = n - total_bads
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame({
            "cutoff": cuts,
            "approved": approved,
            "rejected": rejected,
            "approval_rate": approved / n,
            "bads_approved": bads_app,
            "goods_approved": approved - bads_app,
            "bad_rate_approved": np.where(approved > 0, bads_app / np.maximum(approved, 1), np.nan),
            "bads_rejected": bads_rej,
            "bad_rate_rejected": np.where(rejected > 0, bads_rej / np.maximum(rejected, 1), np.nan),
            "bads_rejected_share": bads_rej / total_bads if total_bads else np.nan,
            "goods_rejected_share": (rejected - bads_rej) / total_goods if total_goods else np.nan,
        })
    return out


def swap_set(
    y: ArrayLike,
    score_a: ArrayLike,
    score_b: ArrayLike,
    cutoff_a: float,
    cutoff_b: float,
    *,
    higher_is_better: bool = True,
) -> pd.DataFrame:
    """Champion (a) vs challenger (b) decisions on the same rows, four segments:
    `kept approved`, `swap-out` (a approves, b rejects), `swap-in` (a rejects, b approves) and
    `kept rejected`, each with count, share, bads, goods and bad rate, plus a `total` row."""
    yy = check_target(y, need_both=False)
    a = check_values(score_a, yy.shape[0], "score_a")
    b = check_values(score_b, yy.shape[0], "score_b")
    if not (np.isfinite(cutoff_a) and np.isfinite(cutoff_b)):
        raise DataError(f"cutoffs must be finite numbers, got {cutoff_a} and {cutoff_b}")
    app_a = a >= cutoff_a if higher_is_better else a <= cutoff_a
    app_b = b >= cutoff_b if higher_is_better else b <= cutoff_b
    segments = [
        ("kept approved", "approve", "approve", app_a & app_b),
        ("swap-out", "approve", "reject", app_a & ~app_b),
        ("swap-in", "reject", "approve", ~app_a & app_b),
        ("kept rejected", "reject", "reject", ~app_a & ~app_b),
        ("total", "", "", np.ones_like(app_a)),
    ]
    rows = []
    n = yy.shape[0]
    for name, da, db, mask in segments:
        count, bads = int(mask.sum()), int(yy[mask].sum())
        rows.append({
            "segment": name, "champion": da, "challenger": db, "count": count,
            "share": count / n if n else np.nan, "bads": bads, "goods": count - bads,
            "bad_rate": bads / count if count else np.nan,
        })
    return pd.DataFrame(rows)
