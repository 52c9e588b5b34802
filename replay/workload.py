"""A workload: what each thread did, stripped of how long it waited for locks.

Per thread an ordered program of operations. Every operation starts `gap_ns` after the
previous one ended (compute, sleeps and syscalls the replay does not model, as recorded),
so a thread that waits longer for a lock in a replay starts its next operation later, as
the real thread would.

- `FaultSpec`: a page fault: where (address, VMA, anon or file, the page), what the page
  was when the recording faulted (cached or not), how long its read took, and the CPU
  time it spent under its lock in the first attempt and in the retry.
- `WriterSpec`: an mmap-family syscall that takes `mmap_lock` for writing: which VMAs it
  write-locks, how long it holds the lock, whether it downgrades.
- `LockSection`: any other `mmap_lock` hold (exec, /proc reads, syscalls not traced).

Saved as JSON (orjson) with `WORKLOAD_SCHEMA_VERSION`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter
from pathlib import Path
from typing import Any, TypeVar

import orjson

from faulttui.errors import FaultTuiError
from faulttui.model.timeline import FilePage, Vma

_T = TypeVar("_T")

WORKLOAD_SCHEMA_VERSION = 1
NO_PAGE = -1


def _pickled_by_values(cls: type[_T]) -> type[_T]:
    """Pickle a frozen slots dataclass as its class and field values, rebuilt by __init__.
    (dataclasses' own __getstate__ calls fields() for every object and __setstate__ loops
    over them: several times slower for the hundreds of thousands of FaultSpecs a
    workload cache entry holds.)"""
    values_of = attrgetter(*(field.name for field in fields(cls)))  # type: ignore[arg-type]

    def __reduce__(self: _T) -> tuple[type[_T], tuple[Any, ...]]:
        return cls, values_of(self)

    cls.__reduce__ = __reduce__  # type: ignore[assignment,method-assign]
    return cls


@_pickled_by_values
@dataclass(frozen=True, slots=True)
class FaultSpec:
    gap_ns: int
    fault_id: int  # the recording's fault id: replayed faults keep it
    mm: str
    address: int
    vma_id: int
    anon: bool
    page_key: int  # index into Workload.pages, or NO_PAGE (anon, or the page is unknown)
    cached: bool  # the page was uptodate in the page cache when the recorded fault began
    io_ns: int  # device latency of the fault's own read (block issue -> complete); 0: none
    cpu_ns: int  # CPU time of the first attempt under its lock (up to the I/O wait, if any)
    map_cpu_ns: int  # CPU time of the retry under its lock (maps the now uptodate page)
    prio: int
    # read complete -> the retry running (wake-up, waiting for a CPU); -1: not recorded
    wake_ns: int = -1
    # >= 0: the recorded first attempt gave up the VMA lock for a reason of its own (not
    # a write-locked VMA; e.g. anon_vma preparation) after this long, and fell back
    fallback_cpu_ns: int = -1
    # mmap_read_trylock holds nested in the first, VMA-locked attempt (__vmf_anon_prepare)
    nested_reads: int = 0
    nested_read_ns: int = 0
    # synthetic workloads: a read of this (absent) page also reads pages page_key+1 ..
    # readahead_end_key-1 that are absent (one request; readahead); 0: none
    readahead_end_key: int = 0


@_pickled_by_values
@dataclass(frozen=True, slots=True)
class WriterSpec:
    gap_ns: int
    op: str  # "mmap" | "munmap" | "mprotect" | "madvise" | "brk" | "mremap" | "fork"
    mm: str
    addr: int
    length: int
    vma_ids: tuple[int, ...]  # VMAs it write-locks (vma_start_write)
    before_lock_ns: int  # syscall entry to the mmap_write_lock request
    hold_ns: int  # mmap_lock hold (write, or read for mode "read")
    after_ns: int  # release to syscall exit
    downgraded_ns: int = -1  # >= 0: mmap_write_downgrade, then read held this long
    ret: int | None = None
    # "write"; "read" (madvise advice that takes mmap_lock read); "none" (no mmap_lock:
    # a failed call, or advice under the per-VMA lock)
    mode: str = "write"
    # fork (dup_mmap): the child's new mm write-locked inside the caller's write hold,
    # `nested_after_ns` after the caller's lock was taken, for `nested_hold_ns`; "": none
    nested_mm: str = ""
    nested_after_ns: int = 0
    nested_hold_ns: int = 0


@_pickled_by_values
@dataclass(frozen=True, slots=True)
class LockSection:
    gap_ns: int
    mm: str
    write: bool
    hold_ns: int
    trylock: bool = False
    downgraded_ns: int = -1


Operation = FaultSpec | WriterSpec | LockSection


@_pickled_by_values
@dataclass(frozen=True, slots=True)
class ThreadProgram:
    tid: int
    tgid: int
    comm: str
    prio: int
    ops: tuple[Operation, ...]


@dataclass(frozen=True, slots=True)
class Workload:
    source: str  # the trace it came from
    start_ns: int
    end_ns: int
    threads: tuple[ThreadProgram, ...]
    vmas: tuple[Vma, ...] = ()
    vma_source: str = "none"
    pages: tuple[FilePage, ...] = ()
    # page keys already cached when the recording began (their first fault found them)
    resident_pages: tuple[int, ...] = ()
    # the page cache the recording ran in, in pages: None if no eviction was seen
    page_cache_pages: int | None = None
    # delays from the release that lets a sleeping mmap_lock waiter in to the waiter
    # running (quantiles of the recorded hand-overs, sampled with the run's seeded random
    # source), for readers and for writers; () means none recorded
    reader_wakeup_ns: tuple[int, ...] = ()
    writer_wakeup_ns: tuple[int, ...] = ()
    schema_version: int = WORKLOAD_SCHEMA_VERSION

    @property
    def faults(self) -> int:
        return sum(1 for thread in self.threads for op in thread.ops if type(op) is FaultSpec)


# -- JSON ------------------------------------------------------------------------------------
_OP_KINDS: dict[str, type[Any]] = {"fault": FaultSpec, "writer": WriterSpec, "section": LockSection}
_KIND_OF = {cls: kind for kind, cls in _OP_KINDS.items()}


def _record(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def workload_to_json(workload: Workload) -> bytes:
    document = {
        "kind": "faulttui-workload",
        "schema_version": WORKLOAD_SCHEMA_VERSION,
        "source": workload.source,
        "start_ns": workload.start_ns,
        "end_ns": workload.end_ns,
        "vma_source": workload.vma_source,
        "resident_pages": list(workload.resident_pages),
        "page_cache_pages": workload.page_cache_pages,
        "reader_wakeup_ns": list(workload.reader_wakeup_ns),
        "writer_wakeup_ns": list(workload.writer_wakeup_ns),
        "vmas": [_record(vma) for vma in workload.vmas],
        "pages": [[page.dev, page.ino, page.ofs] for page in workload.pages],
        "threads": [
            {"tid": thread.tid, "tgid": thread.tgid, "comm": thread.comm, "prio": thread.prio,
             "ops": [{"kind": _KIND_OF[type(op)], **_record(op)} for op in thread.ops]}
            for thread in workload.threads
        ],
    }
    return orjson.dumps(document)


def workload_from_json(data: bytes | str, where: str = "workload") -> Workload:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise FaultTuiError(f"not JSON: {error}", path=where) from error
    if not isinstance(document, dict) or document.get("kind") != "faulttui-workload":
        raise FaultTuiError("not a faulttui workload (no \"kind\": \"faulttui-workload\")", path=where)
    version = document.get("schema_version")
    if version != WORKLOAD_SCHEMA_VERSION:
        raise FaultTuiError(
            f"workload schema version {version} is not supported (this faulttui reads "
            f"{WORKLOAD_SCHEMA_VERSION})", path=where)
    try:
        threads = tuple(
            ThreadProgram(thread["tid"], thread["tgid"], thread["comm"], thread["prio"],
                          tuple(_op(op) for op in thread["ops"]))
            for thread in document["threads"]
        )
        return Workload(
            source=document["source"], start_ns=document["start_ns"],
            end_ns=document["end_ns"], threads=threads,
            vmas=tuple(Vma(**vma) for vma in document["vmas"]),
            vma_source=document["vma_source"],
            pages=tuple(FilePage(dev, ino, ofs) for dev, ino, ofs in document["pages"]),
            resident_pages=tuple(document["resident_pages"]),
            page_cache_pages=document["page_cache_pages"],
            reader_wakeup_ns=tuple(document["reader_wakeup_ns"]),
            writer_wakeup_ns=tuple(document["writer_wakeup_ns"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise FaultTuiError(f"damaged workload: {error!r}", path=where) from error


def _op(record: dict[str, Any]) -> Operation:
    values = dict(record)
    cls = _OP_KINDS[values.pop("kind")]
    if cls is WriterSpec:
        values["vma_ids"] = tuple(values["vma_ids"])
    op: Operation = cls(**values)
    return op


def save_workload(workload: Workload, path: str | Path) -> None:
    Path(path).write_bytes(workload_to_json(workload))


def load_workload(path: str | Path) -> Workload:
    return workload_from_json(Path(path).read_bytes(), where=str(path))
