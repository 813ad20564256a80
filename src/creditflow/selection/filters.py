"""Feature selection on WOE columns: missing rate, IV, stability, correlation, VIF and stepwise, each with its reason."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from creditflow.binning.variable import identifier_reason
from creditflow.data.errors import CreditflowError
from creditflow.selection.stepwise import frame_loglik, stepwise_search


@dataclass
class SelectionSettings:
    """Thresholds of the selection steps; a step is skipped when its threshold is None."""

    max_missing: float | None = 0.95  # drop when the missing rate (share of rows in the Missing bin) exceeds this
    min_iv: float | None = 0.01  # drop when IV is below this
    max_corr: float | None = 0.8  # of two WOE columns correlated above this, drop the lower-IV one
    max_vif: float | None = 10.0  # drop the highest-VIF column until all are at or below this
    stepwise: str | None = None  # forward | backward | both
    criterion: str = "aic"  # aic | bic, for stepwise
    max_features: int | None = None  # keep at most this many (highest IV) before stepwise
    # with a time column: drop when the CSI of a training period against the whole training sample exceeds
    # this (`selection.stability`); 0.25 is the usual "significant shift" of PSI/CSI, as the report and monitor
    max_csi: float | None = 0.25

    def check(self) -> None:
        ranges = {"max_missing": (0.0, 1.0), "min_iv": (0.0, np.inf), "max_corr": (0.0, 1.0), "max_vif": (1.0, np.inf),
                  "max_csi": (0.0, np.inf)}
        for name, (lo, hi) in ranges.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise CreditflowError(f"selection setting {name} must be a number or None, not {value!r}")
            if not lo <= value <= hi:
                span = f"at least {lo:g}" if hi == np.inf else f"between {lo:g} and {hi:g}"
                raise CreditflowError(f"selection setting {name} must be {span} (or None), not {value!r}")
        if self.max_features is not None and (
            isinstance(self.max_features, bool) or not isinstance(self.max_features, (int, np.integer))
            or self.max_features < 1
        ):
            raise CreditflowError(f"selection setting max_features must be a whole number >= 1 or None, "
                                  f"not {self.max_features!r}")
        if self.stepwise not in (None, "forward", "backward", "both"):
            raise CreditflowError(f"stepwise must be forward, backward, both or None, not {self.stepwise!r}")
        if self.criterion not in ("aic", "bic"):
            raise CreditflowError(f"criterion must be aic or bic, not {self.criterion!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def correlation_filter(woe: pd.DataFrame, iv: pd.Series, max_corr: float) -> dict[str, str]:
    """Of each pair correlated above `max_corr`, drop the one with lower IV (in IV order, greedily)."""
    cols = sorted(woe.columns, key=lambda c: -iv[c])
    if len(cols) < 2:
        return {}
    return correlation_filter_corr(cols, woe_correlation(woe[cols]), iv, max_corr)


def woe_correlation(woe: pd.DataFrame) -> pd.DataFrame:
    """Correlation matrix of the WOE columns, labelled by variable."""
    corr = np.corrcoef(woe.to_numpy(dtype=float), rowvar=False)
    return pd.DataFrame(np.atleast_2d(corr), index=woe.columns, columns=woe.columns)


def correlation_filter_corr(cols: list[str], corr: pd.DataFrame, iv: pd.Series, max_corr: float,
                            partners: dict[str, str] | None = None) -> dict[str, str]:
    """`correlation_filter` from a correlation matrix (single machine or merged worker sums); `partners`, when
    given, receives each dropped variable's kept partner."""
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
            r = float(m[j, hit])
            size = reads_above(abs(r), max_corr, 3)
            text = f"correlation {size} > {max_corr}" if r > 0 else f"correlation -{size} (|r| > {max_corr})"
            dropped[c] = f"{text} with {cols[hit]} (IV {iv[cols[hit]]:.3f})"
            if partners is not None:
                partners[c] = cols[hit]
    return dropped


def vif(woe: pd.DataFrame) -> pd.Series:
    """Variance inflation factor of each column: diagonal of the inverse correlation matrix."""
    return vif_corr(list(woe.columns), woe_correlation(woe))


def vif_corr(cols: list[str], corr: pd.DataFrame) -> pd.Series:
    """VIF of `cols` from a correlation matrix that holds them."""
    if len(cols) < 2:
        return pd.Series(1.0, index=cols)
    return pd.Series(np.diag(np.linalg.pinv(corr.loc[cols, cols].to_numpy())), index=cols)


def vif_filter(woe: pd.DataFrame, max_vif: float) -> dict[str, str]:
    """Drop the highest-VIF column until all are at or below `max_vif`."""
    if woe.shape[1] < 2:
        return {}
    return vif_filter_corr(list(woe.columns), woe_correlation(woe), max_vif)


def vif_filter_corr(cols: list[str], corr: pd.DataFrame, max_vif: float) -> dict[str, str]:
    """`vif_filter` from a correlation matrix (single machine or merged worker sums)."""
    cols = list(cols)
    dropped: dict[str, str] = {}
    while len(cols) > 1:
        v = vif_corr(cols, corr)
        worst = v.idxmax()
        if v[worst] <= max_vif:
            break
        dropped[worst] = f"VIF {reads_above(float(v[worst]), max_vif)} > {max_vif}"
        cols.remove(worst)
    return dropped


def reads_above(value: float, limit: float, digits: int = 1) -> str:
    """`value` with `digits` decimals, or as many more as it takes to read as above `limit` (2.02, not 2.0 > 2)."""
    for d in range(digits, digits + 8):
        text = f"{value:.{d}f}"
        if float(text) > limit:
            return text
    return repr(value)


def reads_below(value: float, limit: float, digits: int = 1) -> str:
    """`value` with `digits` decimals, or as many more as it takes to read as below `limit` (0.00997, not
    0.0100 < 0.01)."""
    for d in range(digits, digits + 8):
        text = f"{value:.{d}f}"
        if float(text) < limit:
            return text
    return repr(value)


Loglik = Callable[[list[str]], float]
"""Maximised log-likelihood of the logistic model on the named variables (intercept only when empty)."""


def select_features(
    woe: pd.DataFrame,
    y: np.ndarray,
    iv: pd.Series,
    missing_rate: pd.Series,
    settings: SelectionSettings,
) -> pd.DataFrame:
    """Run the selection steps in order; one row per variable: iv, missing_rate, selected, step, reason."""
    report = prefilter(list(woe.columns), iv, missing_rate, settings)
    alive = alive_variables(report)
    corr = woe_correlation(woe[alive]) if len(alive) > 1 else pd.DataFrame(1.0, index=alive, columns=alive)
    return finish(report, corr, iv, settings, len(y), frame_loglik(woe, y))


def correlation(crossprod: np.ndarray, n_rows: float) -> np.ndarray:
    """Correlation matrix from the centred cross-products of `n_rows` rows, in `numpy.corrcoef`'s steps."""
    c = crossprod * np.true_divide(1, n_rows - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(np.diag(c))
        c = c / sd[:, None]
        c = c / sd[None, :]
    return np.clip(c, -1, 1)


def missing_rates(bins: Mapping[str, Any]) -> pd.Series:
    """Share of each variable's training rows in its Missing bin: the missing rate `max_missing` judges. It counts
    what the bins count as missing, a blank text cell too, where pandas' isna counts only NaN and None."""
    out = {}
    for name, vb in bins.items():
        rows = np.asarray(vb.goods, dtype=float) + np.asarray(vb.bads, dtype=float)
        out[name] = float(rows[vb.missing_index] / rows.sum()) if rows.sum() else 0.0
    return pd.Series(out, dtype=float)


def unusable_variables(bins: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Variables that the fitted binning makes no features, as {name: (step, reason)}: identifier-like text
    columns (the binning's note) and those whose WOE is the same on every training row (one bin; the
    reason names the binning setting that merged several values, when one did)."""
    out: dict[str, tuple[str, str]] = {}
    for name, vb in bins.items():
        if vb.note:
            out[name] = ("identifier", identifier_reason(vb.note))
            continue
        rows = np.asarray(vb.goods, dtype=float) + np.asarray(vb.bads, dtype=float)
        woe = np.asarray(vb.woe, dtype=float)[rows > 0]
        if len(woe) == 0 or np.ptp(woe) == 0:
            # a binning setting may have merged informative values: say which, not "no information"
            out[name] = ("constant", getattr(vb, "one_bin", "") or
                         "every training row falls in bins of the same WOE: no information")
    return out


def prefilter(
    variables: list[str], iv: pd.Series, missing_rate: pd.Series, settings: SelectionSettings,
    unusable: dict[str, tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """The selection report after the missing-rate and IV steps (which need no pass over the rows).

    `unusable` ({name: (step, reason)}, see `unusable_variables`) are dropped first, whatever the settings.
    """
    settings.check()
    report = pd.DataFrame({"iv": iv.reindex(variables), "missing_rate": missing_rate.reindex(variables)})
    report["selected"] = True
    report["step"] = ""
    report["reason"] = ""
    for step in sorted({st for st, _ in (unusable or {}).values()}):
        mark_dropped(report, {v: why for v, (st, why) in unusable.items() if st == step and v in report.index}, step)
    if settings.max_missing is not None:
        mark_dropped(report, {v: f"missing rate {reads_above(report.at[v, 'missing_rate'], settings.max_missing, 3)} > "
                                 f"{settings.max_missing}"
                       for v in alive_variables(report) if report.at[v, "missing_rate"] > settings.max_missing}, "missing")
    if settings.min_iv is not None:
        mark_dropped(report, {v: f"IV {reads_below(report.at[v, 'iv'], settings.min_iv, 4)} < {settings.min_iv}"
                       for v in alive_variables(report) if report.at[v, "iv"] < settings.min_iv}, "iv")
    return report


def stability_step(
    report: pd.DataFrame, counts: Mapping[str, np.ndarray], periods: list[str], settings: SelectionSettings
) -> None:
    """The stability step on the variables still selected (in place): their largest period CSI in a column
    "csi", and those above `max_csi` dropped (`counts`: each variable's rows per (period group, bin), from
    `selection.stability.period_bin_counts`; `periods`: the groups' names)."""
    from creditflow.selection.stability import stability_filter

    worst, dropped = stability_filter(counts, periods, settings.max_csi)
    report["csi"] = pd.Series(worst, dtype=float).reindex(report.index)
    mark_dropped(report, dropped, "stability")


def finish(
    report: pd.DataFrame,
    corr: pd.DataFrame,
    iv: pd.Series,
    settings: SelectionSettings,
    n_rows: float,
    loglik: Loglik,
) -> pd.DataFrame:
    """The remaining steps (correlation, VIF, max_features, stepwise) and the final report layout."""
    partners: dict[str, str] = {}
    if settings.max_corr is not None:
        mark_dropped(report, correlation_filter_corr(alive_variables(report), corr, iv, settings.max_corr, partners),
                     "correlation")
    if settings.max_vif is not None:
        mark_dropped(report, vif_filter_corr(alive_variables(report), corr, settings.max_vif), "vif")
    if settings.max_features is not None and len(alive_variables(report)) > settings.max_features:
        ranked = sorted(alive_variables(report), key=lambda v: -iv[v])
        mark_dropped(report, {v: f"beyond the {settings.max_features} highest-IV variables"
                       for v in ranked[settings.max_features:]}, "max_features")
    if settings.stepwise:
        mark_dropped(report, stepwise_search(alive_variables(report), int(n_rows), loglik, settings.stepwise, settings.criterion),
              "stepwise")
    for var, partner in partners.items():
        # the partner a variable was dropped for may itself leave later (VIF, max_features, stepwise): say so, so
        # that no one reads the pair as represented in the model
        if not report.at[partner, "selected"]:
            report.at[var, "reason"] += f"; {partner} was dropped later ({report.at[partner, 'step']})"
    report.index.name = "variable"
    return report.reset_index().sort_values(["selected", "iv"], ascending=[False, False], ignore_index=True)


def alive_variables(report: pd.DataFrame) -> list[str]:
    """Variables still selected in a (variable-indexed) selection report."""
    return report.index[report["selected"]].tolist()



def mark_dropped(report: pd.DataFrame, reasons: dict[str, str], step: str) -> None:
    """Mark each variable of `reasons` as not selected, by `step`, for its reason (in place)."""
    for var, why in reasons.items():
        report.loc[var, ["selected", "step", "reason"]] = [False, step, why]
