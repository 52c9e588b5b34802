"""How the report writes numbers: durations, counts and relative deltas (pure functions).

Every renderer (text, markdown, html) and the headline sentences use these, so a figure reads
the same everywhere. Only formatting and the relative change between two figures: no metric is computed here.
"""

from __future__ import annotations

import enum
import math


class Unit(enum.StrEnum):
    NS = "ns"  # a duration in nanoseconds
    COUNT = "count"  # a number of things


def format_ns(value: int) -> str:
    """A duration with three significant digits: `850 ns`, `1.31 ms`, `10.7 s`."""
    magnitude = abs(value)
    if magnitude < 1_000:
        return f"{value} ns"
    for scale, suffix in ((1_000_000_000, "s"), (1_000_000, "ms"), (1_000, "us")):
        if magnitude >= scale:
            scaled = value / scale
            if abs(scaled) >= 100:
                return f"{scaled:.0f} {suffix}"
            if abs(scaled) >= 10:
                return f"{scaled:.1f} {suffix}"
            return f"{scaled:.2f} {suffix}"
    raise AssertionError("unreachable")  # pragma: no cover


def format_count(value: int) -> str:
    return f"{value:,}"


def format_value(value: int, unit: Unit) -> str:
    return format_ns(value) if unit is Unit.NS else format_count(value)


def format_relative(relative: float | None) -> str:
    """`+12%`, `-4.5%`, `+0.016%`, `0%`, `-99.7%`, `12x` for growths of 10x and more; `new` from
    a zero baseline. Never rounds a change to nothing, nor a partial cut to -100%."""
    if relative is None or math.isinf(relative):
        return "new"
    if relative == 0:
        return "0%"
    if relative >= 9:
        return f"{relative + 1:.0f}x"
    return f"{'+' if relative > 0 else '-'}{format_percent(abs(relative))}"


def format_percent(fraction: float) -> str:
    """A non-negative fraction as a percentage with the digits that matter: 0.016%, 4.5%, 31%,
    99.7% (not 100% unless it is), 131%."""
    percent = fraction * 100
    if percent == 0:
        return "0%"
    if percent < 0.1:
        return f"{percent:.2g}%"
    if percent < 10:
        return f"{percent:.1f}%"
    if 99 <= percent < 100:
        return f"{math.floor(percent * 10) / 10:.1f}%"
    return f"{percent:.0f}%"


def relative_change(value: int, baseline_value: int) -> float | None:
    """(value - baseline) / baseline; 0.0 when both are 0; None when only the baseline is 0."""
    if baseline_value == 0:
        return 0.0 if value == 0 else None
    return (value - baseline_value) / baseline_value
