"""Synthetic workloads: the JSON format, its validation errors, and the expansion."""

from __future__ import annotations

import orjson
import pytest

from faulttui.errors import TraceFormatError
from replay.synthetic import expand, parse_spec, spec_to_json
from replay.synthetic.scenarios import SCENARIOS, get_scenario
from replay.workload import FaultSpec, WriterSpec

SMALL = {"ioretry": {"threads": 4, "file_mb": 1, "rounds": 2},
         "app-launch": {"threads": 10, "faults_per_thread": 10},
         "large-vma": {"threads": 2, "faults_per_thread": 10, "writer_ops": 2},
         "fork-storm": {"threads": 2, "faults_per_thread": 16, "forks": 2},
         "pft": {"threads": 2, "rounds": 2, "region_kb": 64}}


def minimal(**changes: object) -> dict[str, object]:
    document: dict[str, object] = {
        "kind": "faulttui-synthetic", "schema_version": 1, "seed": 3,
        "files": [{"name": "f", "size": 1 << 20}],
        "vmas": [{"name": "v", "kind": "file", "size": 1 << 20, "file": "f"},
                 {"name": "a", "kind": "anon", "size": 1 << 16}],
        "threads": [{"name": "t", "count": 2, "program": [
            {"op": "mmap", "vma": "v"},
            {"op": "loop", "times": 3, "body": [
                {"op": "scan", "vma": "v", "pages": 5, "order": "random"},
                {"op": "sleep", "ns": 1000}]},
            {"op": "munmap", "vma": "v", "downgrade_ns": 500}]}],
    }
    document.update(changes)
    return document


def parse(document: dict[str, object]) -> object:
    return parse_spec(orjson.dumps(document), "work.json")


@pytest.mark.parametrize("scenario", [s.name for s in SCENARIOS])
def test_every_scenario_survives_its_json_form(scenario: str) -> None:
    spec = get_scenario(scenario).spec(SMALL[scenario])
    assert parse_spec(orjson.dumps(spec_to_json(spec))) == spec
    workload = expand(spec)
    assert workload.faults > 0


def test_expansion_unrolls_loops_and_turns_pauses_into_gaps() -> None:
    workload = expand(parse_spec(orjson.dumps(minimal())))
    assert len(workload.threads) == 2
    ops = workload.threads[0].ops
    assert [type(op) for op in ops] == [WriterSpec] + [FaultSpec] * 15 + [WriterSpec]
    assert isinstance(ops[6], FaultSpec) and ops[6].gap_ns == 1000  # the sleep before it
    assert isinstance(ops[-1], WriterSpec) and ops[-1].downgraded_ns == 500
    faults = [op for op in ops if isinstance(op, FaultSpec)]
    assert all(f.io_ns > 0 and not f.anon and f.page_key >= 0 for f in faults)
    assert len({op.fault_id for t in workload.threads for op in t.ops
                if isinstance(op, FaultSpec)}) == 30


def test_expansion_is_deterministic_for_a_seed() -> None:
    first = expand(parse_spec(orjson.dumps(minimal())))
    assert expand(parse_spec(orjson.dumps(minimal()))) == first
    assert expand(parse_spec(orjson.dumps(minimal(seed=4)))) != first


@pytest.mark.parametrize(("change", "message"), [
    ({"threads": [{"name": "t", "program": [{"op": "scan", "vma": "v", "pages": 0}]}]},
     "threads[0].program[0].pages: must be > 0"),
    ({"threads": [{"name": "t", "program": [{"op": "loop", "times": 2, "body": [
        {"op": "scan", "vma": "nope", "pages": 1}]}]}]},
     "threads[0].program[0].body[0].vma: no VMA named 'nope' in vmas"),
    ({"vmas": [{"name": "v", "kind": "file", "size": 1000, "file": "f"}]},
     "vmas[0].size: must be a multiple of 4096"),
    ({"memory_limit": "1G"}, "memory_limit: must be an integer"),
    ({"storage": {"jitter": 2}}, "storage.jitter: must be between 0.0 and 1.0"),
    ({"threads": [{"name": "t", "program": [{"op": "fly"}]}]},
     "threads[0].program[0].op: must be one of"),
    ({"threads": [{"name": "t", "priority": 200, "program": [{"op": "sleep", "ns": 1}]}]},
     "threads[0].priority: must be <= 139"),
    ({"schema_version": 9}, "schema_version: 9 is not supported"),
    ({"extra": 1}, "extra: unknown key"),
])
def test_validation_errors_name_the_json_path(change: dict[str, object], message: str) -> None:
    with pytest.raises(TraceFormatError) as raised:
        parse(minimal(**change))
    assert raised.value.path == "work.json"
    assert message in raised.value.message
    assert "\n" not in str(raised.value)


def test_a_huge_expansion_is_refused_before_it_is_built() -> None:
    spec = get_scenario("pft").spec({"threads": 10_000, "rounds": 1_000})
    with pytest.raises(TraceFormatError, match="scale it down"):
        expand(spec)


def test_the_example_in_the_docs_is_a_valid_workload() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "synthetic.md").read_text()
    example = text.split("### Example", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    spec = parse_spec(example, "docs/synthetic.md")
    workload = expand(spec)
    assert len(workload.threads) == 3
    assert workload.faults == 2 * 3 * 256 + 20 * 4


def test_huge_files_are_refused_before_their_pages_are_built() -> None:
    document = minimal(files=[{"name": "f", "size": 1 << 40}],
                       vmas=[{"name": "v", "kind": "file", "size": 1 << 20, "file": "f"}])
    with pytest.raises(TraceFormatError, match="GiB of files"):
        expand(parse_spec(orjson.dumps(document), "work.json"), "work.json")
