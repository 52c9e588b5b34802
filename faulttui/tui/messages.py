"""Messages from worker threads to the UI: small dataclasses, posted at most every
PROGRESS_INTERVAL_S (time-boxed batches, as Textualize/toolong does)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from faulttui.tui.lanes import LockOccupancy
from faulttui.tui.replays import ReplayRun
from faulttui.tui.session import ThreadRow, TraceSession

PROGRESS_INTERVAL_S = 0.05


@dataclass
class LoadProgress(Message):
    done_bytes: int
    total_bytes: int


@dataclass
class LoadReconstructed(Message):
    """The share of the trace reconstructed so far (0..1; the bytes read run ahead of it)."""

    fraction: float


@dataclass
class LoadPreview(Message):
    """What is reconstructed so far, while the rest loads (a partial Recording)."""

    session: TraceSession


@dataclass
class LoadFinished(Message):
    session: TraceSession


@dataclass
class LoadFailed(Message):
    error: BaseException


@dataclass
class ThreadMetricsReady(Message):
    """The thread list's numbers, computed after the first frame."""

    rows: tuple[ThreadRow, ...]


@dataclass
class LockComputed(Message):
    """One mm's mmap_lock occupancy in one timeline, computed in a worker."""

    key: tuple[str, str]  # (timeline name, mm)
    lock: LockOccupancy


@dataclass
class SourceLinesRead(Message):
    fault_id: int
    lines: dict[int, str]
    error: str = ""


@dataclass
class ReplayProgressed(Message):
    policy_id: str
    done: int
    total: int


@dataclass
class ReplaysFinished(Message):
    runs: list[ReplayRun]


@dataclass
class ReplaysFailed(Message):
    error: BaseException
