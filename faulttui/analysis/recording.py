"""A trace's reconstruction as every command reads it: the timeline, the import's statistics,
the `faulttui info` counters, and (for a synthetic source) its own workload."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faulttui.analysis.reconstruct import LockCounts
from faulttui.importers import ImportStats
from faulttui.model.fault_table import FaultTable
from faulttui.model.timeline import Timeline
from replay.workload import Workload


@dataclass(frozen=True, slots=True)
class FaultSummary:
    """The `faults` object of `faulttui info --json` (DESIGN.md fault-window rule)."""

    total: int
    threads: int
    io_sleep: int
    retry_mmap: int
    mmap_fallback: int
    vma_only: int


@dataclass(frozen=True, slots=True)
class Recording:
    path: str
    format: str
    stats: ImportStats
    timeline: Timeline
    lock_counts: LockCounts
    faults: FaultSummary
    from_cache: bool = field(default=False, compare=False)
    # a synthetic source's own workload: replays use it instead of one extracted from the
    # timeline (which cannot say what, e.g., readahead brought in)
    workload: Workload | None = field(default=None, compare=False)
    # the on-disk cache entry this recording was read from or written to (None: not cached),
    # so what is derived from it (the replay workload) can be cached alongside
    cache_key: str | None = field(default=None, compare=False)
    # a preview while the import goes on (see load_recording's `preview`): only what was
    # reconstructed from the first `loaded_fraction` of the trace
    partial: bool = field(default=False, compare=False)
    loaded_fraction: float = field(default=1.0, compare=False)

    def info_json(self) -> dict[str, Any]:
        stats = self.stats
        timeline = self.timeline
        return {
            "format": self.format,
            "trace": self.path,
            "events": stats.events,
            "event_counts": dict(sorted(stats.event_counts.items())),
            "lost_events": stats.lost_events,
            "warnings": list(stats.warnings),
            "warning_count": stats.warning_count,
            "unknown_events": stats.unknown_events,
            "unparsed_lines": stats.unparsed_lines,
            "duration_ns": timeline.end_ns - timeline.start_ns,
            "faults": {
                "total": self.faults.total, "threads": self.faults.threads,
                "io_sleep": self.faults.io_sleep, "retry_mmap": self.faults.retry_mmap,
                "mmap_fallback": self.faults.mmap_fallback, "vma_only": self.faults.vma_only,
            },
            "mmap_lock": {
                "acquisitions": {"read": self.lock_counts.read, "write": self.lock_counts.write},
                "trylock_failed": self.lock_counts.trylock_failed,
                "downgrades": self.lock_counts.downgrades,
            },
            "writers": {"ops": len(timeline.writer_ops)},
            "vmas": {"count": len(timeline.vmas), "source": timeline.vma_source},
            "maps_snapshot_lines": len(stats.maps),
        }


def summarize_faults(timeline: Timeline) -> FaultSummary:
    faults = timeline.faults
    tids: set[int] = set()
    vma_only = 0
    if isinstance(faults, FaultTable):  # a synthetic run's: its uncontended faults are VMA-only
        uncontended_tids = faults.uncontended_tids()
        tids.update(uncontended_tids)
        vma_only = len(uncontended_tids)
        faults = faults.records
    tids.update(fault.tid for fault in faults)
    return FaultSummary(
        total=len(timeline.faults),
        threads=len(tids),
        io_sleep=sum(1 for fault in faults if fault.window_io_sleep),
        retry_mmap=sum(1 for fault in faults if fault.window_retry_mmap),
        mmap_fallback=sum(1 for fault in faults if fault.window_mmap_fallback),
        vma_only=vma_only + sum(1 for fault in faults if fault.window_vma_only),
    )
