"""A large ftrace text file parsed by two processes: this one and a helper child.

Parsing costs more than the reconstruction that consumes the events, and one Python
process uses one core. So for a large file a child process parses the *tail* of the
text (the lines that start at or after a split offset) while this process parses the
head and feeds the consumer; the child writes its events in batches to a scratch file,
which this process reads once it has passed the head (reading an event back costs about a
seventh of parsing it). The split offset leaves this process the smaller share
(`HEAD_SHARE`), since it also runs the consumer.

The events, their line numbers and byte offsets, and the statistics are exactly those of
the one-process reader (tests check it): the child counts the lines of the head it skips,
and its statistics are folded into this process's at the end. The child decompresses the
head too (a compressed stream cannot be entered in the middle), on the other core.

    parent:  [decompress + parse head] -> consumer ... [read child batches] -> consumer
    child:   [decompress head, count lines][decompress + parse tail -> scratch file]
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import multiprocessing
import os
import struct
import sys
import tempfile
import threading
from collections.abc import Iterator
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

from faulttui.errors import TraceFormatError
from faulttui.importers.events import Event, ImportStats
from faulttui.importers.ftrace_text import FtraceTextReader
from faulttui.importers.source import XZ_MAGIC, ProgressCallback, iter_chunks

# Files whose text is smaller than this parse in one process (a child costs ~0.1-0.3 s).
MIN_SPLIT_BYTES = 48 << 20
# The share of the text this process parses itself: it also runs the consumer (the
# reconstruction, about as costly per event as parsing), the child only parses.
HEAD_SHARE = 0.12


BATCH_EVENTS = 8192
"""Events per batch from the child. Unmarshalling one holds the GIL: 8192 take ~4 ms, while
32768 took ~30 ms (a UI thread waiting for its turn meanwhile felt it)."""


def decompressed_size(path: str) -> int | None:
    """The size of `path`'s text, when known without decompressing it (plain or single-stream
    xz files; None otherwise)."""
    with open(path, "rb") as raw:
        head = raw.read(6)
        if head == XZ_MAGIC:
            return _xz_uncompressed_size(raw)
        if head.startswith(b"\x1f\x8b"):
            return None  # gzip's ISIZE is modulo 4 GiB and per member: not to be trusted
    return os.path.getsize(path)


def _xz_uncompressed_size(raw: Any) -> int | None:
    """Sum of the index records' uncompressed sizes (xz file format 1.0.4, sections 2.1.2
    and 4): the stream footer gives the index size, the index lists every block."""
    raw.seek(0, os.SEEK_END)
    file_size = raw.tell()
    if file_size < 32:
        return None
    raw.seek(file_size - 12)
    footer = raw.read(12)
    if footer[10:12] != b"YZ":
        return None  # stream padding or a damaged file: no shortcut
    index_size = (struct.unpack("<I", footer[4:8])[0] + 1) * 4
    index_start = file_size - 12 - index_size
    if index_start < 12:
        return None
    raw.seek(index_start)
    index = raw.read(index_size)
    if not index or index[0] != 0:
        return None
    position = 1
    records, position = _varint(index, position)
    total = 0
    blocks_size = 0
    for _ in range(records):
        unpadded, position = _varint(index, position)
        uncompressed, position = _varint(index, position)
        blocks_size += (unpadded + 3) // 4 * 4
        total += uncompressed
    # one stream spans the whole file: header, blocks, index, footer (else there are other
    # streams, or stream padding, and no shortcut)
    return total if 12 + blocks_size + index_size + 12 == file_size else None


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("damaged xz index")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def split_offset(path: str, cores: int | None = None) -> int | None:
    """Where the child's share of `path`'s text begins, or None to parse in one process."""
    cores = cores if cores is not None else len(os.sched_getaffinity(0))
    if cores < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    try:
        size = decompressed_size(path)
    except (OSError, ValueError):
        return None
    if size is None or size < MIN_SPLIT_BYTES:
        return None
    return int(size * HEAD_SHARE)


def split_events(path: str, stats: ImportStats, split_at: int,
                 progress: ProgressCallback | None = None) -> Iterator[Event]:
    """The events of ftrace text file `path`, the text from `split_at` on parsed by a child."""
    with tempfile.TemporaryDirectory(prefix="faulttui-split-") as scratch:
        batches_path = os.path.join(scratch, "events.marshal")
        with open(batches_path, "wb"):
            pass  # exists before either process opens it
        started = _start_child(path, split_at, batches_path)
        if started is None:  # no helper process to be had here: parse it all in this one
            yield from FtraceTextReader(path, stats).events(
                iter_chunks(path, progress, stats.warn))
            return
        child, receiver = started
        try:
            reader = FtraceTextReader(path, stats)
            head = _HeadChunks(iter_chunks(path, progress, stats.warn), split_at)
            yield from reader.events(head, whole_file=False)
            if not head.reached_split:
                reader.finish(reader.lines)  # the text ended (or broke) before the split
                return
            yield from _tail_events(receiver, batches_path, reader, stats, progress, path,
                                    split_at)
        finally:
            if child.is_alive():
                child.kill()
            child.join()
            receiver.close()


def _start_child(path: str, split_at: int, batches_path: str) -> tuple[Any, Connection] | None:
    # fork is cheap, but only safe while this process runs no other thread; the TUI loads
    # in a worker thread, so there the child is spawned
    spawn = threading.active_count() > 1
    context: Any = multiprocessing.get_context("spawn" if spawn else "fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=parse_tail, args=(path, split_at, batches_path, sender),
                            name="faulttui-parse-tail", daemon=True)
    try:
        with _real_stderr() if spawn else contextlib.nullcontext():
            child.start()
    except (OSError, ValueError):
        receiver.close()
        return None
    finally:
        sender.close()
    return child, receiver


@contextlib.contextmanager
def _real_stderr() -> Iterator[None]:
    """Spawning starts multiprocessing's resource tracker, which passes `sys.stderr`'s file
    descriptor on; a TUI replaces sys.stderr with an object whose fileno() is -1. For
    the instant of the start, the process's real stderr stands in."""
    replaced = sys.stderr
    try:
        if sys.__stderr__ is not None and _fileno(replaced) < 0:
            sys.stderr = sys.__stderr__
        yield
    finally:
        sys.stderr = replaced


def _fileno(stream: Any) -> int:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return -1


class _HeadChunks:
    """The chunks of the text up to the first line start at or after `split_at`."""

    def __init__(self, chunks: Iterator[bytes], split_at: int) -> None:
        self.chunks = chunks
        self.split_at = split_at
        self.reached_split = False

    def __iter__(self) -> Iterator[bytes]:
        position = 0
        seeking = False  # the split is passed: looking for the end of the line it is in
        for chunk in self.chunks:
            if seeking:
                newline = chunk.find(b"\n")
            elif position + len(chunk) >= self.split_at:
                newline = chunk.find(b"\n", max(0, self.split_at - position - 1))
                seeking = True
            else:
                position += len(chunk)
                yield chunk
                continue
            if newline >= 0:
                yield chunk[:newline + 1]
                self.reached_split = True
                self.chunks.close()  # type: ignore[attr-defined]  # stops the decompressor
                return
            position += len(chunk)
            yield chunk


def _tail_events(receiver: Connection, batches_path: str, reader: FtraceTextReader,
                 stats: ImportStats, progress: ProgressCallback | None, path: str,
                 split_at: int) -> Iterator[Event]:
    make_event = partial(tuple.__new__, Event)
    # The child counted a tail event as out of order against the tail's own latest time;
    # one process would also have counted it against the head's: add those
    head_last_ts = reader.last_ts
    tail_last_ts = 0
    yielded = added_out_of_order = 0
    with open(batches_path, "rb") as batches:
        while True:
            try:
                message = receiver.recv()
            except EOFError:  # the child died (killed, out of memory): no result from it
                message = ("failed",)
            kind = message[0]
            if kind == "batch":
                _, size, consumed, total = message
                rows = marshal.loads(batches.read(size))
                for row in rows:
                    if tail_last_ts >= head_last_ts:
                        break
                    ts_ns = row[0]
                    if tail_last_ts <= ts_ns < head_last_ts:
                        added_out_of_order += 1
                    tail_last_ts = max(tail_last_ts, ts_ns)
                yield from map(make_event, rows)
                yielded += len(rows)
                if progress is not None:
                    progress(consumed, total)
            elif kind == "done":
                _, tail_stats, lines = message
                stats.out_of_order += added_out_of_order
                merge_stats(stats, tail_stats)
                reader.finish(lines)
                return
            elif kind == "error":  # the trace's fault, raised here as if this process met it
                raise message[1]
            else:  # "failed": the helper could not finish; this process parses the tail
                yield from _parse_tail_here(reader, path, split_at, yielded, progress)
                return


def _parse_tail_here(reader: FtraceTextReader, path: str, split_at: int, already: int,
                     progress: ProgressCallback | None) -> Iterator[Event]:
    """The tail parsed by this process, less the `already` events the child passed on."""
    chunks = iter_chunks(path, progress, reader.stats.warn)
    line_base, offset_base, rest = _skip_head(chunks, split_at)
    events = reader.events(rest, line_base=line_base, offset_base=offset_base,
                           whole_file=False)
    for _ in zip(range(already), events, strict=False):
        pass
    yield from events
    reader.finish(reader.lines)


def merge_stats(stats: ImportStats, tail: ImportStats) -> None:
    """Fold the statistics of the tail into those of the head (which come first)."""
    if stats.format == "unknown":
        stats.format = tail.format
    stats.events += tail.events
    for name, count in tail.event_counts.items():
        stats.event_counts[name] = stats.event_counts.get(name, 0) + count
    stats.lost_events += tail.lost_events
    stats.lost_markers += tail.lost_markers
    stats.unknown_events += tail.unknown_events
    stats.unparsed_lines += tail.unparsed_lines
    stats.out_of_order += tail.out_of_order
    stats.maps.extend(tail.maps)
    for warning in tail.warnings:
        if len(stats.warnings) < stats.MAX_WARNINGS_KEPT:
            stats.warnings.append(warning)
    stats.warning_count += tail.warning_count


def parse_tail(path: str, split_at: int, batches_path: str, sender: Connection) -> None:
    """The child: parse the lines of `path` that start at or after `split_at`, writing each
    chunk's events as a pickled list of plain tuples, then send the statistics."""
    gc.disable()  # this process only makes short-lived, acyclic objects
    try:
        stats = ImportStats(path=path)
        total = os.path.getsize(path)
        consumed = [0]

        def note_progress(done: int, _total: int) -> None:
            consumed[0] = done

        chunks = iter_chunks(path, note_progress, stats.warn)
        line_base, offset_base, rest = _skip_head(chunks, split_at)
        reader = FtraceTextReader(path, stats)
        reader.at_file_start = False
        reader.record_type = tuple
        with open(batches_path, "ab") as out:
            batch: list[tuple[Any, ...]] = []
            for event in reader.events(rest, line_base=line_base, offset_base=offset_base,
                                       whole_file=False):
                batch.append(event)
                if len(batch) >= BATCH_EVENTS:
                    _send_batch(out, sender, batch, consumed[0], total)
                    batch = []
            _send_batch(out, sender, batch, total, total)
        sender.send(("done", stats, reader.lines))
    except KeyboardInterrupt:
        pass  # the parent got the same Ctrl-C
    except TraceFormatError as error:
        sender.send(("error", error))
    except Exception:  # e.g. no room for the scratch file: the parent parses the tail itself
        sender.send(("failed",))
    finally:
        sender.close()


def _send_batch(out: Any, sender: Connection, batch: list[tuple[Any, ...]], consumed: int,
                total: int) -> None:
    # marshal: the events are plain tuples, dicts, strings and numbers, read back by the same
    # interpreter, and marshal writes them 3x faster than pickle
    data = marshal.dumps(batch)
    out.write(data)
    out.flush()
    sender.send(("batch", len(data), consumed, total))


def _skip_head(chunks: Iterator[bytes], split_at: int) -> tuple[int, int, Iterator[bytes]]:
    """(lines before the tail, the tail's byte offset, the tail's chunks)."""
    position = 0
    lines = 0
    for chunk in chunks:
        end = position + len(chunk)
        if end < split_at:
            lines += chunk.count(b"\n")
            position = end
            continue
        newline = chunk.find(b"\n", max(0, split_at - position - 1))
        if newline < 0:  # the line crossing the split goes on into the next chunk
            lines += chunk.count(b"\n")
            position = end
            split_at = end + 1  # its end is what we look for now
            continue
        lines += chunk.count(b"\n", 0, newline + 1)
        tail = chunk[newline + 1:]
        return lines, position + newline + 1, _prepend(tail, chunks)
    return lines, position, iter(())


def _prepend(first: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from chunks
