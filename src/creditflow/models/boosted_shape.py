"""Compress a fine boosted shape into a readable points table: few bins, optionally monotone.

A shape is a log-odds contribution per fine regular bin (ordered by value for numeric variables). The
compression (1) optionally projects it on a monotone trend by isotonic regression, (2) cuts
the ordered bins into at most `max_bins` contiguous segments, each holding at least `min_bin_share` of
the rows, minimising the squared error to the shape weighted by the bins' log-loss curvature (so the
error approximates the training log-likelihood lost; exact dynamic programme), and
(3) merges neighbours whose points differ by less than `merge_points`. Each final bin takes the
curvature-weighted mean of its fine values (the Newton value of the merged bin).
Categories have no order: they are sorted by their value first, so groups join categories of similar risk.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from creditflow.data.errors import CreditflowError

TRENDS = ("auto", "ascending", "descending", "none")


@dataclass
class ShapeSettings:
    """Readability of the points table (bins are regular bins; Missing and Special bins come on top)."""

    max_bins: int = 12
    min_bin_share: float = 0.005  # of the training rows, per regular bin
    monotone: str = "auto"  # numeric variables: auto | ascending | descending | none (risk vs value)
    auto_tolerance: float = 0.1  # auto: monotone when that costs at most this training log-likelihood
    merge_points: float = 0.5  # neighbours whose points differ by less than this are merged

    def check(self) -> None:
        if not 2 <= int(self.max_bins) <= 256:
            raise CreditflowError(f"max_bins must be between 2 and 256 (one bin gives every row the same points), "
                                  f"not {self.max_bins}")
        if not 0 <= self.min_bin_share < 0.5:
            raise CreditflowError(f"min_bin_share must be in [0, 0.5), not {self.min_bin_share}")
        if self.monotone not in TRENDS:
            raise CreditflowError(f"monotone must be one of {', '.join(TRENDS)}, not {self.monotone!r}")
        if self.auto_tolerance < 0:
            raise CreditflowError(f"auto_tolerance must be >= 0, not {self.auto_tolerance}")
        if self.merge_points < 0:
            raise CreditflowError(f"merge_points must be >= 0, not {self.merge_points}")

    def to_dict(self) -> dict:
        return asdict(self)


def isotonic(f: np.ndarray, w: np.ndarray, increasing: bool = True) -> np.ndarray:
    """Weighted least-squares monotone fit of `f` (pool adjacent violators); zero weights follow neighbours."""
    f = np.asarray(f, dtype=float)
    w = np.asarray(w, dtype=float)
    if not increasing:
        return -isotonic(-f, w, True)
    vals: list[float] = []
    wts: list[float] = []
    lens: list[int] = []
    for x, wt in zip(f, w, strict=True):
        vals.append(float(x))
        wts.append(float(wt))
        lens.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            wsum = wts[-2] + wts[-1]
            v = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / wsum if wsum > 0 else (vals[-2] + vals[-1]) / 2
            vals[-2:] = [v]
            wts[-2:] = [wsum]
            lens[-2:] = [lens[-2] + lens[-1]]
    return np.repeat(vals, lens)


def choose_trend(f: np.ndarray, w: np.ndarray, monotone: str, tolerance: float) -> str:
    """ascending / descending (risk rising / falling with the value) or none.

    `w` are the bins' log-loss curvatures (sums of p(1 - p)), so half the `w`-weighted squared distance
    to the isotonic fit approximates the training log-likelihood lost by imposing the trend; auto picks
    the cheaper direction when that loss is at most `tolerance` (the default 0.1 accepts only shapes that
    are monotone up to wiggles; about 2 would be a likelihood-ratio test at 5%, which on the benchmark data
    forced trends that cost test AUC).
    """
    if monotone != "auto":
        return monotone
    if len(f) < 3 or w.sum() <= 0:
        return "none"
    cost = {t: 0.5 * float(np.dot(w, (f - isotonic(f, w, t == "ascending")) ** 2)) for t in ("ascending", "descending")}
    best = min(cost, key=lambda t: cost[t])
    return best if cost[best] <= tolerance else "none"


def segment(f: np.ndarray, w: np.ndarray, c: np.ndarray, max_segments: int, min_count: float) -> list[int]:
    """Start positions (after 0) of at most `max_segments` contiguous segments of `f`, each holding at
    least `min_count` of the counts `c`, minimising the `w`-weighted squared error to the segment means."""
    B = len(f)
    if B <= 1 or max_segments <= 1:
        return []
    W = np.concatenate([[0.0], np.cumsum(w)])
    N = np.concatenate([[0.0], np.cumsum(c)])
    S = np.concatenate([[0.0], np.cumsum(w * f)])
    Q = np.concatenate([[0.0], np.cumsum(w * f * f)])
    a = np.arange(B + 1)[:, None]
    b = np.arange(B + 1)[None, :]
    ww = W[b] - W[a]
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = Q[b] - Q[a] - np.where(ww > 0, (S[b] - S[a]) ** 2 / ww, 0.0)
    cost = np.where((b > a) & (N[b] - N[a] >= min_count), np.maximum(cost, 0.0), np.inf)
    best = [cost[0]]  # best[k - 1][e]: least cost of k segments covering [0, e)
    back = [np.zeros(B + 1, dtype=np.intp)]
    cols = np.arange(B + 1)
    for _ in range(2, max_segments + 1):
        tot = best[-1][:, None] + cost
        arg = np.argmin(tot, axis=0)
        best.append(tot[arg, cols])
        back.append(arg)
    finals = np.array([bk[B] for bk in best])
    if not np.isfinite(finals).any():
        return []
    # fewest segments within a hair of the least cost, so equal fits prefer the simpler table
    k = int(np.flatnonzero(finals <= finals.min() + 1e-12 * max(1.0, abs(finals.min())))[0])
    starts, e = [], B
    for level in range(k, 0, -1):
        s = int(back[level][e])
        starts.append(s)
        e = s
    return sorted(starts)


def _merge_close(groups: list[np.ndarray], f: np.ndarray, w: np.ndarray, tol: float) -> list[np.ndarray]:
    """Merge neighbouring groups (index arrays) while the closest pair's values differ by less than `tol`."""
    def value(g: np.ndarray) -> float:
        ws = w[g].sum()
        return float(np.dot(w[g], f[g]) / ws) if ws > 0 else float(np.mean(f[g]))

    groups = list(groups)
    while len(groups) > 1 and tol > 0:
        vals = [value(g) for g in groups]
        gaps = np.abs(np.diff(vals))
        i = int(np.argmin(gaps))
        if gaps[i] >= tol:
            break
        groups[i : i + 2] = [np.concatenate([groups[i], groups[i + 1]])]
    return groups


@dataclass
class Compressed:
    """Final regular bins of one variable: `mapping[fine regular bin]` = final bin, and each final bin's value."""

    mapping: np.ndarray
    values: np.ndarray
    trend: str


def compress(
    f: np.ndarray, counts: np.ndarray, hessian: np.ndarray, ordered: bool, settings: ShapeSettings, n_rows: int,
    factor: float, monotone: str | None = None,
) -> Compressed:
    """Compress the regular part `f` of a fine shape (log-odds per fine bin, `counts` training rows each).

    The fit is weighted by `hessian` (each bin's sum of p(1 - p) on the training rows), so its squared
    error approximates lost log-likelihood. `factor` turns log-odds into points (points = -factor *
    log-odds), for the merge tolerance. `monotone` overrides the settings' trend (numeric only).
    """
    f = np.asarray(f, dtype=float)
    counts = np.asarray(counts, dtype=float)
    w = np.asarray(hessian, dtype=float)
    R = len(f)
    if R == 0:
        return Compressed(np.zeros(0, dtype=np.intp), np.zeros(0), "none")
    seen = counts > 0
    if ordered:
        order = np.arange(R)
        trend = choose_trend(f[seen], w[seen], monotone or settings.monotone, settings.auto_tolerance)
        g = f.copy()
        if trend in ("ascending", "descending"):
            g[seen] = isotonic(f[seen], w[seen], trend == "ascending")
    else:
        order = np.lexsort((np.arange(R), f))
        trend, g = "none", f.copy()
    go, wo, co = g[order], w[order], counts[order]
    starts = segment(go, wo, co, int(settings.max_bins), settings.min_bin_share * n_rows)
    bounds = [0, *starts, R]
    groups = [np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    groups = _merge_close(groups, go, wo, settings.merge_points / factor)
    mapping = np.empty(R, dtype=np.intp)
    values = np.empty(len(groups))
    for k, grp in enumerate(groups):
        mapping[order[grp]] = k
        ws = wo[grp].sum()
        values[k] = np.dot(wo[grp], go[grp]) / ws if ws > 0 else 0.0
    return Compressed(mapping, values, trend)
