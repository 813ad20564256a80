"""Stepwise selection of logistic-regression variables by AIC or BIC."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from creditflow.selection.logistic import matrix_sums, newton_logistic


def logit_loglik(X: np.ndarray, y: np.ndarray, mean_y: float | None = None) -> float:
    """Maximised log-likelihood of an unpenalised logistic regression with intercept (Newton-Raphson)."""
    X = np.asarray(X, dtype=float).reshape(len(y), -1)
    mean_y = float(np.mean(y)) if mean_y is None else mean_y
    return newton_logistic(matrix_sums(X, y), X.shape[1] + 1, mean_y)[1]


def _ic(ll: float, k: int, n: int, criterion: str) -> float:
    penalty = 2.0 if criterion == "aic" else np.log(n)
    return -2.0 * ll + penalty * (k + 1)


def frame_loglik(woe: pd.DataFrame, y: np.ndarray) -> Callable[[list[str]], float]:
    """Maximised log-likelihood of the logistic model on any named WOE columns of `woe` (for stepwise)."""
    position = {c: i for i, c in enumerate(woe.columns)}
    mean_y = float(np.mean(y))
    matrix: list[np.ndarray] = []  # the float copy of the frame is made on the first call only

    def loglik(names: list[str]) -> float:
        if not matrix:
            matrix.append(woe.to_numpy(dtype=float))
        return logit_loglik(matrix[0][:, [position[c] for c in names]], y, mean_y)

    return loglik


def stepwise(woe: pd.DataFrame, y: np.ndarray, direction: str, criterion: str) -> dict[str, str]:
    """Variables to drop, with the information criterion that decided it."""
    return stepwise_search(list(woe.columns), len(y), frame_loglik(woe, y), direction, criterion)


def stepwise_search(
    cols: list[str], n: int, loglik: Callable[[list[str]], float], direction: str, criterion: str
) -> dict[str, str]:
    """Stepwise search over `cols` given the maximised log-likelihood of any subset (`n` rows)."""

    def score(idx: list[int]) -> float:
        return _ic(loglik([cols[i] for i in idx]), len(idx), n, criterion)

    chosen: list[int] = [] if direction in ("forward", "both") else list(range(len(cols)))
    current = score(chosen)
    while True:
        best, move = current, None
        if direction in ("forward", "both"):
            for j in set(range(len(cols))) - set(chosen):
                s = score(sorted([*chosen, j]))
                if s < best - 1e-9:
                    best, move = s, ("add", j)
        if direction in ("backward", "both") and len(chosen) > 1:
            for j in chosen:
                s = score([k for k in chosen if k != j])
                if s < best - 1e-9:
                    best, move = s, ("remove", j)
        if move is None:
            break
        chosen = sorted([*chosen, move[1]]) if move[0] == "add" else [k for k in chosen if k != move[1]]
        current = best
    name = criterion.upper()
    return {cols[j]: f"stepwise ({direction}, {name}) left it out; final {name} {current:.1f}"
            for j in range(len(cols)) if j not in chosen}
