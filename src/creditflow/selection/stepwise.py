"""Stepwise selection of logistic-regression variables by AIC or BIC."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def logit_loglik(X: np.ndarray, y: np.ndarray, max_iter: int = 50, tol: float = 1e-8) -> float:
    """Maximised log-likelihood of an unpenalised logistic regression with intercept (Newton-Raphson)."""
    n = len(y)
    A = np.column_stack([np.ones(n), X]) if X.size else np.ones((n, 1))
    beta = np.zeros(A.shape[1])
    p0 = np.clip(y.mean(), 1e-6, 1 - 1e-6)
    beta[0] = np.log(p0 / (1 - p0))
    ll_old = -np.inf
    for _ in range(max_iter):
        eta = A @ beta
        p = 1.0 / (1.0 + np.exp(-eta))
        ll = float(np.sum(y * eta - np.logaddexp(0.0, eta)))
        if abs(ll - ll_old) < tol * (abs(ll) + 1.0):
            break
        ll_old = ll
        w = p * (1 - p)
        H = A.T @ (A * w[:, None]) + 1e-9 * np.eye(A.shape[1])
        beta = beta + np.linalg.solve(H, A.T @ (y - p))
    return ll


def _ic(ll: float, k: int, n: int, criterion: str) -> float:
    penalty = 2.0 if criterion == "aic" else np.log(n)
    return -2.0 * ll + penalty * (k + 1)


def stepwise(woe: pd.DataFrame, y: np.ndarray, direction: str, criterion: str) -> dict[str, str]:
    """Variables to drop, with the information criterion that decided it."""
    X = woe.to_numpy(dtype=float)
    position = {c: i for i, c in enumerate(woe.columns)}
    return stepwise_search(list(woe.columns), len(y), lambda names: logit_loglik(X[:, [position[c] for c in names]], y),
                           direction, criterion)


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
