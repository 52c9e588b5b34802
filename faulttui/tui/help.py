"""The `?` help screen and the legend of lane glyphs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from faulttui.model.timeline import SpanState
from faulttui.tui.lanes import GLYPHS, STATE_COLOURS, STATES_BY_IMPORTANCE

SHORT_NAMES: dict[SpanState, str] = {
    SpanState.USER: "user",
    SpanState.FAULT_VMA: "fault/vma",
    SpanState.FAULT_MMAP_READ: "fault/mmap",
    SpanState.WAIT_MMAP_READ: "wait-r",
    SpanState.WAIT_MMAP_WRITE: "wait-w",
    SpanState.HOLD_MMAP_WRITE: "hold-w",
    SpanState.IO_WAIT: "io",
    SpanState.IO_WAIT_HOLDING_VMA: "io+vma",
    SpanState.IO_WAIT_HOLDING_MMAP: "io+mmap",
    SpanState.RUNNABLE: "runq",
    SpanState.SLEEP: "sleep",
    SpanState.HOLD_MMAP_READ: "hold-r",
    SpanState.SYSCALL: "syscall",
}


KEY_HELP: tuple[tuple[str, str], ...] = (
    ("w / + ", "zoom in (around the cursor)"),
    ("s / -", "zoom out"),
    ("a / d", "pan left / right (a quarter of the view)"),
    ("← / →", "move the cursor one column"),
    ("j / k, ↓ / ↑", "next / previous thread"),
    ("g / G", "go to the start / end of the trace"),
    ("f", "zoom to the selected fault"),
    ("n / N", "next / previous fault of this thread"),
    ("c / C", "next / previous mmap_lock contention (an acquisition that waited)"),
    ("/", "search: tid, comm, address (0x...), vma N or a mapped file's name"),
    ("m", "set marker A, then B (the status line shows B - A)"),
    ("o", "sort the thread list by the next column"),
    ("l", "lock lane: next mm's mmap_lock (busiest first), then the thread's again"),
    ("p", "compare: pick policies, replay, see the recording and a replay stacked"),
    ("esc", "back to the timeline (from the filter box, the thread table or search)"),
    ("?", "this help"),
    ("ctrl+p", "command palette"),
    ("q", "quit"),
)

COMPARE_KEY_HELP: tuple[tuple[str, str], ...] = (
    *KEY_HELP[:11],  # the timeline keys up to m
    ("tab", "switch the active pane (n/N, c/C and / look in its timeline)"),
    ("v", "show the next replayed policy in the lower pane"),
    ("t", "narrow terminal: show the metrics or the detail pane"),
    ("?", "this help"),
    ("esc / q", "back to the main screen"),
)


def legend_text(no_color: bool) -> Text:
    """One entry per state, glyph (in its colour) then a short name, most important first."""
    text = Text()
    for state in STATES_BY_IMPORTANCE:
        text.append(GLYPHS[state], style="" if no_color else STATE_COLOURS[state])
        text.append(f" {SHORT_NAMES[state]}  ")
    text.append("lock: W writer, 1-9 readers, waiters count", style="dim")
    return text


def help_text(bindings: Sequence[tuple[str, str]], no_color: bool) -> Text:
    text = Text()
    text.append("faulttui: page faults and mmap_lock over time\n\n", style="bold")
    text.append("Keys\n", style="underline")
    for keys, description in bindings:
        text.append(f"  {keys:<14}", style="bold")
        text.append(f"{description}\n")
    text.append("\nMouse: click a lane to select the thread and the fault under the pointer; "
                "the wheel scrolls the lanes, shift+wheel pans the time axis, ctrl+wheel zooms; "
                "click a column header to sort.\n")
    text.append("Type in the filter box above the thread list to filter threads (and lanes). "
                "Thread list: p99 lat = p99 fault latency, lock wait = total mmap_lock wait.\n\n")
    text.append("Lane glyphs (a column shows its most important state)\n", style="underline")
    for state in STATES_BY_IMPORTANCE:
        text.append("  ")
        text.append(f" {GLYPHS[state]} ", style="" if no_color else STATE_COLOURS[state])
        text.append(f"  {state.label}\n")
    text.append("\nThe lock rows show the selected fault's mm (else the thread's busiest one): "
                "W = a writer holds mmap_lock, "
                "a digit = readers holding it; the waiters row counts queued requests.\n")
    return text


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("question_mark", "dismiss", "Close", show=False),
    ]

    def __init__(self, bindings: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.key_help = tuple(bindings)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(help_text(self.key_help, self.app.no_color), id="help-text")
