"""Charts as inline SVG, rendered on the server from plain numbers: no script, nothing fetched.

Each chart is an ``<svg role="img">`` labelled by its ``<title>`` and a ``<desc>`` that states the
numbers in words (what a screen reader reads); each point and segment carries its own
``<title>``, which browsers show on hover. Colours are attributes, so a chart is a complete
SVG document on its own (tests parse it with ``xml.etree``). Every text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

# The status colours of static/css/postroom.css, and a few for engagement.
COLORS = {
    "delivered": "#2e9e62",
    "bounced": "#d9534f",
    "failed": "#a4282b",
    "suppressed": "#9aa3b2",
    "cancelled": "#c4c9d2",
    "deferred": "#e9a23b",
    "sending": "#5b8def",
    "queued": "#b9cdf6",
    "opened": "#2f5bea",
    "clicked": "#8e44ad",
    "machine": "#98a2b3",
    "confirmed": "#2e9e62",
    "pending": "#e9a23b",
    "unsubscribed": "#98a2b3",
}
FONT = 'font-family="system-ui, sans-serif" font-size="12" fill="#475467"'


@dataclass(frozen=True)
class Line:
    label: str
    values: Sequence[int]
    color: str
    dashed: bool = False


@dataclass(frozen=True)
class Segment:
    label: str
    value: int
    color: str


def _svg(chart_id: str, title: str, desc: str, width: int, height: int, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")


def _nice_max(value: int) -> int:
    """The top of the y axis: four gridline steps of a round size (1, 2, 3, 4, 5, 6 or 8 times a
    power of ten), together at least ``value``."""
    needed = max(value, 4) / 4
    power = 10 ** math.floor(math.log10(needed))
    step = next(m * power for m in (1, 2, 3, 4, 5, 6, 8, 10) if m * power >= needed)
    return int(step * 4)


def _time_label(moment: datetime, step: int, first: bool) -> str:
    if step >= 86400:
        return f"{moment:%b %d}"
    return f"{moment:%b %d %H:%M}" if first or (moment.hour == 0 and moment.minute == 0) else f"{moment:%H:%M}"


def time_chart(
    chart_id: str, title: str, times: Sequence[datetime], step: int, lines: Sequence[Line], *, levels: bool = False
) -> Markup:
    """Lines over time, one value per bucket of ``step`` seconds starting at each of ``times``.

    The legend and description give each line's total; with ``levels`` (a count at each moment,
    such as subscribers) its latest value instead.
    """
    width, height = 720, 260
    left, right, top, bottom = 48, 12, 36, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(times)
    peak = _nice_max(max((max(line.values, default=0) for line in lines), default=0))
    x = lambda i: left + (plot_w * (i + 0.5) / n if n else 0)  # noqa: E731 (bucket centres)
    y = lambda v: top + plot_h - plot_h * v / peak  # noqa: E731
    body = []
    for k in range(5):  # horizontal grid and the y axis' labels
        value = peak * k // 4
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#e3e6ec"/>'
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end" {FONT}>{value}</text>'
        )
    ticks = sorted({round(i * (n - 1) / 5) for i in range(6)}) if n > 1 else [0]
    for t in ticks[:n]:
        body.append(
            f'<text x="{x(t):.1f}" y="{height - 10}" text-anchor="middle" {FONT}>'
            f"{escape(_time_label(times[t], step, t == ticks[0]))}</text>"
        )
    summary = {line.label: (line.values[-1] if line.values else 0) if levels else sum(line.values) for line in lines}
    for i, line in enumerate(lines):  # the legend, left to right
        body.append(
            f'<rect x="{left + i * 130}" y="10" width="12" height="12" rx="2" fill="{line.color}"/>'
            f'<text x="{left + i * 130 + 16}" y="20" {FONT}>{escape(line.label)} ({summary[line.label]})</text>'
        )
    for line in lines:
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(line.values))
        dash = ' stroke-dasharray="5 4"' if line.dashed else ""
        body.append(f'<polyline points="{points}" fill="none" stroke="{line.color}" stroke-width="2"{dash}/>')
        for i, v in enumerate(line.values):
            if v:
                body.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{line.color}">'
                    f"<title>{escape(line.label)}, {escape(_time_label(times[i], step, True))}: {v}</title></circle>"
                )
    numbers = ", ".join(f"{label} {value}" for label, value in summary.items())
    span = f"from {times[0]:%Y-%m-%d %H:%M} UTC, {n} intervals of {_duration(step)}" if n else "no data"
    return _svg(chart_id, title, f"{title}, {span}. {'Now' if levels else 'Totals'}: {numbers}.", width, height, body)


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def stacked_bar(chart_id: str, title: str, segments: Sequence[Segment]) -> Markup:
    """One bar split into shares of the total, with a legend of counts and percentages."""
    width = 720
    total = sum(s.value for s in segments)
    shown = [s for s in segments if s.value]
    body = [f'<rect x="0" y="0" width="{width}" height="28" rx="6" fill="#eef0f4"/>']
    cursor = 0.0
    for s in shown:
        share = width * s.value / total
        body.append(
            f'<rect x="{cursor:.2f}" y="0" width="{share:.2f}" height="28" fill="{s.color}">'
            f"<title>{escape(s.label)}: {s.value} ({100 * s.value / total:.1f}%)</title></rect>"
        )
        cursor += share
    for i, s in enumerate(shown):
        col, row = i % 4, i // 4
        body.append(
            f'<rect x="{col * 180}" y="{42 + row * 22}" width="12" height="12" rx="2" fill="{s.color}"/>'
            f'<text x="{col * 180 + 16}" y="{52 + row * 22}" {FONT}>{escape(s.label)} {s.value}'
            f" ({100 * s.value / total:.0f}%)</text>"
        )
    words = ", ".join(f"{s.label} {s.value}" for s in shown) or "nothing yet"
    rows = max(1, math.ceil(len(shown) / 4))
    return _svg(chart_id, title, f"{title}: {words}; {total} in all.", width, 42 + rows * 22, body)


def stacked_rows(chart_id: str, title: str, rows: Sequence[tuple[str, Sequence[Segment]]]) -> Markup:
    """One bar per row (a domain, a provider), each split into shares of its own total."""
    width, label_w, row_h = 720, 200, 26
    bar_w = width - label_w - 70
    height = 30 + row_h * max(len(rows), 1)
    body = []
    colors = {s.label: s.color for _, segments in rows for s in segments}
    for i, (label, color) in enumerate(colors.items()):
        body.append(
            f'<rect x="{label_w + i * 110}" y="4" width="12" height="12" rx="2" fill="{color}"/>'
            f'<text x="{label_w + i * 110 + 16}" y="14" {FONT}>{escape(label)}</text>'
        )
    words = []
    for r, (name, segments) in enumerate(rows):
        top = 26 + r * row_h
        total = sum(s.value for s in segments)
        short = name if len(name) <= 28 else name[:27] + "…"
        body.append(f'<text x="{label_w - 8}" y="{top + 14}" text-anchor="end" {FONT}>{escape(short)}</text>')
        cursor = float(label_w)
        for s in segments:
            if not s.value:
                continue
            share = bar_w * s.value / total
            body.append(
                f'<rect x="{cursor:.2f}" y="{top}" width="{share:.2f}" height="18" fill="{s.color}">'
                f"<title>{escape(name)}, {escape(s.label)}: {s.value} of {total}</title></rect>"
            )
            cursor += share
        body.append(f'<text x="{label_w + bar_w + 8}" y="{top + 14}" {FONT}>{total}</text>')
        words.append(f"{name}: " + ", ".join(f"{s.label} {s.value}" for s in segments if s.value))
    return _svg(chart_id, title, f"{title}. " + ("; ".join(words) or "No attempts."), width, height, body)
