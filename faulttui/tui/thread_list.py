"""The thread list: tid, comm, faults, p99 fault latency, mmap_lock wait; sortable, filterable.

Its filter and sort also decide which lanes the timeline shows and in which order.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input
from textual.widgets.data_table import ColumnKey

from faulttui.tui.session import UNKNOWN, ThreadRow
from faulttui.tui.timescale import format_duration

# (sort key, column title): p99 lat = p99 fault latency, lock wait = total mmap_lock wait
SORT_KEYS: tuple[tuple[str, str], ...] = (
    ("tid", "tid"), ("comm", "comm"), ("faults", "faults"), ("p99", "p99 lat"),
    ("wait", "lock wait"),
)
_DESCENDING_BY_DEFAULT = {"faults", "p99", "wait"}


def sort_value(row: ThreadRow, key: str) -> int | str:
    values: dict[str, int | str] = {
        "tid": row.tid, "comm": row.comm, "faults": row.faults, "p99": row.fault_p99_ns,
        "wait": row.mmap_lock_wait_ns,
    }
    return values[key]


def visible_rows(rows: Sequence[ThreadRow], filter_text: str, sort_key: str,
                 descending: bool) -> list[ThreadRow]:
    """Rows whose tid or comm contains every word of `filter_text`, sorted (pure)."""
    words = filter_text.lower().split()
    kept = [row for row in rows
            if all(word in f"{row.tid} {row.comm.lower()}" for word in words)]
    kept.sort(key=lambda row: (sort_value(row, sort_key), row.tid), reverse=descending)
    return kept


class ThreadList(Vertical):
    """A filter box over a DataTable of threads."""

    class OrderChanged(Message):
        """The visible threads (after filter and sort) changed."""

        def __init__(self, tids: tuple[int, ...]) -> None:
            super().__init__()
            self.tids = tids

    class ThreadChosen(Message):
        def __init__(self, tid: int) -> None:
            super().__init__()
            self.tid = tid

    def __init__(self, rows: Sequence[ThreadRow], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows = tuple(rows)
        self.sort_key = "tid"
        self.descending = False
        self.filter_text = ""
        self.shown_rows: list[ThreadRow] = list(self.rows)

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter threads: tid or comm", id="thread-filter")
        table: DataTable[str] = DataTable(id="thread-table", cursor_type="row", zebra_stripes=True)
        yield table

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, title in SORT_KEYS:
            table.add_column(title, key=key)
        self._rebuild()

    def _rebuild(self) -> None:
        self.shown_rows = visible_rows(self.rows, self.filter_text, self.sort_key, self.descending)
        table: DataTable[str] = self.query_one(DataTable)
        table.clear()
        for key, title in SORT_KEYS:
            arrow = (" ▼" if self.descending else " ▲") if key == self.sort_key else ""
            table.columns[ColumnKey(key)].label = Text(title + arrow)
        for row in self.shown_rows:
            table.add_row(str(row.tid), row.comm, *_numbers(row), key=str(row.tid))
        self.post_message(self.OrderChanged(tuple(row.tid for row in self.shown_rows)))

    def set_rows(self, rows: Sequence[ThreadRow]) -> None:
        """New numbers for the same threads (the metrics arrived); filter and sort stay."""
        self.rows = tuple(rows)
        self._rebuild()

    def sort_by(self, key: str, descending: bool | None = None) -> None:
        if descending is None:
            descending = (not self.descending if key == self.sort_key
                          else key in _DESCENDING_BY_DEFAULT)
        self.sort_key = key
        self.descending = descending
        self._rebuild()

    def cycle_sort(self) -> None:
        keys = [key for key, _ in SORT_KEYS]
        self.sort_by(keys[(keys.index(self.sort_key) + 1) % len(keys)])

    def show_thread(self, tid: int) -> None:
        """Move the table cursor to `tid` without announcing it back."""
        table: DataTable[str] = self.query_one(DataTable)
        for index, row in enumerate(self.shown_rows):
            if row.tid == tid:
                if table.cursor_row != index:
                    table.move_cursor(row=index)
                return

    @on(Input.Changed, "#thread-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._rebuild()

    @on(DataTable.HeaderSelected)
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.sort_by(str(event.column_key.value))

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Only the user moving the table's own cursor chooses a thread; programmatic moves
        # (show_thread, rebuilding after a filter) happen while the table is not focused or
        # re-announce the thread that is already selected.
        if event.data_table.has_focus and event.row_key.value is not None:
            self.post_message(self.ThreadChosen(int(event.row_key.value)))


def _numbers(row: ThreadRow) -> tuple[str, str, str]:
    if row.faults == UNKNOWN:
        return "…", "…", "…"
    return (f"{row.faults:,}", format_duration(row.fault_p99_ns) if row.faults else "-",
            format_duration(row.mmap_lock_wait_ns))
