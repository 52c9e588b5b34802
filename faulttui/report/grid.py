"""The report's tables as grids of formatted cells, shared by the text, markdown and html renderers.

A `Grid` is strings only (numbers already formatted by `faulttui.report.units`); each renderer
decides how to draw and escape it. Wide grids split into narrower ones for the text format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from faulttui.report.model import DiffReport, MetricRow, Table, ThreadChange, ThreadRanking
from faulttui.report.units import format_count, format_ns, format_value

DELTA_HEADER = "delta"


@dataclass(frozen=True, slots=True)
class Grid:
    """Header and rows of cells. The first `fixed` columns are repeated when a grid is split to
    fit a width; the rest come in groups of `group` columns (a policy's value and delta)."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]  # right-aligned
    literal: tuple[bool, ...]  # text taken from the trace (markdown shows it as code)
    fixed: int
    group: int

    def columns(self, indexes: Sequence[int]) -> Grid:
        pick = tuple(indexes)
        return Grid(
            self.title, tuple(self.header[i] for i in pick),
            tuple(tuple(row[i] for i in pick) for row in self.rows),
            tuple(self.numeric[i] for i in pick), tuple(self.literal[i] for i in pick),
            self.fixed, self.group,
        )


def metric_grid(table: Table, report: DiffReport) -> Grid:
    """label, then per column its value, with a delta column after each compared policy."""
    header = ["metric"]
    for name in report.columns:
        header.append(name)
        if name in report.compared:
            header.append(DELTA_HEADER)
    rows = tuple(_metric_cells(row, report) for row in table.rows)
    width = len(header)
    fixed = 1 + sum(1 for name in report.columns if name not in report.compared)
    title = (f"{table.title} (delta: change vs {report.baseline}; blank: unchanged)"
             if report.compared else table.title)
    return Grid(title, tuple(header), rows, (False,) + (True,) * (width - 1),
                (False,) * width, fixed, 2)


def _metric_cells(row: MetricRow, report: DiffReport) -> tuple[str, ...]:
    cells = [row.label]
    for name, value, delta in zip(report.columns, row.values, row.deltas, strict=True):
        cells.append(format_value(value, row.unit))
        if name in report.compared:
            cells.append("" if delta is None or delta.absolute == 0 else delta.label)
    return tuple(cells)


def thread_grid(ranking: ThreadRanking, baseline: str, improved: bool) -> Grid:
    changes = ranking.improved if improved else ranking.regressed
    direction = "improved" if improved else "regressed"
    header = ("tid", "comm", "faults", "before", "after", DELTA_HEADER, "p99 before",
              "p99 after", "mmap_lock wait after")
    rows = tuple(_thread_cells(change) for change in changes)
    title = (f"{ranking.policy} vs {baseline}: threads that {direction} most "
             "(time in faults before -> after)")
    return Grid(title,
                header, rows, (True, False, True, True, True, True, True, True, True),
                (False, True, False, False, False, False, False, False, False), len(header), 1)


def _thread_cells(change: ThreadChange) -> tuple[str, ...]:
    faults = format_count(change.faults)
    if change.faults != change.baseline_faults:
        faults = f"{format_count(change.baseline_faults)}->{faults}"
    return (
        str(change.tid), change.comm, faults, format_ns(change.baseline_fault_time_ns),
        format_ns(change.fault_time_ns), change.delta.label, format_ns(change.baseline_p99_ns),
        format_ns(change.p99_ns), format_ns(change.mmap_lock_wait_ns),
    )


def split_to_width(grid: Grid, width: int, separator: int = 2) -> list[Grid]:
    """Split a grid's groups over several grids so each line fits `width` characters."""
    column_widths = [
        max([len(grid.header[i]), *(len(row[i]) for row in grid.rows)])
        for i in range(len(grid.header))
    ]
    fixed = list(range(grid.fixed))
    fixed_width = sum(column_widths[i] + separator for i in fixed)
    groups = [list(range(start, min(start + grid.group, len(grid.header))))
              for start in range(grid.fixed, len(grid.header), grid.group)]
    chunks: list[list[int]] = []
    current: list[int] = []
    used = fixed_width
    for group in groups:
        needed = sum(column_widths[i] + separator for i in group)
        if current and used + needed > width:
            chunks.append(current)
            current, used = [], fixed_width
        current.extend(group)
        used += needed
    if current or not chunks:
        chunks.append(current)
    return [grid.columns(fixed + chunk) for chunk in chunks]


def aligned_lines(grid: Grid, separator: str = "  ") -> list[str]:
    """Header, a rule, then rows; numbers right-aligned, text left-aligned."""
    widths = [
        max([len(grid.header[i]), *(len(row[i]) for row in grid.rows)])
        for i in range(len(grid.header))
    ]

    def line(cells: Sequence[str]) -> str:
        return separator.join(
            cell.rjust(width) if numeric else cell.ljust(width)
            for cell, width, numeric in zip(cells, widths, grid.numeric, strict=True)
        ).rstrip()

    return [line(grid.header), separator.join("-" * w for w in widths),
            *(line(row) for row in grid.rows)]
