"""Population and characteristic stability: PSI of a score, CSI of each variable's bins.

PSI = Σ (a − e) · ln(a / e) over bins, where e and a are the shares of the expected (development)
and actual (recent) samples. Empty bins: a share below `eps` (default 1e-4 = 0.01 %) is raised to `eps`
before the difference and the log, so an empty bin adds a large but finite term instead of infinity,
and a bin empty in both samples adds nothing. Missing values form their own bin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from creditflow.data.errors import DataError
from creditflow.evaluation._checks import check_values, interval_labels

__all__ = [
    "EPS",
    "PSI_MONITOR",
    "PSI_SHIFT",
    "PSIResult",
    "csi",
    "csi_from_shares",
    "psi",
    "psi_from_histogram",
    "psi_from_shares",
    "stability_status",
]

PSI_MONITOR = 0.10
"""PSI/CSI at or above this: a moderate shift, investigate."""
PSI_SHIFT = 0.25
"""PSI/CSI at or above this: a significant shift, the model may need redevelopment."""
EPS = 1e-4
"""Floor for a bin's share in the PSI formula (smoothing of empty bins)."""


def stability_status(value: float) -> str:
    """`stable` below 0.10, `monitor` from 0.10, `shift` from 0.25."""
    if not np.isfinite(value):
        return "n/a"
    return "shift" if value >= PSI_SHIFT else "monitor" if value >= PSI_MONITOR else "stable"


def psi_from_shares(expected_share: ArrayLike, actual_share: ArrayLike, *, eps: float = EPS) -> np.ndarray:
    """Per-bin PSI terms (a − e)·ln(a/e) from shares, each floored at `eps`; sum them for the PSI."""
    e = np.maximum(np.asarray(expected_share, dtype=float), eps)
    a = np.maximum(np.asarray(actual_share, dtype=float), eps)
    if e.shape != a.shape:
        raise DataError(f"expected and actual shares differ in length: {e.shape[0]} vs {a.shape[0]}")
    return (a - e) * np.log(a / e)


@dataclass(frozen=True)
class PSIResult:
    """PSI `value` with its per-bin `table` (bin, counts, shares, psi) and `status`."""

    value: float
    table: pd.DataFrame

    @property
    def status(self) -> str:
        return stability_status(self.value)

    def __float__(self) -> float:
        return self.value

    def _repr_html_(self) -> str:
        return (
            f"<p><b>PSI</b> = {self.value:.4f} ({self.status})</p>"
            + self.table.to_html(index=False, float_format=lambda v: f"{v:.4f}")
        )


def _table(labels: list[str], e_counts: np.ndarray, a_counts: np.ndarray, eps: float) -> PSIResult:
    ne, na = e_counts.sum(), a_counts.sum()
    if ne == 0 or na == 0:
        raise DataError("PSI needs rows in both the expected and the actual sample")
    t = pd.DataFrame({"bin": labels, "expected_count": e_counts, "actual_count": a_counts})
    t["expected_share"] = t["expected_count"] / ne
    t["actual_share"] = t["actual_count"] / na
    t["psi"] = psi_from_shares(t["expected_share"], t["actual_share"], eps=eps)
    return PSIResult(value=float(t["psi"].sum()), table=t)


def psi(
    expected: ArrayLike,
    actual: ArrayLike,
    *,
    bins: int = 10,
    edges: ArrayLike | None = None,
    eps: float = EPS,
) -> PSIResult:
    """PSI of a numeric value (e.g. a score) between an expected and an actual sample.

    Bins are left-closed [a, b) with open ends, cut at the expected sample's quantiles (`bins`
    equal-count bins, fewer when values tie) or at the given interior `edges`.
    """
    e = check_values(expected, len(np.asarray(expected)), "expected", allow_missing=True)
    a = check_values(actual, len(np.asarray(actual)), "actual", allow_missing=True)
    if edges is None:
        finite = e[~np.isnan(e)]
        qs = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]) if finite.size else np.array([])
        cuts = np.unique(qs)
    else:
        cuts = np.unique(np.asarray(edges, dtype=float))
        cuts = cuts[np.isfinite(cuts)]
    k = cuts.size + 1
    labels = interval_labels(cuts)

    def counts(x: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(cuts, x[~np.isnan(x)], side="right")
        return np.r_[np.bincount(idx, minlength=k), np.isnan(x).sum()]

    ce, ca = counts(e), counts(a)
    if ce[-1] == 0 and ca[-1] == 0:
        return _table(labels, ce[:-1], ca[:-1], eps)
    return _table([*labels, "missing"], ce, ca, eps)


def _histogram_quantile(values: np.ndarray, cum: np.ndarray, q: float) -> float:
    """`np.quantile(rows, q)` (linear method) of the rows a histogram holds, without making the rows."""
    n = int(cum[-1])
    h = (n - 1) * q
    i = int(np.floor(h))
    a, b = (float(values[np.searchsorted(cum, j, side="right")]) for j in (i, min(i + 1, n - 1)))
    t = h - i
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t  # numpy's own lerp, so cuts agree to the bit


def psi_from_histogram(
    values: ArrayLike, counts: ArrayLike, actual: ArrayLike, *, bins: int = 10, eps: float = EPS
) -> PSIResult:
    """`psi` against an expected sample kept as a histogram: `counts[i]` rows of value `values[i]` (e.g. the
    training scores of a bundle's baseline). The same bins and value as `psi` on the rows themselves."""
    v = np.asarray(values, dtype=float)
    c = np.asarray(counts, dtype=float)
    if v.shape != c.shape or c.sum() <= 0:
        raise DataError("a histogram needs one count per value and at least one row")
    order = np.argsort(v, kind="stable")
    v, c = v[order], c[order]
    keep = c > 0
    v, c = v[keep], c[keep]
    cum = np.cumsum(c)
    cuts = np.unique([_histogram_quantile(v, cum, q) for q in np.linspace(0, 1, bins + 1)[1:-1]])
    a = check_values(actual, len(np.asarray(actual)), "actual", allow_missing=True)
    k = cuts.size + 1
    ce = np.bincount(np.searchsorted(cuts, v, side="right"), weights=c, minlength=k)
    ca = np.bincount(np.searchsorted(cuts, a[~np.isnan(a)], side="right"), minlength=k)
    labels = interval_labels(cuts)
    n_missing = int(np.isnan(a).sum())
    if n_missing == 0:
        return _table(labels, ce.astype(np.int64), ca, eps)
    return _table([*labels, "missing"], np.r_[ce, 0].astype(np.int64), np.r_[ca, n_missing], eps)


def _label_counts(labels: ArrayLike) -> pd.Series:
    s = pd.Series(np.asarray(labels, dtype=object))
    return s.where(s.notna(), "missing").astype(str).value_counts(sort=False)


def _csi_one(expected: ArrayLike, actual: ArrayLike, eps: float) -> PSIResult:
    ce, ca = _label_counts(expected), _label_counts(actual)
    labels = list(ce.index) + [b for b in ca.index if b not in ce.index]
    return _table(
        labels,
        ce.reindex(labels, fill_value=0).to_numpy(),
        ca.reindex(labels, fill_value=0).to_numpy(),
        eps,
    )


def csi(
    expected: pd.DataFrame | pd.Series | ArrayLike,
    actual: pd.DataFrame | pd.Series | ArrayLike,
    *,
    eps: float = EPS,
) -> pd.DataFrame | PSIResult:
    """CSI from bin labels per row: the PSI formula over each variable's bins.

    Two DataFrames (one column of bin labels per variable) give a table `variable, csi, status,
    bins`; two 1-D arrays give one `PSIResult`. Bins present in only one sample count as empty in the other.
    """
    if isinstance(expected, pd.DataFrame) or isinstance(actual, pd.DataFrame):
        if not (isinstance(expected, pd.DataFrame) and isinstance(actual, pd.DataFrame)):
            raise DataError("csi needs two DataFrames of bin labels or two arrays")
        missing = [c for c in expected.columns if c not in actual.columns]
        if missing:
            raise DataError(f"the actual sample lacks the binned variables {missing}", column=str(missing[0]))
        rows = []
        for var in expected.columns:
            r = _csi_one(expected[var], actual[var], eps)
            rows.append({"variable": var, "csi": r.value, "status": r.status, "bins": len(r.table)})
        return pd.DataFrame(rows, columns=["variable", "csi", "status", "bins"])
    return _csi_one(expected, actual, eps)


def csi_from_shares(shares: pd.DataFrame, *, eps: float = EPS) -> pd.DataFrame:
    """CSI per variable from precomputed shares: columns `variable`, `expected_share`, `actual_share`
    (one row per bin). Returns `variable, csi, status`, largest first."""
    need = {"variable", "expected_share", "actual_share"}
    if not need <= set(shares.columns):
        raise DataError(f"shares table needs columns {sorted(need)}, has {list(shares.columns)}")
    terms = psi_from_shares(shares["expected_share"], shares["actual_share"], eps=eps)
    out = pd.Series(terms, index=shares.index).groupby(shares["variable"], sort=False).sum()
    table = out.rename("csi").reset_index()
    table["status"] = table["csi"].map(stability_status)
    return table.sort_values("csi", ascending=False, kind="mergesort").reset_index(drop=True)
