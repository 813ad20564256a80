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


def _auc_ks_runs(bads: np.ndarray, goods: np.ndarray) -> tuple[float, float]:
    """AUC and KS from the bads and goods at each distinct probability, in ascending order of probability.

    KS in the model's direction (as `creditflow.evaluation.ks`): goods ahead of bads from the lowest
    probability up, so a model that ranks the wrong way round has a KS of 0."""
    n_bad, n_good = float(bads.sum()), float(goods.sum())
    if n_bad == 0 or n_good == 0:
        return float("nan"), float("nan")
    cum_good = np.cumsum(goods)
    auc = float(np.sum(bads * (cum_good - 0.5 * goods)) / (n_bad * n_good))
    ks = max(float(np.max(cum_good / n_good - np.cumsum(bads) / n_bad)), 0.0)
    return auc, ks


def auc_ks(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """AUC and KS of a probability of bad `p` against 0/1 `y`, both sorted by ascending `p` (ties count 1/2).

    The same numbers as `creditflow.evaluation.auc` and `ks`; NaN when a class is absent.
    """
    if len(y) == 0:
        return float("nan"), float("nan")
    last = np.r_[p[1:] != p[:-1], True]  # last row of each run of equal values
    cum_bad = np.cumsum(y, dtype=float)[last]
    cum_good = np.cumsum(1.0 - y, dtype=float)[last]
    return _auc_ks_runs(np.diff(cum_bad, prepend=0.0), np.diff(cum_good, prepend=0.0))


MAX_DISTINCT = 2_000_000
"""Up to this many distinct probabilities, AUC and KS come from per-value counts (one hash pass);
beyond, from one sort of all rows."""


def auc_ks_by_group(y: np.ndarray, p: np.ndarray, codes: np.ndarray | None, n_groups: int,
                    max_distinct: int = MAX_DISTINCT) -> tuple[tuple[float, float], list[tuple[float, float]]]:
    """AUC and KS overall and for each group code (0 .. n_groups-1), exactly, without a sort per group.

    Scores take far fewer distinct probabilities than there are rows, so the rows are counted per
    distinct value (and group) and the curves are built from those counts; with too many distinct
    values one sort of all rows is used instead.
    """
    value, uniques = pd.factorize(p, sort=False)
    k = len(uniques)
    groups = n_groups if codes is not None else 0
    if k <= max_distinct and (groups + 1) * k <= 4 * max_distinct:
        rank = np.empty(k, dtype=np.intp)
        rank[np.argsort(uniques)] = np.arange(k)
        v = rank[value]
        yf = y.astype(float, copy=False)
        total = np.bincount(v, minlength=k).astype(float)
        bads = np.bincount(v, weights=yf, minlength=k)
        overall = _auc_ks_runs(bads, total - bads)
        if codes is None:
            return overall, []
        key = codes.astype(np.intp) * k + v
        t2 = np.bincount(key, minlength=groups * k).astype(float).reshape(groups, k)
        b2 = np.bincount(key, weights=yf, minlength=groups * k).reshape(groups, k)
        return overall, [_auc_ks_runs(b2[i], t2[i] - b2[i]) for i in range(groups)]
    order = np.argsort(p)
    ys, ps = y[order].astype(float), p[order]
    overall = auc_ks(ys, ps)
    if codes is None:
        return overall, []
    cs = codes[order]
    return overall, [auc_ks(ys[cs == i], ps[cs == i]) for i in range(groups)]
