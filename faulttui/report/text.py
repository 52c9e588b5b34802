"""The diff report as plain text for a terminal or a CI log: every line fits 100 columns."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from typing import Any

from faulttui.report.grid import Grid, aligned_lines, metric_grid, split_to_width, thread_grid
from faulttui.report.model import DiffReport, no_headline_sentence

WIDTH = 100
COMM_WIDTH = 16  # a kernel comm has at most 15 characters; longer names are clipped


def render_text(report: DiffReport) -> str:
    lines = [
        *_wrap(f"faulttui diff: {report.trace}"),
        *_wrap(f"baseline {report.baseline}; compared: {', '.join(report.compared) or 'none'}"),
        "",
        "Headline",
    ]
    sentences = [item.sentence for item in report.headline] or [no_headline_sentence(report)]
    for sentence in sentences:
        lines.extend(_wrap(sentence, initial="  * ", subsequent="    "))
    if report.gates:
        lines += ["", *gate_lines(report)]
    lines += ["", *_grid_lines(metric_grid(report.summary, report))]
    for distribution in report.distributions:
        lines += ["", *_grid_lines(metric_grid(distribution.percentiles, report))]
        lines += ["", *_grid_lines(metric_grid(distribution.buckets, report))]
    lines += ["", *_grid_lines(metric_grid(report.writers, report))]
    for ranking in report.threads:
        for improved in (True, False):
            grid = _clip_literals(thread_grid(ranking, report.baseline, improved))
            lines.append("")
            if grid.rows:
                lines.extend(_grid_lines(grid))
            else:
                lines.extend(_wrap(grid.title))
                lines.append(f"  none of the {ranking.compared} threads compared")
    lines += ["", *parameter_lines(report)]
    return "\n".join(lines) + "\n"


def gate_lines(report: DiffReport) -> list[str]:
    violated = report.violated_gates
    lines = [f"Gates: {len(report.gates)} checked, {len(violated)} violated"]
    for result in report.gates:
        mark = "FAIL" if result.violated else "ok  "
        lines.extend(_wrap(result.describe(), initial=f"  {mark} ", subsequent="       "))
    return lines


def parameter_lines(report: DiffReport) -> list[str]:
    lines = ["Replay parameters"]
    for name, value in report.params:
        lines.extend(_wrap(f"{name} = {format_param(value)}", initial="  ", subsequent="    "))
    lines.append(f"  faulttui {report.version}")
    if report.rerun:
        lines.extend(_wrap(f"rerun: {report.rerun}", initial="  ", subsequent="    "))
    return lines


def format_param(value: Any) -> str:
    if value is None:
        return "none"
    return str(value)


def _clip_literals(grid: Grid, limit: int = COMM_WIDTH) -> Grid:
    """Shorten text from the trace (a thread name) to `limit` characters, marking the cut."""
    def clip(cell: str, literal: bool) -> str:
        return cell[: limit - 1] + "~" if literal and len(cell) > limit else cell

    rows = tuple(tuple(clip(cell, literal) for cell, literal in zip(row, grid.literal, strict=True))
                 for row in grid.rows)
    return replace(grid, rows=rows)


def _grid_lines(grid: Grid) -> list[str]:
    lines: list[str] = []
    parts = split_to_width(grid, WIDTH)
    for index, part in enumerate(parts):
        suffix = f" [{index + 1}/{len(parts)}]" if len(parts) > 1 else ""
        if index:
            lines.append("")
        lines.extend(_wrap(grid.title + suffix))
        lines.extend(aligned_lines(part))
    return lines


def _wrap(text: str, initial: str = "", subsequent: str = "") -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=initial, subsequent_indent=subsequent,
                         break_long_words=True, break_on_hyphens=False) or [initial.rstrip()]
