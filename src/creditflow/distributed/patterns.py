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
from creditflow.selection.stability import period_bin_counts


def piece_patterns(piece: Piece, labels: np.ndarray, bins: list[VariableBinning]) -> Patterns:
    """The patterns of the training rows of one piece."""
    frame = read_piece(piece, [vb.name for vb in bins])
    keep = labels // 2 == TRAIN
    return Patterns.from_codes([vb.bin_indices(frame[vb.name][keep]) for vb in bins], labels[keep] % 2)


def piece_period_counts(
    piece: Piece, groups: np.ndarray, bins: list[VariableBinning], n_groups: int
) -> list[np.ndarray]:
    """Training rows of one piece per (period group, bin) of each variable (`groups`: each row's group, -1 for
    rows outside training), for the stability step of selection."""
    frame = read_piece(piece, [vb.name for vb in bins])
    keep = groups >= 0
    return [period_bin_counts(groups[keep], vb.bin_indices(frame[vb.name][keep]), n_groups, len(vb.labels))
            for vb in bins]


def piece_newton(
    pat: Patterns, woes: list[np.ndarray], columns: list[int], beta: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, score and information of one piece's patterns for the chosen variables."""
    return logistic_sums(design(pat, woes, columns), pat.y, pat.weight, beta)
