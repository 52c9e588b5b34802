"""What a Perfetto trace says besides its ftrace events: task names, tgids, lost events.

Read from the packets that are not ftrace bundles (`process_tree`, `system_info`,
`ftrace_stats`) plus the bundles' own `lost_events` flags.
"""

from __future__ import annotations

from typing import Any

from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

from faulttui.importers.events import ImportStats
from faulttui.importers.perfetto_fields import DecodeContext, text

IDLE_COMM = "<idle>"  # what tracefs prints for pid 0
COMM_MAX_CHARS = 15  # TASK_COMM_LEN - 1
_LOST_COUNTERS = ("overrun", "commit_overrun", "dropped_events")  # FtraceCpuStats


class TraceMetadata:
    """Names and tgids of tasks, decoding settings, and the kernel's lost-event counters."""

    def __init__(self, path: str, stats: ImportStats, context: DecodeContext) -> None:
        self.path = path
        self.stats = stats
        self.context = context
        self.comms: dict[int, str] = {0: IDLE_COMM}
        self.tgids: dict[int, int] = {}
        self._ftrace_stats: dict[int, Any] = {}  # phase -> FtraceStats

    def process_tree(self, data: bytes) -> None:
        tree = pb.ProcessTree.FromString(data)
        for thread in tree.threads:
            if thread.name:
                self.comms.setdefault(thread.tid, text(thread.name))
            if thread.HasField("tgid"):
                self.tgids[thread.tid] = thread.tgid
        for process in tree.processes:
            self.tgids[process.pid] = process.pid
            if process.cmdline and process.pid not in self.comms:
                command = text(process.cmdline[0]).rsplit("/", 1)[-1]
                self.comms[process.pid] = command[:COMM_MAX_CHARS]

    def system_info(self, data: bytes) -> None:
        info = pb.SystemInfo.FromString(data)
        page_size = info.page_size
        if page_size and page_size & (page_size - 1) == 0:
            self.context.page_shift = page_size.bit_length() - 1
        machine = text(info.utsname.machine)
        if machine in ("aarch64", "arm64"):
            self.context.arch = "aarch64"
        elif machine and machine != "x86_64":
            self.stats.warn(f"{self.path}: recorded on {machine}: raw syscall numbers are "
                            "decoded with the x86_64 table")

    def ftrace_stats(self, data: bytes) -> None:
        ftrace_stats = pb.FtraceStats.FromString(data)
        self._ftrace_stats[ftrace_stats.phase] = ftrace_stats

    def count_lost_events(self, lost_bundles: int) -> None:
        """Add the events the kernel lost to `stats` (bundles flagged `lost_events` and the
        end-of-trace minus start-of-trace ring-buffer counters), with a warning."""
        stats = self.stats
        stats.lost_markers += lost_bundles
        lost = self._lost_from_ftrace_stats()
        if lost is None and lost_bundles:
            lost = lost_bundles
            stats.warn(f"{self.path}: {lost_bundles} ftrace bundles say the kernel overwrote "
                       "events, but the trace has no ftrace_stats with the count; counting one "
                       "lost event per bundle")
        if lost:
            stats.lost_events += lost
            stats.warn(f"{self.path}: the kernel dropped {lost} events: locks and faults near "
                       "them may be incomplete")

    def _lost_from_ftrace_stats(self) -> int | None:
        end = self._ftrace_stats.get(pb.FtraceStats.END_OF_TRACE)
        if end is None:
            return None
        start = self._ftrace_stats.get(pb.FtraceStats.START_OF_TRACE)
        at_start = {s.cpu: s for s in start.cpu_stats} if start is not None else {}
        lost = 0
        for cpu_stats in end.cpu_stats:
            before = at_start.get(cpu_stats.cpu)
            for counter in _LOST_COUNTERS:
                lost += getattr(cpu_stats, counter)
                if before is not None:
                    lost -= getattr(before, counter)
        return max(lost, 0)
