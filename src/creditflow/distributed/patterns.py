"""Each piece's training rows as distinct (bins, target) patterns, kept in worker memory between passes.

The patterns and the sums over them are `creditflow.binning.patterns`, the same code the
single-machine fit runs; here a piece is read, compressed, and summed on the worker that holds it.
"""

from __future__ import annotations

import numpy as np

from creditflow.binning.patterns import Patterns, design
from creditflow.binning.variable import VariableBinning
from creditflow.distributed.source import Piece, read_piece
from creditflow.distributed.stats import TRAIN
from creditflow.selection.logistic import logistic_sums


def piece_patterns(piece: Piece, labels: np.ndarray, bins: list[VariableBinning]) -> Patterns:
    """The patterns of the training rows of one piece."""
    frame = read_piece(piece, [vb.name for vb in bins])
    keep = labels // 2 == TRAIN
    return Patterns.from_codes([vb.bin_indices(frame[vb.name][keep]) for vb in bins], labels[keep] % 2)


def piece_newton(
    pat: Patterns, woes: list[np.ndarray], columns: list[int], beta: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, score and information of one piece's patterns for the chosen variables."""
    return logistic_sums(design(pat, woes, columns), pat.y, pat.weight, beta)
