"""Logistic regression by Newton's method on summed statistics: one solver for every path.

The solver only sees a function beta -> (log-likelihood, score, information), so the same code
fits the rows of one machine (`creditflow.binning.patterns`), patterns held by Dask workers, or a
plain design matrix. It maximises

    log-likelihood - ||w||^2 / (2 C)          (the intercept is not penalised)

which is the optimum of ``sklearn.linear_model.LogisticRegression(C=C)``; Newton reaches it to
rounding in a handful of iterations (warm starts after dropping a variable take two or three),
where L-BFGS stops at its tolerance (about 1e-4 in the gradient). With ``C = inf`` it is the
unpenalised maximum likelihood used by stepwise selection.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

NewtonSums = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]
"""beta (intercept, weights...) -> (log-likelihood, score vector, information matrix)."""


def newton_logistic(
    sums: NewtonSums,
    n_params: int,
    mean_y: float,
    C: float = np.inf,
    start: np.ndarray | None = None,
    max_iter: int = 100,
    tol: float = 1e-8,
) -> tuple[np.ndarray, float]:
    """(beta, log-likelihood) at the penalised maximum; beta = (intercept, weights...)."""
    penalty = np.full(n_params, 0.0 if np.isinf(C) else 1.0 / C)
    penalty[0] = 0.0
    if start is None:
        beta = np.zeros(n_params)
        p0 = float(np.clip(mean_y, 1e-6, 1 - 1e-6))
        beta[0] = np.log(p0 / (1 - p0))
    else:
        beta = np.asarray(start, dtype=float).copy()
    ll, score, info = sums(beta)
    f = ll - 0.5 * float(penalty @ beta**2)
    ridge = np.diag(penalty) + 1e-9 * np.eye(n_params)  # 1e-9 keeps a singular information solvable
    for _ in range(max_iter):
        step = np.linalg.solve(info + ridge, score - penalty * beta)
        if np.max(np.abs(step)) <= tol * (1.0 + np.max(np.abs(beta))):
            # quadratic convergence: what remains after this step is of the order of its square,
            # so take it without paying for another pass over the rows
            beta = beta + step
            break
        for _halving in range(40):
            cand = beta + step
            ll_c, score_c, info_c = sums(cand)
            f_c = ll_c - 0.5 * float(penalty @ cand**2)
            if f_c >= f - 1e-12 * (abs(f) + 1.0):
                break
            step = step / 2.0
        gain = f_c - f
        beta, ll, score, info, f = cand, ll_c, score_c, info_c, f_c
        if abs(gain) <= 1e-15 * (abs(f) + 1.0):
            break
    return beta, ll


def logistic_sums(a: np.ndarray, y: np.ndarray, weight: np.ndarray, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, score A'(y - p) and information A'WA of a logistic model on design `a` (intercept first)."""
    eta = a @ beta
    p = 1.0 / (1.0 + np.exp(-eta))
    ll = float(np.sum(weight * (y * eta - np.logaddexp(0.0, eta))))
    return ll, a.T @ (weight * (y - p)), a.T @ (a * (weight * p * (1 - p))[:, None])


def matrix_sums(X: np.ndarray, y: np.ndarray) -> NewtonSums:
    """`NewtonSums` of a dense design, one row per observation: an intercept column is added in front of `X`."""
    a = np.column_stack([np.ones(len(y)), X]) if X.size else np.ones((len(y), 1))
    w = np.ones(len(y))
    return lambda beta: logistic_sums(a, y, w, beta)
