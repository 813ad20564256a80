"""Small inline SVG charts for the per-variable binning view: fast to draw for hundreds of variables,
crisp at any zoom, and their text (Chinese included) is rendered by the browser's own fonts."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np

from creditflow.report.svgplot import sample_color

W, PLOT_H = 460, 150
LEFT, RIGHT, TOP = 48, 52, 26


def _nice_max(v: float) -> float:
    if not np.isfinite(v) or v <= 0:
        return 1.0
    exp = 10 ** np.floor(np.log10(v))
    for m in (1, 2, 4, 6, 8, 10):  # a quarter of each is a round tick step
        if m * exp >= v:
            return float(m * exp)
    return float(10 * exp)


def _pct(v: float) -> str:
    return f"{round(v * 100, 4):g}%"


def _short(text: str, n: int = 18) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def binning_chart(
    labels: Sequence[str],
    shares: Sequence[float],
    bad_rates: dict[str, Sequence[float]],
    woe: Sequence[float] | None = None,
) -> str:
    """Bars: share of rows per bin (development). Lines: bad rate per bin for each sample.
    Bins with no rows break the line. WOE, when given, is printed above each bar."""
    n = len(labels)
    longest = max((len(_short(str(x))) for x in labels), default=4)
    bottom = 22 + int(longest * 5.6 * 0.5)  # labels are turned 30 degrees
    pw, ph = W - LEFT - RIGHT, PLOT_H
    H = TOP + ph + bottom
    step = pw / max(n, 1)
    smax = _nice_max(float(np.nanmax(shares)) if n else 1.0)
    all_rates = [r for rates in bad_rates.values() for r in rates if r is not None and np.isfinite(r)]
    rmax = _nice_max(max(all_rates) if all_rates else 1.0)
    out = [f'<svg class="cf-chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
           f'xmlns="http://www.w3.org/2000/svg" font-size="10">']
    for i in range(5):  # gridlines and both axes' ticks
        y = TOP + ph * (1 - i / 4)
        out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 3:.1f}" text-anchor="end" fill="#6b7280">{_pct(smax * i / 4)}</text>')
        out.append(f'<text x="{LEFT + pw + 6}" y="{y + 3:.1f}" fill="#b91c1c">{_pct(rmax * i / 4)}</text>')
    out.append(f'<text x="12" y="{TOP + ph / 2:.1f}" transform="rotate(-90 12 {TOP + ph / 2:.1f})" '
               f'text-anchor="middle" fill="#374151">share of rows</text>')
    out.append(f'<text x="{W - 8}" y="{TOP + ph / 2:.1f}" transform="rotate(90 {W - 8} {TOP + ph / 2:.1f})" '
               f'text-anchor="middle" fill="#b91c1c">bad rate</text>')
    for i, (label, share) in enumerate(zip(labels, shares, strict=True)):
        x = LEFT + step * i + step * 0.15
        h = ph * (float(share) / smax if np.isfinite(share) else 0.0)
        out.append(f'<rect x="{x:.1f}" y="{TOP + ph - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                   f'fill="#b8c4d6"><title>{escape(label)}: {share:.2%} of rows</title></rect>')
        if woe is not None and np.isfinite(woe[i]) and share > 0:
            out.append(f'<text x="{x + step * 0.35:.1f}" y="{TOP + ph - h - 3:.1f}" text-anchor="middle" '
                       f'fill="#1f3b63" font-size="9">{woe[i]:+.2f}</text>')
        cx, cy = LEFT + step * (i + 0.5), TOP + ph + 10
        out.append(f'<text x="{cx:.1f}" y="{cy:.1f}" transform="rotate(-30 {cx:.1f} {cy:.1f})" '
                   f'text-anchor="end" fill="#374151">{escape(_short(label))}<title>{escape(label)}</title></text>')
    lx = LEFT + 8
    for j, (name, rates) in enumerate(bad_rates.items()):
        color = "#b91c1c" if j == 0 else sample_color(j)
        dash = "" if j == 0 else ' stroke-dasharray="5 3"'
        pts = [(LEFT + step * (i + 0.5), TOP + ph * (1 - float(r) / rmax)) if r is not None and np.isfinite(r)
               else None for i, r in enumerate(rates)]
        run: list[tuple[float, float]] = []
        for p in [*pts, None]:
            if p is None:
                if len(run) > 1:
                    d = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                    out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
                run = []
            else:
                run.append(p)
        for p, r in zip(pts, rates, strict=True):
            if p is not None:
                out.append(f'<circle cx="{p[0]:.1f}" cy="{p[1]:.1f}" r="3" fill="{color}">'
                           f'<title>{escape(name)}: bad rate {float(r):.2%}</title></circle>')
        text = f"bad rate — {name}"
        out.append(f'<line x1="{lx}" x2="{lx + 18}" y1="10" y2="10" stroke="{color}" stroke-width="2"{dash}/>'
                   f'<text x="{lx + 22}" y="13" fill="#374151">{escape(text)}</text>')
        lx += 22 + int(len(text) * 5.8) + 14
    out.append("</svg>")
    return "".join(out)
