"""Drift against the baseline: score PSI, grade mix, per-column CSI, missing rates and out-of-range values,
overall and per period. PSI/CSI use `creditflow.evaluation.psi_from_shares` (empty bins floored at 1e-4)."""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from creditflow.binning.variable import category_keys, numeric_values
from creditflow.data.errors import CreditflowError, SchemaError
from creditflow.evaluation.stability import psi_from_shares
from creditflow.monitor.baseline import Baseline, VariableBaseline
from creditflow.monitor.bins import grouped_counts, numeric_codes
from creditflow.monitor.scored import Scored

LEVELS = {"n/a": 0, "info": 0, "stable": 0, "warn": 1, "alert": 2}
STATUS_OF_LEVEL = {0: "stable", 1: "warn", 2: "alert"}
THREADS = min(4, os.cpu_count() or 1)


@dataclass(frozen=True)
class Thresholds:
    """When a PSI/CSI is a warning (>= warn) or an alert (>= alert); when realised performance warns.

    `min_rows`: with fewer rows in all, drift (score PSI, input CSI, decision-mix PSI) and the AUC are
    shown but not judged, and a run that nothing else raises has the status 'insufficient' (exit 5).
    A PSI on n rows over k bins has sampling noise of about (k - 1) / n (chi-square / n): 0.09 on 100
    rows of the ten score deciles, 0.018 on 500, a fifth of the warning threshold.
    `min_period_rows`: periods with fewer rows are shown but do not raise the status (PSI of a small
    sample is inflated by noise). `p_value`: a grade whose bads exceed its promised rate with a
    binomial p-value below this warns. `auc_drop`: AUC this far below training warns.
    """

    warn: float = 0.10
    alert: float = 0.25
    min_period_rows: int = 1000
    p_value: float = 0.01
    auc_drop: float = 0.05
    min_rows: int = 500  # last: positional Thresholds(warn, alert, min_period_rows, p_value, auc_drop) keep their meaning

    def check(self) -> None:
        if not (math.isfinite(self.warn) and math.isfinite(self.alert) and 0 < self.warn < self.alert):
            raise CreditflowError(f"thresholds must satisfy 0 < warn < alert, got warn={self.warn}, alert={self.alert}")
        if self.min_period_rows < 0:
            raise CreditflowError(f"min_period_rows must be >= 0, got {self.min_period_rows}")
        if self.min_rows < 0:
            raise CreditflowError(f"min_rows must be >= 0, got {self.min_rows}")
        if not 0 < self.p_value < 1:
            raise CreditflowError(f"p_value must be in (0, 1), got {self.p_value}")

    def status(self, value: float) -> str:
        """'alert', 'warn' or 'stable' for a PSI/CSI value ('n/a' when it is not a number)."""
        if value is None or not np.isfinite(value):
            return "n/a"
        return "alert" if value >= self.alert else "warn" if value >= self.warn else "stable"


def _psi(base: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """PSI of each row of `counts` (periods x bins) against the baseline shares; NaN for an empty row."""
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, counts / np.maximum(totals, 1), np.nan)
    out = np.array([psi_from_shares(base, s).sum() if np.isfinite(s).all() else np.nan for s in shares])
    return out


def _bin_table(labels: list[str], base: np.ndarray, counts: np.ndarray) -> pd.DataFrame:
    total = counts.sum()
    current = counts / total if total else np.zeros(len(counts))
    return pd.DataFrame({"bin": labels, "baseline_share": base, "current_count": counts.astype(np.int64),
                         "current_share": current, "psi": psi_from_shares(base, current)})


@dataclass
class Drift:
    """Drift tables. `variables`: one row per column (model columns first); `periods`: one row per period;
    `csi_by_period`: periods x model columns; `other_csi_by_period`: periods x the other watched columns (an
    `--exclude`d protected column, say: shown, never the status); `bins`: each column's bin shares, baseline
    vs now."""

    score_psi: float
    score_bins: pd.DataFrame
    grade_mix: pd.DataFrame
    variables: pd.DataFrame
    bins: dict[str, pd.DataFrame] = field(default_factory=dict)
    periods: pd.DataFrame | None = None
    csi_by_period: pd.DataFrame | None = None
    other_csi_by_period: pd.DataFrame | None = None


def _numeric_range(vb: VariableBaseline, x: np.ndarray, lowest: float, highest: float) -> tuple[int, str]:
    """Rows outside the training range (special values excluded) and a short note; `lowest`/`highest` are
    the column's own extremes (NaN-aware), so a column inside the range costs no extra pass."""
    if vb.min is None or vb.max is None:
        return 0, ""
    specials = vb.dist.layout.special_values
    if not specials and not (lowest < vb.min or highest > vb.max):
        return 0, ""
    if specials:
        x = np.where(np.isin(x, specials), np.nan, x)
    low, high = x < vb.min, x > vb.max
    below, above = int(low.sum()), int(high.sum())
    parts = []
    if below:
        parts.append(f"{below:,} below the training minimum {vb.min:,.6g} (lowest {x[low].min():,.6g})")
    if above:
        parts.append(f"{above:,} above the training maximum {vb.max:,.6g} (highest {x[high].max():,.6g})")
    return below + above, "; ".join(parts)


def _unseen_note(values: pd.Series, unseen: np.ndarray) -> tuple[int, str]:
    """Rows with categories unseen in training, and which (the five most frequent)."""
    n = int(unseen.sum())
    if not n:
        return 0, ""
    keys = pd.Series(category_keys(values[unseen])).value_counts()
    shown = ", ".join(f"{k} ({c:,})" for k, c in keys.head(5).items())
    more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
    return n, f"{len(keys)} categor{'y' if len(keys) == 1 else 'ies'} unseen in training: {shown}{more}"


def _summary_row(vb: VariableBaseline, csi: float, status: str, current_missing: float, out_of_range: int, n: int,
                 note: str) -> dict:
    """One column's row of the drift summary (`n`: rows measured, for the out-of-range share)."""
    return {"variable": vb.name, "meaning": vb.meaning, "in_model": vb.in_model, "source": vb.source, "csi": csi,
            "status": status, "baseline_missing": vb.missing_rate, "current_missing": current_missing,
            "missing_change": current_missing - vb.missing_rate, "out_of_range": out_of_range,
            "out_of_range_share": out_of_range / n, "note": note}


def _measure_variable(vb: VariableBaseline, values: pd.Series, codes: np.ndarray | None, n_p: int,
                      thresholds: Thresholds) -> tuple[dict, pd.DataFrame, np.ndarray | None]:
    """One column against its baseline: the summary row, its bin table, and its CSI per period."""
    layout = vb.dist.layout
    n_bins = len(layout.labels)
    if layout.kind == "numeric":
        try:
            x = numeric_values(values, vb.name)
        except SchemaError as exc:
            if vb.in_model:  # the model refused it already when scoring; this is another column's
                raise
            # a watched column that is not a model input, now text (SEX recoded to M/F): shown as moved,
            # without a CSI, rather than stopping the run
            where = f" (row {exc.row})" if exc.row is not None else ""
            row = _summary_row(vb, csi=np.nan, status="alert", current_missing=np.nan, out_of_range=0, n=1,
                               note=f"not measured: {exc.reason}{where}; numbers in training")
            return row, _bin_table(layout.labels, vb.dist.shares, np.zeros(n_bins)), None
        lowest, highest = (float(x.min()), float(x.max())) if len(x) else (np.nan, np.nan)
        has_nan = bool(np.isnan(lowest))  # min propagates NaN: one pass tells whether any value is missing
        if has_nan and not np.isnan(x).all():
            lowest, highest = float(np.nanmin(x)), float(np.nanmax(x))
        idx = numeric_codes(layout, x, has_nan=has_nan)
        out_n, note = _numeric_range(vb, x, lowest, highest)
    else:
        idx = layout.bin_indices(values).astype(np.intp)
        out_n, note = 0, ""
        if vb.categories is not None or vb.source == "model bins":  # else the Unseen bin holds the rarer categories
            out_n, note = _unseen_note(values, idx == n_bins - 1)
    counts = grouped_counts(idx, n_bins, codes, n_p)
    total = counts.sum(axis=0)
    csi = float(_psi(vb.dist.shares, total[None, :])[0])
    n = max(int(total.sum()), 1)
    missing_now = float(total[layout.missing_index] / n)
    row = _summary_row(vb, csi=csi, status=thresholds.status(csi), current_missing=missing_now, out_of_range=out_n,
                       n=n, note=note)
    per_period = _psi(vb.dist.shares, counts) if codes is not None else None
    return row, _bin_table(layout.labels, vb.dist.shares, total), per_period


def measure_drift(
    baseline: Baseline,
    frame: pd.DataFrame,
    scored: Scored,
    thresholds: Thresholds,
    codes: np.ndarray | None = None,
    periods: list[str] | None = None,
) -> Drift:
    """Compare a scored table with the baseline, overall and (with period codes) per period.

    Columns are measured in parallel threads (the work is in numpy, which releases the GIL).
    """
    n_p = len(periods) if codes is not None and periods else 1
    codes = codes if n_p > 1 else None
    score_layout = baseline.score.layout
    if codes is not None and n_p < np.iinfo(np.int16).max:
        codes = codes.astype(np.int16)
    score_counts = grouped_counts(numeric_codes(score_layout, scored.score), len(score_layout.labels), codes, n_p)
    score_base = baseline.score.shares
    score_psi = float(_psi(score_base, score_counts.sum(axis=0, keepdims=True))[0])

    names = [g.grade for g in baseline.grades]
    listed = scored.grade[scored.grade >= 0]
    gcounts = np.bincount(listed, minlength=len(names)).astype(float)
    gbase = np.array([g.share for g in baseline.grades], dtype=float)
    gshare = gcounts / max(gcounts.sum(), 1.0)
    grade_mix = pd.DataFrame({"grade": names, "baseline_share": gbase, "current_count": gcounts.astype(np.int64),
                              "current_share": gshare, "psi": psi_from_shares(gbase, gshare)})

    present = [vb for vb in baseline.variables if vb.name in frame.columns]
    with ThreadPoolExecutor(max_workers=max(1, min(THREADS, len(present)))) as pool:
        measured = list(pool.map(lambda vb: _measure_variable(vb, frame[vb.name], codes, n_p, thresholds), present))
    rows = [m[0] for m in measured]
    bins = {vb.name: m[1] for vb, m in zip(present, measured, strict=True)}
    per_period = {vb.name: m[2] for vb, m in zip(present, measured, strict=True) if m[2] is not None and vb.in_model}
    other_per_period = {vb.name: m[2] for vb, m in zip(present, measured, strict=True)
                        if m[2] is not None and not vb.in_model}
    variables = pd.DataFrame(rows)
    if len(variables):
        variables = variables.sort_values(["in_model", "csi"], ascending=[False, False], kind="mergesort")
        variables = variables.reset_index(drop=True)

    score_bins = _bin_table(baseline.score.labels, score_base, score_counts.sum(0))
    score_bins = score_bins[(score_bins["baseline_share"] > 0) | (score_bins["current_count"] > 0)]
    drift = Drift(score_psi=score_psi, score_bins=score_bins.reset_index(drop=True),
                  grade_mix=grade_mix, variables=variables, bins=bins)
    if codes is not None and periods:
        drift.periods, drift.csi_by_period = _period_tables(scored, codes, periods, score_base, score_counts,
                                                            per_period, thresholds)
        if other_per_period:
            drift.other_csi_by_period = pd.DataFrame(other_per_period, index=pd.Index(periods, name="period")).reset_index()
    return drift


def _period_tables(scored: Scored, codes: np.ndarray, periods: list[str], score_base: np.ndarray,
                   score_counts: np.ndarray, per_period: dict[str, np.ndarray], thresholds: Thresholds
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    n_rows = score_counts.sum(axis=1)
    score_sum = np.bincount(codes, weights=scored.score, minlength=len(periods))
    psi = _psi(score_base, score_counts)
    csi = pd.DataFrame(per_period, index=pd.Index(periods, name="period"))
    worst_var = csi.idxmax(axis=1) if csi.shape[1] else pd.Series([""] * len(periods), index=csi.index)
    table = pd.DataFrame({
        "period": periods, "rows": n_rows.astype(np.int64),
        "mean_score": np.where(n_rows > 0, score_sum / np.maximum(n_rows, 1), np.nan),
        "score_psi": psi, "score_status": [thresholds.status(v) for v in psi],
        "max_csi": csi.max(axis=1).to_numpy() if csi.shape[1] else np.nan,
        "max_csi_variable": worst_var.to_numpy(),
        "variables_warn": (csi.ge(thresholds.warn) & csi.lt(thresholds.alert)).sum(axis=1).to_numpy(),
        "variables_alert": csi.ge(thresholds.alert).sum(axis=1).to_numpy(),
    })
    table["counts_for_status"] = table["rows"] >= thresholds.min_period_rows
    return table, csi.reset_index()
