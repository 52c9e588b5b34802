"""Writing the recorded trace: comment lines, then the tracefs text, streamed and merged.

The file is written under a temporary name in the output directory and renamed into place
when complete, so an interrupted or failed save never leaves a truncated trace behind.
The output name picks the compression: `.gz` gzip, `.xz` xz, anything else plain text.
"""

from __future__ import annotations

import contextlib
import gzip
import heapq
import lzma
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from faulttui.errors import FaultTuiError

XZ_PRESET = 1  # xz -1: ~8x faster than the default -6 on trace text, ~10% bigger
GZIP_LEVEL = 6
BATCH_RECORDS = 4096
PROGRESS_EVERY_BYTES = 16 << 20

# `   comm-123   (  123) [001] d..1.  577.870846: page_fault_user: ...`; raw tracefs prints
# syscalls as `sys_mmap(addr: ...)` and `sys_mmap -> 0x...`, hence the `[:( ]` after the name
_EVENT_LINE = re.compile(rb" (\d+)\.(\d+): ([A-Za-z_]\w*)[:( ]")
_LOST_MARKER = re.compile(rb"^\s*CPU:\s*\d+\s*\[LOST (\d+) EVENTS\]")
# the task column: `comm-TID`, then `(  TGID)` when record-tgid is on, then `[CPU]`
_TASK_ID = re.compile(rb"-(\d+)\s+(?:\([\s\d-]*\)\s+)?\[\d+\]")


class SaveInterrupted(Exception):
    """A stop signal arrived while the trace was being written; nothing was kept."""


@dataclass(slots=True)
class TextStats:
    """What went through the copy: events per tracepoint name, LOST markers, text bytes."""

    event_counts: Counter[str] = field(default_factory=Counter)
    lost_in_markers: int = 0
    text_bytes: int = 0

    @property
    def events(self) -> int:
        return sum(self.event_counts.values())


def compression_for(path: str) -> str | None:
    if path.endswith(".gz"):
        return "gzip"
    if path.endswith(".xz"):
        return "xz"
    return None


class OutputFile:
    """A temporary file next to `path`, renamed to `path` by `commit`, else removed."""

    def __init__(self, path: str) -> None:
        self.path = path
        directory, name = os.path.split(os.path.abspath(path))
        if os.path.isdir(path):
            raise FaultTuiError("is a directory; give a file name for the trace", path=path)
        if not os.path.isdir(directory):
            raise FaultTuiError("no such directory", path=directory)
        self.temp_path = os.path.join(directory, f".{name}.partial-{os.getpid()}")
        try:
            self._raw: BinaryIO = open(self.temp_path, "wb")  # noqa: SIM115 - closed in commit/discard
        except OSError as error:
            raise FaultTuiError(f"cannot write: {error.strerror}", path=directory) from error
        self.stream: BinaryIO = _compressing(self._raw, compression_for(path))

    def write_text(self, lines: Iterable[str]) -> None:
        self.stream.write("".join(lines).encode("utf-8", "surrogateescape"))

    def commit(self) -> int:
        """Finish compression, rename into place; return the file's size in bytes."""
        try:
            if self.stream is not self._raw:
                self.stream.close()
            self._raw.close()
            os.replace(self.temp_path, self.path)
            return os.path.getsize(self.path)
        except OSError as error:
            self.discard()
            raise FaultTuiError(f"cannot write: {error.strerror}", path=self.path) from error

    def discard(self) -> None:
        """Drop the partial file without flushing anything more into it."""
        self._raw.close()
        if self.stream is not self._raw:
            # The compressor's close writes its trailer to the file just closed and fails
            # with ValueError; it marks itself closed all the same, which is all we need.
            with contextlib.suppress(ValueError):
                self.stream.close()
        if os.path.exists(self.temp_path):
            os.unlink(self.temp_path)


def _compressing(raw: BinaryIO, compression: str | None) -> BinaryIO:
    if compression == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL)  # type: ignore[return-value]
    if compression == "xz":
        return lzma.LZMAFile(raw, mode="wb", preset=XZ_PRESET)  # type: ignore[return-value]
    return raw


Record = tuple[int, bytes]


@dataclass(frozen=True, slots=True)
class Duplicates:
    """Events recorded in both buffers: the side buffer's lines of these names by these
    tids (the target's tasks) are copies of main-buffer lines and are dropped."""

    names: frozenset[bytes] = frozenset()
    tids: frozenset[int] = frozenset()

    def covers(self, name: bytes, line: bytes, match_start: int) -> bool:
        if name not in self.names:
            return False
        task = _TASK_ID.search(line, 0, match_start)
        return task is not None and int(task.group(1)) in self.tids


def tids_firing(lines: Iterable[bytes], names: frozenset[bytes]) -> frozenset[int]:
    """The tids of the lines of events `names` (a first pass over the main buffer)."""
    tids = set()
    for line in lines:
        match = _EVENT_LINE.search(line)
        if match is not None and match.group(3) in names:
            task = _TASK_ID.search(line, 0, match.start())
            if task is not None:
                tids.add(int(task.group(1)))
    return frozenset(tids)


def _records(lines: Iterator[bytes], stats: TextStats,
             duplicates: Duplicates = Duplicates()) -> Iterator[Record]:
    """(timestamp in µs, text) per event line; other lines ride along with the next event."""
    carried: list[bytes] = []
    last_us = 0
    for line in lines:
        match = _EVENT_LINE.search(line)
        if match is None:
            stats.text_bytes += len(line)
            lost = _LOST_MARKER.match(line)
            if lost:
                stats.lost_in_markers += int(lost.group(1))
            carried.append(line)
            continue
        seconds, fraction, name = match.groups()
        if duplicates.covers(name, line, match.start()):
            continue
        stats.text_bytes += len(line)
        last_us = int(seconds) * 1_000_000 + int(fraction.ljust(6, b"0")[:6])
        stats.event_counts[name.decode()] += 1
        if carried:
            carried.append(line)
            yield last_us, b"".join(carried)
            carried = []
        else:
            yield last_us, line
    if carried:
        yield last_us, b"".join(carried)


def _header(lines: Iterator[bytes], stats: TextStats) -> tuple[list[bytes], bytes | None]:
    """The leading `#` lines of a tracefs `trace` text and the first line after them."""
    header: list[bytes] = []
    for line in lines:
        if not line.startswith(b"#"):
            return header, line
        stats.text_bytes += len(line)
        header.append(line)
    return header, None


def _with_first(first: bytes | None, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first is not None:
        yield first
    yield from rest


def copy_trace(
    out: OutputFile,
    main: BinaryIO,
    side: BinaryIO | None,
    stop_requested: Callable[[], bool],
    progress: Callable[[int], None] | None = None,
    overrun_by_cpu: dict[int, int] | None = None,
    duplicates: Duplicates = Duplicates(),
) -> TextStats:
    """Write `main` (a tracefs `trace` file) with `side` merged in by timestamp.

    The main buffer's header is kept, the side buffer's dropped, and so are the side
    lines `duplicates` covers. At equal printed times (µs) the side line goes first: its
    lines are other tasks' block completions and issues, evictions and lock operations,
    the causes of the wakeups and waits in the main buffer that share the microsecond.

    `overrun_by_cpu` (from per_cpu/cpuN/stats) becomes `CPU:N [LOST M EVENTS]` lines after
    the header: the `trace` file prints no such markers for events the ring buffer
    overwrote, and in overwrite mode those are the oldest, i.e. before the first event.
    """
    stats = TextStats()
    main_lines = iter(main)
    header, first = _header(main_lines, stats)
    out.stream.write(b"".join(header))
    for cpu, lost in sorted((overrun_by_cpu or {}).items()):
        if lost:
            out.stream.write(f"CPU:{cpu} [LOST {lost} EVENTS]\n".encode())
    streams: list[Iterator[Record]] = []
    if side is not None:
        side_lines = iter(side)
        _side_header, side_first = _header(side_lines, TextStats())
        streams.append(_records(_with_first(side_first, side_lines), stats, duplicates))
    streams.append(_records(_with_first(first, main_lines), stats))
    merged = heapq.merge(*streams, key=lambda record: record[0]) if side else streams[0]
    batch: list[bytes] = []
    reported = 0
    for _ts, text in merged:
        batch.append(text)
        if len(batch) >= BATCH_RECORDS:
            out.stream.write(b"".join(batch))
            batch.clear()
            if stop_requested():
                raise SaveInterrupted
            if progress is not None and stats.text_bytes - reported >= PROGRESS_EVERY_BYTES:
                reported = stats.text_bytes
                progress(reported)
    out.stream.write(b"".join(batch))
    return stats
