"""The Perfetto importer on traces built packet by packet: each encoding detail on its own."""

from __future__ import annotations

import importlib.util
import io
import zlib
from typing import Any

import pytest
from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb
from perfetto_fixtures import (
    FLAVOURS,
    DenseSchema,
    PerfettoTraceWriter,
    dense_generic_event,
    len_field,
    trace_record,
    varint_field,
    write_events,
)

from faulttui.errors import TraceFormatError
from faulttui.importers.events import Event, ImportStats
from faulttui.importers.perfetto import read_perfetto
from faulttui.importers.perfetto_fields import lock_flags, task_state

MM = "0xffff888100075dc0"


def event(ts: int, cpu: int, tid: int, name: str, **fields: Any) -> Event:
    return Event(ts, cpu, tid, -1, "t", name, fields)


def fault(ts: int, tid: int = 10, cpu: int = 0) -> Event:
    return event(ts, cpu, tid, "page_fault_user", address=0x7F0000001000, ip=0x401000,
                 error_code=0x14)


def lock(ts: int, name: str = "mmap_lock_start_locking", tid: int = 10, cpu: int = 0,
         **extra: Any) -> Event:
    return event(ts, cpu, tid, name, mm=MM, memcg="7", write=False, **extra)


def read(data: bytes) -> tuple[list[Event], ImportStats]:
    stats = ImportStats(path="t.pftrace")
    return list(read_perfetto("t.pftrace", io.BytesIO(data), stats)), stats


def build(events: list[Event], flavour: str = "typed-dense", read_every: int = 2000,
          **writer_options: Any) -> bytes:
    out = io.BytesIO()
    writer = PerfettoTraceWriter(out, FLAVOURS[flavour], read_every=read_every, **writer_options)
    for item in events:
        writer.add(item)
    writer.close()
    return out.getvalue()


def packet(**fields: Any) -> bytes:
    return trace_record(pb.TracePacket(**fields).SerializeToString())


def bundle_packet(bundle: pb.FtraceEventBundle, raw_events: tuple[bytes, ...] = ()) -> bytes:
    body = bundle.SerializeToString() + b"".join(len_field(2, e) for e in raw_events)
    return trace_record(len_field(1, body))


def test_raw_values_become_the_text_importers_fields() -> None:
    events, _ = read(build([
        lock(1, "mmap_lock_acquire_returned", success=True),
        event(2, 0, 10, "sched_switch", prev_comm="t", prev_pid=10, prev_prio=120,
              prev_state="R+", next_comm="u", next_pid=11, next_prio=120),
        event(3, 0, 11, "contention_begin", lock="0xffffffff82a0b1c0", flags="SPIN|READ"),
    ]))
    acquired, switch, contention = events
    assert acquired.fields == {"mm": MM, "memcg": "7", "write": False, "success": True}
    assert acquired.fields["write"] is False and acquired.fields["success"] is True
    assert switch.fields["prev_state"] == "R+"
    assert contention.fields == {"lock": "0xffffffff82a0b1c0", "flags": "SPIN|READ"}


@pytest.mark.parametrize(("value", "letters"), [
    (0, "R"), (0x100, "R+"), (0x1, "S"), (0x2, "D"), (0x3, "S|D"), (0x80, "I"), (0x40, "P"),
])
def test_task_state_letters(value: int, letters: str) -> None:
    assert task_state(value) == letters


def test_lock_flags_in_kernel_order() -> None:
    assert lock_flags(0x6) == "READ|WRITE"
    assert lock_flags(0x21) == "SPIN|MUTEX"


def test_events_merge_across_cpus_with_stable_ties() -> None:
    # cpu 1's events come first in the file but cpu 0 has the earliest one; the tie at
    # ts 5 keeps file order (cpu 0's bundle is written first).
    events, _ = read(build([fault(5, tid=1, cpu=0), fault(1, tid=2, cpu=1),
                            fault(5, tid=3, cpu=1), fault(9, tid=4, cpu=0)]))
    assert [(e.ts_ns, e.tid) for e in events] == [(1, 2), (5, 1), (5, 3), (9, 4)]


def test_process_tree_gives_comm_and_tgid() -> None:
    data = build([fault(1, tid=101), fault(2, tid=102)], tgids={101: 100, 102: 100})
    events, _ = read(data)
    assert [(e.tid, e.tgid, e.comm) for e in events] == [(101, 100, "t"), (102, 100, "t")]


def test_idle_task_is_named_like_tracefs() -> None:
    events, _ = read(build([event(1, 0, 0, "block_rq_complete", dev="254,0", rwbs="R",
                                  cmd="", sector=8, nr_sector=8, ioprio="", error=0)]))
    assert events[0].comm == "<idle>"


def test_lost_events_counted_from_bundles_and_ftrace_stats() -> None:
    out = io.BytesIO()
    writer = PerfettoTraceWriter(out, FLAVOURS["typed-dense"])
    writer.ftrace_stats(pb.FtraceStats.START_OF_TRACE)
    writer.add(fault(1))
    writer.flush()
    writer.lose(0, 17)
    writer.add(fault(2))
    writer.close()
    _, stats = read(out.getvalue())
    assert (stats.lost_events, stats.lost_markers) == (17, 1)
    assert any("dropped 17 events" in warning for warning in stats.warnings)


def test_lost_events_without_ftrace_stats_count_one_per_bundle() -> None:
    lost = pb.FtraceEventBundle(cpu=0, lost_events=True)
    ok = pb.FtraceEventBundle(cpu=0)
    ok.event.add(timestamp=1, pid=1).sched_waking.pid = 2
    _, stats = read(bundle_packet(lost) + bundle_packet(ok))
    assert (stats.lost_events, stats.lost_markers) == (1, 1)
    assert any("no ftrace_stats" in warning for warning in stats.warnings)


def test_compressed_packets_and_their_offsets() -> None:
    inner = trace_record(len_field(1, pb.FtraceEventBundle(cpu=0).SerializeToString()
                                   + len_field(2, pb.FtraceEvent(timestamp=3, pid=4)
                                               .SerializeToString())))
    head = packet(trusted_packet_sequence_id=1)
    data = head + packet(compressed_packets=zlib.compress(inner))
    events, _ = read(data)
    assert events[0].offset == len(head)  # the packet that carried it, in the file
    assert events[0].name == "ftrace_event"  # an FtraceEvent without payload


def test_descriptors_may_come_after_their_events() -> None:
    schema = DenseSchema()
    fault_event = fault(5)
    raw = dense_generic_event(fault_event, [("address", "u", 1), ("ip", "u", 2),
                                            ("error_code", "u", 4)], schema)
    first = bundle_packet(pb.FtraceEventBundle(cpu=0), (raw,))
    second = pb.FtraceEventBundle(cpu=1)
    second.generic_event_descriptors.extend(schema.unsent)
    events, stats = read(first + bundle_packet(second))
    assert events[0].name == "page_fault_user"
    assert events[0].fields == {"address": 1, "ip": 2, "error_code": 4}
    assert stats.unknown_events == 0


def test_undescribed_dense_events_are_kept_and_counted() -> None:
    raw = varint_field(1, 7) + varint_field(2, 3) + len_field(70000, varint_field(1, 1))
    events, stats = read(bundle_packet(pb.FtraceEventBundle(cpu=0), (raw,)))
    assert [e.name for e in events] == ["ftrace_event"]
    assert stats.unknown_events == 1
    assert any("70000" in warning for warning in stats.warnings)


def test_unknown_typed_and_generic_events_are_kept_raw() -> None:
    bundle = pb.FtraceEventBundle(cpu=0)
    bundle.event.add(timestamp=1, pid=5).print.buf = "hello\n"
    generic = bundle.event.add(timestamp=2, pid=5).generic
    generic.event_name = "tlb_flush"
    generic.field.add(name="pages", int_value=1)
    enter = bundle.event.add(timestamp=3, pid=5).sys_enter
    enter.id, enter.args[:] = 0, [3, 4, 5, 0, 0, 0]
    events, stats = read(bundle_packet(bundle))
    assert [(e.name, e.fields) for e in events] == [
        ("print", {"raw": "buf=hello\n"}),
        ("tlb_flush", {"raw": "pages=1"}),
        ("sys_enter", {"raw": "NR 0 (3, 4, 5, 0, 0, 0)"}),
    ]
    assert stats.unknown_events == 2  # print and tlb_flush; raw sys_enter is typed


def test_raw_syscalls_are_named_by_number() -> None:
    bundle = pb.FtraceEventBundle(cpu=0)
    enter = bundle.event.add(timestamp=1, pid=5).sys_enter
    enter.id, enter.args[:] = 10, [0x7F0000000000, 0x1000, 1, 0, 0, 0]
    exit_ = bundle.event.add(timestamp=2, pid=5).sys_exit
    exit_.id, exit_.ret = 10, -12
    events, _ = read(bundle_packet(bundle))
    assert [(e.name, e.fields) for e in events] == [
        ("sys_enter_mprotect", {"start": 0x7F0000000000, "len": 0x1000, "prot": 1}),
        ("sys_exit_mprotect", {"ret": -12}),
    ]


def test_events_with_common_flags_and_odd_field_order() -> None:
    bundle = pb.FtraceEventBundle(cpu=0)
    waking = bundle.event.add(timestamp=1, pid=5, common_flags=3).sched_waking
    waking.comm, waking.pid = "w", 6
    flags_first = pb.FtraceEvent(pid=5).SerializeToString() + varint_field(1, 2)
    flags_first += len_field(20, pb.SchedWakingFtraceEvent(comm="x", pid=7).SerializeToString())
    events, _ = read(bundle_packet(bundle, (flags_first,)))
    assert [(e.ts_ns, e.fields["pid"]) for e in events] == [(1, 6), (2, 7)]


def test_zstd_packets_need_the_zstandard_package() -> None:
    if importlib.util.find_spec("zstandard") is not None:
        pytest.skip("zstandard is installed")
    with pytest.raises(TraceFormatError, match="zstandard"):
        read(packet(zstd_compressed_packets=b"\x28\xb5\x2f\xfd"))


def test_a_whole_flavour_round_trip_in_memory() -> None:
    events = [fault(1), lock(2), lock(3, "mmap_lock_acquire_returned", success=True),
              lock(4, "mmap_lock_released"),
              event(5, 0, 10, "sched_switch", prev_comm="t", prev_pid=10, prev_prio=120,
                    prev_state="D", next_comm="swapper/0", next_pid=0, next_prio=120),
              event(6, 0, 0, "sched_waking", comm="t", pid=10, prio=120, target_cpu=0)]
    for flavour in FLAVOURS.values():
        out = io.BytesIO()
        write_events(events, out, flavour, read_every=2)
        got, _ = read(out.getvalue())
        assert [(e.ts_ns, e.name, e.tid) for e in got] == [(e.ts_ns, e.name, e.tid)
                                                          for e in events], flavour.name


def legacy(bundle: pb.FtraceEventBundle, ts: int, name: str, **values: Any) -> None:
    generic = bundle.event.add(timestamp=ts, pid=5).generic
    generic.event_name = name
    for field_name, value in values.items():
        entry = generic.field.add(name=field_name)
        if isinstance(value, str):
            entry.str_value = value
        else:
            entry.uint_value = value


def test_legacy_generic_events_whose_layout_changes_are_still_decoded() -> None:
    bundle = pb.FtraceEventBundle(cpu=0)
    legacy(bundle, 1, "mmap_lock_released", mm=0x10, memcg_id=3, write=1)
    legacy(bundle, 2, "mmap_lock_released", mm=0x10, memcg_path="/a", write=0)  # new layout
    events, stats = read(bundle_packet(bundle))
    assert [e.fields for e in events] == [
        {"mm": "0x10", "memcg": "3", "write": True},
        {"mm": "0x10", "memcg": "/a", "write": False},
    ]
    assert stats.unknown_events == 0


def test_a_field_of_an_unexpected_type_makes_the_event_malformed_not_a_crash() -> None:
    bundle = pb.FtraceEventBundle(cpu=0)
    legacy(bundle, 1, "mmap_lock_start_locking", mm="not a pointer", memcg_id=3, write=1)
    events, _ = read(bundle_packet(bundle))
    assert events[0].name == "mmap_lock_start_locking"
    assert events[0].fields["malformed"] is True
    assert "mm=not a pointer" in events[0].fields["raw"]


def test_a_modelled_event_missing_a_field_is_malformed_and_warned() -> None:
    bundle = pb.FtraceEventBundle(cpu=0)
    legacy(bundle, 1, "page_fault_user", address=0x1000)
    events, stats = read(bundle_packet(bundle))
    assert events[0].fields == {"raw": "address=4096", "malformed": True}
    assert any("page_fault_user" in warning for warning in stats.warnings)


class _Trickle(io.RawIOBase):
    """A stream that hands out at most 3 bytes per read, like a slow pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, 3) if size >= 0 else 3)


def test_short_reads_from_the_stream_are_fine() -> None:
    data = build([fault(1), lock(2)], flavour="compact-dense")
    stats = ImportStats(path="t.pftrace")
    events = list(read_perfetto("t.pftrace", _Trickle(data), stats))  # type: ignore[arg-type]
    assert [e.name for e in events] == ["page_fault_user", "mmap_lock_start_locking"]
