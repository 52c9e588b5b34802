"""The indexed look-ups of workload extraction (`ThreadHolds`) pick exactly the hold the
plain first-match scans over all of a thread's holds pick, on random holds and calls."""

from __future__ import annotations

import random

import pytest

from faulttui.model.timeline import LockHold, WriterOp
from replay.extract_locks import WRITER_SLACK_NS, ThreadHolds


def _scan_call_hold(holds: list[LockHold], used: set[int], op: WriterOp) -> int | None:
    return next((index for index, hold in enumerate(holds)
                 if index not in used and not hold.downgrade and hold.purpose == "writer"
                 and op.start_ns <= hold.request_ns and hold.released_ns <= op.end_ns), None)


def _scan_nested(holds: list[LockHold], used: set[int], outer: LockHold) -> int | None:
    return next((index for index, other in enumerate(holds)
                 if index not in used and other.write and other.mm != outer.mm
                 and outer.acquired_ns <= other.request_ns
                 and other.released_ns <= outer.released_ns + WRITER_SLACK_NS), None)


def _random_holds(rng: random.Random) -> list[LockHold]:
    holds = []
    for _ in range(rng.randrange(1, 60)):
        request = rng.randrange(0, 20_000)
        acquired = request + rng.randrange(0, 500)
        holds.append(LockHold(
            mm=rng.choice(("mm1", "mm1", "mm2", "mm3")), tid=1, write=rng.random() < 0.7,
            request_ns=request, acquired_ns=acquired,
            released_ns=acquired + rng.randrange(0, 3_000), downgrade=rng.random() < 0.1,
            purpose=rng.choice(("writer", "writer", "other"))))
    if rng.random() < 0.5:
        holds.sort(key=lambda hold: hold.request_ns)
    return holds


@pytest.mark.parametrize("seed", range(200))
def test_thread_holds_match_plain_scans(seed: int) -> None:
    rng = random.Random(seed)
    holds = _random_holds(rng)
    thread_holds = ThreadHolds(holds)
    for _ in range(rng.randrange(1, 40)):
        start = rng.randrange(0, 20_000)
        op = WriterOp(tid=1, op="mmap", start_ns=start, end_ns=start + rng.randrange(0, 6_000))
        expected = _scan_call_hold(holds, thread_holds.used, op)
        assert thread_holds.call_hold(op) == expected
        if expected is None:
            continue
        thread_holds.used.add(expected)
        if holds[expected].write:
            nested = _scan_nested(holds, thread_holds.used, holds[expected])
            assert thread_holds.nested_write_hold(holds[expected]) == nested
            if nested is not None:
                thread_holds.used.add(nested)
