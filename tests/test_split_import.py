"""A large text trace parsed by two processes gives exactly what one process gives.

The split threshold is lowered so the small sample traces take the two-process path.
"""

from __future__ import annotations

import gzip
import lzma
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

import faulttui.importers.split_text as split_text
from faulttui.errors import TraceFormatError
from faulttui.importers import open_trace

SAMPLES = Path(__file__).parent.parent / "sample_traces"


@pytest.fixture(scope="module")
def text() -> bytes:
    return lzma.decompress((SAMPLES / "cold-8t-writer.txt.xz").read_bytes())


def read(path: Path, split: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], dict[str, Any]]:
    monkeypatch.setattr(split_text, "MIN_SPLIT_BYTES", 1 if split else 1 << 60)
    source = open_trace(str(path))
    events = [tuple(event) for event in source.events()]
    return events, asdict(source.stats)


def assert_same(path: Path, monkeypatch: pytest.MonkeyPatch, *, splits: bool = True
                ) -> tuple[list[Any], dict[str, Any]]:
    monkeypatch.setattr(split_text, "MIN_SPLIT_BYTES", 1)
    assert (split_text.split_offset(str(path), cores=2) is not None) == splits
    single = read(path, False, monkeypatch)
    split = read(path, True, monkeypatch)
    assert split[1] == single[1]
    assert split[0] == single[0]
    return split


@pytest.mark.parametrize("share", [0.05, 0.2, 0.5, 0.95])
def test_same_events_and_stats_wherever_the_split_falls(
        tmp_path: Path, text: bytes, share: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(split_text, "HEAD_SHARE", share)
    path = tmp_path / "t.txt.xz"
    path.write_bytes(lzma.compress(text, preset=0))
    events, stats = assert_same(path, monkeypatch)
    assert stats["events"] == len(events) == 65_550


def test_plain_text_and_the_second_real_sample(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bigvma.txt"
    path.write_bytes(lzma.decompress((SAMPLES / "bigvma-mprotect.txt.xz").read_bytes()))
    assert_same(path, monkeypatch)


def test_damage_in_the_tail_is_the_same_warning(tmp_path: Path, text: bytes,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    lines = text.split(b"\n")
    at = len(lines) * 3 // 4
    lines[at] = lines[at][:30] + b"\x00garbage"  # a broken line
    lines.insert(at + 10, b"CPU:1 [LOST 12 EVENTS]")
    lines[-2] = lines[-2][:40]  # the last line cut short (no newline after it)
    path = tmp_path / "damaged.txt"
    path.write_bytes(b"\n".join(lines[:-1]))
    _, stats = assert_same(path, monkeypatch)
    assert stats["lost_events"] == 12
    assert stats["warning_count"] >= 2


def test_out_of_order_at_the_split_is_counted(tmp_path: Path, text: bytes,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    lines = text.split(b"\n")
    for index in range(len(lines) // 10, len(lines) - 1, len(lines) // 10):
        lines.insert(index, lines[index - 50])  # an earlier event again, every tenth
    path = tmp_path / "unordered.txt"
    path.write_bytes(b"\n".join(lines))
    for share in (0.1, 0.3, 0.5, 0.7):
        monkeypatch.setattr(split_text, "HEAD_SHARE", share)
        _, stats = assert_same(path, monkeypatch)
        assert stats["out_of_order"] > 0


def test_a_tail_that_starts_before_the_head_ends(tmp_path: Path, text: bytes,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    lines = text.split(b"\n")
    middle = len(lines) // 2
    # the lines just after the middle are repeated a little later: a run of events older
    # than the latest before them, wherever the split falls near the middle
    lines[middle + 200:middle + 200] = lines[middle:middle + 100]
    path = tmp_path / "rewound.txt"
    path.write_bytes(b"\n".join(lines))
    for share in (0.49, 0.5, 0.501, 0.502, 0.51):
        monkeypatch.setattr(split_text, "HEAD_SHARE", share)
        _, stats = assert_same(path, monkeypatch)
        assert stats["out_of_order"] >= 100


def test_truncated_xz_in_the_tail(tmp_path: Path, text: bytes,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    packed = lzma.compress(text, preset=0)
    path = tmp_path / "cut.txt.xz"
    path.write_bytes(packed[: len(packed) * 9 // 10])
    # no index at the end of a cut file: the size is unknown and one process reads it
    assert split_text.decompressed_size(str(path)) is None
    assert_same(path, monkeypatch, splits=False)


def test_the_text_ends_before_the_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        text: bytes) -> None:
    monkeypatch.setattr(split_text, "HEAD_SHARE", 0.999999)
    path = tmp_path / "t.txt"
    path.write_bytes(text.rstrip(b"\n"))  # the last line crosses the split, no newline
    assert_same(path, monkeypatch)


def test_not_a_trace_is_still_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "words.txt"
    path.write_bytes(b"just some words on a line\n" * 5000)
    monkeypatch.setattr(split_text, "MIN_SPLIT_BYTES", 1)
    with pytest.raises(TraceFormatError, match="not an ftrace text trace"):
        list(open_trace(str(path)).events())


def test_a_helper_that_fails_midway_leaves_the_tail_to_this_process(
        tmp_path: Path, text: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(text)
    real_send = split_text._send_batch
    sent = []

    def send_then_fail(*args: Any) -> None:
        if sent:
            raise OSError(28, "No space left on device")
        sent.append(True)
        real_send(*args)

    monkeypatch.setattr(split_text, "_send_batch", send_then_fail)  # inherited by the fork
    assert_same(path, monkeypatch)


def test_a_helper_that_dies_leaves_the_tail_to_this_process(
        tmp_path: Path, text: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    path = tmp_path / "t.txt"
    path.write_bytes(text)
    monkeypatch.setattr(split_text, "parse_tail", lambda *_args: os._exit(9))
    assert_same(path, monkeypatch)


@pytest.fixture
def another_thread() -> Iterator[None]:
    """A second thread runs meanwhile (as in the TUI): the helper is spawned, not forked."""
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    yield
    release.set()
    other.join()


@pytest.mark.usefixtures("another_thread")
def test_spawned_child_while_another_thread_runs(tmp_path: Path, text: bytes,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(text)
    assert_same(path, monkeypatch)


def test_sizes_known_without_decompressing(tmp_path: Path, text: bytes) -> None:
    plain = tmp_path / "t.txt"
    plain.write_bytes(text)
    packed = tmp_path / "t.txt.xz"
    packed.write_bytes(lzma.compress(text))
    twice = tmp_path / "twice.txt.xz"
    twice.write_bytes(lzma.compress(text[:1000]) + lzma.compress(text[1000:]))
    gz = tmp_path / "t.txt.gz"
    gz.write_bytes(gzip.compress(text))
    assert split_text.decompressed_size(str(plain)) == len(text)
    assert split_text.decompressed_size(str(packed)) == len(text)
    assert split_text.decompressed_size(str(twice)) is None
    assert split_text.decompressed_size(str(gz)) is None
    assert split_text.split_offset(str(plain), cores=1) is None


class _TuiStderr:
    """What Textual puts in sys.stderr while an app runs: no file descriptor."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return -1


@pytest.mark.usefixtures("another_thread")
def test_spawned_child_under_a_tui_stderr(tmp_path: Path, text: bytes,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    path = tmp_path / "t.txt"
    path.write_bytes(text)
    monkeypatch.setattr(sys, "stderr", _TuiStderr())
    assert_same(path, monkeypatch)


def test_no_helper_process_means_one_process(tmp_path: Path, text: bytes,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(text)
    monkeypatch.setattr(split_text, "_start_child", lambda *_args: None)
    assert_same(path, monkeypatch)
