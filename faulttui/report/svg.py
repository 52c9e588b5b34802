"""Inline SVG charts for the HTML report: pure functions from `Dist`s to markup strings.

No scripts, no fonts or images fetched, no namespace URL (inline SVG in HTML5 needs none).
Every label is escaped, since policy names may come from third-party plugins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from faulttui.model.metrics import BUCKET_EDGES_NS, BUCKET_LABELS, Dist
from faulttui.report.units import format_count, format_ns

PALETTE: tuple[str, ...] = (
    "#555555", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
)
WIDTH = 840
HEIGHT = 330
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 170, 30, 50

# the percentile axis of the CDF: (position = -log10(1 - q), label); the max is drawn at 4
_NINES: tuple[tuple[float, str], ...] = (
    (0.0, "0%"), (math.log10(2), "50%"), (1.0, "90%"), (2.0, "99%"), (3.0, "99.9%"), (4.0, "max"),
)
_PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", math.log10(2)), ("p90", 1.0), ("p99", 2.0), ("p999", 3.0), ("max", 4.0),
)
_FLOOR_NS = 100  # zero is drawn at 100 ns on the log axis


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def cdf_points(dist: Dist) -> list[tuple[int, float]]:
    """(value_ns, percentile position) points of a distribution's CDF, in increasing order.

    The known percentiles, plus the exact cumulative share below each bucket edge (a point
    only where that share is strictly between 0 and 99.9%).
    """
    if dist.count == 0:
        return []
    points = [(getattr(dist, name), position) for name, position in _PERCENTILES]
    below = 0
    for edge, count in zip(BUCKET_EDGES_NS, dist.buckets, strict=False):
        below += count
        share = below / dist.count
        if 0 < share < 0.999:
            points.append((edge, -math.log10(1 - share)))
    return sorted(points, key=lambda point: (point[1], point[0]))


def latency_cdf(title: str, series: Sequence[tuple[str, Dist]]) -> str:
    """One line per timeline: latency (log x) against percentile (y, in nines: 0%, 50%, 90%,
    99%, 99.9%, then the max on top), so the tail, where the policies differ, gets room."""
    plotted = [(name, cdf_points(dist)) for name, dist in series]
    largest = max((value for _, points in plotted for value, _ in points), default=_FLOOR_NS)
    low_decade = 2  # 100 ns
    high_decade = max(low_decade + 1, math.ceil(math.log10(max(largest, _FLOOR_NS + 1))))
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM

    def x_of(value: int) -> float:
        decade = math.log10(max(value, _FLOOR_NS))
        return _LEFT + (decade - low_decade) / (high_decade - low_decade) * plot_w

    def y_of(position: float) -> float:
        return _TOP + plot_h - position / 4.0 * plot_h

    parts = [_open(title)]
    for decade in range(low_decade, high_decade + 1):
        x = x_of(10**decade)
        parts.append(_line(x, _TOP, x, _TOP + plot_h, "grid"))
        parts.append(_text(x, _TOP + plot_h + 16, format_ns(10**decade), "middle"))
    for position, label in _NINES:
        y = y_of(position)
        parts.append(_line(_LEFT, y, _LEFT + plot_w, y, "grid"))
        parts.append(_text(_LEFT - 6, y + 4, label, "end"))
    parts.append(_text(_LEFT + plot_w / 2, HEIGHT - 10, "latency (log scale)", "middle"))
    parts.append(_vertical_text(16, _TOP + plot_h / 2, "percentile (share of values below)"))
    for index, (name, points) in enumerate(plotted):
        if not points:
            continue
        coordinates = " ".join(f"{x_of(value):.1f},{y_of(position):.1f}"
                               for value, position in points)
        parts.append(f'<polyline fill="none" stroke="{color(index)}" stroke-width="2" '
                     f'points="{coordinates}"><title>{escape(name)}</title></polyline>')
    parts.append(_legend([name for name, _ in series]))
    parts.append("</svg>")
    return "".join(parts)


def bucket_histogram(title: str, series: Sequence[tuple[str, Dist]]) -> str:
    """Grouped bars: for each log bucket, one bar per timeline; counts on a log axis."""
    largest = max((count for _, dist in series for count in dist.buckets), default=1)
    top_decade = max(1, math.ceil(math.log10(largest + 1)))
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    slot = plot_w / len(BUCKET_LABELS)
    bar = slot * 0.8 / max(1, len(series))

    def height_of(count: int) -> float:
        return math.log10(count + 1) / top_decade * plot_h

    parts = [_open(title)]
    for decade in range(top_decade + 1):
        y = _TOP + plot_h - decade / top_decade * plot_h
        parts.append(_line(_LEFT, y, _LEFT + plot_w, y, "grid"))
        parts.append(_text(_LEFT - 6, y + 4, format_count(10**decade - 1 if decade == 0
                                                           else 10**decade), "end"))
    for slot_index, label in enumerate(BUCKET_LABELS):
        x0 = _LEFT + slot_index * slot + slot * 0.1
        parts.append(_text(x0 + slot * 0.4, _TOP + plot_h + 16, label, "middle"))
        for index, (name, dist) in enumerate(series):
            count = dist.buckets[slot_index]
            height = height_of(count)
            parts.append(
                f'<rect x="{x0 + index * bar:.1f}" y="{_TOP + plot_h - height:.1f}" '
                f'width="{max(bar - 1, 1):.1f}" height="{height:.1f}" fill="{color(index)}">'
                f"<title>{escape(name)} {escape(label)}: {format_count(count)}</title></rect>")
    parts.append(_text(_LEFT + plot_w / 2, HEIGHT - 10, "log bucket", "middle"))
    parts.append(_vertical_text(16, _TOP + plot_h / 2, "count (log scale)"))
    parts.append(_legend([name for name, _ in series]))
    parts.append("</svg>")
    return "".join(parts)


def _open(title: str) -> str:
    return (f'<svg class="chart" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
            f"<title>{escape(title)}</title>"
            f'<text x="{_LEFT}" y="18" class="chart-title">{escape(title)}</text>')


def _legend(names: Sequence[str]) -> str:
    x = WIDTH - _RIGHT + 16
    items = []
    for index, name in enumerate(names):
        y = _TOP + 10 + index * 20
        items.append(f'<rect x="{x}" y="{y - 9}" width="12" height="12" fill="{color(index)}"/>')
        items.append(_text(x + 18, y + 1, name, "start"))
    return "".join(items)


def _vertical_text(x: float, y: float, label: str) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 {x:.1f} {y:.1f})">{escape(label)}</text>')


def _line(x1: float, y1: float, x2: float, y2: float, css_class: str) -> str:
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'class="{css_class}"/>')


def _text(x: float, y: float, label: str, anchor: str) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(label)}</text>'
