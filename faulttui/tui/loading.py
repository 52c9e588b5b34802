"""The loading screen: imports the trace in a thread worker, shows a progress bar, can cancel."""

from __future__ import annotations

import os
import time
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Label, ProgressBar
from textual.worker import get_current_worker

from faulttui.analysis.load import load_recording
from faulttui.tui.messages import PROGRESS_INTERVAL_S, LoadFailed, LoadFinished, LoadProgress
from faulttui.tui.session import build_session
from faulttui.tui.source_lines import is_text_trace


class LoadCancelled(Exception):
    """Raised inside the loading worker when the user cancelled (never escapes the worker)."""


class LoadingScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("q", "cancel", "Cancel", show=False),
    ]

    def __init__(self, trace_path: str) -> None:
        super().__init__()
        self.trace_path = trace_path

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="loading-box"):
            yield Label(f"Loading {os.path.basename(self.trace_path)}", id="loading-title")
            # indeterminate until the importer reports bytes (a cached result never does)
            yield ProgressBar(total=None, show_eta=False, id="loading-progress")
            yield Label("reading and reconstructing... (Esc or q cancels)", id="loading-hint")

    def on_mount(self) -> None:
        self.load_trace()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load_trace(self) -> None:
        worker = get_current_worker()
        last_post = 0.0

        def progress(done_bytes: int, total_bytes: int) -> None:
            nonlocal last_post
            if worker.is_cancelled:
                raise LoadCancelled()
            now = time.monotonic()
            if now - last_post >= PROGRESS_INTERVAL_S or done_bytes >= total_bytes:
                last_post = now
                self.post_message(LoadProgress(done_bytes, total_bytes))

        try:
            recording = load_recording(self.trace_path, progress=progress)
            if worker.is_cancelled:
                return
            self.post_message(LoadProgress(1, 1))
            session = build_session(recording, text_source=is_text_trace(self.trace_path))
        except LoadCancelled:
            return
        except Exception as error:  # forwarded to the app, which re-raises it after exit
            self.post_message(LoadFailed(error))
            return
        if not worker.is_cancelled:
            self.post_message(LoadFinished(session))

    def on_load_progress(self, message: LoadProgress) -> None:
        percent = 100 * message.done_bytes / message.total_bytes if message.total_bytes else 100
        self.query_one(ProgressBar).update(total=100, progress=percent)
        if percent >= 100:
            self.query_one("#loading-hint", Label).update("building the timeline...")

    def action_cancel(self) -> None:
        self.workers.cancel_all()
        self.app.exit(return_code=130)
