"""Optimal merging of pre-bins into bins that maximise IV under size, count and trend constraints.

Exact dynamic programme over contiguous groupings of ordered pre-bins. With a monotonic trend the
state is (bins used, end, start of last bin) and a transition is allowed only when the WOE of the
previous bin is below (ascending) or above (descending) the new one; a sort plus prefix maximum
keeps each step vectorised. Cost is O(max_bins * n_prebins^2 log n_prebins) per variable.
"""

from __future__ import annotations

import numpy as np

NEG = -np.inf


def segment_stats(
    goods: np.ndarray, bads: np.ndarray, total_goods: float, total_bads: float, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WOE, IV and count of every segment [i, j) of the pre-bins, as (n+1, n+1) matrices."""
    cg = np.concatenate([[0.0], np.cumsum(goods, dtype=float)])
    cb = np.concatenate([[0.0], np.cumsum(bads, dtype=float)])
    g = cg[None, :] - cg[:, None]
    b = cb[None, :] - cb[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        woe = np.log((b + alpha) / (total_bads + alpha)) - np.log((g + alpha) / (total_goods + alpha))
        iv = (b / total_bads - g / total_goods) * woe
    return woe, iv, g + b


def optimal_splits(
    goods: np.ndarray,
    bads: np.ndarray,
    *,
    max_bins: int,
    min_count: float,
    trend: str = "none",
    total_goods: float | None = None,
    total_bads: float | None = None,
    alpha: float = 0.5,
) -> tuple[list[int], float]:
    """Best grouping of ordered pre-bins; returns (indices where each bin after the first starts, IV).

    `trend` is "ascending" (WOE, i.e. risk, rises along the order), "descending" or "none".
    Falls back to a single bin when no grouping meets `min_count`.
    """
    n = len(goods)
    if n <= 1:
        return [], 0.0
    tg = float(goods.sum()) if total_goods is None else float(total_goods)
    tb = float(bads.sum()) if total_bads is None else float(total_bads)
    woe, iv, count = segment_stats(goods, bads, tg, tb, alpha)
    upper = np.triu(np.ones((n + 1, n + 1), dtype=bool), k=1)
    valid = upper & (count >= min_count)
    gain = np.where(valid, iv, NEG)
    max_bins = max(1, min(max_bins, n))
    if trend == "none":
        return _dp_free(gain, n, max_bins)
    sign = 1.0 if trend == "ascending" else -1.0
    return _dp_monotonic(gain, sign * np.where(valid, woe, np.nan), n, max_bins)


def _dp_free(gain: np.ndarray, n: int, max_bins: int) -> tuple[list[int], float]:
    # best[k, j]: best IV covering pre-bins [0, j) with k+1 bins; parent[k, j]: start of the last bin.
    best = np.full((max_bins, n + 1), NEG)
    parent = np.zeros((max_bins, n + 1), dtype=int)
    best[0] = gain[0]
    for k in range(1, max_bins):
        cand = best[k - 1][:, None] + gain  # rows: start i, cols: end j
        parent[k] = np.argmax(cand, axis=0)
        best[k] = cand[parent[k], np.arange(n + 1)]
    k = int(np.argmax(best[:, n]))
    if not np.isfinite(best[k, n]):
        return [], 0.0
    starts, j = [], n
    for level in range(k, 0, -1):
        i = int(parent[level, j])
        starts.append(i)
        j = i
    return sorted(starts), float(best[k, n])


def _dp_monotonic(gain: np.ndarray, woe: np.ndarray, n: int, max_bins: int) -> tuple[list[int], float]:
    # f[k, i, j]: best IV for [0, j) in k+1 bins whose last bin is [i, j), WOE strictly increasing.
    f = np.full((max_bins, n + 1, n + 1), NEG)
    back = np.full((max_bins, n + 1, n + 1), -1, dtype=int)
    f[0, 0, :] = gain[0]
    for k in range(1, max_bins):
        for i in range(1, n):
            prev = f[k - 1, :, i]  # over h: last bin [h, i)
            ok = np.isfinite(prev)
            if not ok.any():
                continue
            hs = np.flatnonzero(ok)
            prev_woe = woe[hs, i]
            order = np.argsort(prev_woe, kind="stable")
            sorted_woe = prev_woe[order]
            run_best = np.maximum.accumulate(prev[hs][order])
            run_arg = hs[order][_running_argmax(prev[hs][order])]
            js = np.arange(i + 1, n + 1)
            cur_woe = woe[i, js]
            pos = np.searchsorted(sorted_woe, np.nan_to_num(cur_woe, nan=-np.inf), side="left") - 1
            has = (pos >= 0) & np.isfinite(gain[i, js])
            vals = np.where(has, run_best[np.maximum(pos, 0)] + gain[i, js], NEG)
            f[k, i, js] = vals
            back[k, i, js] = np.where(has, run_arg[np.maximum(pos, 0)], -1)
    flat = f[:, :, n]
    k, i = np.unravel_index(int(np.argmax(flat)), flat.shape)
    total = float(flat[k, i])
    if not np.isfinite(total):
        return [], 0.0
    starts, j = [], n
    while k > 0:
        starts.append(int(i))
        h = int(back[k, i, j])
        j, i, k = i, h, k - 1
    return sorted(starts), total


def binned_g2(goods: np.ndarray, bads: np.ndarray, starts: list[int]) -> float:
    """Likelihood-ratio statistic G^2 of the bins starting at `starts` against one bin (raw counts)."""
    bounds = [0, *starts]
    g = np.add.reduceat(np.asarray(goods, dtype=float), bounds)
    b = np.add.reduceat(np.asarray(bads, dtype=float), bounds)
    n = g + b
    rate = float(b.sum()) / float(n.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(b > 0, b * np.log(b / (n * rate)), 0.0) + np.where(g > 0, g * np.log(g / (n * (1 - rate))), 0.0)
    return float(2.0 * terms.sum())


def _running_argmax(values: np.ndarray) -> np.ndarray:
    """Index of the running maximum at each position (first occurrence)."""
    idx = np.arange(len(values))
    best = np.maximum.accumulate(values)
    is_new = np.concatenate([[True], values[1:] > best[:-1]])
    return np.maximum.accumulate(np.where(is_new, idx, 0))
