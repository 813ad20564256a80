"""Scored rows in the compact form monitoring needs on big tables: score, probability and grade codes,
with exact AUC and KS for many groups (periods) from one sort."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditflow.scoring.scaling import Grades

SAMPLE = 10_000
"""Rows checked to confirm that the model's grades are its grade bands applied to its scores."""


@dataclass
class Scored:
    """`score` (float), `probability` (of bad) and `grade` as codes into `grades` (-1: a grade not listed)."""

    score: np.ndarray
    probability: np.ndarray
    grade: np.ndarray
    grades: list[str]

    @classmethod
    def from_scores(cls, scores: pd.DataFrame, grades: list[str], bands: Grades | None = None) -> Scored:
        """From a model's `scores` frame; grade names are turned into codes into `grades`."""
        score = scores["score"].to_numpy(dtype=float)
        names = scores["grade"].to_numpy(dtype=object)
        codes = _codes_from_bands(score, names, grades, bands)
        if codes is None:
            codes = pd.Categorical(names, categories=grades).codes.astype(np.intp)
        return cls(score=score, probability=scores["probability"].to_numpy(dtype=float), grade=codes, grades=grades)


def _codes_from_bands(score: np.ndarray, names: np.ndarray, grades: list[str], bands: Grades | None
                      ) -> np.ndarray | None:
    """Grade codes looked up from whole-number scores (fast), when a sample confirms the bands give the grades."""
    if bands is None or len(score) == 0 or not np.isfinite(score).all():
        return None
    lo, hi = float(score.min()), float(score.max())
    if hi - lo > 1_000_000 or not np.array_equal(score, np.floor(score)):
        return None
    grid = bands.assign(np.arange(lo, hi + 1))
    position = {g: i for i, g in enumerate(grades)}
    grid_codes = np.array([position.get(g, -1) for g in grid], dtype=np.intp)
    codes = grid_codes[(score - lo).astype(np.intp)]
    check = np.unique(np.linspace(0, len(score) - 1, min(SAMPLE, len(score))).astype(np.intp))
    expected = np.array([position.get(g, -1) for g in names[check]], dtype=np.intp)
    return codes if np.array_equal(codes[check], expected) else None


def auc_ks(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """AUC and KS of a probability of bad `p` against 0/1 `y`, both sorted by ascending `p` (ties count 1/2).

    The same numbers as `creditflow.evaluation.auc` and `ks`; NaN when a class is absent.
    """
    n_bad = float(y.sum())
    n_good = float(len(y) - n_bad)
    if n_bad == 0 or n_good == 0:
        return float("nan"), float("nan")
    last = np.r_[p[1:] != p[:-1], True]  # last row of each run of equal values
    cum_bad = np.cumsum(y, dtype=float)[last]
    cum_good = np.cumsum(1.0 - y, dtype=float)[last]
    bad_run = np.diff(cum_bad, prepend=0.0)
    good_run = np.diff(cum_good, prepend=0.0)
    auc = float(np.sum(bad_run * (cum_good - good_run + 0.5 * good_run)) / (n_bad * n_good))
    ks = float(np.max(np.abs(cum_bad / n_bad - cum_good / n_good)))
    return auc, ks


def auc_ks_by_group(y: np.ndarray, p: np.ndarray, codes: np.ndarray | None, n_groups: int
                    ) -> tuple[tuple[float, float], list[tuple[float, float]]]:
    """AUC and KS overall and for each group code, from a single sort of `p`."""
    order = np.argsort(p)
    ys, ps = y[order].astype(float), p[order]
    overall = auc_ks(ys, ps)
    if codes is None:
        return overall, []
    cs = codes[order]
    per = []
    for i in range(n_groups):
        m = cs == i
        per.append(auc_ks(ys[m], ps[m]))
    return overall, per
