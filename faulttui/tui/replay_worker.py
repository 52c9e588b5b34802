"""The body of the compare view's replay worker (run in a thread): replays the recording,
reports progress at most every PROGRESS_INTERVAL_S, then posts the runs or the error."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from textual.message import Message

from faulttui.analysis.load import Recording
from faulttui.tui.messages import (
    PROGRESS_INTERVAL_S,
    ReplayProgressed,
    ReplaysFailed,
    ReplaysFinished,
)
from faulttui.tui.replays import run_replays
from replay import ReplayParams


class ReplayCancelled(Exception):
    """Raised inside the replays when the user left the compare view (never escapes)."""


def replay_reporting(recording: Recording, policies: Sequence[str], params: ReplayParams,
                     post: Callable[[Message], object], cancelled: Callable[[], bool]) -> None:
    last_post = 0.0

    def progress(policy_id: str, done: int, total: int) -> None:
        nonlocal last_post
        if cancelled():
            raise ReplayCancelled()
        now = time.monotonic()
        if now - last_post >= PROGRESS_INTERVAL_S:
            last_post = now
            post(ReplayProgressed(policy_id, done, total))

    try:
        runs = run_replays(recording, policies, params, progress)
    except ReplayCancelled:
        return
    except Exception as error:  # shown on the screen; a bug is re-raised after exit
        post(ReplaysFailed(error))
        return
    post(ReplaysFinished(runs))
