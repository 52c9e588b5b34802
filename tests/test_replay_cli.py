"""`faulttui replay` and `faulttui policies` end to end (subprocesses, real sample trace)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from replay import load_workload

REPO_ROOT = Path(__file__).resolve().parent.parent
COLD = REPO_ROOT / "sample_traces" / "cold-8t-writer.txt.xz"
if not COLD.exists():
    COLD = REPO_ROOT.parent / "shared" / "traces" / "cold-8t-writer.txt.xz"
pytestmark = pytest.mark.skipif(not COLD.exists(), reason="cold-8t-writer trace not available")

METRIC_KEYS = {"faults", "fault_latency_ns", "mmap_lock", "io", "writers",
               "priority_inversion_ns", "makespan_ns", "threads"}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("replay-cli-cache")


def faulttui(cache_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FAULTTUI_CACHE_DIR=str(cache_dir))
    return subprocess.run([sys.executable, "-m", "faulttui", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_replay_json_has_the_contract_keys_and_is_deterministic(cache_dir: Path) -> None:
    args = ("replay", str(COLD), "-p", "stock", "-p", "retry-vma", "--json", "--seed", "4")
    first = faulttui(cache_dir, *args)
    assert first.returncode == 0, first.stderr
    document = orjson.loads(first.stdout)
    assert set(document) == {"schema_version", "faulttui_version", "trace", "params", "timelines"}
    assert document["schema_version"] == 1
    assert list(document["timelines"]) == ["recording", "stock", "retry-vma"]
    assert document["params"]["seed"] == 4 and document["params"]["memory_limit"] is None
    for metrics in document["timelines"].values():
        assert set(metrics) >= METRIC_KEYS
        assert set(metrics["faults"]["retries"]) == {"total", "mmap", "vma"}
    info = orjson.loads(faulttui(cache_dir, "info", str(COLD), "--json").stdout)
    recording = document["timelines"]["recording"]
    assert recording["faults"]["total"] == info["faults"]["total"]
    assert recording["mmap_lock"]["acquisitions"] == info["mmap_lock"]["acquisitions"]
    assert document["timelines"]["stock"]["faults"]["total"] == info["faults"]["total"]
    assert faulttui(cache_dir, *args).stdout == first.stdout


def test_replay_knobs_and_table(cache_dir: Path, tmp_path: Path) -> None:
    saved = tmp_path / "workload.json"
    result = faulttui(cache_dir, "replay", str(COLD), "-p", "hold-vma", "--memory-limit", "64k",
                      "--io-latency-scale", "2", "--save-workload", str(saved))
    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[0].split()
    assert header == ["recording", "hold-vma"]
    assert "fault latency p99 us" in result.stdout
    assert load_workload(saved).faults > 0


@pytest.mark.parametrize(("args", "message"), [
    (("-p", "no-such-policy"), "unknown policy 'no-such-policy'"),
    (("--memory-limit", "lots"), "--memory-limit"),
    (("--memory-limit", "1"), "memory limit must be at least one page"),
    (("--io-latency-scale", "0"), "io latency scale must be positive"),
])
def test_replay_bad_usage_is_one_line_and_exit_2(cache_dir: Path, args: tuple[str, ...],
                                                 message: str) -> None:
    result = faulttui(cache_dir, "replay", str(COLD), *args)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_policies_lists_the_six_builtins(cache_dir: Path) -> None:
    result = faulttui(cache_dir, "policies")
    assert result.returncode == 0
    ids = [line.split()[0] for line in result.stdout.splitlines()]
    assert ids[:6] == ["stock", "retry-vma", "retry-vma-uptodate", "hold-vma", "mmap-only",
                       "hold-mmap"]
