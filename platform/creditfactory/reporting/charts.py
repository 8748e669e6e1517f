"""Server-side SVG charts for the head-office console: trend lines per bank and a distribution with the case's
reference lines. Plain SVG elements with presentation attributes and classes (styled by console.css), so they
render under the production CSP with no script and no inline style.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Sequence

from markupsafe import Markup, escape

from .kpis import Reference

#: About a phone's width, so the 14px labels (console.css) stay 14px on a phone instead of shrinking.
WIDTH, HEIGHT = 360, 240
#: Plot margins: left for the value axis labels, bottom for the dates or ranks.
LEFT, RIGHT, TOP, BOTTOM = 52, 8, 12, 32
#: Colour classes cycled over the banks (console.css: .series-0 ... .series-7).
SERIES = 8


def _span(values: Sequence[Decimal], references: Sequence[Reference]) -> tuple[Decimal, Decimal]:
    everything = [*values, *(r.value for r in references)]
    low, high = min(everything, default=Decimal(0)), max(everything, default=Decimal(1))
    low = min(low, Decimal(0))
    if high == low:
        high = low + 1
    return low, high + (high - low) / 20


def _y(value: Decimal, low: Decimal, high: Decimal) -> float:
    return TOP + float((high - value) / (high - low)) * (HEIGHT - TOP - BOTTOM)


def format_value(value: Decimal | None, metric: str) -> str:
    """How the console shows a KPI value: ratios as per cent, money and counts with thousands separators."""
    if value is None:
        return "—"
    if metric in RATIOS:
        return f"{value * 100:.2f}%"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.2f}"


#: KPIs that are shares or ratios (shown as per cent).
RATIOS = frozenset({"online_approval_share", "auto_decision_rate", "npl_ratio", "par30", "par90",
                    "provision_coverage", "loan_provision_ratio", "cold_visit_success_rate"})


def _tick(value: Decimal, metric: str) -> str:
    """An axis label short enough for the margin: 40M, 25k, 1.5%."""
    if metric in RATIOS:
        return f"{value * 100:.1f}%"
    for size, suffix in ((Decimal(1_000_000), "M"), (Decimal(1_000), "k")):
        if abs(value) >= size:
            return f"{value / size:.0f}{suffix}"
    return f"{value:.1f}"


def _axis(low: Decimal, high: Decimal, metric: str) -> list[str]:
    parts = []
    for i in range(0, 5, 2):
        value = low + (high - low) * i / 4
        y = _y(value, low, high)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{escape(_tick(value, metric))}</text>')
    return parts


def _references(references: Sequence[Reference], low: Decimal, high: Decimal, metric: str,
                labels: dict[str, str]) -> list[str]:
    parts = []
    placed: list[float] = []
    for ref in sorted(references, key=lambda r: r.value, reverse=True):
        y = _y(ref.value, low, high)
        label = labels.get(ref.label, ref.label)
        # Close lines (0.72% and 1%) would print their labels on top of each other: put the lower one's below.
        text_y = y + 16 if any(abs(y - 4 - other) < 16 for other in placed) else y - 4
        placed.append(text_y)
        parts.append(f'<line class="reference" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="reference-label" x="{WIDTH - RIGHT - 4}" y="{text_y:.1f}" text-anchor="end">'
                     f'{escape(label)} {escape(_tick(ref.value, metric))}</text>')
    return parts


def _svg(title: str, body: list[str], css_class: str) -> Markup:
    return Markup(f'<svg class="chart {css_class}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
                  f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}"><title>{escape(title)}</title>'
                  + "".join(body) + "</svg>")


def trend_chart(title: str, metric: str, series: dict[str, list[tuple[dt.date, Decimal | None]]],
                references: Sequence[Reference] = (), labels: dict[str, str] | None = None) -> Markup:
    """One line per bank over time (absent values break the line), with the reference lines across."""
    points = [(day, value) for line in series.values() for day, value in line if value is not None]
    low, high = _span([v for _, v in points], references)
    days = sorted({day for day, _ in points})
    first, last = (days[0], days[-1]) if days else (dt.date.today(), dt.date.today())
    spread = max((last - first).days, 1)

    def x(day: dt.date) -> float:
        return LEFT + (day - first).days / spread * (WIDTH - LEFT - RIGHT)

    body = _axis(low, high, metric) + _references(references, low, high, metric, labels or {})
    for i, (slug, line) in enumerate(sorted(series.items())):
        segments, current = [], []
        for day, value in line:
            if value is None:
                if current:
                    segments.append(current)
                current = []
            else:
                current.append(f"{x(day):.1f},{_y(value, low, high):.1f}")
        if current:
            segments.append(current)
        for segment in segments:
            if len(segment) == 1:
                cx, cy = segment[0].split(",")
                body.append(f'<circle class="series-{i % SERIES}" cx="{cx}" cy="{cy}" r="3"><title>{escape(slug)}'
                            "</title></circle>")
            else:
                body.append(f'<polyline class="line series-{i % SERIES}" points="{" ".join(segment)}">'
                            f"<title>{escape(slug)}</title></polyline>")
    body.append(f'<text class="tick" x="{LEFT}" y="{HEIGHT - 8}">{first.isoformat()}</text>'
                f'<text class="tick" x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">{last.isoformat()}</text>')
    return _svg(title, body, "trend")


def distribution_chart(title: str, metric: str, values: Sequence[tuple[str, Decimal | None]],
                       references: Sequence[Reference] = (), labels: dict[str, str] | None = None) -> Markup:
    """One bar per bank (in the order given, e.g. the league table's), with the reference lines across."""
    known = [(slug, v) for slug, v in values if v is not None]
    low, high = _span([v for _, v in known], references)
    body = _axis(low, high, metric)
    slot = (WIDTH - LEFT - RIGHT) / max(len(known), 1)
    zero = _y(max(low, Decimal(0)), low, high)
    for i, (slug, value) in enumerate(known):
        top = _y(value, low, high)
        y, h = min(top, zero), abs(zero - top)
        body.append(f'<rect class="bar series-{i % SERIES}" x="{LEFT + i * slot + slot * 0.15:.1f}" y="{y:.1f}" '
                    f'width="{slot * 0.7:.1f}" height="{max(h, 1):.1f}"><title>{escape(slug)}: '
                    f'{escape(format_value(value, metric))}</title></rect>')
        # Ranks, not names, fit under the bars on a phone; the league table beside the chart names them.
        if slot >= 18:
            body.append(f'<text class="tick" x="{LEFT + (i + 0.5) * slot:.1f}" y="{HEIGHT - BOTTOM + 18}" '
                        f'text-anchor="middle">{i + 1}</text>')
    body += _references(references, low, high, metric, labels or {})
    return _svg(title, body, "distribution")
