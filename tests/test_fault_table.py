"""A replay's FaultTable: the uncontended faults kept as columns read as the records the
fault path would have made, in the same order, and the metrics read from the columns
equal the metrics of those records."""

from __future__ import annotations

import dataclasses
import pickle
import random

import pytest
from test_replay_fast_paths import get_builtin, random_threads, replay

from faulttui.analysis.recording import summarize_faults
from faulttui.model.fault_table import FaultTable
from faulttui.model.metrics import compute_metrics, makespan_ns
from faulttui.model.timeline import AttemptLock, AttemptOutcome, Fault, Timeline


def with_records(timeline: Timeline) -> Timeline:
    """The same timeline with its faults as a plain tuple of records."""
    return dataclasses.replace(timeline, faults=tuple(timeline.faults))


@pytest.mark.parametrize("policy_id", ["stock", "retry-vma", "hold-mmap"])
@pytest.mark.parametrize("seed", range(8))
def test_metrics_from_the_columns_equal_metrics_from_the_records(policy_id: str,
                                                                 seed: int) -> None:
    rng = random.Random(seed)
    timeline = replay(random_threads(rng, 16), get_builtin(policy_id), pages=16,
                      memory_limit=rng.choice((None, 4096 * 5)))
    faults = timeline.faults
    assert isinstance(faults, FaultTable)
    counted = len(faults)  # counting makes no record
    assert faults._all is None
    metrics = compute_metrics(timeline)
    summary = summarize_faults(timeline)  # (a synthetic run's, as `faulttui info` reads it)
    assert faults._all is None  # nor do the metrics and the fault summary
    assert summary == summarize_faults(with_records(timeline))
    assert metrics == compute_metrics(with_records(timeline))
    assert makespan_ns(timeline) == makespan_ns(with_records(timeline))
    assert counted == len(tuple(faults)) == metrics.faults_total


def test_records_of_uncontended_faults_are_what_the_fault_path_makes() -> None:
    rng = random.Random(11)
    timeline = replay(random_threads(rng, 16), get_builtin("stock"), pages=16)
    faults = timeline.faults
    assert isinstance(faults, FaultTable) and faults.uncontended
    records = tuple(faults)
    assert [fault.start_ns for fault in records] == sorted(fault.start_ns for fault in records)
    uncontended = [fault for fault in records if fault not in faults.records]
    assert len(uncontended) == len(faults.uncontended) // 8
    for fault in uncontended:
        assert type(fault) is Fault
        (attempt,) = fault.attempts
        assert (attempt.lock, attempt.outcome) == (AttemptLock.VMA, AttemptOutcome.DONE)
        assert (attempt.start_ns, attempt.end_ns) == (fault.start_ns, fault.end_ns)
        assert fault.cpu_ns == fault.latency_ns and fault.window_vma_only
        assert not (fault.major or fault.retried or fault.refault or fault.vma_fallback)


def test_a_fault_table_is_a_sequence_of_faults() -> None:
    rng = random.Random(5)
    faults = replay(random_threads(rng, 16), get_builtin("stock"), pages=16).faults
    assert isinstance(faults, FaultTable)
    records = tuple(faults)
    assert faults == records and records == faults and faults[0] == records[0]
    assert faults[1:3] == records[1:3] and faults[-1] == records[-1]
    assert list(reversed(faults)) == list(reversed(records))
    assert faults.index(records[2]) == 2 and records[2] in faults
    assert hash(faults) == hash(records)
    copy = pickle.loads(pickle.dumps(faults))  # a forked worker sends its timeline back
    assert isinstance(copy, FaultTable) and copy == faults and len(copy) == len(faults)
    assert "uncontended" in repr(faults)


def test_an_empty_table() -> None:
    table = FaultTable([], [], [], ())
    assert len(table) == 0 and tuple(table) == () and table.start_end_bounds() is None
    timeline = Timeline(name="stock", start_ns=0, end_ns=0, threads=(), faults=table,
                        mmap_lock_holds=())
    assert compute_metrics(timeline) == compute_metrics(with_records(timeline))
