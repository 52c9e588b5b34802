"""Messages from worker threads to the UI: small dataclasses, posted at most every
PROGRESS_INTERVAL_S (time-boxed batches, as Textualize/toolong does)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from faulttui.tui.session import TraceSession

PROGRESS_INTERVAL_S = 0.05


@dataclass
class LoadProgress(Message):
    done_bytes: int
    total_bytes: int


@dataclass
class LoadFinished(Message):
    session: TraceSession


@dataclass
class LoadFailed(Message):
    error: BaseException


@dataclass
class SourceLinesRead(Message):
    fault_id: int
    lines: dict[int, str]
    error: str = ""
