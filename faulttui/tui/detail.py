"""The detail pane: the selected fault's attempts, I/O, retry and the raw trace lines."""

from __future__ import annotations

import lzma
import threading

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.timer import Timer
from textual.widgets import Static

from faulttui.errors import FaultTuiError
from faulttui.model.timeline import Fault
from faulttui.tui.messages import SourceLinesRead
from faulttui.tui.source_lines import TraceLineReader
from faulttui.tui.timescale import format_duration

MAX_SOURCE_LINES = 40
READ_DELAY_S = 0.15


def describe_fault(fault: Fault, origin_ns: int, comm: str) -> Text:
    """The fault as text: what, when, each attempt and its lock, I/O, retry (pure)."""
    text = Text()
    text.append(f"fault #{fault.fault_id}", style="bold")
    text.append(f"  tid {fault.tid} {comm}  address ")
    text.append(f"{fault.address:#x}", style="bold")
    text.append(f"  vma {fault.vma_id if fault.vma_id >= 0 else '?'}\n")
    text.append(f"start +{format_duration(fault.start_ns - origin_ns)}  latency ")
    text.append(format_duration(fault.latency_ns), style="bold")
    text.append(f"  on cpu {format_duration(fault.cpu_ns)}"
                f"  {'major' if fault.major else 'minor'}\n")
    text.append("attempts\n", style="underline")
    for number, attempt in enumerate(fault.attempts, start=1):
        text.append(f" {number}. {attempt.lock.value} at +"
                    f"{format_duration(attempt.start_ns - fault.start_ns)} "
                    f"for {format_duration(attempt.end_ns - attempt.start_ns)}: "
                    f"{attempt.outcome.value}")
        if attempt.lock_wait_ns:
            text.append(f"  waited {format_duration(attempt.lock_wait_ns)}", style="bold red")
        if attempt.trylock_failed:
            text.append("  trylock failed")
        if attempt.io_wait_held_ns:
            text.append(f"  slept holding it {format_duration(attempt.io_wait_held_ns)}")
        text.append("\n")
    text.append(f"I/O  {fault.io_requests} request(s), latency "
                f"{format_duration(fault.io_latency_ns)}, asleep {format_duration(fault.io_wait_ns)}\n")
    retry = fault.retry_lock.value if fault.retry_lock is not None else "none"
    reason = fault.retry_reason.value if fault.retry_reason is not None else "-"
    text.append(f"retry under {retry} (reason {reason})  refault {'YES' if fault.refault else 'no'}\n")
    if fault.page is not None:
        text.append(f"page dev {fault.page.dev} ino {fault.page.ino:x} ofs {fault.page.ofs}\n")
    return text


class FaultDetail(VerticalScroll):
    """Shows one fault; reads its raw trace lines in a thread worker."""

    def __init__(self, trace_path: str, text_source: bool, origin_ns: int, *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.trace_path = trace_path
        self.text_source = text_source
        self.origin_ns = origin_ns
        self.fault: Fault | None = None
        self.comm = ""
        self._reader = TraceLineReader(trace_path) if text_source else None
        self._reader_lock = threading.Lock()
        self._pending_read: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._placeholder(), id="detail-text")

    @staticmethod
    def _placeholder() -> Text:
        return Text("No fault selected: n/N next/previous fault of the thread, "
                    "c/C next/previous mmap_lock contention, click a lane.", style="italic")

    def on_unmount(self) -> None:
        if self._reader is not None:
            with self._reader_lock:
                self._reader.close()

    def show_fault(self, fault: Fault | None, comm: str = "") -> None:
        if fault is self.fault:
            return
        self.fault = fault
        self.comm = comm
        static = self.query_one("#detail-text", Static)
        if fault is None:
            static.update(self._placeholder())
            return
        text = describe_fault(fault, self.origin_ns, comm)
        if self._pending_read is not None:
            self._pending_read.stop()
            self._pending_read = None
        if self._reader is not None and fault.lines:
            text.append("trace lines: reading...\n", style="dim")
            # Read only once the selection rests: holding n must not queue a decompression
            # of a big trace per key press (and the reader competes with the UI for CPU).
            self._pending_read = self.set_timer(READ_DELAY_S, lambda: self.read_lines(fault))
        elif fault.lines:
            text.append(f"trace lines {fault.lines[0]}..{fault.lines[-1]} "
                        "(not a text trace)\n", style="dim")
        static.update(text)

    @work(thread=True, exclusive=True, group="source-lines", exit_on_error=False)
    def read_lines(self, fault: Fault) -> None:
        assert self._reader is not None
        try:
            with self._reader_lock:
                lines = self._reader.read_lines(fault.lines[:MAX_SOURCE_LINES])
        except (OSError, EOFError, lzma.LZMAError, FaultTuiError) as error:  # shown in the pane
            self.post_message(SourceLinesRead(fault.fault_id, {}, f"cannot read: {error}"))
            return
        self.post_message(SourceLinesRead(fault.fault_id, lines))

    def on_source_lines_read(self, message: SourceLinesRead) -> None:
        fault = self.fault
        if fault is None or fault.fault_id != message.fault_id:
            return
        text = describe_fault(fault, self.origin_ns, self.comm)
        if message.error:
            text.append(f"trace lines: {message.error}\n", style="bold red")
        else:
            text.append("trace lines\n", style="underline")
        for number in fault.lines[:MAX_SOURCE_LINES]:
            text.append(f"{number:>8}: ", style="dim")
            text.append(message.lines.get(number, "(missing)").strip() + "\n")
        if len(fault.lines) > MAX_SOURCE_LINES:
            text.append(f"... {len(fault.lines) - MAX_SOURCE_LINES} more lines\n", style="dim")
        self.query_one("#detail-text", Static).update(text)
