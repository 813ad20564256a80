"""Monitoring charts as inline SVG, drawn with the validation report's plotting kit
(`creditflow.report.svgplot`): PSI/CSI and bad rate by period, CSI ranking, bin shares, grade calibration.

Pure string building, so a chart costs microseconds and its text (Chinese included) is set by the
browser; nothing is loaded from the network.
"""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from creditflow.report.svgplot import BAD, GOOD, PALETTE, Plot, fmt_pct, text_width

WARN_COLOR, ALERT_COLOR = "#e9a23b", "#d1495b"


def _top(values: np.ndarray, floor: float = 0.0) -> float:
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    top = float(finite.max()) if finite.size else 0.0
    return max(top * 1.1, floor) or 1.0


def _thresholds(p: Plot, warn: float, alert: float) -> None:
    for value, color, name in ((warn, WARN_COLOR, "warn"), (alert, ALERT_COLOR, "alert")):
        if value <= p.ylim[1]:
            p.hline(value, color, "5 3")
            p.label(p.xlim[1], value, f"{name} {value:g}", dx=-4, dy=-4, size=9, color=color, anchor="end")


def psi_trend(periods: pd.DataFrame, csi: pd.DataFrame | None, warn: float, alert: float, top: int = 5) -> str:
    """Score PSI by period, with the CSI of the inputs that moved most, against the thresholds."""
    cats = periods["period"].astype(str).tolist()
    lines = [("score PSI", periods["score_psi"].to_numpy(dtype=float), PALETTE[0], 2.6)]
    if csi is not None and csi.shape[1] > 1:
        values = csi.drop(columns="period")
        for i, var in enumerate(values.max().sort_values(ascending=False).index[:top]):
            lines.append((f"CSI {var}", values[var].to_numpy(dtype=float), PALETTE[(i + 1) % len(PALETTE)], 1.5))
    ymax = _top(np.concatenate([v for _, v, _, _ in lines]), warn * 1.3)
    p = Plot(max(620, 48 * len(cats) + 160), 340, title="Stability by period", ylabel="PSI / CSI", categories=cats,
             rotate=len(cats) > 8, ylim=(0, ymax))
    _thresholds(p, warn, alert)
    x = np.arange(len(cats))
    for label, v, color, width in lines:
        p.line(x, np.minimum(v, ymax), color, width=width, label=label, markers=True)
    return p.svg("upper left")


def bad_rate_trend(periods: pd.DataFrame) -> str:
    """Realised bad rate by period against the mean predicted probability of bad."""
    cats = periods["period"].astype(str).tolist()
    both = np.r_[periods["bad_rate"].to_numpy(dtype=float), periods["predicted_bad_rate"].to_numpy(dtype=float)]
    p = Plot(max(620, 48 * len(cats) + 160), 320, title="Bad rate by period", ylabel="bad rate", categories=cats,
             rotate=len(cats) > 8, ylim=(0, _top(both, 0.01)), yfmt=fmt_pct)
    x = np.arange(len(cats))
    p.line(x, periods["bad_rate"].to_numpy(dtype=float), BAD, label="realised bad rate", markers=True)
    p.line(x, periods["predicted_bad_rate"].to_numpy(dtype=float), GOOD, dash="5 3", label="predicted (mean PD)",
           markers=True)
    return p.svg("lower right")


def csi_ranking(variables: pd.DataFrame, warn: float, alert: float, top: int = 30) -> str:
    """Horizontal bars of each model input's CSI, largest first, coloured by status."""
    t = variables[variables["in_model"]].sort_values("csi", ascending=False).head(top)
    labels = t["variable"].astype(str).tolist()
    vals = t["csi"].to_numpy(dtype=float)
    n = max(len(labels), 1)
    left = int(min(max((text_width(s, 11) for s in labels), default=40) + 16, 300))
    xmax = _top(vals, alert * 1.2)
    p = Plot(760, 46 + 18 * n + 44, title="Model inputs: characteristic stability (CSI)", xlabel="CSI",
             xlim=(0, xmax), ylim=(n - 0.5, -0.5), left=left, yticks=False)
    for i, (lbl, v) in enumerate(zip(labels, vals, strict=True)):
        color = ALERT_COLOR if v >= alert else WARN_COLOR if v >= warn else PALETTE[1]
        y0, y1 = p.Y(i - 0.35), p.Y(i + 0.35)
        p.items.append(f'<rect x="{p.X(0):.1f}" y="{min(y0, y1):.1f}" width="{max(p.X(v) - p.X(0), 0.5):.1f}" '
                       f'height="{abs(y1 - y0):.1f}" fill="{color}"><title>{escape(lbl)}: CSI {v:.4f}</title></rect>'
                       f'<text x="{left - 6}" y="{p.Y(i) + 4:.1f}" text-anchor="end" fill="#374151">'
                       f"{escape(lbl)}</text>")
    for cut, color in ((warn, WARN_COLOR), (alert, ALERT_COLOR)):
        x = p.X(cut)
        p.items.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{p.m["t"] - 4}" y2="{p.m["t"] + p.ph:.1f}" '
                       f'stroke="{color}" stroke-dasharray="4 3"/>')
    return p.svg("upper right")


def shares(table: pd.DataFrame, title: str) -> str:
    """Training and current share per bin, side by side."""
    cats = table["bin"].astype(str).tolist()
    base, now = table["baseline_share"].to_numpy(dtype=float), table["current_share"].to_numpy(dtype=float)
    p = Plot(max(560, 46 * len(cats) + 100), 340, title=title, ylabel="share of rows", categories=cats, rotate=True,
             ylim=(0, _top(np.r_[base, now], 0.05)), yfmt=fmt_pct)
    x = np.arange(len(cats))
    p.bars(x - 0.2, base, PALETTE[0], width=0.38, label="training",
           tips=[f"training {c}: {v:.2%}" for c, v in zip(cats, base, strict=True)])
    p.bars(x + 0.2, now, PALETTE[2], width=0.38, label="now",
           tips=[f"now {c}: {v:.2%}" for c, v in zip(cats, now, strict=True)])
    return p.svg("upper right")


def calibration(grades: pd.DataFrame) -> str:
    """Realised bad rate per grade with its 95% Jeffreys interval, against the rate the grade promised."""
    cats = grades["grade"].astype(str).tolist()
    top = float(np.nanmax(grades[["jeffreys_high", "promised"]].to_numpy(dtype=float))) if len(grades) else 1.0
    p = Plot(620, 340, title="Bad rate per grade: promised vs realised (95% Jeffreys)", xlabel="grade",
             ylabel="bad rate", categories=cats, ylim=(0, min(1.0, top * 1.1) or 1.0), yfmt=fmt_pct)
    x = np.arange(len(cats))
    p.errorbars(x, grades["jeffreys_low"], grades["jeffreys_high"], BAD)
    tips = [f"grade {g}: realised {o:.2%}, promised {q:.2%}, n = {n:,}" for g, o, q, n in
            zip(cats, grades["observed"], grades["promised"], grades["count"], strict=True)]
    p.points(x, grades["observed"], BAD, label="realised", tips=tips)
    p.points(x, grades["promised"], "#111827", shape="tick", label="promised")
    return p.svg("upper left")

