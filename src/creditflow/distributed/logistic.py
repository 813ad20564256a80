"""Logistic regression whose sums come from the workers: the same fits as the single-machine path.

`fit_lbfgs` runs exactly the optimisation `sklearn.linear_model.LogisticRegression(C, solver="lbfgs")`
runs (objective mean half-binomial loss + ||w||^2 / (2 C n), L2 on the weights and not the
intercept, SciPy's L-BFGS-B from zero with sklearn's options), only each loss-and-gradient
evaluation is a sum over pieces. The iterates therefore follow sklearn's to rounding (about 1e-14):
a Newton solve to the exact optimum would differ from sklearn's answer by its stopping tolerance
(about 1e-3 in the coefficients), enough to move points. `newton_loglik` mirrors
`creditflow.selection.logit_loglik` for stepwise selection.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

LossGradient = Callable[[np.ndarray], tuple[float, np.ndarray, float]]
"""coef (weights..., intercept) -> (summed loss, X' pointwise gradient, summed pointwise gradient)."""
NewtonSums = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]
"""beta (intercept, weights...) -> (log-likelihood, score vector, information matrix)."""


def fit_lbfgs(
    evaluate: LossGradient, n_rows: float, n_features: int, C: float, *, max_iter: int = 1000, tol: float = 1e-4
) -> tuple[np.ndarray, float]:
    """(coefficients, intercept) of sklearn's L-BFGS logistic fit, with sums from `evaluate`."""
    from scipy import optimize

    l2 = 1.0 / (C * n_rows)

    def objective(coef: np.ndarray) -> tuple[float, np.ndarray]:
        loss_sum, xg, g0 = evaluate(coef)
        w = coef[:-1]
        loss = loss_sum / n_rows + float(0.5 * l2 * (w @ w))
        grad = np.empty_like(coef)
        grad[:-1] = xg / n_rows + l2 * w
        grad[-1] = g0 / n_rows
        return loss, grad

    res = optimize.minimize(
        objective, np.zeros(n_features + 1), method="L-BFGS-B", jac=True,
        options={"maxiter": max_iter, "maxls": 50, "gtol": tol, "ftol": 64 * np.finfo(float).eps},
    )
    return np.asarray(res.x[:-1], dtype=float), float(res.x[-1])


def newton_loglik(sums: NewtonSums, n_params: int, mean_y: float, max_iter: int = 50, tol: float = 1e-8) -> float:
    """Maximised log-likelihood of an unpenalised logistic regression with intercept (as `logit_loglik`)."""
    beta = np.zeros(n_params)
    p0 = np.clip(mean_y, 1e-6, 1 - 1e-6)
    beta[0] = np.log(p0 / (1 - p0))
    ll_old = -np.inf
    ll = ll_old
    for _ in range(max_iter):
        ll, score, info = sums(beta)
        if abs(ll - ll_old) < tol * (abs(ll) + 1.0):
            break
        ll_old = ll
        beta = beta + np.linalg.solve(info + 1e-9 * np.eye(n_params), score)
    return ll
