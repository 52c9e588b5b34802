"""`faulttui info` on bad input, through the real CLI in a subprocess.

Contract (DESIGN.md): unreadable / invalid input exits 2 with exactly one stderr line
`faulttui: <file>[:<line>]: ...` and never a traceback; damage inside an otherwise good trace
loads (exit 0) and is reported in `warnings` of `--json`.
"""

from __future__ import annotations

import gzip
import json
import lzma
import os
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import (
    COLD_8T,
    TC_8T_DAT,
    TRACEFS_HEADER,
    ThreadScript,
    needs_trace_cmd,
    run_cli,
    write_trace,
)

HEADER_LINES = len(TRACEFS_HEADER.splitlines())


def good_fault_lines() -> list[str]:
    thread = ThreadScript(8169).at(377_000_000).fault().filemap().block_issue().switch_out("D")
    thread.at(377_000_100).switch_in().start_locking().acquire().release()
    return thread.at(377_000_200).fault(0x7F86E3A04000).filemap().lines


def assert_one_line_error(result: object, path: Path | str, line: int | None = None) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)  # type: ignore[attr-defined]
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    where = f"faulttui: {path}:{line}: " if line is not None else f"faulttui: {path}: "
    assert lines[0].startswith(where), (where, lines[0])
    assert result.stdout == ""  # type: ignore[attr-defined]
    return lines[0]


# --- whole-file problems: exit 2 ------------------------------------------------------------

def make_missing(tmp_path: Path) -> Path:
    return tmp_path / "no-such-trace.txt"


def make_directory(tmp_path: Path) -> Path:
    directory = tmp_path / "a-directory.txt"
    directory.mkdir()
    return directory


def make_empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    return path


def make_empty_after_decompression(tmp_path: Path) -> Path:
    path = tmp_path / "empty.txt.xz"
    path.write_bytes(lzma.compress(b""))
    return path


def make_only_comments(tmp_path: Path) -> Path:
    return write_trace(tmp_path / "header-only.txt", [])


def make_prose(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("".join(f"line {n}: this is a shopping list, not a trace\n" for n in range(80)))
    return path


def make_gzip_cut_in_its_header(tmp_path: Path) -> Path:
    data = gzip.compress(("".join(line + "\n" for line in good_fault_lines())).encode())
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(data[:12])
    return path


def make_no_faults(tmp_path: Path) -> Path:
    thread = ThreadScript(8169).at(377_000_000).start_locking().acquire().release()
    return write_trace(tmp_path / "no-faults.txt", thread.lines)


def make_json(tmp_path: Path) -> Path:
    path = tmp_path / "workload.json"
    path.write_text('{"threads": []}\n')
    return path


WHOLE_FILE_CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing path": (make_missing, r"no such file|not found|does not exist"),
    "directory": (make_directory, r"directory"),
    "empty file": (make_empty, r"empty"),
    "empty after decompression": (make_empty_after_decompression, r"empty"),
    "only header comments": (make_only_comments, r"no (trace )?events"),
    "gzip cut in its header": (make_gzip_cut_in_its_header, r"compress|gzip|truncated"),
    "no page faults": (make_no_faults, r"no page faults"),
    "json": (make_json, r"json"),
}


@pytest.mark.parametrize("case", sorted(WHOLE_FILE_CASES))
def test_unreadable_input_exits_2_with_one_line(tmp_path: Path, case: str) -> None:
    make, words = WHOLE_FILE_CASES[case]
    path = make(tmp_path)
    message = assert_one_line_error(run_cli("info", path), path)
    assert re.search(words, message, re.IGNORECASE), message


@needs_trace_cmd()
@pytest.mark.parametrize("keep_bytes", [5_000, 1_000_000])
def test_truncated_dat_exits_2_with_one_line(tmp_path: Path, keep_bytes: int) -> None:
    path = tmp_path / "cut.dat"
    path.write_bytes(TC_8T_DAT.read_bytes()[:keep_bytes])
    assert_one_line_error(run_cli("info", path), path)


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_prose_is_rejected_naming_the_line_where_it_gave_up(tmp_path: Path,
                                                           as_json: bool) -> None:
    path = make_prose(tmp_path)
    args = ("info", path, "--json") if as_json else ("info", path)
    message = assert_one_line_error(run_cli(*args), path, line=50)
    assert "not an ftrace text trace" in message


@pytest.mark.parametrize("where", ["random bytes", "NUL in the head of a trace"])
def test_binary_garbage_exits_2(tmp_path: Path, where: str) -> None:
    path = tmp_path / "garbage.bin"
    if where == "random bytes":
        path.write_bytes(random.Random(7).randbytes(5000))
    else:
        lines = good_fault_lines()
        lines[1] = lines[1][:20] + "\x00\x00" + lines[1][20:]
        write_trace(path, lines)
    assert_one_line_error(run_cli("info", path), path)


# --- a trace whose only page fault is damaged ------------------------------------------------

def trace_with_only_a_damaged_fault(tmp_path: Path, damage: str) -> Path:
    line = ThreadScript(8169).at(377_000_000).fault().lines[0]
    if damage == "cut":
        path = tmp_path / "cut.txt"
        path.write_text(TRACEFS_HEADER + line[: line.index("ip=") - 6])  # no final newline
    else:
        path = write_trace(tmp_path / "malformed.txt", [line.replace("address=0x", "address=zz")])
    return path


@pytest.mark.parametrize("damage", ["cut", "malformed field"])
def test_only_fault_line_damaged_has_a_documented_outcome(tmp_path: Path, damage: str) -> None:
    """Either exit 2 naming file:line, or exit 0 with a warning naming file:line."""
    path = trace_with_only_a_damaged_fault(tmp_path, damage)
    result = run_cli("info", path, "--json")
    line = HEADER_LINES + 1
    if result.returncode == 2:
        assert_one_line_error(result, path, line=line)
        return
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert any(warning.startswith(f"{path}:{line}:") for warning in info["warnings"])
    assert info["event_counts"] == {"page_fault_user": 1}


def test_a_line_fragment_alone_is_not_a_trace(tmp_path: Path) -> None:
    path = tmp_path / "fragment.txt"
    path.write_text("  faultload-8169 [000] d..2.   377.")
    assert_one_line_error(run_cli("info", path), path)


# --- damage inside an otherwise good trace: exit 0 + a warning ------------------------------

def cut_last_line(lines: list[str]) -> tuple[list[str], int, bool]:
    lines = list(lines)
    lines[-1] = lines[-1][: len(lines[-1]) // 2]
    return lines, len(lines), False


def malformed_lock_field(lines: list[str]) -> tuple[list[str], int, bool]:
    lines = list(lines)
    index = next(i for i, line in enumerate(lines) if "mmap_lock_acquire_returned" in line)
    lines[index] = lines[index].replace("success=true", "success=maybe")
    return lines, index + 1, True


def garbage_line_in_the_middle(lines: list[str]) -> tuple[list[str], int, bool]:
    lines = list(lines)
    lines.insert(3, "@@@ this line is not from ftrace @@@")
    return lines, 4, True


def binary_bytes_in_a_line(lines: list[str]) -> tuple[list[str], int, bool]:
    lines = list(lines)
    lines[2] = lines[2][:30] + "\udcff\udcfe\x01\x02" + lines[2][30:]
    return lines, 3, True


DAMAGE_CASES: dict[str, Callable[[list[str]], tuple[list[str], int, bool]]] = {
    "file cut in the middle of its last line": cut_last_line,
    "malformed field": malformed_lock_field,
    "garbage line": garbage_line_in_the_middle,
    "binary bytes inside a line": binary_bytes_in_a_line,
}


@pytest.mark.parametrize("case", sorted(DAMAGE_CASES))
def test_damage_inside_a_good_trace_is_a_warning(tmp_path: Path, case: str) -> None:
    lines, damaged_index, newline = DAMAGE_CASES[case](good_fault_lines())
    path = tmp_path / "damaged.txt"
    text = TRACEFS_HEADER + "\n".join(lines) + ("\n" if newline else "")
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    result = run_cli("info", path, "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    info = json.loads(result.stdout)
    line_no = HEADER_LINES + damaged_index
    assert any(warning.startswith(f"{path}:{line_no}:") for warning in info["warnings"]), \
        info["warnings"]
    assert info["warning_count"] >= 1
    assert info["faults"]["total"] >= 1


@pytest.mark.parametrize("compress", ["gzip", "xz"])
def test_truncated_compressed_trace_imports_what_is_there(tmp_path: Path, compress: str) -> None:
    text = lzma.decompress(COLD_8T.read_bytes())[:2_000_000]
    packed = gzip.compress(text) if compress == "gzip" else lzma.compress(text)
    path = tmp_path / f"cut.txt.{'gz' if compress == 'gzip' else 'xz'}"
    path.write_bytes(packed[: len(packed) * 3 // 4])
    result = run_cli("info", path, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert any(warning.startswith(f"{path}") and "damaged compressed data" in warning
               for warning in info["warnings"]), info["warnings"]
    assert info["faults"]["total"] > 0


def test_damage_in_a_real_trace_is_a_warning(tmp_path: Path) -> None:
    """A real trace, cut in the middle (as a full disk or a killed `cat` leaves it)."""
    text = lzma.decompress(COLD_8T.read_bytes())
    cut = text[: 300_000]
    path = tmp_path / "cold-cut.txt"
    path.write_bytes(cut)
    result = run_cli("info", path, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    last_line = cut.count(b"\n") + 1
    assert info["warnings"][0].startswith(f"{path}:{last_line}: cut short")
    assert info["faults"]["total"] > 0


def test_text_output_lists_the_warnings(tmp_path: Path) -> None:
    lines, _, _ = malformed_lock_field(good_fault_lines())
    path = write_trace(tmp_path / "damaged.txt", lines)
    result = run_cli("info", path)
    assert result.returncode == 0
    assert "malformed" in result.stdout
    assert result.stderr == ""


def test_no_cache_dir_write_outside_the_test_dir() -> None:
    """The autouse fixture points FAULTTUI_CACHE_DIR somewhere temporary."""
    assert "faulttui-cache" in os.environ["FAULTTUI_CACHE_DIR"]
