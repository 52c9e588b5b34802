"""Streaming reader for ftrace text: raw tracefs (`/sys/kernel/tracing/trace`) and `trace-cmd report`.

The line shapes it accepts (kernel/trace/trace_output.c; tracecmd/trace-read.c)::

    raw tracefs:   <comm>-<pid> [(<tgid>)] [<cpu>] [<flags>] <sec>.<usec>: <name>: <body>
                        bash-4242  ( 4242) [001] d..2.  377.791548: sched_switch: prev_comm=...
                   syscalls:     sys_mprotect(start: 0x7f.., len: 0x10000, prot: 1)
                                 sys_mprotect -> 0x0
    trace-cmd:     <comm>-<pid> [<cpu>] <sec>.<usec>: <name>:<padding><body>
                   syscalls:     sys_enter_mprotect: start: 0x..., len: ...
                                 sys_exit_mprotect:  0x0
    lost events:   CPU:1 [LOST 123 EVENTS]          (trace-cmd: CPU:1 [123 EVENTS DROPPED])
    faulttui maps: # faulttui-maps pid=<pid> ts_ns=<ns>: <a /proc/PID/maps line>

Lines are bytes until a field is known to be text. Every line is either an event, a
comment, a lost-event marker, or counted as unparsed with a warning naming its line.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from faulttui.errors import TraceFormatError
from faulttui.importers.events import (
    FIELD_TYPES,
    UNKNOWN_TGID,
    WRITER_SYSCALLS,
    Event,
    ImportStats,
    MapsEntry,
)
from faulttui.importers.ftrace_fields import field_parsers

_EVENT_LINE = (
    rb"[ \t]*(.*?)-(\d+)[ \t]+(?:\([ \t]*([\d-]+)\)[ \t]+)?\[(\d+)\][ \t]+"
    rb"(?:([^\s\[\]]{4,5})[ \t]+)?(\d{1,9})\.(\d{1,9}): +(\w+)(: *|\(| -> )(.*)"
)
# Every line of a chunk: an event line, or anything else in the last group.
_ANY_LINE = re.compile(rb"^(?:" + _EVENT_LINE + rb"|(.*))$", re.MULTILINE)
_LOST = re.compile(rb"\s*CPU:\s*(\d+)\s*\[(?:LOST (\d+) EVENTS|(\d+) EVENTS DROPPED)\]")
_MAPS = re.compile(
    rb"# faulttui-maps pid=(\d+) ts_ns=(\d+): ([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) (\S+) (\d+)\s*(.*)$"
)
_TRACE_CMD_HEADER = re.compile(rb"(cpus=\d+|version = \d+|CPU \d+ is empty|\s*$)")
# A file whose first lines are all unparsable is not ftrace text: give up early.
_GIVE_UP_AFTER_UNPARSED = 50

# nanoseconds per unit of a fraction of `digits` digits (the line regex allows 1 to 9)
_NS_SCALE = tuple(10 ** (9 - digits) for digits in range(10))
# Bodies that repeat a lot (a few mms, threads and CPUs): parse each distinct one once.
# The cached fields dicts are shared between events, so events' fields are read-only.
# (The name of a raw tracefs syscall line depends on its separator: see _event_name.)
_REPEATING_BODIES = frozenset({
    "mmap_lock_start_locking", "mmap_lock_acquire_returned", "mmap_lock_released",
    "sched_waking", "sched_switch", "contention_begin", "contention_end",
    "mm_vmscan_memcg_reclaim_begin", "mm_vmscan_direct_reclaim_begin",
})
_BODY_CACHE_LIMIT = 1 << 14


class FtraceTextReader:
    """Turns chunks of ftrace text into Events, filling `stats` as it goes."""

    def __init__(self, path: str, stats: ImportStats) -> None:
        self.path = path
        self.stats = stats
        self._parsers = field_parsers(WRITER_SYSCALLS)
        self._known = set(FIELD_TYPES)
        self._comms: dict[bytes, str] = {}
        self._names: dict[bytes, str] = {}
        self.last_ts = 0
        self.lines = 0  # lines read so far (the number of the last line)
        # text from the start of the file: many unparsable lines before any event mean it
        # is not ftrace text at all (a reader given the rest of a file does not judge)
        self.at_file_start = True
        # what each event is made as: Event, or `tuple` for plain tuples in Event's field
        # order (cheaper, for a helper process that only passes the events on)
        self.record_type: Any = Event
        # Bodies that repeat a lot, per event name: each distinct one is parsed once.
        self._body_caches: dict[str, dict[bytes, dict[str, object]]] = {
            name: {} for name in _REPEATING_BODIES}

    def events(self, chunks: Iterable[bytes], *, line_base: int = 0, offset_base: int = 0,
               whole_file: bool = True) -> Iterator[Event]:
        """The events of `chunks`, the text from byte `offset_base` (a line start) of the
        file, whose first line is line `line_base + 1`. Only `whole_file` text is checked as
        a whole at its end (no events at all, out-of-order and lost-event summaries: see
        `finish`)."""
        carry = b""
        line_no = line_base
        offset = offset_base
        for chunk in chunks:
            data = carry + chunk if carry else chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            carry = data[cut + 1 :]
            batch, line_no = self._chunk_events(data, cut, line_no, offset)
            yield from batch
            offset += cut + 1
        if carry:  # a last line with no newline: the file was cut (or written without one)
            batch, line_no = self._chunk_events(carry + b"\n", len(carry), line_no, offset,
                                                last_line=True)
            yield from batch
        self.lines = line_no
        if whole_file:
            self.finish(line_no)

    def _chunk_events(self, data: bytes, end: int, line_base: int, offset_base: int,
                      last_line: bool = False) -> tuple[list[Event], int]:
        """Events of the complete lines data[:end], and the number of the last line.

        The hot loop: keep it flat. `_ANY_LINE` matches every line exactly once (an empty
        line too), so the match count is the line count."""
        batch: list[Event] = []
        append = batch.append
        new_event = tuple.__new__
        record_type = self.record_type
        stats = self.stats
        chunk_counts: dict[str, int] = {}
        names = self._names
        comms = self._comms
        parsers = self._parsers
        body_caches = self._body_caches
        ns_scale = _NS_SCALE
        last_ts = self.last_ts
        out_of_order = 0
        format_known = stats.format != "unknown"
        line_no = line_base
        for match in _ANY_LINE.finditer(data, 0, end):
            line_no += 1
            (comm_b, pid, tgid, cpu, flags, sec, frac, name_b, sep, body, other) = match.groups()
            if other is not None:
                if other:
                    self._other_line(other, line_no, last_line)
                continue
            if sep[0] == 58:  # b":", every event but raw tracefs' syscall lines
                name = names.get(name_b)
                if name is None:
                    name = self._event_name(name_b, sep)
            else:
                name = self._event_name(name_b, sep)
                if sep == b"(" and body.endswith(b")"):
                    body = body[:-1]
            if body[-1:] in b" \r\t":
                body = body.rstrip()
            ts_ns = int(sec) * 1_000_000_000 + int(frac) * ns_scale[len(frac)]
            if ts_ns < last_ts:
                out_of_order += 1
            else:
                last_ts = ts_ns
            comm = comms.get(comm_b)
            if comm is None:
                comm = comms[comm_b] = sys.intern(comm_b.decode("utf-8", "replace"))
            fields: dict[str, object] | None
            body_cache = body_caches.get(name)
            if body_cache is not None:
                fields = body_cache.get(body)
                if fields is None:
                    fields = parsers[name](body)
                    if fields is not None:
                        if len(body_cache) >= _BODY_CACHE_LIMIT:
                            body_cache.clear()
                        body_cache[body] = fields
            else:
                parser = parsers.get(name)
                fields = parser(body) if parser is not None else None
            if fields is None:
                fields = self._unparsed_fields(name, body, line_no, last_line)
            chunk_counts[name] = chunk_counts.get(name, 0) + 1
            append(new_event(record_type, (
                ts_ns, int(cpu), int(pid),
                int(tgid) if tgid is not None and tgid.isdigit() else UNKNOWN_TGID,
                comm, name, fields, line_no, offset_base + match.start())))
            if not format_known:
                if stats.format == "unknown":
                    stats.format = "ftrace-text" if flags is not None else "trace-cmd"
                format_known = True
        self.last_ts = last_ts
        stats.out_of_order += out_of_order
        counts = stats.event_counts
        for name, count in chunk_counts.items():
            counts[name] = counts.get(name, 0) + count
        stats.events += len(batch)
        return batch, line_no

    def _unparsed_fields(self, name: str, body: bytes, line_no: int, last_line: bool
                         ) -> dict[str, object]:
        text = body.decode("utf-8", "replace")
        if name in self._known:
            what = "cut short" if last_line else "malformed fields"
            self.stats.warn(f"{self.path}:{line_no}: {name}: {what}: {text[:80]!r}")
            return {"raw": text, "malformed": True}
        self.stats.unknown_events += 1
        return {"raw": text}

    def _event_name(self, name_b: bytes, sep: bytes) -> str:
        name = name_b.decode("ascii")
        # raw tracefs prints syscalls as `sys_mprotect(args)` and `sys_mprotect -> ret`
        if sep == b"(" and name.startswith("sys_"):
            name = "sys_enter_" + name[4:]
        elif sep == b" -> " and name.startswith("sys_"):
            name = "sys_exit_" + name[4:]
        name = sys.intern(name)
        if sep[0] == 58:
            self._names[name_b] = name
        return name

    def _other_line(self, line: bytes, line_no: int, last_line: bool) -> None:
        stats = self.stats
        if line.startswith(b"#"):
            if line.startswith(b"# faulttui-maps "):
                self._maps_line(line, line_no)
            elif line.startswith(b"# tracer:") and stats.format == "unknown":
                stats.format = "ftrace-text"
            return
        lost = _LOST.match(line)
        if lost is not None:
            stats.lost_markers += 1
            stats.lost_events += int(lost.group(2) or lost.group(3))
            return
        if _TRACE_CMD_HEADER.fullmatch(line):
            if line.startswith(b"cpus=") and stats.format == "unknown":
                stats.format = "trace-cmd"
            return
        stats.unparsed_lines += 1
        what = "cut short" if last_line else "not a trace event line"
        stats.warn(f"{self.path}:{line_no}: {what}: {line[:80].decode('utf-8', 'replace')!r}")
        if (stats.events == 0 and stats.unparsed_lines >= _GIVE_UP_AFTER_UNPARSED
                and self.at_file_start):
            raise TraceFormatError(
                f"not an ftrace text trace (no event line in the first {line_no} lines; "
                f"first bad line: {line[:60].decode('utf-8', 'replace')!r})",
                path=self.path,
                line=line_no,
            )

    def _maps_line(self, line: bytes, line_no: int) -> None:
        match = _MAPS.match(line)
        if match is None:
            self.stats.warn(f"{self.path}:{line_no}: malformed faulttui-maps line")
            return
        pid, ts_ns, start, end, perms, offset, dev, inode, path = match.groups()
        self.stats.maps.append(
            MapsEntry(
                pid=int(pid), ts_ns=int(ts_ns), start=int(start, 16), end=int(end, 16),
                perms=perms.decode(), offset=int(offset, 16), dev=dev.decode(),
                inode=int(inode), path=path.decode("utf-8", "replace"),
            )
        )

    def finish(self, lines: int) -> None:
        """The whole-file checks, after the last line (`lines` lines in all)."""
        stats = self.stats
        if stats.events == 0:
            if stats.unparsed_lines:
                raise TraceFormatError(
                    f"no trace events found in {lines} lines (is this ftrace text?)", path=self.path
                )
            raise TraceFormatError("no trace events (only comments/headers)", path=self.path)
        if stats.out_of_order:
            stats.warn(
                f"{self.path}: {stats.out_of_order} events have a timestamp earlier than the "
                "event before them; the reconstruction treats them in file order"
            )
        if stats.lost_events:
            stats.warn(
                f"{self.path}: the kernel dropped {stats.lost_events} events "
                f"({stats.lost_markers} LOST markers): locks and faults near them may be incomplete"
            )
