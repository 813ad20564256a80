"""Render a report as one self-contained HTML page: inline CSS, PNG figures as base64, SVG inline.

Nothing is fetched from the network. The same fragment (`render_fragment`) is what Jupyter shows;
its CSS is scoped under `.cf-report` so it leaves the notebook's own styles alone.
"""

from __future__ import annotations

import base64
import functools
from html import escape
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

from creditflow.report.content import Figure, Group, Metric, Note, Section, Table, format_value

if TYPE_CHECKING:
    from creditflow.report.report import Report

BADGES = {
    "ok": "ok", "stable": "ok", "selected": "ok", "model": "ok", "approve": "ok",
    "warn": "warn", "monitor": "warn", "underestimates": "warn", "overestimates": "warn",
    "fail": "fail", "shift": "fail", "reject": "fail", "alert": "fail", "warning": "warn",
    "dropped": "muted", "not used": "muted", "info": "muted", "n/a": "muted",
}
BADGE_COLUMNS = ("status", "result", "verdict", "role")


@functools.cache
def _asset(name: str) -> str:
    return resources.files("creditflow.report").joinpath("templates", name).read_text(encoding="utf-8")


def table_html(t: Table, max_rows: int | None = None) -> str:
    kinds = t.kinds()
    cols = list(t.frame.columns)
    head = "".join(f"<th>{escape(str(c))}</th>" for c in cols)
    badge = [str(c).startswith(BADGE_COLUMNS) for c in cols]
    numeric = [kinds[c] not in ("text",) for c in cols]
    values = t.frame.to_numpy(dtype=object) if len(t.frame) else np.empty((0, len(cols)), dtype=object)
    if max_rows is not None:
        values = values[:max_rows]
    body = []
    for row in values:
        cells = []
        for j, v in enumerate(row):
            text = escape(format_value(v, kinds[cols[j]]))
            if badge[j] and text in BADGES:
                cells.append(f'<td><span class="b {BADGES[text]}">{text}</span></td>')
            elif numeric[j]:
                cells.append(f'<td class="n">{text}</td>')
            else:
                cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    scroll = ' class="cf-scroll"' if len(values) > 25 else ""
    out = (f'<div{scroll}><table class="cf-t" id="{escape(t.key)}"><caption>{escape(t.title)}</caption>'
           f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")
    if t.note:
        out += f'<p class="cf-note">{escape(t.note)}</p>'
    return out


def figure_html(f: Figure) -> str:
    if f.svg is not None:
        inner = f.svg
    elif f.png is not None:
        data = base64.b64encode(f.png).decode("ascii")
        inner = f'<img alt="{escape(f.title)}" src="data:image/png;base64,{data}">'
    else:
        return ""
    cap = f"<figcaption>{escape(f.note)}</figcaption>" if f.note else ""
    return f'<figure id="{escape(f.key)}">{inner}{cap}</figure>'


def cards_html(cards: list[Metric]) -> str:
    items = "".join(
        f'<div class="cf-card {escape(c.level)}"><div class="l">{escape(c.label)}</div>'
        f'<div class="v">{escape(c.value)}</div><div class="d">{escape(c.detail)}</div></div>'
        for c in cards
    )
    return f'<div class="cf-cards">{items}</div>'


def block_html(b: object) -> str:
    if isinstance(b, Table):
        return table_html(b)
    if isinstance(b, Figure):
        return figure_html(b)
    if isinstance(b, Note):
        return f'<p class="cf-msg {escape(b.level)}">{escape(b.text)}</p>'
    if isinstance(b, list):
        return cards_html([c for c in b if isinstance(c, Metric)])
    if isinstance(b, Group):
        inner = "".join(block_html(x) for x in b.blocks)
        sub = f'<span class="cf-sub">{escape(b.subtitle)}</span>' if b.subtitle else ""
        opened = " open" if b.open else ""
        anchor = f' id="{escape(b.anchor)}"' if b.anchor else ""
        return (f"<details{anchor}{opened}><summary>{escape(b.title)}{sub}</summary>"
                f'<div class="cf-row">{inner}</div></details>')
    return ""


def section_html(s: Section) -> str:
    intro = f'<p class="cf-note">{escape(s.intro)}</p>' if s.intro else ""
    body = "".join(block_html(b) for b in s.blocks)
    return f'<section id="sec-{escape(s.key)}"><h2>{escape(s.title)}</h2>{intro}{body}</section>'


def render_fragment(report: Report) -> str:
    """The report as an HTML fragment (a styled <div>), for Jupyter and for the full page."""
    meta = "".join(f"<dt>{escape(str(k))}</dt><dd>{escape(str(v))}</dd>" for k, v in report.meta.items())
    toc = "".join(f'<a href="#sec-{escape(s.key)}">{escape(s.title)}</a>' for s in report.sections)
    body = "".join(section_html(s) for s in report.sections)
    return (
        f'<div class="cf-report"><style>{_asset("report.css")}</style>'
        f"<header><h1>{escape(report.title)}</h1>"
        f'<div class="cf-sub">{escape(report.subtitle)}</div><dl class="cf-meta">{meta}</dl></header>'
        f'<nav class="cf-toc">{toc}</nav>{body}'
        f'<div class="cf-foot">Generated by creditflow {escape(report.version)} on {escape(report.created)}. '
        f"Self-contained: figures are embedded, nothing is loaded from the network.</div></div>"
    )


def render_page(report: Report) -> str:
    """A complete UTF-8 HTML document."""
    from jinja2 import Environment
    from markupsafe import Markup

    env = Environment(autoescape=True)
    template = env.from_string(_asset("report.html.j2"))
    return template.render(title=report.title, version=report.version, lang=report.lang,
                           body=Markup(render_fragment(report)))
