"""Report charts drawn with matplotlib's object API on the Agg canvas, returned as PNG bytes.

No pyplot and no global backend switch, so building a report inside Jupyter leaves the notebook's
own plotting alone. Chinese labels use the first CJK font installed (Debian: fonts-noto-cjk);
without one matplotlib would draw empty boxes, so `cjk_font()` lets callers warn.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

CJK_FONTS = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC", "Noto Sans CJK JP",
    "Arial Unicode MS",
)
PALETTE = ["#1f3b63", "#2a9d8f", "#e76f51", "#8e6bbf", "#e9c46a", "#6c757d"]
GOOD, BAD = "#2a9d8f", "#d1495b"
DPI = 110


@functools.cache
def cjk_font() -> str | None:
    """Name of an installed font with Chinese glyphs, or None."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((n for n in CJK_FONTS if n in names), None)


def sample_color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


@contextmanager
def _figure(width: float = 6.4, height: float = 3.6, ncols: int = 1) -> Iterator[tuple[Figure, list]]:
    family = ["DejaVu Sans"] + ([cjk_font()] if cjk_font() else [])  # per-glyph fallback to CJK
    style = {
        "font.family": family, "font.size": 9,
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
        "grid.color": "#e5e7eb", "grid.linewidth": 0.7, "axes.edgecolor": "#9ca3af",
        "axes.titlesize": 10, "axes.titleweight": "bold", "legend.frameon": False,
        "axes.unicode_minus": False, "axes.axisbelow": True,
    }
    with rc_context(style):
        fig = Figure(figsize=(width, height), dpi=DPI)
        FigureCanvasAgg(fig)
        axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
        yield fig, axes


def _png(fig: Figure) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _thin(x: np.ndarray, limit: int = 800) -> np.ndarray:
    """At most `limit` evenly spaced positions of x (keeps both ends); enough for a smooth curve."""
    if len(x) <= limit:
        return np.arange(len(x))
    return np.unique(np.linspace(0, len(x) - 1, limit).round().astype(int))


def roc(curves: Sequence[tuple[str, pd.DataFrame, float]]) -> bytes:
    """ROC per sample from KS curves (goods = FPR, bads = TPR), labelled with AUC."""
    with _figure(4.6, 4.0) as (fig, (ax,)):
        for i, (name, curve, auc) in enumerate(curves):
            k = _thin(curve["goods"].to_numpy())
            ax.plot(np.r_[0, curve["goods"].to_numpy()[k]], np.r_[0, curve["bads"].to_numpy()[k]],
                    color=sample_color(i), lw=1.8, label=f"{name} (AUC {auc:.3f})")
        ax.plot([0, 1], [0, 1], color="#9ca3af", lw=1, ls="--", label="random")
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate (share of goods rejected)",
               ylabel="true positive rate (share of bads rejected)", title="ROC")
        ax.legend(loc="lower right")
        return _png(fig)


def ks_curve(curve: pd.DataFrame, statistic: float, threshold: float, name: str) -> bytes:
    """Cumulative shares of bads and goods against the score, with the KS gap marked."""
    with _figure() as (fig, (ax,)):
        x = curve["threshold"].to_numpy()
        k = _thin(x)
        ax.step(x[k], curve["bads"].to_numpy()[k], where="post", color=BAD, lw=1.8, label="bads (cumulative)")
        ax.step(x[k], curve["goods"].to_numpy()[k], where="post", color=GOOD, lw=1.8, label="goods (cumulative)")
        row = curve.loc[curve["threshold"] == threshold].iloc[0]
        ax.vlines(threshold, row["goods"], row["bads"], color="#111827", lw=1.5, ls="--")
        ax.annotate(f"KS {statistic:.3f}\nat {threshold:g}", (threshold, (row["goods"] + row["bads"]) / 2),
                    xytext=(8, 0), textcoords="offset points", va="center", fontsize=9)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set(xlabel="score (rows at or below are rejected)", ylabel="cumulative share",
               title=f"KS curve — {name}")
        ax.legend(loc="lower right")
        return _png(fig)


def gain_lift(table: pd.DataFrame, name: str) -> bytes:
    """Cumulative gain (left) and lift per group (right), group 1 the riskiest."""
    with _figure(8.4, 3.4, ncols=2) as (fig, (ax1, ax2)):
        x = np.r_[0, table["cum_population"].to_numpy()]
        ax1.plot(x, np.r_[0, table["gain"].to_numpy()], marker="o", ms=3.5, color=PALETTE[0], lw=1.8,
                 label="model")
        ax1.plot([0, 1], [0, 1], color="#9ca3af", ls="--", lw=1, label="random")
        ax1.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax1.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax1.set(xlabel="population, riskiest first", ylabel="share of all bads", title=f"Cumulative gain — {name}")
        ax1.legend(loc="lower right")
        ax2.bar(table["group"], table["lift"], color=PALETTE[1], width=0.7, label="lift")
        ax2.plot(table["group"], table["cum_lift"], color=PALETTE[2], marker="o", ms=3.5, lw=1.5,
                 label="cumulative lift")
        ax2.axhline(1.0, color="#9ca3af", ls="--", lw=1)
        ax2.set(xlabel="group (1 = riskiest)", ylabel="lift", title=f"Lift — {name}")
        ax2.set_xticks(table["group"])
        ax2.legend(loc="upper right")
        return _png(fig)


def score_distribution(score: np.ndarray, y: np.ndarray, name: str, bins: int = 40) -> bytes:
    """Histograms (share of each class) of the scores of goods and of bads."""
    with _figure() as (fig, (ax,)):
        lo, hi = float(np.min(score)), float(np.max(score))
        if np.all(score == np.round(score)):  # integer scores: whole-point bins, no aliasing
            width = max(1.0, np.ceil((hi - lo + 1) / bins))
            edges = np.arange(lo - 0.5, hi + width, width)
        else:
            edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
        for mask, color, label in ((y == 0, GOOD, "goods"), (y == 1, BAD, "bads")):
            counts, _ = np.histogram(score[mask], bins=edges)
            share = counts / max(counts.sum(), 1)
            ax.stairs(share, edges, fill=True, alpha=0.25, color=color)
            ax.stairs(share, edges, color=color, lw=1.6, label=f"{label} (mean {np.mean(score[mask]):.0f})")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set(xlabel="score (higher is better)", ylabel="share of class", title=f"Score distribution — {name}")
        ax.legend(loc="upper left")
        return _png(fig)


def calibration(tables: Sequence[tuple[str, pd.DataFrame]]) -> bytes:
    """Observed bad rate with its Jeffreys interval and the predicted PD, per grade and sample."""
    with _figure(7.4, 3.6) as (fig, (ax,)):
        groups = list(dict.fromkeys(g for _, t in tables for g in t["group"].astype(str)))
        pos = {g: i for i, g in enumerate(groups)}
        width = 0.7 / max(len(tables), 1)
        for i, (name, t) in enumerate(tables):
            x = np.array([pos[str(g)] for g in t["group"]]) - 0.35 + width * (i + 0.5)
            obs = t["observed"].to_numpy()
            err = np.vstack([obs - t["jeffreys_low"].to_numpy(), t["jeffreys_high"].to_numpy() - obs])
            ax.errorbar(x, obs, yerr=err, fmt="o", ms=4.5, color=sample_color(i), capsize=3, lw=1.2,
                        label=f"observed — {name}")
            ax.scatter(x, t["predicted"], marker="_", s=260, color="#111827", lw=2,
                       label="predicted PD" if i == 0 else None, zorder=3)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set(xlabel="grade", ylabel="bad rate", title="Calibration: predicted vs observed (95% Jeffreys)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        return _png(fig)


def band_shares(shares: pd.DataFrame, title: str) -> bytes:
    """Grouped bars: share of each sample (columns) per score band (index)."""
    with _figure(7.2, 3.4) as (fig, (ax,)):
        n = shares.shape[1]
        width = 0.8 / max(n, 1)
        x = np.arange(len(shares))
        for i, col in enumerate(shares.columns):
            ax.bar(x - 0.4 + width * (i + 0.5), shares[col].to_numpy(), width=width * 0.95,
                   color=sample_color(i), label=str(col))
        ax.set_xticks(x)
        ax.set_xticklabels([str(b) for b in shares.index], rotation=30, ha="right", fontsize=8)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set(ylabel="share of sample", title=title)
        ax.legend(loc="upper right")
        return _png(fig)


def strategy(table: pd.DataFrame, name: str) -> bytes:
    """Approval rate against bad rate among the approved, one point per cutoff."""
    with _figure(6.0, 3.6) as (fig, (ax,)):
        t = table.dropna(subset=["bad_rate_approved"])
        ax.plot(t["approval_rate"], t["bad_rate_approved"], marker="o", ms=3.5, color=PALETTE[0], lw=1.8)
        step = max(1, len(t) // 8)
        for _, r in t.iloc[::step].iterrows():
            ax.annotate(f"{r['cutoff']:g}", (r["approval_rate"], r["bad_rate_approved"]),
                        xytext=(4, 4), textcoords="offset points", fontsize=7, color="#374151")
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set(xlabel="approval rate", ylabel="bad rate among approved",
               title=f"Cutoff trade-off — {name} (labels: cutoff score)")
        return _png(fig)


def iv_ranking(iv: pd.Series, labels: Sequence[str], selected: Sequence[bool], top: int = 25) -> bytes:
    """Horizontal bars of IV, highest first; selected variables dark, dropped light."""
    n = min(top, len(iv))
    with _figure(7.2, 0.9 + 0.24 * n) as (fig, (ax,)):
        vals = iv.to_numpy()[:n][::-1]
        colors = [PALETTE[0] if s else "#b8c4d6" for s in list(selected)[:n]][::-1]
        ax.barh(np.arange(n), vals, color=colors, height=0.7)
        ax.set_yticks(np.arange(n))
        ax.set_yticklabels(list(labels)[:n][::-1], fontsize=8)
        for cut, txt in ((0.02, "weak"), (0.1, "medium"), (0.3, "strong")):
            if vals.size and vals.max() > cut:
                ax.axvline(cut, color="#9ca3af", ls=":", lw=1)
                ax.text(cut, n - 0.4, f" {txt}", fontsize=7, color="#6b7280", va="bottom")
        ax.set(xlabel="information value", title=f"IV ranking (top {n}; dark = selected)")
        ax.grid(axis="y", visible=False)
        return _png(fig)
