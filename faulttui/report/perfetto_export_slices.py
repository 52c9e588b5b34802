"""Timeline records -> `SliceSpec`s for the Perfetto export: what each slice is called, where it
nests (its rank) and which arguments the UI shows for it."""

from __future__ import annotations

from faulttui.model.timeline import Fault, LockHold, SpanState, Timeline, WriterOp
from faulttui.report.perfetto_export_layout import Annotation, SliceSpec

# Spans worth a slice of their own: fault attempts already have one, user time and plain
# sleeps are the background.
SPANS_OF_INTEREST = frozenset({
    SpanState.WAIT_MMAP_READ, SpanState.WAIT_MMAP_WRITE, SpanState.HOLD_MMAP_WRITE,
    SpanState.HOLD_MMAP_READ, SpanState.IO_WAIT, SpanState.IO_WAIT_HOLDING_VMA,
    SpanState.IO_WAIT_HOLDING_MMAP, SpanState.RUNNABLE, SpanState.SYSCALL,
})

# nesting rank on a thread track when bounds are equal: fault/syscall > attempt > wait > span
_RANK_FAULT = 0
_RANK_ATTEMPT = 1
_RANK_LOCK_WAIT = 2
_RANK_SPAN = 3

FAULT_SLICE_PREFIX = "fault 0x"


def thread_slices(timeline: Timeline, flows_out: dict[int, list[int]]
                  ) -> dict[int, list[SliceSpec]]:
    """Every slice of every thread (threads in timeline order, then any other tid seen);
    `flows_out` maps a hold index to the flows that start at its wait."""
    slices: dict[int, list[SliceSpec]] = {lane.tid: [] for lane in timeline.threads}
    for fault in timeline.faults:
        slices.setdefault(fault.tid, []).extend(fault_slices(fault))
    for op in timeline.writer_ops:
        slices.setdefault(op.tid, []).append(_writer_slice(op))
    for index, hold in enumerate(timeline.mmap_lock_holds):
        if hold.wait_ns > 0:
            slices.setdefault(hold.tid, []).append(
                _wait_slice(hold, tuple(flows_out.get(index, ()))))
    for lane in timeline.threads:
        lane_slices = slices[lane.tid]
        for start, end, state in zip(lane.span_starts, lane.span_ends, lane.span_states,
                                     strict=True):
            if state in SPANS_OF_INTEREST:
                lane_slices.append(SliceSpec(start, end, SpanState(state).label, _RANK_SPAN))
    return slices


def fault_slices(fault: Fault) -> list[SliceSpec]:
    """The fault's slice and one per attempt."""
    specs = [SliceSpec(fault.start_ns, fault.end_ns, f"{FAULT_SLICE_PREFIX}{fault.address:x}",
                       _RANK_FAULT, fault_annotations(fault))]
    for number, attempt in enumerate(fault.attempts, start=1):
        annotations: list[Annotation] = [("attempt", number), ("outcome", str(attempt.outcome))]
        if attempt.lock_wait_ns:
            annotations.append(("lock_wait_ns", attempt.lock_wait_ns))
        if attempt.trylock_failed:
            annotations.append(("trylock_failed", True))
        if attempt.io_wait_held_ns:
            annotations.append(("io_wait_held_ns", attempt.io_wait_held_ns))
        specs.append(SliceSpec(attempt.start_ns, attempt.end_ns, str(attempt.lock),
                               _RANK_ATTEMPT, tuple(annotations)))
    return specs


def describe_attempts(fault: Fault) -> str:
    """e.g. "vma:retry, mmap-read:done wait 12000ns"."""
    return ", ".join(f"{attempt.lock}:{attempt.outcome}"
                     + (f" wait {attempt.lock_wait_ns}ns" if attempt.lock_wait_ns else "")
                     for attempt in fault.attempts)


def fault_annotations(fault: Fault) -> tuple[Annotation, ...]:
    annotations: list[Annotation] = [
        ("fault_id", fault.fault_id), ("address", f"0x{fault.address:x}"), ("mm", fault.mm),
        ("vma_id", fault.vma_id), ("latency_ns", fault.latency_ns),
        ("attempts", describe_attempts(fault)), ("major", fault.major),
    ]
    if fault.ip:
        annotations.append(("ip", f"0x{fault.ip:x}"))
    if fault.error_code:
        annotations.append(("error_code", fault.error_code))
    if fault.page is not None:
        annotations.append(("page", f"{fault.page.dev} ino {fault.page.ino} ofs {fault.page.ofs}"))
    if fault.retry_lock is not None:
        annotations.append(("retry_lock", str(fault.retry_lock)))
    if fault.retry_reason is not None:
        annotations.append(("retry_reason", str(fault.retry_reason)))
    annotations.append(("refault", fault.refault))
    if fault.io_requests:
        annotations.append(("io_requests", fault.io_requests))
        annotations.append(("io_latency_ns", fault.io_latency_ns))
    if fault.io_wait_ns:
        annotations.append(("io_wait_ns", fault.io_wait_ns))
    annotations.append(("cpu_ns", fault.cpu_ns))
    return tuple(annotations)


def _writer_slice(op: WriterOp) -> SliceSpec:
    annotations: list[Annotation] = [("addr", f"0x{op.addr:x}"), ("length", op.length)]
    if op.ret is not None:
        annotations.append(("ret", op.ret))
    annotations += [("mmap_write_wait_ns", op.mmap_write_wait_ns),
                    ("mmap_write_hold_ns", op.mmap_write_hold_ns)]
    if op.downgraded:
        annotations.append(("downgraded", True))
    return SliceSpec(op.start_ns, op.end_ns, op.op, _RANK_FAULT, tuple(annotations))


def _mode(hold: LockHold) -> str:
    return "write" if hold.write else "read"


def _wait_slice(hold: LockHold, flows_out: tuple[int, ...]) -> SliceSpec:
    annotations: list[Annotation] = [("mm", hold.mm), ("wait_ns", hold.wait_ns),
                                     ("purpose", hold.purpose)]
    if hold.contended_ns:
        annotations.append(("contended_ns", hold.contended_ns))
    if hold.fault_id >= 0:
        annotations.append(("fault_id", hold.fault_id))
    return SliceSpec(hold.request_ns, hold.acquired_ns, f"wait mmap_lock {_mode(hold)}",
                     _RANK_LOCK_WAIT, tuple(annotations), flows_out=flows_out)


def hold_slice(hold: LockHold, flows_in: tuple[int, ...], comms: dict[int, str]) -> SliceSpec:
    annotations: list[Annotation] = [
        ("tid", hold.tid), ("purpose", hold.purpose), ("wait_ns", hold.wait_ns),
        ("hold_ns", hold.hold_ns)]
    if not hold.released:
        annotations.append(("released", False))
    if hold.trylock:
        annotations.append(("trylock", True))
    if hold.downgrade:
        annotations.append(("downgrade", True))
    if hold.fault_id >= 0:
        annotations.append(("fault_id", hold.fault_id))
    if hold.contended_ns:
        annotations.append(("contended_ns", hold.contended_ns))
    name = f"{_mode(hold)} {hold.purpose} {comms.get(hold.tid, '?')} {hold.tid}"
    return SliceSpec(hold.acquired_ns, hold.released_ns, name, 0, tuple(annotations),
                     flows_in=flows_in)
