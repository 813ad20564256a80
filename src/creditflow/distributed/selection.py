"""Variable selection from merged sums: the steps and reasons of `creditflow.selection.select_features`.

IV and missing rates come from the merged counts; the WOE correlation matrix (for the correlation
and VIF filters) from the summed centred cross-products of the WOE columns. Stepwise fits its
candidate models with `newton_loglik` on the workers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from creditflow.selection.filters import SelectionSettings
from creditflow.selection.stepwise import _ic

Loglik = Callable[[list[str]], float]
"""Maximised log-likelihood of the logistic model on the named variables (intercept only when empty)."""


def correlation(crossprod: np.ndarray, n_rows: int) -> np.ndarray:
    """Correlation matrix from the centred cross-products of `n_rows` rows, in `numpy.corrcoef`'s steps."""
    c = crossprod * np.true_divide(1, n_rows - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(np.diag(c))
        c = c / sd[:, None]
        c = c / sd[None, :]
    return np.clip(c, -1, 1)


def _correlation_filter(cols: list[str], corr: pd.DataFrame, iv: pd.Series, max_corr: float) -> dict[str, str]:
    cols = sorted(cols, key=lambda c: -iv[c])
    if len(cols) < 2:
        return {}
    m = np.nan_to_num(corr.loc[cols, cols].to_numpy(), nan=0.0)
    kept: list[int] = []
    dropped: dict[str, str] = {}
    for j, c in enumerate(cols):
        hit = next((k for k in kept if abs(m[j, k]) > max_corr), None)
        if hit is None:
            kept.append(j)
        else:
            dropped[c] = f"correlation {m[j, hit]:.3f} > {max_corr} with {cols[hit]} (IV {iv[cols[hit]]:.3f})"
    return dropped


def _vif(cols: list[str], corr: pd.DataFrame) -> pd.Series:
    if len(cols) < 2:
        return pd.Series(1.0, index=cols)
    return pd.Series(np.diag(np.linalg.pinv(corr.loc[cols, cols].to_numpy())), index=cols)


def _vif_filter(cols: list[str], corr: pd.DataFrame, max_vif: float) -> dict[str, str]:
    cols = list(cols)
    dropped: dict[str, str] = {}
    while len(cols) > 1:
        v = _vif(cols, corr)
        worst = v.idxmax()
        if v[worst] <= max_vif:
            break
        dropped[worst] = f"VIF {v[worst]:.1f} > {max_vif}"
        cols.remove(worst)
    return dropped


def _stepwise(cols: list[str], n: int, loglik: Loglik, direction: str, criterion: str) -> dict[str, str]:
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


def prefilter(
    variables: list[str], iv: pd.Series, missing_rate: pd.Series, settings: SelectionSettings
) -> pd.DataFrame:
    """The selection report after the missing-rate and IV steps (which need no pass over the rows)."""
    settings.check()
    report = pd.DataFrame({"iv": iv.reindex(variables), "missing_rate": missing_rate.reindex(variables)})
    report["selected"] = True
    report["step"] = ""
    report["reason"] = ""
    if settings.max_missing is not None:
        _drop(report, {v: f"missing rate {report.at[v, 'missing_rate']:.3f} > {settings.max_missing}"
                       for v in _alive(report) if report.at[v, "missing_rate"] > settings.max_missing}, "missing")
    if settings.min_iv is not None:
        _drop(report, {v: f"IV {report.at[v, 'iv']:.4f} < {settings.min_iv}"
                       for v in _alive(report) if report.at[v, "iv"] < settings.min_iv}, "iv")
    return report


def finish(
    report: pd.DataFrame,
    corr: pd.DataFrame,
    iv: pd.Series,
    settings: SelectionSettings,
    n_rows: int,
    loglik: Loglik,
) -> pd.DataFrame:
    """The remaining steps (correlation, VIF, max_features, stepwise) and the final report layout."""
    if settings.max_corr is not None:
        _drop(report, _correlation_filter(_alive(report), corr, iv, settings.max_corr), "correlation")
    if settings.max_vif is not None:
        _drop(report, _vif_filter(_alive(report), corr, settings.max_vif), "vif")
    if settings.max_features is not None and len(_alive(report)) > settings.max_features:
        ranked = sorted(_alive(report), key=lambda v: -iv[v])
        _drop(report, {v: f"beyond the {settings.max_features} highest-IV variables"
                       for v in ranked[settings.max_features:]}, "max_features")
    if settings.stepwise:
        _drop(report, _stepwise(_alive(report), n_rows, loglik, settings.stepwise, settings.criterion), "stepwise")
    report.index.name = "variable"
    return report.reset_index().sort_values(["selected", "iv"], ascending=[False, False], ignore_index=True)


def _alive(report: pd.DataFrame) -> list[str]:
    return report.index[report["selected"]].tolist()


def _drop(report: pd.DataFrame, reasons: dict[str, str], step: str) -> None:
    for var, why in reasons.items():
        report.loc[var, ["selected", "step", "reason"]] = [False, step, why]
