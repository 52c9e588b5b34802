"""The compare view's small histograms: fault latency and mmap_lock wait per timeline, in
the log buckets of the metrics ([0,1µs) [1µs,10µs) ... [100ms,∞), left to right), one shared
scale per distribution so the timelines compare at a glance; bar heights read without colour."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.widgets import Static

from faulttui.model.metrics import Metrics
from faulttui.tui.replays import ReplayRun

BARS = "▁▂▃▄▅▆▇█"
NAME = 12  # characters for the timeline's name
CELLS = 16  # characters for one distribution: 7 buckets of "x ", and a gap


def _mmap_wait(metrics: Metrics) -> tuple[int, ...]:
    read, write = metrics.mmap_read_wait.buckets, metrics.mmap_write_wait.buckets
    return tuple(r + w for r, w in zip(read, write, strict=True))


DISTRIBUTIONS: tuple[tuple[str, Callable[[Metrics], tuple[int, ...]]], ...] = (
    ("fault latency", lambda metrics: metrics.fault_latency.buckets),
    ("mmap_lock wait", _mmap_wait),
)


def bar(count: int, largest: int) -> str:
    """A bucket as a bar whose height is its share of the largest bucket (· for none)."""
    if count <= 0 or largest <= 0:
        return "·"
    return BARS[max(1, -(-len(BARS) * count // largest)) - 1]


def histogram_text(runs: Sequence[ReplayRun], no_color: bool = False) -> Text:
    """A header (the distributions' names), then one row per timeline."""
    text = Text()
    text.append("histograms".ljust(NAME), style="bold")
    for title, _ in DISTRIBUTIONS:
        text.append(title.ljust(CELLS), style="bold")
    text.append("<1µs … ≥100ms\n", style="dim")
    largest = [max((max(buckets_of(run.metrics), default=0) for run in runs), default=0)
               for _, buckets_of in DISTRIBUTIONS]
    for number, run in enumerate(runs):
        text.append(run.name[:NAME - 1].ljust(NAME))
        style = "" if no_color else "cyan" if number else "yellow"
        for (_, buckets_of), top in zip(DISTRIBUTIONS, largest, strict=True):
            cells = " ".join(bar(count, top) for count in buckets_of(run.metrics))
            text.append(cells.ljust(CELLS), style=style)
        text.append("\n")
    text.rstrip()
    return text


class Histograms(Static):
    def show(self, runs: Sequence[ReplayRun]) -> None:
        self.update(histogram_text(runs, self.app.no_color))
