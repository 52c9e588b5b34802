"""Build Perfetto protobuf traces from normalized events, for the Perfetto importer's tests.

A text trace is read with the text importer (`open_trace`), and each event is written the
way Perfetto's `traced_probes` would record it on a 6.18 kernel, in one of four flavours:

* ``typed-legacy``: typed `sched_switch`/`sched_waking` events, the other untyped events
  (`mmap_lock_*`, `page_fault_user`, ...) as legacy `GenericFtraceEvent` (field 327), and
  writer syscalls as `raw_syscalls` `sys_enter`/`sys_exit` (syscall number + args);
* ``typed-dense``: typed sched events, untyped events in the dense encoding of Perfetto v53+
  (a field id >= 65536 in `FtraceEvent`, described by `generic_event_descriptors`);
* ``compact-legacy``: `compact_sched` for switches and wakings, legacy generic events;
* ``compact-dense``: compact sched + dense generic, wrapped in zlib `compressed_packets`
  (what a current Perfetto writes by default).

Bundles are cut the way `traced_probes` reads the per-CPU buffers: every `read_every`
events, one bundle per CPU that has data. This encoder is written independently of the
importer (its own tables) so that a round trip checks both.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from google.protobuf import descriptor_pb2
from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

from faulttui.importers import open_trace
from faulttui.importers.events import Event, ImportStats

# --- protobuf wire helpers ----------------------------------------------------------------

_WIRE_VARINT = 0
_WIRE_LEN = 2


def varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def tag(field_number: int, wire_type: int) -> bytes:
    return varint(field_number << 3 | wire_type)


def len_field(field_number: int, payload: bytes) -> bytes:
    return tag(field_number, _WIRE_LEN) + varint(len(payload)) + payload


def varint_field(field_number: int, value: int) -> bytes:
    return tag(field_number, _WIRE_VARINT) + varint(value)


def trace_record(packet: bytes) -> bytes:
    """One `Trace.packet` (field 1) record as it appears in a .pftrace file."""
    return len_field(1, packet)


# --- what the kernel's format files say (the raw fields Perfetto records) ------------------

PAGE_SHIFT = 12
LCB_FLAG_BITS = {"SPIN": 1 << 0, "READ": 1 << 1, "WRITE": 1 << 2, "RT": 1 << 3,
                 "PERCPU": 1 << 4, "MUTEX": 1 << 5}
TASK_STATE_BITS = {"S": 0x1, "D": 0x2, "T": 0x4, "t": 0x8, "X": 0x10, "Z": 0x20, "P": 0x40,
                   "I": 0x80}
PREEMPTED = 0x100
X86_64_SYSCALL_NR = {"mmap": 9, "mprotect": 10, "munmap": 11, "brk": 12, "mremap": 25,
                     "madvise": 28}
RAW_SYSCALL_ARGS = 6

RawField = tuple[str, str, Any]  # (name, "u" unsigned | "s" signed | "str", value)


def parse_pointer(text: str) -> int:
    """A %p value: hashed (`000000004eacf535`) or raw (`0xffff...`); both are hex."""
    return int(text, 16)


def dev_t(text: str) -> int:
    """`254:0` or `254,0` as the kernel's dev_t (MAJOR << 20 | MINOR)."""
    major, minor = text.replace(",", ":").split(":")
    return int(major) << 20 | int(minor)


def prev_state_value(letters: str) -> int:
    value = 0
    if letters.endswith("+"):
        value |= PREEMPTED
        letters = letters[:-1]
    for letter in letters.split("|"):
        value |= TASK_STATE_BITS.get(letter, 0)
    return value


def lcb_flags_value(text: str) -> int:
    return sum(LCB_FLAG_BITS.get(name, 0) for name in text.split("|") if name)


def gfp_flags_value(text: str) -> int:
    """Symbolic GFP names cannot be turned back into bits without the kernel's table: 0."""
    try:
        return int(text, 0)
    except ValueError:
        return 0


def generic_fields(event: Event) -> list[RawField] | None:
    """The format-file fields of an untyped event, or None for events sent typed/compact."""
    name, f = event.name, event.fields
    if "raw" in f:
        return [("raw", "str", f["raw"])]
    if name == "page_fault_user":
        return [("address", "u", f["address"]), ("ip", "u", f["ip"]),
                ("error_code", "u", f["error_code"])]
    if name.startswith("mmap_lock_"):
        memcg: RawField = (
            ("memcg_id", "u", int(f["memcg"])) if f["memcg"].isdigit()
            else ("memcg_path", "str", f["memcg"])
        )
        raw = [("mm", "u", parse_pointer(f["mm"])), memcg, ("write", "u", int(f["write"]))]
        if "success" in f:
            raw.append(("success", "u", int(f["success"])))
        return raw
    if name == "mm_filemap_fault":
        return [("i_ino", "u", f["ino"]), ("s_dev", "u", dev_t(f["dev"])),
                ("index", "u", f["ofs"] >> PAGE_SHIFT)]
    if name == "contention_begin":
        return [("lock_addr", "u", parse_pointer(f["lock"])),
                ("flags", "u", lcb_flags_value(f["flags"]))]
    if name == "contention_end":
        return [("lock_addr", "u", parse_pointer(f["lock"])), ("ret", "s", f["ret"])]
    if name.startswith("sys_enter_"):
        nr = X86_64_SYSCALL_NR.get(name[len("sys_enter_"):], -1)
        return [("__syscall_nr", "s", nr)] + [(arg, "u", value) for arg, value in f.items()]
    if name.startswith("sys_exit_"):
        nr = X86_64_SYSCALL_NR.get(name[len("sys_exit_"):], -1)
        return [("__syscall_nr", "s", nr), ("ret", "s", f["ret"])]
    return None


def typed_event(event: Event, raw_syscalls: bool) -> pb.FtraceEvent | None:
    """The typed FtraceEvent Perfetto writes for this event, or None if it has no typed proto."""
    name, f = event.name, event.fields
    ev = pb.FtraceEvent(timestamp=event.ts_ns, pid=event.tid)
    if "raw" in f:
        return None
    if name == "sched_switch":
        ev.sched_switch.CopyFrom(pb.SchedSwitchFtraceEvent(
            prev_comm=f["prev_comm"], prev_pid=f["prev_pid"], prev_prio=f["prev_prio"],
            prev_state=prev_state_value(f["prev_state"]), next_comm=f["next_comm"],
            next_pid=f["next_pid"], next_prio=f["next_prio"]))
    elif name == "sched_waking":
        ev.sched_waking.CopyFrom(pb.SchedWakingFtraceEvent(
            comm=f["comm"], pid=f["pid"], prio=f["prio"], success=1, target_cpu=f["target_cpu"]))
    elif name == "block_rq_issue":
        ev.block_rq_issue.CopyFrom(pb.BlockRqIssueFtraceEvent(
            dev=dev_t(f["dev"]), sector=f["sector"], nr_sector=f["nr_sector"], bytes=f["bytes"],
            rwbs=f["rwbs"], comm=f["comm"], cmd=f["cmd"]))
    elif name == "block_rq_complete":
        ev.block_rq_complete.CopyFrom(pb.BlockRqCompleteFtraceEvent(
            dev=dev_t(f["dev"]), sector=f["sector"], nr_sector=f["nr_sector"], rwbs=f["rwbs"],
            cmd=f["cmd"], error=f["error"]))
    elif name in ("mm_filemap_add_to_page_cache", "mm_filemap_delete_from_page_cache"):
        page = getattr(ev, name)
        page.pfn, page.i_ino, page.s_dev = f["pfn"], f["ino"], dev_t(f["dev"])
        page.index = f["ofs"] >> PAGE_SHIFT
    elif name in ("mm_vmscan_direct_reclaim_begin", "mm_vmscan_memcg_reclaim_begin"):
        getattr(ev, name).order = f["order"]
        getattr(ev, name).gfp_flags = gfp_flags_value(f["gfp_flags"])
    elif name in ("mm_vmscan_direct_reclaim_end", "mm_vmscan_memcg_reclaim_end"):
        getattr(ev, name).nr_reclaimed = f["nr_reclaimed"]
    elif raw_syscalls and name.startswith("sys_enter_") and name[10:] in X86_64_SYSCALL_NR:
        args = list(f.values()) + [0] * (RAW_SYSCALL_ARGS - len(f))
        ev.sys_enter.CopyFrom(pb.SysEnterFtraceEvent(
            id=X86_64_SYSCALL_NR[name[10:]], args=[a & (1 << 64) - 1 for a in args]))
    elif raw_syscalls and name.startswith("sys_exit_") and name[9:] in X86_64_SYSCALL_NR:
        ev.sys_exit.CopyFrom(pb.SysExitFtraceEvent(id=X86_64_SYSCALL_NR[name[9:]], ret=f["ret"]))
    else:
        return None
    return ev


# --- generic (untyped) events: legacy and dense encodings ---------------------------------

DENSE_FIRST_FIELD_ID = 65536
_PROTO_TYPE = {"u": descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
               "s": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
               "str": descriptor_pb2.FieldDescriptorProto.TYPE_STRING}


def legacy_generic_event(event: Event, raw: list[RawField]) -> bytes:
    generic = pb.GenericFtraceEvent(event_name=event.name)
    for name, kind, value in raw:
        entry = generic.field.add(name=name)
        if kind == "str":
            entry.str_value = value
        elif kind == "s":
            entry.int_value = value
        else:
            entry.uint_value = value
    return pb.FtraceEvent(timestamp=event.ts_ns, pid=event.tid, generic=generic).SerializeToString()


@dataclass
class DenseSchema:
    """Session-local field ids for dense generic events; each descriptor is sent once."""

    ids: dict[tuple[str, tuple[tuple[str, str], ...]], int] = field(default_factory=dict)
    unsent: list[pb.FtraceEventBundle.GenericEventDescriptor] = field(default_factory=list)

    def field_id(self, event_name: str, raw: list[RawField]) -> int:
        layout = tuple((name, kind) for name, kind, _ in raw)
        key = (event_name, layout)
        found = self.ids.get(key)
        if found is not None:
            return found
        field_id = DENSE_FIRST_FIELD_ID + len(self.ids)
        self.ids[key] = field_id
        message = descriptor_pb2.DescriptorProto(name=event_name)
        for number, (name, kind) in enumerate(layout, start=1):
            message.field.add(name=name, number=number, type=_PROTO_TYPE[kind],
                              label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
        self.unsent.append(pb.FtraceEventBundle.GenericEventDescriptor(
            field_id=field_id, group_name=_group_of(event_name),
            event_descriptor=message.SerializeToString()))
        return field_id


def _group_of(event_name: str) -> str:
    for prefix, group in (("mmap_lock_", "mmap_lock"), ("contention_", "lock"),
                          ("page_fault_", "exceptions"), ("mm_filemap_", "filemap"),
                          ("sys_", "syscalls")):
        if event_name.startswith(prefix):
            return group
    return "ftrace"


def dense_generic_event(event: Event, raw: list[RawField], schema: DenseSchema) -> bytes:
    payload = bytearray()
    for number, (_, kind, value) in enumerate(raw, start=1):
        if kind == "str":
            payload += len_field(number, value.encode())
        else:
            payload += varint_field(number, value)
    field_id = schema.field_id(event.name, raw)
    head = varint_field(1, event.ts_ns) + varint_field(2, event.tid)
    return head + len_field(field_id, bytes(payload))


# --- compact sched ---------------------------------------------------------------------------


@dataclass
class CompactSchedColumns:
    intern: dict[str, int] = field(default_factory=dict)
    switch: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    waking: list[tuple[int, int, int, int, int]] = field(default_factory=list)

    def comm_index(self, comm: str) -> int:
        return self.intern.setdefault(comm, len(self.intern))

    def add(self, event: Event) -> bool:
        f = event.fields
        if event.name == "sched_switch" and "raw" not in f:
            self.switch.append((event.ts_ns, prev_state_value(f["prev_state"]), f["next_pid"],
                                f["next_prio"], self.comm_index(f["next_comm"])))
            return True
        if event.name == "sched_waking" and "raw" not in f:
            self.waking.append((event.ts_ns, f["pid"], f["target_cpu"], f["prio"],
                                self.comm_index(f["comm"])))
            return True
        return False

    def message(self) -> pb.FtraceEventBundle.CompactSched:
        cs = pb.FtraceEventBundle.CompactSched(intern_table=list(self.intern))
        last = 0
        for ts, state, pid, prio, comm in self.switch:
            cs.switch_timestamp.append(ts - last)
            last = ts
            cs.switch_prev_state.append(state)
            cs.switch_next_pid.append(pid)
            cs.switch_next_prio.append(prio)
            cs.switch_next_comm_index.append(comm)
        last = 0
        for ts, pid, target_cpu, prio, comm in self.waking:
            cs.waking_timestamp.append(ts - last)
            last = ts
            cs.waking_pid.append(pid)
            cs.waking_target_cpu.append(target_cpu)
            cs.waking_prio.append(prio)
            cs.waking_comm_index.append(comm)
            cs.waking_common_flags.append(0)
        return cs


# --- the writer ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flavour:
    name: str
    compact_sched: bool
    dense_generic: bool
    raw_syscalls: bool = False
    compress: bool = False


FLAVOURS: dict[str, Flavour] = {
    flavour.name: flavour
    for flavour in (
        Flavour("typed-legacy", compact_sched=False, dense_generic=False, raw_syscalls=True),
        Flavour("typed-dense", compact_sched=False, dense_generic=True),
        Flavour("compact-legacy", compact_sched=True, dense_generic=False),
        Flavour("compact-dense", compact_sched=True, dense_generic=True, compress=True),
    )
}

SEQUENCE_ID = 1


@dataclass
class _CpuBuffer:
    events: list[bytes] = field(default_factory=list)
    compact: CompactSchedColumns = field(default_factory=CompactSchedColumns)
    count: int = 0
    lost: bool = False


class PerfettoTraceWriter:
    """Writes normalized events as a Perfetto trace; call `add` in trace order, then `close`."""

    def __init__(self, out: BinaryIO, flavour: Flavour, read_every: int = 2000,
                 tgids: dict[int, int] | None = None) -> None:
        self.out = out
        self.flavour = flavour
        self.read_every = read_every
        self.tgids = tgids or {}
        self.schema = DenseSchema()
        self.cpus: dict[int, _CpuBuffer] = {}
        self.pending = 0
        self.names: dict[int, str] = {}
        self.new_threads: list[int] = []
        self.lost_per_cpu: dict[int, int] = {}
        self.events_written = 0

    def add(self, event: Event) -> None:
        if event.tid not in self.names:
            self.names[event.tid] = event.comm
            self.new_threads.append(event.tid)
        buffer = self.cpus.setdefault(event.cpu, _CpuBuffer())
        buffer.count += 1
        self.pending += 1
        self.events_written += 1
        if not (self.flavour.compact_sched and buffer.compact.add(event)):
            buffer.events.append(self._encode(event))
        if self.pending >= self.read_every:
            self.flush()

    def lose(self, cpu: int, count: int) -> None:
        """The kernel overwrote `count` events on `cpu` (the next bundle says so)."""
        self.cpus.setdefault(cpu, _CpuBuffer()).lost = True
        self.lost_per_cpu[cpu] = self.lost_per_cpu.get(cpu, 0) + count

    def _encode(self, event: Event) -> bytes:
        typed = typed_event(event, self.flavour.raw_syscalls)
        if typed is not None:
            return typed.SerializeToString()
        raw = generic_fields(event)
        if raw is None:
            raise ValueError(f"no Perfetto encoding for {event.name}")
        if self.flavour.dense_generic:
            return dense_generic_event(event, raw, self.schema)
        return legacy_generic_event(event, raw)

    def flush(self) -> None:
        records: list[bytes] = []
        if self.new_threads:
            tree = pb.ProcessTree()
            for tid in self.new_threads:
                thread = tree.threads.add(tid=tid, name=self.names[tid])
                if tid in self.tgids:
                    thread.tgid = self.tgids[tid]
            self.new_threads = []
            records.append(trace_record(self._packet(process_tree=tree)))
        for cpu in sorted(self.cpus):
            buffer = self.cpus[cpu]
            if not buffer.count and not buffer.lost:
                continue
            bundle = pb.FtraceEventBundle(cpu=cpu)
            if buffer.lost:
                bundle.lost_events = True
            if buffer.compact.switch or buffer.compact.waking:
                bundle.compact_sched.CopyFrom(buffer.compact.message())
            if self.schema.unsent:
                bundle.generic_event_descriptors.extend(self.schema.unsent)
                self.schema.unsent = []
            body = bundle.SerializeToString() + b"".join(len_field(2, e) for e in buffer.events)
            records.append(trace_record(len_field(1, body) + varint_field(10, SEQUENCE_ID)))
            self.cpus[cpu] = _CpuBuffer()
        self.pending = 0
        self._write(records)

    def _packet(self, **fields: Any) -> bytes:
        return pb.TracePacket(trusted_packet_sequence_id=SEQUENCE_ID, **fields).SerializeToString()

    def _write(self, records: list[bytes]) -> None:
        if not records:
            return
        if self.flavour.compress:
            inner = zlib.compress(b"".join(records))
            self.out.write(trace_record(self._packet(compressed_packets=inner)))
        else:
            self.out.write(b"".join(records))

    def ftrace_stats(self, phase: int) -> None:
        stats = pb.FtraceStats(phase=phase)
        for cpu in sorted(self.cpus):
            overrun = self.lost_per_cpu.get(cpu, 0) if phase == pb.FtraceStats.END_OF_TRACE else 0
            stats.cpu_stats.add(cpu=cpu, overrun=overrun)
        self.out.write(trace_record(self._packet(ftrace_stats=stats)))

    def close(self) -> None:
        self.flush()
        self.ftrace_stats(pb.FtraceStats.END_OF_TRACE)


# --- conveniences for tests -------------------------------------------------------------------


def spread_ties(events: Iterable[Event]) -> Iterator[Event]:
    """Make equal timestamps distinct (+1 ns per earlier event with the same timestamp).

    Text traces have microsecond timestamps, so many events share one; Perfetto merges its
    per-CPU bundles by timestamp, and a tie between two CPUs' events (or between a compact
    sched event and another) has no recorded order. Real Perfetto timestamps are in ns and
    rarely tie; spreading the text's ties keeps the text's order through the round trip.
    """
    last_ts = -1
    extra = 0
    for event in events:
        if event.ts_ns == last_ts:
            extra += 1
        else:
            last_ts = event.ts_ns
            extra = 0
        yield event._replace(ts_ns=event.ts_ns + extra) if extra else event


def write_events(events: Iterable[Event], out: BinaryIO, flavour: Flavour,
                 read_every: int = 2000) -> int:
    """Write `events` (in trace order) as a Perfetto trace; return how many were written."""
    writer = PerfettoTraceWriter(out, flavour, read_every=read_every)
    writer.ftrace_stats(pb.FtraceStats.START_OF_TRACE)
    for event in events:
        writer.add(event)
    writer.close()
    return writer.events_written


def text_events(path: str) -> tuple[Iterator[Event], ImportStats]:
    """The text importer's events of `path` (lazily) and its stats (filled as they stream)."""
    source = open_trace(path)
    return source.events(), source.stats


def convert_text_trace(text_path: str, out_path: str, flavour: Flavour,
                       read_every: int = 2000, keep_ties: bool = False) -> ImportStats:
    """Convert a text trace to a Perfetto file; return the text importer's stats.

    Equal timestamps are spread (see `spread_ties`) unless `keep_ties`.
    """
    events, stats = text_events(text_path)
    with open(out_path, "wb") as out:
        write_events(events if keep_ties else spread_ties(events), out, flavour,
                     read_every=read_every)
    return stats
