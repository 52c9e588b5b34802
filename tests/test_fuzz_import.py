"""Fuzz the text importer + reconstruction with mutated real trace lines.

The documented outcomes of `load_recording` are exactly two: a Recording (damage counted as
warnings), or a `FaultTuiError` (one line for the CLI). Anything else is a crash the CLI
would report as an internal error (exit 70).
"""

from __future__ import annotations

import lzma
import re
from pathlib import Path

import pytest
from conftest import COLD_8T
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faulttui.analysis.load import load_recording
from faulttui.errors import FaultTuiError

SEED_LINE_COUNT = 200


def sample_event_lines(count: int = SEED_LINE_COUNT) -> list[bytes]:
    """The first `count` event lines of cold-8t-writer (after its `#` header), as bytes."""
    with lzma.open(COLD_8T, "rb") as text:
        lines = [line.rstrip(b"\n") for line in text.readlines(2_000_000)]
    header = [line for line in lines[:20] if line.startswith(b"#")]
    events = [line for line in lines if not line.startswith(b"#")]
    # a mix of the start (process setup) and the steady state (major faults, writers)
    return header + events[: count // 2] + events[3000 : 3000 + count // 2]


SEED_LINES = sample_event_lines() if COLD_8T.exists() else []

# One mutation: (kind, index, argument). Indexes are taken modulo the current line count.
mutation = st.one_of(
    st.tuples(st.just("cut"), st.integers(0, 10_000), st.integers(0, 200)),
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 10_000)),
    st.tuples(st.just("duplicate"), st.integers(0, 10_000), st.integers(1, 5)),
    st.tuples(st.just("swap"), st.integers(0, 10_000), st.integers(0, 10_000)),
    st.tuples(st.just("inject"), st.integers(0, 10_000), st.binary(min_size=1, max_size=12)),
    st.tuples(st.just("nul"), st.integers(0, 10_000), st.integers(1, 8)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 20)),
    st.tuples(st.just("join"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("truncate_file"), st.integers(0, 10_000), st.integers(0, 200)),
    st.tuples(st.just("stretch"), st.integers(0, 10_000), st.integers(0, 50)),
)


def apply_mutation(lines: list[bytes], kind: str, index: int, argument: object) -> list[bytes]:
    """One mutation of a list of trace lines (a new list; `lines` is not changed)."""
    if not lines:
        return lines
    lines = list(lines)
    at = index % len(lines)
    line = lines[at]
    if kind == "cut":
        lines[at] = line[: int(argument) % (len(line) + 1)]
    elif kind == "flip" and line:
        position = int(argument) % len(line)
        lines[at] = line[:position] + bytes([line[position] ^ 0x5A]) + line[position + 1 :]
    elif kind == "duplicate":
        lines[at:at] = [line] * int(argument)
    elif kind == "swap":
        other = int(argument) % len(lines)
        lines[at], lines[other] = lines[other], lines[at]
    elif kind == "inject":
        position = len(line) // 2
        lines[at] = line[:position] + bytes(argument) + line[position:]  # type: ignore[arg-type]
    elif kind == "nul":
        lines[at] = line[: len(line) // 3] + b"\x00" * int(argument) + line[len(line) // 3 :]
    elif kind == "delete":
        del lines[at : at + int(argument)]
    elif kind == "join" and at + 1 < len(lines):
        lines[at : at + 2] = [line + lines[at + 1]]
    elif kind == "stretch":  # a number doubled, zero-padded or negated (stays < 2**63 ns)
        runs = list(re.finditer(rb"\d+", line))
        if runs:
            run = runs[int(argument) % len(runs)]
            digits = run.group()
            doubled = digits * 2 if len(digits) <= 3 else digits
            wider = [doubled, b"000" + digits, b"-" + digits][int(argument) % 3]
            lines[at] = line[: run.start()] + wider + line[run.end() :]
    elif kind == "truncate_file":
        lines = lines[: at + 1]
        lines[-1] = lines[-1][: int(argument) % (len(lines[-1]) + 1)]
    return lines


def write_mutated_trace(directory: Path, lines: list[bytes], trailing_newline: bool) -> Path:
    path = directory / "mutated.txt"
    data = b"\n".join(lines) + (b"\n" if trailing_newline else b"")
    path.write_bytes(data)
    return path


@pytest.mark.skipif(not SEED_LINES, reason="sample_traces/cold-8t-writer.txt.xz is missing")
@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutations=st.lists(mutation, min_size=1, max_size=8), trailing_newline=st.booleans())
def test_mutated_trace_either_loads_or_raises_faulttui_error(
        tmp_path: Path, mutations: list[tuple[str, int, object]], trailing_newline: bool) -> None:
    lines = SEED_LINES
    for kind, index, argument in mutations:
        lines = apply_mutation(lines, kind, index, argument)
    path = write_mutated_trace(tmp_path, lines, trailing_newline)
    try:
        recording = load_recording(str(path), use_cache=False)
    except FaultTuiError as error:
        assert str(error).startswith(str(path)), "the error must name the file"
        assert "\n" not in str(error), "the error must be one line"
        return
    info = recording.info_json()
    assert info["events"] >= 1
    assert info["warning_count"] >= len(info["warnings"])
    assert info["faults"]["total"] >= 1
    assert sum(info["event_counts"].values()) == info["events"]


@pytest.mark.skipif(not SEED_LINES, reason="sample_traces/cold-8t-writer.txt.xz is missing")
@pytest.mark.parametrize(
    ("mutations", "expect_warning"),
    [
        pytest.param([("cut", 150, 60)], True, id="a line cut in the middle"),
        pytest.param([("nul", 120, 4)], True, id="NULs inside a line"),
        pytest.param([("inject", 140, b"\xff\xfe garbage")], True, id="bytes injected"),
        pytest.param([("truncate_file", 180, 50)], True, id="file cut mid-line"),
        pytest.param([("duplicate", 100, 3)], False, id="a line repeated"),
    ],
)
def test_known_damage_loads_with_a_warning(tmp_path: Path, mutations: list[tuple[str, int, object]],
                                           expect_warning: bool) -> None:
    lines = SEED_LINES
    for kind, index, argument in mutations:
        lines = apply_mutation(lines, kind, index, argument)
    path = write_mutated_trace(tmp_path, lines, trailing_newline=True)
    info = load_recording(str(path), use_cache=False).info_json()
    if expect_warning:
        assert info["warning_count"] >= 1
        assert any(warning.startswith(f"{path}:") for warning in info["warnings"])


# --- numbers too big for the model's int64 arrays --------------------------------------------

def fault_line_with(**replace: str) -> bytes:
    fields = {"comm": "faultload", "pid": "8169", "cpu": "000", "ts": "377.797597",
              "address": "7f86e3a03000", "ip": "5586ddf0361e"}
    fields.update(replace)
    return (f"{fields['comm']:>16}-{fields['pid']} [{fields['cpu']}] d....  {fields['ts']}: "
            f"page_fault_user: address=0x{fields['address']} ip=0x{fields['ip']} "
            "error_code=0x4").encode()


HUGE = "9" * 24


@pytest.mark.parametrize(
    "field",
    [
        "ts",
        "pid", "cpu", "address", "ip",
    ],
)
def test_huge_numbers_load_or_raise_faulttui_error(tmp_path: Path, field: str) -> None:
    seconds = HUGE if field == "ts" else "377"
    line = fault_line_with(**{field: f"{seconds}.000001" if field == "ts" else HUGE})
    after = fault_line_with(ts=f"{seconds}.000009")
    filemap = fault_line_with(ts=f"{seconds}.000005").replace(b"page_fault_user: address=0x7f86e3a03000 ip=0x5586ddf0361e "
                            b"error_code=0x4", b"mm_filemap_fault: dev=254:0 ino=20c051 ofs=0")
    path = tmp_path / "huge.txt"
    path.write_bytes(b"\n".join([line, filemap, after]) + b"\n")
    try:
        load_recording(str(path), use_cache=False)
    except FaultTuiError as error:
        assert str(error).startswith(str(path))
