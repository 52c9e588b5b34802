"""The Perfetto importer against the text importer: same events, same `info` numbers.

Text traces (hand-written here, and the real ones in sample_traces/) are converted to
Perfetto in the four flavours of `perfetto_fixtures` and imported back with
`read_perfetto`; the result must be the text importer's events, field for field except
where Perfetto records less (hashed vs raw pointers, ioprio, symbolic GFP flags).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    BIGVMA,
    COLD_8T,
    SHARED_MEMCG_64T,
    TRACEFS_HEADER,
    run_cli,
    tracefs_line,
    write_trace,
)
from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb
from perfetto_fixtures import FLAVOURS, convert_text_trace

from faulttui.analysis.load import load_recording
from faulttui.errors import TraceFormatError
from faulttui.importers import open_trace
from faulttui.importers.events import FIELD_TYPES, Event, ImportStats
from faulttui.importers.perfetto import is_perfetto, read_perfetto

SHARED_TRACES = Path("/work/shared/traces")
MM_A = "00000000716bc7e1"
MM_B = "00000000a7171951"


def _line(comm: str, pid: int, ts_us: float, name: str, body: str, cpu: int = 0) -> str:
    return tracefs_line(comm, pid, ts_us, name, body, cpu=cpu)


def handwritten_lines() -> list[str]:
    """Every event type faulttui models, on two CPUs, with equal timestamps and odd values."""
    t = 377_000_000.0
    return [
        _line("faultload", 100, t + 0, "page_fault_user",
              "address=0x7f86e3a03000 ip=0x5586ddf0361e error_code=0x14"),
        _line("writer", 200, t + 0, "sys_enter_mprotect",
              "start: 0x7f86d4200000, len: 0x4000, prot: 1", cpu=1),
        _line("writer", 200, t + 0, "mmap_lock_start_locking",
              f"mm={MM_A} memcg_id=5018 write=true", cpu=1),
        _line("writer", 200, t + 1, "mmap_lock_acquire_returned",
              f"mm={MM_A} memcg_id=5018 write=true success=true", cpu=1),
        _line("faultload", 100, t + 1, "mmap_lock_start_locking",
              f"mm={MM_A} memcg_id=5018 write=false"),
        _line("faultload", 100, t + 1, "contention_begin", "00000000861d28b1 (flags=READ)"),
        _line("faultload", 100, t + 2, "sched_switch",
              "prev_comm=faultload prev_pid=100 prev_prio=120 prev_state=D ==> "
              "next_comm=swapper/0 next_pid=0 next_prio=120"),
        _line("writer", 200, t + 3, "mmap_lock_released",
              f"mm={MM_A} memcg_id=5018 write=true", cpu=1),
        _line("writer", 200, t + 3, "sched_waking",
              "comm=faultload pid=100 prio=120 target_cpu=000", cpu=1),
        _line("writer", 200, t + 3, "sys_exit_mprotect", "0x0", cpu=1),
        _line("<idle>", 0, t + 4, "sched_switch",
              "prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> "
              "next_comm=faultload next_pid=100 next_prio=120"),
        _line("faultload", 100, t + 4, "contention_end", "00000000861d28b1 (ret=0)"),
        _line("faultload", 100, t + 5, "mmap_lock_acquire_returned",
              f"mm={MM_A} memcg_id=5018 write=false success=true"),
        _line("faultload", 100, t + 5, "mm_filemap_fault", "dev=254:0 ino=20c030 ofs=12288"),
        _line("faultload", 100, t + 6, "mm_filemap_add_to_page_cache",
              "dev 254:0 ino 20c030 pfn=0x11b366 ofs=12288 order=0"),
        _line("faultload", 100, t + 6, "block_rq_issue",
              "254,0 RA 16384 () 46004128 + 32 be,0,4 [faultload]"),
        _line("<idle>", 0, t + 7, "block_rq_complete", "254,0 RA () 46004128 + 32 be,0,4 [0]",
              cpu=1),
        _line("faultload", 100, t + 8, "mmap_lock_released",
              f"mm={MM_A} memcg_path=/sys/fs/cgroup/a write=false"),
        _line("writer", 200, t + 8, "mm_vmscan_memcg_reclaim_begin",
              "order=0 gfp_flags=0x140cca", cpu=1),
        _line("writer", 200, t + 8, "mm_filemap_delete_from_page_cache",
              "dev 254:0 ino 20c030 pfn=0x1034d0 ofs=8192 order=0", cpu=1),
        _line("writer", 200, t + 9, "mm_vmscan_memcg_reclaim_end", "nr_reclaimed=35", cpu=1),
        _line("writer", 200, t + 9, "mm_vmscan_direct_reclaim_begin",
              "order=2 gfp_flags=GFP_KERNEL", cpu=1),
        _line("writer", 200, t + 9, "mm_vmscan_direct_reclaim_end", "nr_reclaimed=0", cpu=1),
        _line("writer", 200, t + 10, "sys_enter_mmap",
              "addr: 0, len: 0x2000, prot: 3, flags: 0x22, fd: 0xffffffff, off: 0", cpu=1),
        _line("writer", 200, t + 10, "sys_exit_mmap", "0xfffffffffffffff4", cpu=1),
        _line("writer", 200, t + 11, "sys_enter_munmap", "addr: 0x7f86e43ec000, len: 0x8773",
              cpu=1),
        _line("writer", 200, t + 11, "mmap_lock_start_locking",
              f"mm={MM_B} memcg_id=1 write=true", cpu=1),
        _line("writer", 200, t + 11, "mmap_lock_acquire_returned",
              f"mm={MM_B} memcg_id=1 write=true success=false", cpu=1),
        _line("writer", 200, t + 12, "sys_exit_munmap", "0x0", cpu=1),
        _line("writer", 200, t + 12, "sys_enter_madvise",
              "start: 0x7f86cf9f7000, len_in: 0x7fb000, behavior: 4", cpu=1),
        _line("writer", 200, t + 12, "sys_exit_madvise", "0x0", cpu=1),
        _line("writer", 200, t + 13, "contention_begin", "00000000aabbccdd (flags=SPIN|WRITE)",
              cpu=1),
        _line("writer", 200, t + 13, "contention_end", "00000000aabbccdd (ret=-4)", cpu=1),
        _line("writer", 200, t + 14, "tlb_flush", "pages:1 reason:remote shootdown (1)", cpu=1),
        _line("writer", 200, t + 15, "sched_switch",
              "prev_comm=writer prev_pid=200 prev_prio=110 prev_state=R+ ==> "
              "next_comm=kworker/1:1H next_pid=44 next_prio=100", cpu=1),
        _line("kworker/1:1H", 44, t + 16, "sched_switch",
              "prev_comm=kworker/1:1H prev_pid=44 prev_prio=100 prev_state=I ==> "
              "next_comm=writer next_pid=200 next_prio=110", cpu=1),
        _line("faultload", 100, t + 16, "page_fault_user",
              "address=0x7f86e3a04000 ip=0x5586ddf0361e error_code=0x6"),
        _line("faultload", 100, t + 17, "sched_switch",
              "prev_comm=faultload prev_pid=100 prev_prio=120 prev_state=S|D ==> "
              "next_comm=swapper/0 next_pid=0 next_prio=120"),
    ]


# --- comparing two event streams -------------------------------------------------------------

_POINTER_FIELDS = ("mm", "lock")
_UNRECORDED_BY_PERFETTO = ("ioprio",)  # typed block events have no ioprio field


def comparable_fields(name: str, fields: dict[str, Any], *, from_text: bool) -> dict[str, Any]:
    """Fields with the representation differences between the two importers taken out."""
    if "raw" in fields:
        return {"raw": True}
    out = {k: v for k, v in fields.items() if k not in _UNRECORDED_BY_PERFETTO}
    for key in _POINTER_FIELDS:
        if key in out:
            out[key] = int(out[key], 16)  # hashed %p or raw 0x pointer: both hex identities
    if "gfp_flags" in out:
        text_value = out["gfp_flags"]
        out["gfp_flags"] = text_value if text_value.startswith("0x") or not from_text else "0x0"
    return out


def assert_same_events(text: list[Event], perfetto: list[Event], *, compact: bool) -> None:
    assert len(perfetto) == len(text)
    last_ts = -1
    for index, (want, got) in enumerate(zip(text, perfetto, strict=True)):
        where = f"event {index}: {want}\n  vs {got}"
        assert got.ts_ns >= last_ts, where  # merged in timestamp order
        last_ts = got.ts_ns
        assert 0 <= got.ts_ns - want.ts_ns < 1000, where  # ties spread by < 1 µs
        assert (got.name, got.cpu, got.line) == (want.name, want.cpu, 0), where
        want_fields = comparable_fields(want.name, want.fields, from_text=True)
        got_fields = comparable_fields(got.name, got.fields, from_text=False)
        if compact and got.name == "sched_switch" and got.fields["prev_prio"] == -1:
            # the first switch on a CPU: prev task known from its events, its prio is not
            want_fields.pop("prev_prio")
            got_fields.pop("prev_prio")
        assert got_fields == want_fields, where
        assert got.tid == want.tid, where


def perfetto_events(path: Path) -> tuple[list[Event], ImportStats]:
    stats = ImportStats(path=str(path))
    with open(path, "rb") as stream:
        events = list(read_perfetto(str(path), stream, stats))
    return events, stats


def text_events(path: Path) -> list[Event]:
    return list(open_trace(str(path)).events())


@pytest.fixture(scope="module")
def handwritten_text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_trace(tmp_path_factory.mktemp("text") / "handwritten.txt", handwritten_lines())


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_handwritten_trace_round_trips(flavour: str, handwritten_text: Path,
                                       tmp_path: Path) -> None:
    out = tmp_path / f"handwritten-{flavour}.pftrace"
    text_stats = convert_text_trace(str(handwritten_text), str(out), FLAVOURS[flavour],
                                    read_every=7)
    events, stats = perfetto_events(out)
    assert_same_events(text_events(handwritten_text), events,
                       compact=FLAVOURS[flavour].compact_sched)
    assert stats.format == "perfetto"
    assert stats.events == text_stats.events == len(handwritten_lines())
    assert stats.event_counts == text_stats.event_counts
    assert stats.unknown_events == text_stats.unknown_events == 1  # tlb_flush
    by_name: dict[str, Event] = {}
    for event in events:
        by_name.setdefault(event.name, event)
    assert by_name["sys_exit_mmap"].fields == {"ret": -12}
    assert by_name["mmap_lock_acquire_returned"].fields["success"] is True
    for event in events:  # the field names and types the rest of faulttui relies on
        if event.name in FIELD_TYPES and "raw" not in event.fields:
            expected = FIELD_TYPES[event.name]
            assert set(event.fields) == set(expected) or not expected, event
            for key, value in event.fields.items():
                assert type(value) is expected.get(key, int), (event, key)
    released = [event.fields["memcg"] for event in events if event.name == "mmap_lock_released"]
    assert released == ["5018", "/sys/fs/cgroup/a"]  # memcg_id (6.14+) and memcg_path
    assert by_name["mm_vmscan_memcg_reclaim_begin"].fields["gfp_flags"] == "0x140cca"
    assert by_name["mmap_lock_start_locking"].fields["mm"] == "0x716bc7e1"


def test_first_compact_switch_on_a_cpu_has_unknown_previous_task(tmp_path: Path) -> None:
    text = write_trace(tmp_path / "t.txt", [
        _line("<idle>", 0, 10.0, "sched_switch",
              "prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> "
              "next_comm=a next_pid=7 next_prio=120", cpu=1),
        _line("a", 7, 11.0, "sched_waking", "comm=b pid=8 prio=120 target_cpu=001", cpu=1),
        _line("a", 7, 12.0, "sched_switch",
              "prev_comm=a prev_pid=7 prev_prio=120 prev_state=D ==> "
              "next_comm=b next_pid=8 next_prio=120", cpu=1),
    ])
    out = tmp_path / "t.pftrace"
    convert_text_trace(str(text), str(out), FLAVOURS["compact-dense"])
    events, stats = perfetto_events(out)
    first, waking, second = events
    assert (first.tid, first.fields["prev_pid"], first.fields["prev_comm"]) == (-1, -1, "")
    assert waking.tid == 7  # the waker is the task the last switch put on the CPU
    assert second.tid == 7
    assert second.fields["prev_pid"] == 7 and second.fields["prev_comm"] == "a"
    assert second.fields["prev_prio"] == 120 and second.fields["prev_state"] == "D"
    assert any("1 compact sched_switch" in warning for warning in stats.warnings)


def test_compact_switch_after_a_missing_switch_uses_the_running_task(tmp_path: Path) -> None:
    # Real traces lose or filter switches: task 9 runs on CPU 0 without a recorded switch-in.
    text = write_trace(tmp_path / "t.txt", [
        _line("a", 7, 10.0, "page_fault_user",
              "address=0x1000 ip=0x2000 error_code=0x4"),  # first on CPU 0: a runs
        _line("a", 7, 11.0, "sched_switch",
              "prev_comm=a prev_pid=7 prev_prio=120 prev_state=S ==> "
              "next_comm=swapper/0 next_pid=0 next_prio=120"),
        _line("b", 9, 12.0, "page_fault_user", "address=0x1000 ip=0x2000 error_code=0x4"),
        _line("b", 9, 13.0, "sched_switch",
              "prev_comm=b prev_pid=9 prev_prio=120 prev_state=D ==> "
              "next_comm=swapper/0 next_pid=0 next_prio=120"),
    ])
    out = tmp_path / "t.pftrace"
    convert_text_trace(str(text), str(out), FLAVOURS["compact-legacy"])
    events, stats = perfetto_events(out)
    first, second = (e for e in events if e.name == "sched_switch")
    assert (first.tid, first.fields["prev_pid"], first.fields["prev_prio"]) == (7, 7, -1)
    assert (second.tid, second.fields["prev_pid"], second.fields["prev_state"]) == (9, 9, "D")
    assert any("1 compact sched_switch events are the first" in w for w in stats.warnings)
    assert any("1 compact sched_switch events switch out" in w for w in stats.warnings)


# --- real traces ---------------------------------------------------------------------------------


def real_trace(sample: Path) -> Path:
    if sample.exists():
        return sample
    shared = SHARED_TRACES / sample.name
    if shared.exists():
        return shared
    pytest.skip(f"{sample.name} is neither in sample_traces/ nor in {SHARED_TRACES}")


def info_numbers(path: Path) -> dict[str, Any]:
    info = load_recording(str(path), use_cache=False).info_json()
    return {key: info[key] for key in ("events", "event_counts", "lost_events", "faults",
                                       "mmap_lock")}


@pytest.fixture(scope="module")
def text_info() -> dict[str, dict[str, Any]]:
    return {}


REAL_CASES = [(COLD_8T, flavour) for flavour in sorted(FLAVOURS)] + [
    (BIGVMA, "compact-legacy"), (BIGVMA, "typed-dense"),
]


@pytest.mark.parametrize(("sample", "flavour"), REAL_CASES,
                         ids=[f"{s.name.split('.')[0]}-{f}" for s, f in REAL_CASES])
def test_real_trace_gives_the_text_numbers(sample: Path, flavour: str, tmp_path: Path,
                                           text_info: dict[str, dict[str, Any]]) -> None:
    source = real_trace(sample)
    out = tmp_path / f"{source.name}.{flavour}.pftrace"
    convert_text_trace(str(source), str(out), FLAVOURS[flavour])
    if source.name not in text_info:
        text_info[source.name] = info_numbers(source)
    assert info_numbers(out) == text_info[source.name]


@pytest.mark.slow
def test_memcg_64t_gives_the_text_numbers(tmp_path: Path) -> None:
    if not SHARED_MEMCG_64T.exists():
        pytest.skip("memcg-64t is only in /work/shared")
    out = tmp_path / "memcg.pftrace"
    convert_text_trace(str(SHARED_MEMCG_64T), str(out), FLAVOURS["compact-dense"])
    assert info_numbers(out) == info_numbers(SHARED_MEMCG_64T)


def test_cli_reads_a_gzipped_perfetto_trace(handwritten_text: Path, tmp_path: Path) -> None:
    plain = tmp_path / "t.pftrace"
    convert_text_trace(str(handwritten_text), str(plain), FLAVOURS["compact-dense"])
    zipped = tmp_path / "t.perfetto-trace.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    result = run_cli("info", zipped, "--json")
    assert result.returncode == 0, result.stderr
    assert '"format": "perfetto"' in result.stdout


# --- bad input ----------------------------------------------------------------------------------


def read_all(data: bytes, name: str = "bad.pftrace") -> list[Event]:
    return list(read_perfetto(name, io.BytesIO(data), ImportStats(path=name)))


@pytest.fixture(scope="module")
def small_trace(handwritten_text: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("small") / "small.pftrace"
    convert_text_trace(str(handwritten_text), str(out), FLAVOURS["typed-dense"], read_every=5)
    return out.read_bytes()


def test_truncated_trace_names_the_packet(small_trace: bytes) -> None:
    cut = len(small_trace) - 40
    with pytest.raises(TraceFormatError, match=r"truncated packet at byte \d+"):
        read_all(small_trace[:cut])


def test_truncated_trace_through_the_cli(small_trace: bytes, tmp_path: Path) -> None:
    path = tmp_path / "cut.pftrace"
    path.write_bytes(small_trace[: len(small_trace) // 2])
    result = run_cli("info", path)
    assert result.returncode == 2
    assert "truncated packet at byte" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_random_binary_is_not_a_trace(tmp_path: Path) -> None:
    noise = random.Random(7).randbytes(8192)
    path = tmp_path / "noise.pftrace"
    path.write_bytes(noise)
    assert not is_perfetto(noise)
    with pytest.raises(TraceFormatError, match="not a trace faulttui can read"):
        open_trace(str(path))
    with pytest.raises(TraceFormatError, match="not a Perfetto trace"):
        read_all(b"\x0a\x06\xff\xff\xff\xff\xff\xff" + noise)


def test_trace_without_ftrace_data(tmp_path: Path) -> None:
    trace = pb.Trace()
    trace.packet.add().process_tree.threads.add(tid=1, tgid=1, name="init")
    trace.packet.add().track_event.name = "hello"
    data = trace.SerializeToString()
    assert is_perfetto(data)
    with pytest.raises(TraceFormatError, match="no ftrace data"):
        read_all(data)


def test_is_perfetto_sniffs_content(small_trace: bytes) -> None:
    assert is_perfetto(small_trace[:64])  # a prefix of the first packet is enough
    assert is_perfetto(small_trace)
    assert not is_perfetto(TRACEFS_HEADER.encode())
    assert not is_perfetto(b"")
    assert not is_perfetto(gzip.compress(small_trace)[:64])


def mutations(data: bytes, count: int) -> Iterator[bytes]:
    rng = random.Random(1234)
    for _ in range(count):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        yield bytes(mutated[: rng.randint(1, len(mutated))] if rng.random() < 0.3 else mutated)


def test_damaged_traces_fail_with_trace_format_errors_only(small_trace: bytes) -> None:
    for data in mutations(small_trace, 150):
        with contextlib.suppress(TraceFormatError):
            read_all(data)
