"""The installed entry point end to end on the bundled sample (exit codes, stdout/stderr split)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces" / "cold-8t-writer.txt.xz"


def run_faulttui(*args: str, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faulttui", *args],
        capture_output=True, text=True, check=False,
        env={"FAULTTUI_CACHE_DIR": str(cache_dir), "PATH": "/usr/bin:/bin"},
    )


def test_info_json_on_the_sample_matches_the_contract_counts(tmp_path: Path) -> None:
    result = run_faulttui("info", str(SAMPLE), "--json", cache_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["format"] == "ftrace-text"
    assert info["events"] == 65550
    assert info["faults"] == {"total": 6321, "threads": 11, "io_sleep": 6089,
                              "retry_mmap": 6089, "mmap_fallback": 123, "vma_only": 109}
    assert info["mmap_lock"] == {"acquisitions": {"read": 6242, "write": 358},
                                 "trylock_failed": 46, "downgrades": 106}


def test_info_text_is_a_readable_summary(tmp_path: Path) -> None:
    result = run_faulttui("info", str(SAMPLE), cache_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "page faults      6,321 in 11 threads" in result.stdout
    assert "retry_mmap" in result.stdout


def test_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_faulttui("info", str(tmp_path / "nope.txt"), cache_dir=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"faulttui: {tmp_path / 'nope.txt'}: no such file"]
    assert result.stdout == ""
