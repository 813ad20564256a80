"""Training rows compressed to distinct (bin per variable, target) patterns.

A WOE model sees a row only through its bin in each variable, so every likelihood, gradient,
Hessian and WOE cross-product is a sum over distinct patterns weighted by how many rows share
them. A million rows of a real portfolio typically shrink to tens of thousands of patterns; when
they do not, the sums below run over every row (weight 1) at the same cost as an uncompressed fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Patterns:
    """Distinct rows of (bin index per variable, target), with the number of training rows of each."""

    codes: np.ndarray  # (m, k) int16 (int32 past 32,766 bins) bin indices, in the caller's variable order
    y: np.ndarray  # (m,) float64 0/1
    weight: np.ndarray  # (m,) float64 rows per pattern

    @property
    def n_rows(self) -> float:
        return float(self.weight.sum())

    def restrict(self, columns: list[int]) -> Patterns:
        """The same rows seen through some of the variables only, merged into their distinct patterns."""
        rows = np.empty((len(self.y), len(columns) + 1), dtype=self.codes.dtype)
        rows[:, :-1] = self.codes[:, columns]
        rows[:, -1] = self.y
        return Patterns._of_rows(rows, self.weight)

    @classmethod
    def from_codes(cls, codes: list[np.ndarray], y: np.ndarray) -> Patterns:
        """Patterns of the rows whose bin indices per variable are `codes` (one array each) and target `y`."""
        # int16 holds any binning short of 32,767 bins (user splits can ask for many); wider if needed
        widest = max((int(c.max()) for c in codes if len(c)), default=0)
        rows = np.empty((len(y), len(codes) + 1), dtype=np.int16 if widest < 2**15 - 1 else np.int32)
        for j, c in enumerate(codes):
            rows[:, j] = c
        rows[:, -1] = y
        return cls._of_rows(rows)

    @classmethod
    def _of_rows(cls, rows: np.ndarray, weight: np.ndarray | None = None) -> Patterns:
        """Patterns of (codes..., target) rows, each weighing 1 or its `weight`."""
        distinct, total = distinct_rows(rows, weight)
        return cls(codes=np.ascontiguousarray(distinct[:, :-1]), y=distinct[:, -1].astype(float),
                   weight=total.astype(float))


def distinct_rows(rows: np.ndarray, weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a 2-D array in order of first appearance, and how often each occurs
    (or the sum of `weight` over its occurrences).

    Hashing whole rows (``pandas.factorize`` on a bytes view) is several times faster than
    ``numpy.unique(axis=0)``, which sorts them.
    """
    if len(rows) == 0:
        return rows[:0], np.zeros(0, dtype=np.int64)
    rows = np.ascontiguousarray(rows)
    view = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    codes, uniques = pd.factorize(view)
    first = np.full(len(uniques), len(rows), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(rows)))
    return rows[first], np.bincount(codes, weights=weight, minlength=len(uniques))


def woe_matrix(pat: Patterns, woes: list[np.ndarray], columns: list[int], out: np.ndarray | None = None) -> np.ndarray:
    """(m, len(columns)) float64 WOE of the patterns for the chosen variable positions (into `out` if given)."""
    out = np.empty((len(pat.y), len(columns))) if out is None else out
    for i, j in enumerate(columns):
        np.take(woes[j], pat.codes[:, j], out=out[:, i])
    return out


def crossprod(pat: Patterns, woes: list[np.ndarray], centre: np.ndarray) -> np.ndarray:
    """Sum over rows of (w - centre)(w - centre)' for the WOE row vector w of every variable."""
    from scipy.linalg.blas import dsyrk

    k = len(woes)
    if k == 0 or len(pat.y) == 0:
        return np.zeros((k, k))
    x = woe_matrix(pat, woes, list(range(k)))
    x -= centre
    x *= np.sqrt(pat.weight)[:, None]
    # BLAS syrk on the (k, m) transposed view: half the work of x.T @ x, and none of the slow
    # multi-threaded GEMM paths OpenBLAS takes for a tall, narrow product
    upper = dsyrk(1.0, x.T)
    return np.triu(upper) + np.triu(upper, 1).T


def design(pat: Patterns, woes: list[np.ndarray], columns: list[int]) -> np.ndarray:
    """(m, 1 + len(columns)) design matrix: a column of ones, then the WOE of the chosen variables."""
    a = np.empty((len(pat.y), len(columns) + 1))
    a[:, 0] = 1.0
    woe_matrix(pat, woes, columns, out=a[:, 1:])
    return a
