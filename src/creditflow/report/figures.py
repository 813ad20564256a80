"""Report charts as inline SVG strings (see `svgplot.py`).

Every chart is drawn from the same tables the report prints, so a figure never disagrees with its
table. Charts thin long curves to at most 800 points; that is invisible at report size.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np
import pandas as pd

from creditflow.evaluation import KSResult
from creditflow.report.svgplot import BAD, GOOD, MUTED, PALETTE, Plot, fmt_pct, sample_color, text_width


def _thin(n: int, limit: int = 800) -> np.ndarray:
    """At most `limit` evenly spaced positions of 0..n-1, both ends kept."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))


def _upper(values: np.ndarray, floor: float = 0.0) -> float:
    top = float(np.nanmax(values)) if np.size(values) and np.isfinite(values).any() else 1.0
    return max(top * 1.08, floor) if top > 0 else 1.0


def roc(curves: Sequence[tuple[str, KSResult, float]]) -> str:
    """ROC per sample from the KS curves (goods = false positive rate, bads = true positive rate)."""
    p = Plot(400, 370, title="ROC", xlabel="share of goods rejected (FPR)", ylabel="share of bads rejected (TPR)",
             xfmt=fmt_pct, yfmt=fmt_pct)
    p.line([0, 1], [0, 1], MUTED, width=1, dash="4 3", label="random")
    for i, (name, k, auc) in enumerate(curves):
        c = k.curve
        idx = _thin(len(c))
        p.line(np.r_[0, c["goods"].to_numpy()[idx]], np.r_[0, c["bads"].to_numpy()[idx]], sample_color(i),
               label=f"{name} (AUC {auc:.3f})")
    return p.svg("lower right")


def ks_curve(k: KSResult, name: str) -> str:
    """Cumulative shares of bads and goods by score, with the KS gap marked."""
    c = k.curve.iloc[::-1]  # ascending score: riskiest first
    x = c["threshold"].to_numpy()
    lo, hi = float(x.min()), float(x.max())
    p = Plot(560, 330, title=f"KS curve — {name}", xlabel="score (rows at or below are rejected)",
             ylabel="cumulative share", xlim=(lo, hi if hi > lo else lo + 1), yfmt=fmt_pct)
    idx = _thin(len(c))
    p.line(x[idx], c["bads"].to_numpy()[idx], BAD, label="bads", step=True)
    p.line(x[idx], c["goods"].to_numpy()[idx], GOOD, label="goods", step=True)
    row = k.curve.loc[k.curve["threshold"] == k.threshold].iloc[0]
    p.vline(k.threshold, row["goods"], row["bads"])
    p.label(k.threshold, (row["goods"] + row["bads"]) / 2, f"KS {k.statistic:.3f} at {k.threshold:g}")
    return p.svg("lower right")


def gain(table: pd.DataFrame, name: str) -> str:
    """Cumulative gain: share of all bads among the riskiest x% of rows."""
    p = Plot(420, 330, title=f"Cumulative gain — {name}", xlabel="population, riskiest first",
             ylabel="share of all bads", xfmt=fmt_pct, yfmt=fmt_pct)
    p.line([0, 1], [0, 1], MUTED, width=1, dash="4 3", label="random")
    p.line(np.r_[0, table["cum_population"]], np.r_[0, table["gain"]], PALETTE[0], markers=True, label="model")
    return p.svg("lower right")


def lift(table: pd.DataFrame, name: str) -> str:
    """Lift per group (bars) and cumulative lift (line), group 1 the riskiest."""
    groups = [str(g) for g in table["group"]]
    p = Plot(420, 330, title=f"Lift — {name}", xlabel="group (1 = riskiest)", ylabel="lift", categories=groups,
             ylim=(0, _upper(table[["lift", "cum_lift"]].to_numpy())))
    x = np.arange(len(groups))
    p.bars(x, table["lift"], PALETTE[1], label="lift")
    p.hline(1.0)
    p.line(x, table["cum_lift"], PALETTE[2], markers=True, label="cumulative lift")
    return p.svg("upper right")


def score_distribution(score: np.ndarray, y: np.ndarray, name: str, bins: int = 40) -> str:
    """Share of goods and of bads in each score bin."""
    lo, hi = float(np.min(score)), float(np.max(score))
    if np.all(score == np.round(score)):  # whole-point bins for integer scores: no aliasing
        width = max(1.0, np.ceil((hi - lo + 1) / bins))
        edges = np.arange(lo - 0.5, hi + width, width)
    else:
        edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
    shares = {}
    for cls in (0, 1):
        counts, _ = np.histogram(score[y == cls], bins=edges)
        shares[cls] = counts / max(counts.sum(), 1)
    p = Plot(560, 330, title=f"Score distribution — {name}", xlabel="score (higher is better)",
             ylabel="share of class", xlim=(float(edges[0]), float(edges[-1])),
             ylim=(0, _upper(np.r_[shares[0], shares[1]])), yfmt=fmt_pct)
    for cls, color, label in ((0, GOOD, "goods"), (1, BAD, "bads")):
        p.area(edges, shares[cls], color)
        s = shares[cls]
        p.line(edges, np.r_[s, s[-1]], color, step=True,
               label=f"{label} (mean {np.mean(score[y == cls]):.0f})")
    return p.svg("upper left")


def calibration(tables: Sequence[tuple[str, pd.DataFrame]]) -> str:
    """Observed bad rate with its Jeffreys interval (dots, bars) and the mean PD (dark ticks), per grade."""
    groups = list(dict.fromkeys(str(g) for _, t in tables for g in t["group"]))
    pos = {g: i for i, g in enumerate(groups)}
    top = max(float(t[["jeffreys_high", "predicted"]].to_numpy().max()) for _, t in tables)
    p = Plot(620, 340, title="Calibration by grade: predicted vs observed (95% Jeffreys)", xlabel="grade",
             ylabel="bad rate", categories=groups, ylim=(0, min(1.0, top * 1.1) or 1.0), yfmt=fmt_pct)
    width = 0.7 / max(len(tables), 1)
    for i, (name, t) in enumerate(tables):
        x = np.array([pos[str(g)] for g in t["group"]]) - 0.35 + width * (i + 0.5)
        p.errorbars(x, t["jeffreys_low"], t["jeffreys_high"], sample_color(i))
        tips = [f"{name} grade {g}: observed {o:.2%}, PD {q:.2%}, n = {n:,}"
                for g, o, q, n in zip(t["group"], t["observed"], t["predicted"], t["count"], strict=True)]
        p.points(x, t["observed"], sample_color(i), label=f"observed — {name}", tips=tips)
        p.points(x, t["predicted"], "#111827", shape="tick", label="mean PD" if i == 0 else "")
    return p.svg("upper left")


def band_shares(shares: pd.DataFrame, title: str) -> str:
    """Grouped bars: share of each sample (columns) in each score band (index)."""
    cats = [str(b) for b in shares.index]
    p = Plot(max(560, 46 * len(cats) + 100), 340, title=title, ylabel="share of sample", categories=cats,
             rotate=True, ylim=(0, _upper(shares.to_numpy())), yfmt=fmt_pct)
    n = shares.shape[1]
    width = 0.8 / max(n, 1)
    x = np.arange(len(cats))
    for i, col in enumerate(shares.columns):
        p.bars(x - 0.4 + width * (i + 0.5), shares[col].to_numpy(), sample_color(i), width=width * 0.92,
               label=str(col), tips=[f"{col} {c}: {v:.2%}" for c, v in zip(cats, shares[col], strict=True)])
    return p.svg("upper right")


def strategy(table: pd.DataFrame, name: str) -> str:
    """Approval rate against bad rate among the approved, one point per cutoff (labelled)."""
    t = table.dropna(subset=["bad_rate_approved"])
    p = Plot(560, 340, title=f"Cutoff trade-off — {name}", xlabel="approval rate", ylabel="bad rate among approved",
             xlim=(0, 1), ylim=(0, _upper(t["bad_rate_approved"].to_numpy())), xfmt=fmt_pct, yfmt=fmt_pct)
    p.line(t["approval_rate"], t["bad_rate_approved"], PALETTE[0], markers=True)
    step = max(1, len(t) // 8)
    for _, r in t.iloc[::step].iterrows():
        p.label(r["approval_rate"], r["bad_rate_approved"], f"{r['cutoff']:g}", size=9, color=MUTED)
    return p.svg()


def iv_ranking(iv: pd.Series, labels: Sequence[str], selected: Sequence[bool], top: int = 30) -> str:
    """Horizontal IV bars, highest first; selected variables dark, dropped light; rule-of-thumb lines."""
    n = min(top, len(iv))
    labels = list(labels)[:n]
    left = int(min(max((text_width(s, 11) for s in labels), default=40) + 16, 340))
    vals = iv.to_numpy(dtype=float)[:n]
    xmax = _upper(vals, 0.12)
    p = Plot(760, 46 + 18 * n + 44, title=f"IV ranking (top {n}; dark = selected)", xlabel="information value",
             xlim=(0, xmax), ylim=(n - 0.5, -0.5), left=left, yticks=False)
    for i, (lbl, v, sel) in enumerate(zip(labels, vals, selected, strict=False)):
        y0, y1 = p.Y(i - 0.35), p.Y(i + 0.35)
        color = PALETTE[0] if sel else "#b8c4d6"
        p.items.append(f'<rect x="{p.X(0):.1f}" y="{min(y0, y1):.1f}" width="{max(p.X(v) - p.X(0), 0.5):.1f}" '
                       f'height="{abs(y1 - y0):.1f}" fill="{color}"><title>{escape(lbl)}: IV {v:.4f}</title></rect>'
                       f'<text x="{left - 6}" y="{p.Y(i) + 4:.1f}" text-anchor="end" fill="#374151">'
                       f"{escape(lbl)}</text>")
    for cut, txt in ((0.02, "weak"), (0.1, "medium"), (0.3, "strong"), (0.5, "suspicious")):
        if cut < xmax:
            x = p.X(cut)
            p.items.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{p.m["t"] - 4}" y2="{p.m["t"] + p.ph:.1f}" '
                           f'stroke="{MUTED}" stroke-dasharray="2 3"/><text x="{x + 3:.1f}" y="{p.m["t"] - 2}" '
                           f'font-size="9" fill="{MUTED}">{txt}</text>')
    return p.svg()
