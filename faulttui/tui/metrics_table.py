"""The compare view's metrics table: each metric per timeline (recording first) and each
replay's change against the recording, green when better, red when worse."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from faulttui.tui.replays import ReplayRun, delta_text, metric_rows
from faulttui.tui.timescale import format_duration

VALUE_WIDTH = 10
DELTA_WIDTH = 5


class MetricsTable(DataTable[str | Text]):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, zebra_stripes=True, cursor_type="row")

    def show(self, runs: Sequence[ReplayRun]) -> None:
        self.clear(columns=True)
        rows = metric_rows(runs)
        # explicit widths: auto-sized columns depend on when the rows arrive relative to the
        # first layout, and a frame must not
        self.add_column("metric", width=max(len("metric"), *(len(row.label) for row in rows)))
        self.add_column("recording", width=VALUE_WIDTH)
        for run in runs[1:]:
            self.add_column(run.name, width=max(VALUE_WIDTH, len(run.name)))
            self.add_column("Δ", width=DELTA_WIDTH)
        for row in rows:
            cells: list[str | Text] = [row.label, _value(row.values[0], row.is_time)]
            for value in row.values[1:]:
                cells += [_value(value, row.is_time), _delta(row.values[0], value, self.app.no_color)]
            self.add_row(*cells)


def _value(value: int, is_time: bool) -> str:
    return format_duration(value) if is_time else f"{value:,}"


def _delta(before: int, after: int, no_color: bool) -> Text:
    """Every metric here is better lower (latency, waits, retries, refaults, makespan)."""
    style = "" if no_color or after == before else "green" if after < before else "red"
    return Text(delta_text(before, after), style=style)
