"""Pairwise interaction tables for the boosted scorecard: a few, chosen by the data, integer points per cell.

Each table crosses coarse bins of two model variables (their "axis" binnings: at most a handful of
regular bins plus Missing / Special / Unseen). Pairs are ranked by the interaction part of the
second-order gain on the main-effect model's residuals (the gain of the cell table minus the gains of
its two margins), the significant top ones (a Bonferroni-corrected score test) are fitted by bagged cyclic Newton steps on the cells with early
stopping, then centred (their mean goes to the intercept). A table's points are added to the score like
any variable's, so the score is still the base points plus one number per variable and per table.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2

from creditflow.binning.variable import VariableBinning
from creditflow.data.errors import SchemaError

PAIR_SEP = " × "
SELECT_ROWS = 200_000  # pairs are ranked on at most this many rows (a seeded sample)


@dataclass
class PairTable:
    """One interaction table: per-cell log-odds of bad over the axis bins of variables `a` and `b`."""

    a: str
    b: str
    axis_a: VariableBinning
    axis_b: VariableBinning
    logodds: np.ndarray  # flat, cell = index_a * n_b + index_b
    counts: np.ndarray | None = None  # training rows per cell (bundles before 2026-12-06 lack them)

    @property
    def name(self) -> str:
        return f"{self.a}{PAIR_SEP}{self.b}"

    @property
    def labels(self) -> list[str]:
        return [f"{la}{PAIR_SEP}{lb}" for la in self.axis_a.labels for lb in self.axis_b.labels]

    def cell_indices(self, frame: pd.DataFrame) -> np.ndarray:
        nb = len(self.axis_b.labels)
        return self.axis_a.bin_indices(frame[self.a]).astype(np.intp) * nb + self.axis_b.bin_indices(frame[self.b])

    def cell_index(self, row: dict) -> int:
        try:
            va, vb = row[self.a], row[self.b]
        except KeyError as exc:
            raise SchemaError("model field missing from the applicant", column=str(exc.args[0])) from None
        return self.axis_a.bin_index(va) * len(self.axis_b.labels) + self.axis_b.bin_index(vb)

    def to_dict(self) -> dict:
        out = {"variables": [self.a, self.b], "axes": [self.axis_a.to_dict(), self.axis_b.to_dict()],
               "logodds": [float(x) for x in self.logodds]}
        if self.counts is not None:
            out["counts"] = [int(x) for x in self.counts]
        return out

    @classmethod
    def from_dict(cls, data: dict) -> PairTable:
        a, b = data["variables"]
        ax, bx = (VariableBinning.from_dict(d) for d in data["axes"])
        lp = np.asarray(data["logodds"], dtype=float)
        if len(lp) != len(ax.labels) * len(bx.labels):
            raise ValueError(f"interaction {a}{PAIR_SEP}{b}: {len(lp)} cells for a {len(ax.labels)} x {len(bx.labels)} table")
        counts = data.get("counts")
        if counts is not None:
            counts = np.asarray(counts, dtype=np.int64)
            if len(counts) != len(lp):
                raise ValueError(f"interaction {a}{PAIR_SEP}{b}: {len(counts)} counts for {len(lp)} cells")
        return cls(a, b, ax, bx, lp, counts)


def _gain(G: np.ndarray, H: np.ndarray, lam: float) -> float:
    return float(np.sum(G * G / (H + lam)))


def select_pairs(
    axes: dict[str, np.ndarray], sizes: dict[str, int], F: np.ndarray, y: np.ndarray, k: int, lam: float,
    seed: int, alpha: float = 0.05,
) -> list[tuple[str, str, float]]:
    """The `k` pairs with the largest significant interaction statistic: (a, b, statistic), best first.

    `axes[v]` are the rows' axis-bin indices of variable v, `F` the main-effect log-odds of bad. The
    statistic is twice the second-order gain of the cell table over its two margins (a score statistic,
    about chi-square with (cells - bins_a - bins_b + 1) degrees of freedom under no interaction); a pair
    is kept only when it passes at level `alpha` after a Bonferroni correction for all pairs tried.
    """
    n = len(y)
    rows = np.arange(n)
    if n > SELECT_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(n, SELECT_ROWS, replace=False))
    p = 1.0 / (1.0 + np.exp(-F[rows]))
    g, h = y[rows] - p, p * (1 - p)
    ax = {v: i[rows] for v, i in axes.items()}
    margin = {v: _gain(np.bincount(i, g, sizes[v]), np.bincount(i, h, sizes[v]), lam) for v, i in ax.items()}
    used = {v: int((np.bincount(i, minlength=sizes[v]) > 0).sum()) for v, i in ax.items()}
    pairs = list(itertools.combinations(list(axes), 2))
    found = []
    for a, b in pairs:
        m = sizes[a] * sizes[b]
        cell = ax[a].astype(np.intp) * sizes[b] + ax[b]
        stat = 2.0 * (_gain(np.bincount(cell, g, m), np.bincount(cell, h, m), lam) - margin[a] - margin[b])
        df = max(1, int((np.bincount(cell, minlength=m) > 0).sum()) - used[a] - used[b] + 1)
        # a score test of "no interaction", Bonferroni-corrected for every pair tried
        if stat > chi2.isf(alpha / len(pairs), df):
            found.append((a, b, stat))
    found.sort(key=lambda t: (-t[2], t[0], t[1]))
    return found[:k]


def fit_cells(
    cells: list[np.ndarray], sizes: list[int], F: np.ndarray, y: np.ndarray, *, bags: int, validation_size: float,
    learning_rate: float, lam: float, patience: int, max_rounds: int, seed: int, max_rows: int | None = None,
) -> list[np.ndarray]:
    """Per-cell log-odds of each table, boosted on top of `F` (cyclic Newton steps, bagged, early stopped),
    centred on the training rows (the caller moves the means to the intercept)."""
    n = len(y)
    tables_by_bag = []
    for ss in np.random.SeedSequence(seed).spawn(bags):
        rng = np.random.default_rng(ss)
        perm = rng.permutation(n)
        n_va = max(1, int(round(validation_size * n)))
        va, tr = np.sort(perm[:n_va]), perm[n_va:]
        if max_rows is not None and len(tr) > max_rows:
            va = np.sort(perm[: max(1, int(round(validation_size * max_rows / (1 - validation_size))))])
            tr = tr[:max_rows]
        tr = np.sort(tr)
        Ftr, Fva = F[tr].copy(), F[va].copy()
        ytr, yva = y[tr], y[va]
        ctr = [c[tr] for c in cells]
        cva = [c[va] for c in cells]
        tabs = [np.zeros(m) for m in sizes]
        best_loss = float(np.mean(np.logaddexp(0.0, np.where(yva > 0, -Fva, Fva))))
        best, since = [t.copy() for t in tabs], 0
        for _ in range(max_rounds):
            for t, c_tr, c_va, m in zip(tabs, ctr, cva, sizes, strict=True):
                p = 1.0 / (1.0 + np.exp(-Ftr))
                G = np.bincount(c_tr, ytr - p, m)
                H = np.bincount(c_tr, p * (1 - p), m)
                d = learning_rate * G / (H + lam)
                t += d
                Ftr += d[c_tr]
                Fva += d[c_va]
            loss = float(np.mean(np.logaddexp(0.0, np.where(yva > 0, -Fva, Fva))))
            if loss < best_loss - 1e-7:
                best_loss, best, since = loss, [t.copy() for t in tabs], 0
            else:
                since += 1
                if since > patience:
                    break
        tables_by_bag.append(best)
    out = []
    for j, (c, m) in enumerate(zip(cells, sizes, strict=True)):
        t = np.mean([b[j] for b in tables_by_bag], axis=0)
        cnt = np.bincount(c, minlength=m).astype(float)
        t = np.where(cnt > 0, t - np.dot(t, cnt) / cnt.sum(), 0.0)
        out.append(t)
    return out
