"""Bytes in, normalized events out: one entry point, `open_trace`, for every trace format."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from faulttui.errors import TraceFormatError
from faulttui.importers.events import Event, ImportStats, MapsEntry
from faulttui.importers.ftrace_text import FtraceTextReader
from faulttui.importers.source import (
    TRACE_CMD_DAT_MAGIC,
    ProgressCallback,
    check_readable,
    compression_of,
    iter_chunks,
    read_head,
)
from faulttui.importers.split_text import split_events, split_offset
from faulttui.importers.tracecmd import trace_cmd_chunks

__all__ = ["Event", "ImportStats", "MapsEntry", "TraceSource", "open_trace", "sniff_format"]


@dataclass
class TraceSource:
    """A sniffed trace file. `events()` streams it once; `stats` fills in while it runs."""

    path: str
    format: str  # "ftrace-text" | "trace-cmd" | "perfetto" | "synthetic"
    container: str  # "text" | "dat" | "perfetto" | "json"
    compression: str | None
    size: int
    stats: ImportStats
    _events: Callable[[], Iterator[Event]]

    def events(self) -> Iterator[Event]:
        return self._events()


def sniff_format(head: bytes) -> str:
    """Which container the decompressed head looks like: text, dat, perfetto or json."""
    if head.startswith(TRACE_CMD_DAT_MAGIC):
        return "dat"
    stripped = head.lstrip()
    if stripped.startswith(b"{"):
        return "json"
    sample = head[:4096]
    if b"\x00" not in sample:
        printable = sum(1 for byte in sample if byte in b"\t\n\r" or 32 <= byte < 127 or byte >= 128)
        if printable >= 0.95 * len(sample):
            return "text"
    from faulttui.importers import perfetto  # protobuf is heavy: load on demand

    if perfetto.is_perfetto(head):
        return "perfetto"
    return "binary"


def open_trace(path: str, progress: ProgressCallback | None = None) -> TraceSource:
    """Sniff `path` (format from content, not name) and return a source of normalized events."""
    size = check_readable(path)
    with open(path, "rb") as raw:
        compression = compression_of(raw.read(8))
    head = read_head(path)
    if not head:
        raise TraceFormatError("empty after decompression", path=path)
    container = sniff_format(head)
    stats = ImportStats(path=path)

    if container == "text":
        def text_events() -> Iterator[Event]:
            split_at = split_offset(path)
            if split_at is not None:  # a large file: a child process parses the tail
                return split_events(path, stats, split_at, progress)
            return FtraceTextReader(path, stats).events(iter_chunks(path, progress, stats.warn))

        return TraceSource(path, "ftrace-text", container, compression, size, stats, text_events)
    if container == "dat":
        def dat_events() -> Iterator[Event]:
            stats.format = "trace-cmd"
            reader = FtraceTextReader(path, stats)
            return reader.events(trace_cmd_chunks(path, compressed=compression is not None))

        return TraceSource(path, "trace-cmd", container, compression, size, stats, dat_events)
    if container == "perfetto":
        from faulttui.importers import perfetto

        def perfetto_events() -> Iterator[Event]:
            from faulttui.importers.source import open_decompressed

            stream, raw_file, _ = open_decompressed(path)

            def run() -> Iterator[Event]:
                with stream, raw_file:
                    yield from perfetto.read_perfetto(path, stream, stats)

            return run()

        return TraceSource(path, "perfetto", container, compression, size, stats, perfetto_events)
    if container == "json":
        raise TraceFormatError(
            "this is JSON; this faulttui version reads synthetic workloads only through "
            "`faulttui generate` (not as a trace)",
            path=path,
        )
    raise TraceFormatError(
        "not a trace faulttui can read (expected ftrace text, trace-cmd .dat, Perfetto protobuf "
        "or a synthetic workload .json, optionally .gz/.xz)",
        path=path,
    )
