"""The diff report as GitHub-flavoured markdown that also reads well as plain text (an email).

Tables are padded so their columns line up in a monospace font. Text that comes from the trace
(thread names, the trace path) is shown as code, so markdown or HTML in it is never rendered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from faulttui.report.grid import Grid, metric_grid, thread_grid
from faulttui.report.model import DiffReport, no_headline_sentence
from faulttui.report.text import format_param

# markup characters; underscores that could start or end emphasis (not those inside words); a
# bracket that could close a link (`](`, `][`), so bucket labels such as [0,1us) stay readable
_SPECIAL = re.compile(r"([\\`*~<|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|\](?=[(\[:]))")


def render_markdown(report: DiffReport) -> str:
    blocks = [
        f"## faulttui diff: {code(report.trace)}",
        f"Baseline **{escape(report.baseline)}**; compared: "
        + (", ".join(f"**{escape(name)}**" for name in report.compared) or "none") + ".",
        "### Headline",
        "\n".join(f"- {escape(item.sentence)}" for item in report.headline)
        or f"- {escape(no_headline_sentence(report))}",
    ]
    if report.gates:
        blocks.append(gates_block(report))
    blocks.append(_table_block(metric_grid(report.summary, report)))
    for distribution in report.distributions:
        blocks.append(_table_block(metric_grid(distribution.percentiles, report)))
        blocks.append(_table_block(metric_grid(distribution.buckets, report)))
    blocks.append(_table_block(metric_grid(report.writers, report)))
    for ranking in report.threads:
        for improved in (True, False):
            grid = thread_grid(ranking, report.baseline, improved)
            if grid.rows:
                blocks.append(_table_block(grid))
            else:
                blocks.append(f"#### {escape(grid.title)}\n\nNone of the {ranking.compared} "
                              "threads compared.")
    blocks.append(parameters_block(report))
    return "\n\n".join(blocks) + "\n"


def gates_block(report: DiffReport) -> str:
    violated = report.violated_gates
    lines = [f"### Gates: {len(report.gates)} checked, {len(violated)} violated", ""]
    for result in report.gates:
        mark = "**FAIL**" if result.violated else "ok"
        lines.append(f"- {mark} {code(result.gate.text)} for {escape(result.policy)}: "
                     f"{escape(result.describe().split(': ', 1)[1])}")
    return "\n".join(lines)


def parameters_block(report: DiffReport) -> str:
    rows = [(name, format_param(value)) for name, value in report.params]
    rows.append(("faulttui", report.version))
    grid = Grid("Replay parameters", ("parameter", "value"), tuple(rows), (False, False),
                (False, True), 2, 1)
    block = _table_block(grid)
    if report.rerun:
        block += f"\n\nRerun:\n\n```\n{report.rerun.replace('```', '` ` `')}\n```"
    return block


def _table_block(grid: Grid) -> str:
    cells = [
        [_cell(text, literal) for text, literal in zip(row, grid.literal, strict=True)]
        for row in (grid.header, *grid.rows)
    ]
    header, *rows = cells
    header = [escape(text) for text in grid.header]
    widths = [max(3, *(len(row[i]) for row in (header, *rows))) for i in range(len(header))]
    rule = [("-" * (width - 1) + ":") if numeric else "-" * width
            for width, numeric in zip(widths, grid.numeric, strict=True)]
    lines = [_row(header, widths, grid.numeric), _row(rule, widths, grid.numeric)]
    lines.extend(_row(row, widths, grid.numeric) for row in rows)
    return f"#### {escape(grid.title)}\n\n" + "\n".join(lines)


def _row(cells: Sequence[str], widths: Sequence[int], numeric: Sequence[bool]) -> str:
    padded = (cell.rjust(width) if right else cell.ljust(width)
              for cell, width, right in zip(cells, widths, numeric, strict=True))
    return "| " + " | ".join(padded) + " |"


def _cell(text: str, literal: bool) -> str:
    if literal:
        return code(text).replace("|", "\\|")
    return escape(text)


def escape(text: str) -> str:
    """Backslash-escape what markdown (or HTML in markdown) would interpret inside a line."""
    return _SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def code(text: str) -> str:
    """`text` as an inline code span, whatever backticks it holds."""
    text = text.replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padding = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{padding}{text}{padding}{fence}"
