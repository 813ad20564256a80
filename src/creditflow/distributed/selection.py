"""Variable selection from merged sums: the steps and reasons of `creditflow.selection.select_features`.

IV and missing rates come from the merged counts; the WOE correlation matrix (for the correlation
and VIF filters) from the summed centred cross-products of the WOE columns. Stepwise fits its
candidate models with `newton_loglik` on the workers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from creditflow.selection.filters import SelectionSettings, correlation_filter_corr, vif_filter_corr
from creditflow.selection.stepwise import stepwise_search

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
        _drop(report, correlation_filter_corr(_alive(report), corr, iv, settings.max_corr), "correlation")
    if settings.max_vif is not None:
        _drop(report, vif_filter_corr(_alive(report), corr, settings.max_vif), "vif")
    if settings.max_features is not None and len(_alive(report)) > settings.max_features:
        ranked = sorted(_alive(report), key=lambda v: -iv[v])
        _drop(report, {v: f"beyond the {settings.max_features} highest-IV variables"
                       for v in ranked[settings.max_features:]}, "max_features")
    if settings.stepwise:
        _drop(report, stepwise_search(_alive(report), n_rows, loglik, settings.stepwise, settings.criterion), "stepwise")
    report.index.name = "variable"
    return report.reset_index().sort_values(["selected", "iv"], ascending=[False, False], ignore_index=True)


def _alive(report: pd.DataFrame) -> list[str]:
    return report.index[report["selected"]].tolist()


def _drop(report: pd.DataFrame, reasons: dict[str, str], step: str) -> None:
    for var, why in reasons.items():
        report.loc[var, ["selected", "step", "reason"]] = [False, step, why]
