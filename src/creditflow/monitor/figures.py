"""Monitoring charts (PNG bytes): PSI and CSI trends by period, bad rate by period, CSI ranking.

Drawn with matplotlib's object API on the Agg canvas, so nothing touches pyplot's global state;
Chinese labels use the first installed CJK font.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

PALETTE = ["#1f3b63", "#2a9d8f", "#e76f51", "#8e6bbf", "#e9c46a", "#6c757d"]
GOOD, BAD = "#2a9d8f", "#d1495b"
WARN_COLOR, ALERT_COLOR = "#e9a23b", "#d1495b"
DPI = 110
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
             "Microsoft YaHei", "SimHei", "PingFang SC", "Noto Sans CJK JP", "Arial Unicode MS")


@functools.cache
def cjk_font() -> str | None:
    """Name of an installed font with Chinese glyphs, or None."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((n for n in CJK_FONTS if n in names), None)


@contextmanager
def _axes(width: float = 6.8, height: float = 3.4) -> Iterator[tuple[Figure, object]]:
    family = ["DejaVu Sans"] + ([cjk_font()] if cjk_font() else [])
    style = {"font.family": family, "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
             "axes.grid": True, "grid.color": "#e5e7eb", "axes.edgecolor": "#9ca3af", "axes.titlesize": 10,
             "axes.titleweight": "bold", "legend.frameon": False, "axes.unicode_minus": False,
             "axes.axisbelow": True}
    with rc_context(style):
        fig = Figure(figsize=(width, height), dpi=DPI)
        FigureCanvasAgg(fig)
        yield fig, fig.add_subplot(1, 1, 1)


def _png(fig: Figure) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _thresholds(ax: object, warn: float, alert: float) -> None:
    ax.axhline(warn, color=WARN_COLOR, ls="--", lw=1, label=f"warn {warn:g}")
    ax.axhline(alert, color=ALERT_COLOR, ls="--", lw=1, label=f"alert {alert:g}")


def psi_trend(periods: pd.DataFrame, csi: pd.DataFrame | None, warn: float, alert: float, top: int = 5) -> bytes:
    """Score PSI by period, with the CSI of the inputs that moved most, against the thresholds."""
    with _axes(7.2, 3.6) as (fig, ax):
        x = np.arange(len(periods))
        ax.plot(x, periods["score_psi"], marker="o", ms=4, lw=2.2, color=PALETTE[0], label="score PSI")
        if csi is not None and csi.shape[1] > 1:
            values = csi.drop(columns="period")
            for i, var in enumerate(values.max().sort_values(ascending=False).index[:top]):
                ax.plot(x, values[var], marker=".", lw=1.2, color=PALETTE[(i + 1) % len(PALETTE)], alpha=0.85,
                        label=f"CSI {var}")
        _thresholds(ax, warn, alert)
        ax.set_xticks(x)
        ax.set_xticklabels(periods["period"].astype(str), rotation=30 if len(x) > 6 else 0, ha="right", fontsize=8)
        ax.set(xlabel="period", ylabel="PSI / CSI", title="Stability by period")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        return _png(fig)


def bad_rate_trend(periods: pd.DataFrame) -> bytes:
    """Realised bad rate by period against the mean predicted probability of bad."""
    with _axes(7.2, 3.4) as (fig, ax):
        x = np.arange(len(periods))
        ax.plot(x, periods["bad_rate"], marker="o", ms=4, lw=2, color=BAD, label="realised bad rate")
        ax.plot(x, periods["predicted_bad_rate"], marker="s", ms=3.5, lw=1.4, ls="--", color=GOOD,
                label="predicted (mean PD)")
        ax.set_xticks(x)
        ax.set_xticklabels(periods["period"].astype(str), rotation=30 if len(x) > 6 else 0, ha="right", fontsize=8)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set(xlabel="period", ylabel="bad rate", title="Bad rate by period")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        return _png(fig)


def csi_ranking(variables: pd.DataFrame, warn: float, alert: float, top: int = 25) -> bytes:
    """Horizontal bars of each model input's CSI, largest first, coloured by status."""
    t = variables[variables["in_model"]].sort_values("csi", ascending=False).head(top)
    n = max(len(t), 1)
    with _axes(7.2, 0.9 + 0.26 * n) as (fig, ax):
        vals = t["csi"].to_numpy()[::-1]
        colors = [ALERT_COLOR if v >= alert else WARN_COLOR if v >= warn else PALETTE[1] for v in vals]
        ax.barh(np.arange(len(vals)), vals, color=colors, height=0.7)
        ax.set_yticks(np.arange(len(vals)))
        ax.set_yticklabels(t["variable"].astype(str).to_numpy()[::-1], fontsize=8)
        ax.axvline(warn, color=WARN_COLOR, ls="--", lw=1)
        ax.axvline(alert, color=ALERT_COLOR, ls="--", lw=1)
        ax.set(xlabel="CSI against training", title="Model inputs: characteristic stability")
        ax.grid(axis="y", visible=False)
        return _png(fig)


def shares(table: pd.DataFrame, title: str) -> bytes:
    """Baseline and current share per bin, side by side."""
    with _axes(7.2, 3.4) as (fig, ax):
        x = np.arange(len(table))
        ax.bar(x - 0.2, table["baseline_share"], width=0.38, color=PALETTE[0], label="training")
        ax.bar(x + 0.2, table["current_share"], width=0.38, color=PALETTE[2], label="now")
        ax.set_xticks(x)
        ax.set_xticklabels(table["bin"].astype(str), rotation=30, ha="right", fontsize=8)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set(ylabel="share of rows", title=title)
        ax.legend(loc="upper right")
        return _png(fig)


def calibration(grades: pd.DataFrame) -> bytes:
    """Realised bad rate per grade with its 95% Jeffreys interval, against the rate the grade promised."""
    with _axes(6.4, 3.4) as (fig, ax):
        x = np.arange(len(grades))
        obs = grades["observed"].to_numpy(dtype=float)
        err = np.vstack([obs - grades["jeffreys_low"].to_numpy(dtype=float),
                         grades["jeffreys_high"].to_numpy(dtype=float) - obs])
        ax.errorbar(x, obs, yerr=err, fmt="o", ms=5, color=BAD, capsize=3, lw=1.2, label="realised (95% Jeffreys)")
        ax.scatter(x, grades["promised"], marker="_", s=300, color="#111827", lw=2, label="promised", zorder=3)
        ax.set_xticks(x)
        ax.set_xticklabels(grades["grade"].astype(str))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set(xlabel="grade", ylabel="bad rate", title="Bad rate per grade: promised vs realised")
        ax.legend(loc="upper left", fontsize=8)
        return _png(fig)
