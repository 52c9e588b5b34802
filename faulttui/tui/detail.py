"""The detail pane: the selected fault's attempts, I/O, retry and the raw trace lines."""

from __future__ import annotations

import lzma
import threading
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.timer import Timer
from textual.widgets import Static

from faulttui.errors import FaultTuiError
from faulttui.model.timeline import Fault, SpanState, ThreadLane
from faulttui.tui.messages import SourceLinesRead
from faulttui.tui.replays import delta_text
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
    return text.append_text(describe_fault_body(fault, origin_ns))


def describe_fault_body(fault: Fault, origin_ns: int, latency_note: str = "") -> Text:
    """When, how long, each attempt and its lock, I/O, retry and refault (pure)."""
    text = Text()
    text.append(f"start +{format_duration(fault.start_ns - origin_ns)}  latency ")
    text.append(format_duration(fault.latency_ns), style="bold")
    text.append(f"{latency_note}  on cpu {format_duration(fault.cpu_ns)}"
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


@dataclass(frozen=True, slots=True)
class ReplayedFault:
    """The selected fault as a replay saw it (replayed faults keep the recording's id)."""

    policy: str
    fault: Fault | None  # None: the replay did not run this fault
    origin_ns: int


def describe_replayed(recorded: Fault, replayed: ReplayedFault) -> Text:
    """A replay's version of the fault, its latency against the recording's (pure)."""
    text = Text()
    text.append(f"replayed under {replayed.policy}\n", style="bold underline")
    fault = replayed.fault
    if fault is None:
        return text.append("not replayed (not part of the workload)\n", style="italic")
    note = f" ({delta_text(recorded.latency_ns, fault.latency_ns)} vs recorded)"
    return text.append_text(describe_fault_body(fault, replayed.origin_ns, note))


def describe_span(lane: ThreadLane, time_ns: int, origin_ns: int, name: str = "") -> Text:
    """What the thread was doing at `time_ns`: the span under the cursor (pure)."""
    text = Text()
    if name:
        text.append(f"{name}: ", style="bold")
    text.append(f"tid {lane.tid} {lane.comm} at +{format_duration(time_ns - origin_ns)}: ")
    index = bisect_right(lane.span_starts, time_ns) - 1
    if index < 0 or lane.span_ends[index] <= time_ns:
        return text.append("no event here\n", style="italic")
    start, end = lane.span_starts[index], lane.span_ends[index]
    text.append(SpanState(lane.span_states[index]).label, style="bold")
    return text.append(f" from +{format_duration(start - origin_ns)} for "
                       f"{format_duration(end - start)}\n")


class FaultDetail(VerticalScroll):
    """Shows one fault (and, in the compare view, how each replay ran it), or the spans
    under the cursor when no fault is selected; reads the fault's raw trace lines in a
    thread worker."""

    def __init__(self, trace_path: str, text_source: bool, origin_ns: int, *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.trace_path = trace_path
        self.text_source = text_source
        self.origin_ns = origin_ns
        self.fault: Fault | None = None
        self.comm = ""
        self.replayed: tuple[ReplayedFault, ...] = ()
        self._span_context: Text | None = None
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

    def show_fault(self, fault: Fault | None, comm: str = "",
                   replayed: Sequence[ReplayedFault] = (), context: Text | None = None) -> None:
        """Show `fault` (with its `replayed` versions), or with no fault the `context` (what
        the selected thread does under the cursor) and a hint."""
        replayed = tuple(replayed)
        if fault is self.fault and (fault is not None or context == self._span_context) and (
                [(run.policy, run.fault) for run in replayed]
                == [(run.policy, run.fault) for run in self.replayed]):
            return
        self.fault, self.comm, self.replayed, self._span_context = fault, comm, replayed, context
        if self._pending_read is not None:
            self._pending_read.stop()
            self._pending_read = None
        static = self.query_one("#detail-text", Static)
        if fault is None:
            static.update(Text.assemble(context or "", self._placeholder()))
            return
        text = self._describe(fault)
        if self._reader is not None and fault.lines:
            text.append("trace lines: reading...\n", style="dim")
            # Read only once the selection rests: holding n must not queue a decompression
            # of a big trace per key press (and the reader competes with the UI for CPU).
            self._pending_read = self.set_timer(READ_DELAY_S, lambda: self.read_lines(fault))
        elif fault.lines:
            text.append(f"trace lines {fault.lines[0]}..{fault.lines[-1]} "
                        "(not a text trace)\n", style="dim")
        static.update(text)

    def _describe(self, fault: Fault) -> Text:
        text = describe_fault(fault, self.origin_ns, self.comm)
        for run in self.replayed:
            text.append_text(describe_replayed(fault, run))
        return text

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
        text = self._describe(fault)
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
