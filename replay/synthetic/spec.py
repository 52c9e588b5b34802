"""The synthetic workload format: frozen dataclasses, and their JSON form (docs/synthetic.md).

A `SyntheticSpec` describes a process by what it does, not by a recording: its files and
VMAs, the memory limit its page cache runs under, the storage latency, and per thread a
program of page scans, mmap-family writers, sleeps and compute, with loops. `expand`
turns it into a `replay.workload.Workload`; `validate.parse_spec` reads it from JSON.

Sizes are bytes, times integer nanoseconds, priorities the kernel's (lower = more urgent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SYNTHETIC_KIND = "faulttui-synthetic"
SYNTHETIC_SCHEMA_VERSION = 1
PAGE_SIZE = 4096

WRITER_OPS = ("mmap", "munmap", "mprotect", "madvise", "fork")
SCAN_ORDERS = ("sequential", "random")
VMA_KINDS = ("anon", "file")
MADVISE_MODES = ("write", "read", "vma")  # mmap_lock write / mmap_lock read / per-VMA lock


@dataclass(frozen=True, slots=True)
class FileSpec:
    name: str
    size: int  # bytes
    per_thread: bool = False  # every thread instance that maps it gets its own copy


@dataclass(frozen=True, slots=True)
class VmaSpec:
    name: str
    kind: str  # "anon" | "file"
    size: int  # bytes, a multiple of the page size
    file: str | None = None  # a FileSpec name (kind "file")
    offset: int = 0  # byte offset in the file
    per_thread: bool = False  # every thread instance gets its own VMA (and file copy)


@dataclass(frozen=True, slots=True)
class StorageSpec:
    latency_ns: int = 200_000  # mean device latency of one 4 KiB read
    jitter: float = 0.0  # latencies uniform in latency * [1 - jitter, 1 + jitter]
    queue_depth: int | None = None  # None: reads independent; N: N in service at once, FIFO


@dataclass(frozen=True, slots=True)
class Scan:
    """Touch `pages` pages of a VMA, one fault each (first touch, or a page not cached)."""

    vma: str
    pages: int
    order: str = "sequential"  # "sequential" (wraps around) | "random" (with replacement)
    start_page: int = 0
    cpu_ns: int = 1_500  # the fault's CPU time before it maps (or waits for) the page
    map_cpu_ns: int = 1_000  # a retry's CPU time to map the now uptodate page
    gap_ns: int = 0  # user time between two touches
    readahead_pages: int = 0  # a file read also reads the next N-1 pages (sequential)


@dataclass(frozen=True, slots=True)
class Writer:
    """An mmap-family syscall taking mmap_lock for writing (madvise: see `mode`)."""

    op: str  # "mmap" | "munmap" | "mprotect" | "madvise" | "fork"
    vma: str | None = None  # the VMA it write-locks; fork: every VMA of the process
    hold_ns: int = 5_000  # mmap_lock write hold
    before_ns: int = 1_000  # syscall entry -> lock request
    after_ns: int = 1_000  # release -> syscall exit
    downgrade_ns: int = -1  # >= 0: mmap_write_downgrade, then read held this long
    mode: str = "write"  # madvise only: "write" | "read" | "vma"


@dataclass(frozen=True, slots=True)
class Pause:
    """Time outside the model: `sleep` (off CPU) or `compute` (on CPU, no fault)."""

    kind: str  # "sleep" | "compute"
    ns: int


@dataclass(frozen=True, slots=True)
class Loop:
    times: int
    body: tuple[Step, ...]


Step = Scan | Writer | Pause | Loop


@dataclass(frozen=True, slots=True)
class ThreadSpec:
    name: str  # the comm (cut to 15 characters in a trace)
    program: tuple[Step, ...]
    count: int = 1  # identical threads (each with its own per-thread VMAs)
    priority: int = 120
    start_ns: int = 0
    start_jitter_ns: int = 0  # each instance starts at start_ns + uniform[0, jitter]
    process: int = 0  # threads of one process share its mm (mmap_lock, VMAs)


@dataclass(frozen=True, slots=True)
class SyntheticSpec:
    name: str
    threads: tuple[ThreadSpec, ...]
    vmas: tuple[VmaSpec, ...] = ()
    files: tuple[FileSpec, ...] = ()
    memory_limit: int | None = None  # bytes of page cache; None: unlimited
    storage: StorageSpec = StorageSpec()
    seed: int = 0
    description: str = ""


def step_to_json(step: Step) -> dict[str, Any]:
    if isinstance(step, Scan):
        return {"op": "scan", "vma": step.vma, "pages": step.pages, "order": step.order,
                "start_page": step.start_page, "cpu_ns": step.cpu_ns,
                "map_cpu_ns": step.map_cpu_ns, "gap_ns": step.gap_ns,
                "readahead_pages": step.readahead_pages}
    if isinstance(step, Writer):
        record: dict[str, Any] = {"op": step.op, "hold_ns": step.hold_ns,
                                  "before_ns": step.before_ns, "after_ns": step.after_ns}
        if step.vma is not None:
            record["vma"] = step.vma
        if step.downgrade_ns >= 0:
            record["downgrade_ns"] = step.downgrade_ns
        if step.op == "madvise":
            record["mode"] = step.mode
        return record
    if isinstance(step, Pause):
        return {"op": step.kind, "ns": step.ns}
    return {"op": "loop", "times": step.times, "body": [step_to_json(s) for s in step.body]}


def spec_to_json(spec: SyntheticSpec) -> dict[str, Any]:
    """The JSON document of `spec` (what `faulttui generate` writes)."""
    return {
        "kind": SYNTHETIC_KIND,
        "schema_version": SYNTHETIC_SCHEMA_VERSION,
        "name": spec.name,
        "description": spec.description,
        "seed": spec.seed,
        "memory_limit": spec.memory_limit,
        "storage": {"latency_ns": spec.storage.latency_ns, "jitter": spec.storage.jitter,
                    "queue_depth": spec.storage.queue_depth},
        "files": [{"name": f.name, "size": f.size, "per_thread": f.per_thread}
                  for f in spec.files],
        "vmas": [{"name": v.name, "kind": v.kind, "size": v.size, "file": v.file,
                  "offset": v.offset, "per_thread": v.per_thread} for v in spec.vmas],
        "threads": [{"name": t.name, "count": t.count, "priority": t.priority,
                     "start_ns": t.start_ns, "start_jitter_ns": t.start_jitter_ns,
                     "process": t.process,
                     "program": [step_to_json(s) for s in t.program]} for t in spec.threads],
    }
