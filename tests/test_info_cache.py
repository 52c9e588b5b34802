"""The on-disk cache behind `load_recording` / `faulttui info`: reused, invalidated, never trusted.

Every test runs with FAULTTUI_CACHE_DIR in a temporary directory (conftest autouse fixture).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import ThreadScript, write_trace

from faulttui.analysis.load import load_recording, store_recording

T0 = 377_000_000.0


def trace_with_faults(path: Path, count: int) -> Path:
    thread = ThreadScript(8169).at(T0)
    for index in range(count):
        thread.fault(0x7F86E3A00000 + index * 4096).start_locking().acquire().release()
    return write_trace(path, thread.lines)


def cache_files() -> list[str]:
    directory = os.environ["FAULTTUI_CACHE_DIR"]
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def test_second_open_comes_from_the_cache(tmp_path: Path) -> None:
    path = trace_with_faults(tmp_path / "t.txt", 3)
    first = load_recording(str(path))
    second = load_recording(str(path))
    assert not first.from_cache
    assert second.from_cache
    assert second.info_json() == first.info_json()
    assert len(cache_files()) == 1


def test_a_caller_may_write_the_entry_itself_later(tmp_path: Path) -> None:
    """The TUI shows the trace first and writes the entry after (store_recording)."""
    path = trace_with_faults(tmp_path / "t.txt", 3)
    first = load_recording(str(path), write_cache_entry=False)
    assert not first.from_cache and first.cache_key is not None
    assert cache_files() == []
    store_recording(first)
    assert len(cache_files()) == 1
    second = load_recording(str(path), write_cache_entry=False)
    assert second.from_cache
    store_recording(second)  # read from the cache: nothing to write
    assert second.info_json() == first.info_json() and len(cache_files()) == 1


def test_a_changed_file_is_imported_again(tmp_path: Path) -> None:
    path = trace_with_faults(tmp_path / "t.txt", 3)
    assert load_recording(str(path)).info_json()["faults"]["total"] == 3
    trace_with_faults(path, 5)
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 1_000_000))
    again = load_recording(str(path))
    assert not again.from_cache
    assert again.info_json()["faults"]["total"] == 5


@pytest.mark.parametrize("damage", [b"", b"not a pickle", b"\x80\x05garbage"])
def test_a_damaged_cache_entry_is_rebuilt(tmp_path: Path, damage: bytes) -> None:
    path = trace_with_faults(tmp_path / "t.txt", 2)
    expected = load_recording(str(path)).info_json()
    (entry,) = cache_files()
    Path(os.environ["FAULTTUI_CACHE_DIR"], entry).write_bytes(damage)
    rebuilt = load_recording(str(path))
    assert not rebuilt.from_cache
    assert rebuilt.info_json() == expected


def test_an_unwritable_cache_dir_is_not_an_error(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("FAULTTUI_CACHE_DIR", str(blocker / "cache"))
    path = trace_with_faults(tmp_path / "t.txt", 2)
    assert load_recording(str(path)).info_json()["faults"]["total"] == 2
    assert load_recording(str(path)).info_json()["faults"]["total"] == 2


def test_use_cache_false_neither_reads_nor_writes(tmp_path: Path) -> None:
    path = trace_with_faults(tmp_path / "t.txt", 2)
    assert not load_recording(str(path), use_cache=False).from_cache
    assert cache_files() == []


def test_the_cache_is_never_next_to_the_trace(tmp_path: Path) -> None:
    path = trace_with_faults(tmp_path / "t.txt", 2)
    load_recording(str(path))
    load_recording(str(path))
    assert sorted(os.listdir(tmp_path)) == ["t.txt"]


def test_the_replay_workload_is_cached_beside_the_recording(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import faulttui.analysis.compare as compare_module
    from faulttui.analysis.compare import compare

    path = trace_with_faults(tmp_path / "t.txt", 3)
    first = compare(load_recording(str(path)), ["stock"])
    assert [name for name in cache_files() if name.endswith("-workload.pickle")]

    def no_extraction(*_args: object) -> None:
        raise AssertionError("the workload should come from the cache")

    monkeypatch.setattr(compare_module, "extract_workload", no_extraction)
    second = compare(load_recording(str(path)), ["stock"])
    assert second.workload == first.workload
    assert second.to_json_bytes() == first.to_json_bytes()


def test_no_workload_entry_without_the_cache(tmp_path: Path) -> None:
    from faulttui.analysis.compare import compare

    path = trace_with_faults(tmp_path / "t.txt", 3)
    compare(load_recording(str(path), use_cache=False), ["stock"])
    assert cache_files() == []


def test_a_damaged_workload_entry_is_extracted_again(tmp_path: Path) -> None:
    from faulttui.analysis.compare import compare

    path = trace_with_faults(tmp_path / "t.txt", 3)
    expected = compare(load_recording(str(path)), ["stock"]).workload
    (entry,) = [name for name in cache_files() if name.endswith("-workload.pickle")]
    Path(os.environ["FAULTTUI_CACHE_DIR"], entry).write_bytes(b"\x80\x05garbage")
    assert compare(load_recording(str(path)), ["stock"]).workload == expected


def test_a_command_that_caches_in_the_background_leaves_a_complete_entry(
        tmp_path: Path) -> None:
    from conftest import run_cli

    path = trace_with_faults(tmp_path / "t.txt", 4)
    finished = run_cli("replay", path, "-p", "retry-vma", "--json")
    assert finished.returncode == 0, finished.stderr
    # the forked writer is waited for before the command exits: the entry is whole now
    assert sorted(name.endswith("-workload.pickle") for name in cache_files()) == [False, True]
    again = load_recording(str(path))
    assert again.from_cache
    assert again.faults.total == 4


def test_background_writes_fall_back_to_writing_here_while_threads_run(
        tmp_path: Path) -> None:
    import threading

    path = trace_with_faults(tmp_path / "t.txt", 2)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        load_recording(str(path), cache_in_background=True)
        assert len(cache_files()) == 1  # written before load_recording returned
    finally:
        release.set()
        other.join()
