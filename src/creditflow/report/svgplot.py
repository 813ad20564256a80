"""A very small SVG plotting kit for report charts: axes with round ticks, lines, steps, bars, error bars,
legends. Pure string building, so a chart costs microseconds rather than a matplotlib draw, and its text
(Chinese included) is set by the browser in the page's own fonts."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

import numpy as np

PALETTE = ["#1f3b63", "#2a9d8f", "#e76f51", "#8e6bbf", "#e9a23b", "#6c757d"]
GOOD, BAD = "#2a9d8f", "#d1495b"
GRID, AXIS, INK, MUTED = "#e5e7eb", "#9ca3af", "#1f2937", "#6b7280"


def sample_color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def text_width(text: str, size: float = 11) -> float:
    """Rough rendered width in px: wide (CJK) characters count double."""
    return sum(size * (1.0 if ord(ch) > 0x2E7F else 0.68 if ch.isupper() or ch.isdigit() else 0.56)
               for ch in str(text))


def nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """About `n` round tick values covering [lo, hi]."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    return np.round(np.arange(start, stop + step / 2, step), 10)


def fmt_pct(v: float) -> str:
    return f"{round(v * 100, 6):g}%"


def fmt_num(v: float) -> str:
    return f"{v:,.6g}" if abs(v) < 1e6 else f"{v:.3g}"


class Plot:
    """One chart. Coordinates are data units; `categories` makes the x axis categorical (0, 1, 2 ...)."""

    def __init__(
        self,
        width: int = 560,
        height: int = 320,
        *,
        title: str = "",
        xlabel: str = "",
        ylabel: str = "",
        xlim: tuple[float, float] | None = None,
        ylim: tuple[float, float] | None = None,
        xfmt: Callable[[float], str] = fmt_num,
        yfmt: Callable[[float], str] = fmt_num,
        categories: Sequence[str] | None = None,
        rotate: bool = False,
        left: int | None = None,
        yticks: bool = True,
    ) -> None:
        self.w, self.h = width, height
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.xfmt, self.yfmt = xfmt, yfmt
        self.categories = list(categories) if categories is not None else None
        self.rotate = rotate
        self.yticks = yticks
        bottom = 44
        if self.categories is not None and rotate:
            bottom = 30 + int(max((text_width(c, 10) for c in self.categories), default=20) * 0.5)
        self.m = {"l": left or 62, "r": 18, "t": (34 if title else 14) + (12 if not yticks else 0), "b": bottom}
        self.xlim = xlim or ((-0.5, len(self.categories) - 0.5) if self.categories is not None else (0.0, 1.0))
        self.ylim = ylim or (0.0, 1.0)
        self.items: list[str] = []
        self.legend: list[tuple[str, str, str]] = []  # (label, color, kind)

    # --- coordinates ---
    @property
    def pw(self) -> float:
        return self.w - self.m["l"] - self.m["r"]

    @property
    def ph(self) -> float:
        return self.h - self.m["t"] - self.m["b"]

    def X(self, x: float) -> float:
        lo, hi = self.xlim
        return self.m["l"] + (float(x) - lo) / (hi - lo) * self.pw

    def Y(self, y: float) -> float:
        lo, hi = self.ylim
        return self.m["t"] + (1 - (float(y) - lo) / (hi - lo)) * self.ph

    # --- marks ---
    def line(self, xs: Sequence[float], ys: Sequence[float], color: str, *, width: float = 2, dash: str = "",
             label: str = "", markers: bool = False, step: bool = False) -> Plot:
        pts = [(self.X(x), self.Y(y)) for x, y in zip(xs, ys, strict=True) if np.isfinite(x) and np.isfinite(y)]
        if step and pts:
            stepped = [pts[0]]
            for (_, y0), (x1, y1) in zip(pts[:-1], pts[1:], strict=True):
                stepped += [(x1, y0), (x1, y1)]
            pts = stepped
        d = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        self.items.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="{width}"'
                          f' stroke-linejoin="round"{dash_attr}/>')
        if markers:
            self.items += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in pts]
        if label:
            self.legend.append((label, color, "dash" if dash else "line"))
        return self

    def area(self, xs: Sequence[float], ys: Sequence[float], color: str, opacity: float = 0.2) -> Plot:
        """Fill between a step outline (xs are edges, len(ys) = len(xs) − 1) and the x axis."""
        pts = [(self.X(xs[0]), self.Y(self.ylim[0]))]
        for i, y in enumerate(ys):
            pts += [(self.X(xs[i]), self.Y(y)), (self.X(xs[i + 1]), self.Y(y))]
        pts.append((self.X(xs[-1]), self.Y(self.ylim[0])))
        d = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        self.items.append(f'<polygon points="{d}" fill="{color}" fill-opacity="{opacity}" stroke="none"/>')
        return self

    def bars(self, xs: Sequence[float], heights: Sequence[float], color: str, *, width: float = 0.7,
             label: str = "", tips: Sequence[str] | None = None) -> Plot:
        base = self.Y(max(self.ylim[0], 0.0))
        for i, (x, h) in enumerate(zip(xs, heights, strict=True)):
            if not np.isfinite(h):
                continue
            x0, x1 = self.X(x - width / 2), self.X(x + width / 2)
            y = self.Y(h)
            tip = f"<title>{escape(tips[i])}</title>" if tips else ""
            self.items.append(f'<rect x="{x0:.1f}" y="{min(y, base):.1f}" width="{max(x1 - x0, 1):.1f}" '
                              f'height="{abs(base - y):.1f}" fill="{color}">{tip}</rect>')
        if label:
            self.legend.append((label, color, "box"))
        return self

    def errorbars(self, xs: Sequence[float], lo: Sequence[float], hi: Sequence[float], color: str) -> Plot:
        for x, a, b in zip(xs, lo, hi, strict=True):
            px = self.X(x)
            self.items.append(
                f'<path d="M{px:.1f},{self.Y(a):.1f}V{self.Y(b):.1f}M{px - 4:.1f},{self.Y(a):.1f}h8'
                f'M{px - 4:.1f},{self.Y(b):.1f}h8" stroke="{color}" stroke-width="1.3" fill="none"/>')
        return self

    def points(self, xs: Sequence[float], ys: Sequence[float], color: str, *, label: str = "",
               shape: str = "circle", tips: Sequence[str] | None = None) -> Plot:
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            px, py = self.X(x), self.Y(y)
            tip = f"<title>{escape(tips[i])}</title>" if tips else ""
            if shape == "tick":
                self.items.append(f'<path d="M{px - 11:.1f},{py:.1f}h22" stroke="{color}" stroke-width="2.5">'
                                  f"{tip}</path>")
            else:
                self.items.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{color}">{tip}</circle>')
        if label:
            self.legend.append((label, color, "tick" if shape == "tick" else "dot"))
        return self

    def vline(self, x: float, y0: float, y1: float, color: str = INK, dash: str = "5 3") -> Plot:
        self.items.append(f'<line x1="{self.X(x):.1f}" x2="{self.X(x):.1f}" y1="{self.Y(y0):.1f}" '
                          f'y2="{self.Y(y1):.1f}" stroke="{color}" stroke-width="1.5" stroke-dasharray="{dash}"/>')
        return self

    def hline(self, y: float, color: str = AXIS, dash: str = "4 3") -> Plot:
        self.items.append(f'<line x1="{self.m["l"]}" x2="{self.m["l"] + self.pw:.1f}" y1="{self.Y(y):.1f}" '
                          f'y2="{self.Y(y):.1f}" stroke="{color}" stroke-width="1" stroke-dasharray="{dash}"/>')
        return self

    def label(self, x: float, y: float, text: str, *, dx: float = 6, dy: float = -4, size: int = 10,
              color: str = INK, anchor: str = "start") -> Plot:
        self.items.append(f'<text x="{self.X(x) + dx:.1f}" y="{self.Y(y) + dy:.1f}" font-size="{size}" '
                          f'fill="{color}" text-anchor="{anchor}">{escape(text)}</text>')
        return self

    # --- frame ---
    def _axes(self) -> list[str]:
        out, lx, t, pw, ph = [], self.m["l"], self.m["t"], self.pw, self.ph
        ylo, yhi = sorted(self.ylim)
        for v in nice_ticks(ylo, yhi) if self.yticks else []:
            if ylo - 1e-12 <= v <= yhi + 1e-12:
                y = self.Y(v)
                out.append(f'<line x1="{lx}" x2="{lx + pw:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
                           f'<text x="{lx - 6}" y="{y + 3.5:.1f}" text-anchor="end" fill="{MUTED}">'
                           f"{escape(self.yfmt(v))}</text>")
        if self.categories is not None:
            for i, c in enumerate(self.categories):
                x, y = self.X(i), t + ph + 14
                if self.rotate:
                    out.append(f'<text x="{x:.1f}" y="{y:.1f}" transform="rotate(-30 {x:.1f} {y:.1f})" '
                               f'text-anchor="end" fill="{MUTED}" font-size="10">{escape(str(c))}</text>')
                else:
                    out.append(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" fill="{MUTED}">{escape(str(c))}</text>')
        else:
            for v in nice_ticks(*self.xlim, n=7):
                if self.xlim[0] - 1e-12 <= v <= self.xlim[1] + 1e-12:
                    x = self.X(v)
                    out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{t}" y2="{t + ph:.1f}" stroke="{GRID}"/>'
                               f'<text x="{x:.1f}" y="{t + ph + 15:.1f}" text-anchor="middle" fill="{MUTED}">'
                               f"{escape(self.xfmt(v))}</text>")
        out.append(f'<path d="M{lx},{t}V{t + ph:.1f}H{lx + pw:.1f}" stroke="{AXIS}" fill="none"/>')
        if self.title:
            out.append(f'<text x="{lx + pw / 2:.1f}" y="18" text-anchor="middle" font-size="13" font-weight="600" '
                       f'fill="{INK}">{escape(self.title)}</text>')
        if self.xlabel:
            out.append(f'<text x="{lx + pw / 2:.1f}" y="{self.h - 6}" text-anchor="middle" fill="{INK}">'
                       f"{escape(self.xlabel)}</text>")
        if self.ylabel:
            cy = t + ph / 2
            out.append(f'<text x="14" y="{cy:.1f}" transform="rotate(-90 14 {cy:.1f})" text-anchor="middle" '
                       f'fill="{INK}">{escape(self.ylabel)}</text>')
        return out

    def _legend(self, where: str) -> list[str]:
        if not self.legend:
            return []
        width = max(text_width(lbl) for lbl, _, _ in self.legend) + 34
        height = 17 * len(self.legend) + 6
        lx, t, pw, ph = self.m["l"], self.m["t"], self.pw, self.ph
        x = lx + 10 if "left" in where else lx + pw - width - 4
        y = t + 6 if "upper" in where else t + ph - height - 4
        out = [f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height}" fill="#fff" '
               f'fill-opacity="0.85" rx="3"/>']
        for i, (lbl, color, kind) in enumerate(self.legend):
            cy = y + 12 + 17 * i
            if kind == "box":
                mark = f'<rect x="{x + 6:.1f}" y="{cy - 5:.1f}" width="16" height="10" fill="{color}"/>'
            elif kind == "dot":
                mark = f'<circle cx="{x + 14:.1f}" cy="{cy:.1f}" r="4" fill="{color}"/>'
            else:
                dash = ' stroke-dasharray="5 3"' if kind == "dash" else ""
                sw = 2.5 if kind == "tick" else 2
                mark = (f'<line x1="{x + 5:.1f}" x2="{x + 23:.1f}" y1="{cy:.1f}" y2="{cy:.1f}" stroke="{color}" '
                        f'stroke-width="{sw}"{dash}/>')
            out.append(f'{mark}<text x="{x + 28:.1f}" y="{cy + 4:.1f}" fill="{INK}">{escape(lbl)}</text>')
        return out

    def svg(self, legend: str = "upper right") -> str:
        body = "".join(self._axes() + self.items + self._legend(legend))
        return (f'<svg class="cf-chart" viewBox="0 0 {self.w} {self.h}" width="{self.w}" height="{self.h}" '
                f'xmlns="http://www.w3.org/2000/svg" font-size="11" role="img">'
                f'<title>{escape(self.title)}</title>{body}</svg>')
