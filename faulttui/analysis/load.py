"""Use case: a trace path -> a reconstructed Recording (with an on-disk cache of the result).

The cache lives in the user cache directory (XDG, via platformdirs), never next to the
trace, keyed by the file's identity (resolved path, size, mtime) and the faulttui version.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import os
import pickle
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import platformdirs

import replay
from faulttui import __version__
from faulttui.analysis.reconstruct import LockCounts, reconstruct
from faulttui.errors import TraceFormatError
from faulttui.importers import ImportStats, open_trace, sniff_format
from faulttui.importers.source import ProgressCallback, check_readable, read_head
from faulttui.model.timeline import Timeline
from replay.workload import Workload

CACHE_FORMAT = 2  # 2: Recording.workload


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
    return FaultSummary(
        total=len(faults),
        threads=len({fault.tid for fault in faults}),
        io_sleep=sum(1 for fault in faults if fault.window_io_sleep),
        retry_mmap=sum(1 for fault in faults if fault.window_retry_mmap),
        mmap_fallback=sum(1 for fault in faults if fault.window_mmap_fallback),
        vma_only=sum(1 for fault in faults if fault.window_vma_only),
    )


def load_recording(path: str, progress: ProgressCallback | None = None, *,
                   use_cache: bool = True, require_faults: bool = True) -> Recording:
    """Import and reconstruct `path`; reuse the cached result when the file is unchanged.

    A synthetic workload (JSON) is simulated under `stock`, and that run is the recording."""
    if os.path.isfile(path) and check_readable(path) and sniff_format(read_head(path)) == "json":
        return load_synthetic(path, progress, use_cache=use_cache)
    source = open_trace(path, progress)
    key = cache_key(path) if use_cache else None
    if key is not None:
        cached = _read_cache(key)
        if cached is not None:
            return cached
    with _gc_paused():
        reconstruction = reconstruct(source.events(), source.stats)
    timeline = reconstruction.timeline
    if require_faults and not timeline.faults:
        raise TraceFormatError(
            f"no page faults in {source.stats.events} events (record with the "
            "exceptions:page_fault_user event enabled, e.g. `faulttui record`)",
            path=path,
        )
    recording = Recording(
        path=path, format=source.stats.format if source.stats.format != "unknown"
        else source.format, stats=source.stats, timeline=timeline,
        lock_counts=reconstruction.lock_counts, faults=summarize_faults(timeline),
    )
    if key is not None:
        _write_cache(key, recording)
    return recording


def load_synthetic(path: str, progress: ProgressCallback | None = None, *,
                   use_cache: bool = True) -> Recording:
    """A synthetic workload's simulated `stock` run as the Recording (cached like a trace)."""
    from faulttui.analysis import synthetic_source as synthetic

    key = cache_key(path) if use_cache else None
    cached = _read_cache(key) if key is not None else None
    if cached is not None:
        return cached
    workload, timeline = synthetic.simulate_stock(synthetic.read_spec(path, progress), path)
    recording = Recording(path=path, format=synthetic.SYNTHETIC_FORMAT,
                          stats=synthetic.synthetic_stats(path, timeline), timeline=timeline,
                          lock_counts=synthetic.lock_counts(timeline),
                          faults=summarize_faults(timeline), workload=workload)
    if key is not None:
        _write_cache(key, recording)
    return recording


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Millions of small, long-lived objects: the cyclic GC would rescan them over and over
    while they are built or unpickled, for nothing (a Recording makes no reference cycles)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # Everything allocated meanwhile still sits in generation 0: without the freeze the
        # first collection after gc.enable() would traverse all of it once (~1 s per 1M events).
        # Frozen objects are still freed by reference counting.
        gc.freeze()
        if was_enabled:
            gc.enable()


def cache_dir() -> str:
    return os.environ.get("FAULTTUI_CACHE_DIR") or platformdirs.user_cache_dir("faulttui")


def cache_key(path: str) -> str | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    identity = f"{os.path.realpath(path)}|{status.st_size}|{status.st_mtime_ns}|{status.st_ino}"
    code = _reconstruction_code_digest()
    digest = hashlib.sha256(f"{identity}|{__version__}|{CACHE_FORMAT}|{code}".encode())
    return digest.hexdigest()[:32]


@functools.cache
def _reconstruction_code_digest() -> str:
    """A digest of the code that shapes a Recording (the importers, the reconstruction, the
    model, and the replay that simulates a synthetic workload), so an edited checkout never
    reads a cache entry written by other code under the same version number."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    replay_package = os.path.dirname(os.path.abspath(replay.__file__))
    folders = [os.path.join(package, name) for name in ("importers", "analysis", "model")]
    digest = hashlib.sha256()
    for folder in [*folders, replay_package]:
        for directory, subdirectories, names in os.walk(folder):
            subdirectories.sort()
            for name in sorted(names):
                if name.endswith(".py"):
                    with open(os.path.join(directory, name), "rb") as source:
                        digest.update(name.encode() + b"\0" + source.read())
    return digest.hexdigest()[:16]


def _cache_path(key: str) -> str:
    return os.path.join(cache_dir(), f"{key}.pickle")


def _read_cache(key: str) -> Recording | None:
    try:
        with open(_cache_path(key), "rb") as cached, _gc_paused():
            recording = pickle.load(cached)
    except FileNotFoundError:
        return None
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError):
        return None  # a damaged or stale cache entry is rebuilt, never trusted
    if not isinstance(recording, Recording):
        return None
    object.__setattr__(recording, "from_cache", True)
    return recording


def _write_cache(key: str, recording: Recording) -> None:
    directory = cache_dir()
    try:
        os.makedirs(directory, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(handle, "wb") as out, _gc_paused():
            pickle.dump(recording, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, _cache_path(key))
    except OSError:
        return  # no writable cache dir: the next open imports again; nothing is lost
