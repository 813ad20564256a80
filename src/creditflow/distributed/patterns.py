"""Training rows compressed to distinct (bins, target) patterns, kept in worker memory between passes.

A WOE model sees a row only through its bin in each variable, so every likelihood, gradient,
Hessian and WOE cross-product is a sum over distinct patterns weighted by how many rows share
them. A piece of a million rows typically shrinks to a few thousand patterns, which is what the
selection and logistic passes iterate over (no re-reading of Parquet).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditflow.binning.variable import VariableBinning
from creditflow.distributed.source import Piece, read_piece
from creditflow.distributed.stats import TRAIN


@dataclass
class Patterns:
    """Distinct rows of (bin index per variable, target), with the number of training rows of each."""

    codes: np.ndarray  # (m, k) int16 bin indices, columns in `variables` order
    y: np.ndarray  # (m,) float64 0/1
    weight: np.ndarray  # (m,) float64 rows per pattern

    @property
    def n_rows(self) -> float:
        return float(self.weight.sum())


def piece_patterns(piece: Piece, labels: np.ndarray, bins: list[VariableBinning]) -> Patterns:
    """The patterns of the training rows of one piece."""
    frame = read_piece(piece, [vb.name for vb in bins])
    keep = labels // 2 == TRAIN
    cols = [vb.bin_indices(frame[vb.name][keep]).astype(np.int16) for vb in bins]
    rows = np.ascontiguousarray(np.column_stack([*cols, (labels[keep] % 2).astype(np.int16)]))
    distinct, counts = distinct_rows(rows)
    return Patterns(codes=np.ascontiguousarray(distinct[:, :-1]), y=distinct[:, -1].astype(float),
                    weight=counts.astype(float))


def distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a 2-D array in order of first appearance, and how often each occurs.

    Hashing whole rows (``pandas.factorize`` on a bytes view) is several times faster than
    ``numpy.unique(axis=0)``, which sorts them.
    """
    if len(rows) == 0:
        return rows[:0], np.zeros(0, dtype=np.int64)
    view = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    codes, _ = pd.factorize(view)
    _, first = np.unique(codes, return_index=True)
    return rows[first], np.bincount(codes)


def woe_matrix(pat: Patterns, woes: list[np.ndarray], columns: list[int]) -> np.ndarray:
    """(m, len(columns)) float64 WOE of the patterns for the chosen variable positions."""
    if not columns:
        return np.zeros((len(pat.y), 0))
    return np.column_stack([woes[j][pat.codes[:, j]] for j in columns])


def piece_crossprod(pat: Patterns, woes: list[np.ndarray], centre: np.ndarray) -> np.ndarray:
    """Sum over rows of (w - centre)(w - centre)' for the WOE row vector w of every variable."""
    x = woe_matrix(pat, woes, list(range(len(woes)))) - centre
    return x.T @ (x * pat.weight[:, None])


def piece_loss_gradient(
    pat: Patterns, woes: list[np.ndarray], columns: list[int], coef: np.ndarray
) -> tuple[float, np.ndarray, float]:
    """sklearn's half-binomial loss summed over rows, X' times its pointwise gradient, and that gradient's sum.

    `coef` is (weights..., intercept) as `LogisticRegression`'s L-BFGS sees it.
    """
    from sklearn._loss.loss import HalfBinomialLoss

    x = woe_matrix(pat, woes, columns)
    raw = x @ coef[:-1] + coef[-1]
    loss, grad = HalfBinomialLoss().loss_gradient(y_true=pat.y, raw_prediction=raw, sample_weight=pat.weight)
    return float(loss.sum()), x.T @ grad, float(grad.sum())


def piece_newton(
    pat: Patterns, woes: list[np.ndarray], columns: list[int], beta: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, score A'(y - p) and information A'WA of a logistic model with intercept first."""
    a = np.column_stack([np.ones(len(pat.y)), woe_matrix(pat, woes, columns)])
    eta = a @ beta
    p = 1.0 / (1.0 + np.exp(-eta))
    w = pat.weight
    ll = float(np.sum(w * (pat.y * eta - np.logaddexp(0.0, eta))))
    return ll, a.T @ (w * (pat.y - p)), a.T @ (a * (w * p * (1 - p))[:, None])
