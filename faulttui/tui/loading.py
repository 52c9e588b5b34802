"""The loading screen: imports the trace in a thread worker, shows a progress bar, can cancel.

A load that runs longer than `preview_after_s` posts a preview (what is reconstructed so far,
see faulttui.tui.preview) before the full timeline; the app shows it over this screen, which
stays below it, so its worker goes on."""

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

from faulttui.analysis.load import load_recording, store_recording
from faulttui.analysis.recording import Recording
from faulttui.tui.messages import (
    PROGRESS_INTERVAL_S,
    LoadFailed,
    LoadFinished,
    LoadPreview,
    LoadProgress,
    LoadReconstructed,
)
from faulttui.tui.preview import preview_after_s
from faulttui.tui.session import build_session
from faulttui.tui.source_lines import is_text_trace


class LoadCancelled(Exception):
    """Raised inside the loading worker when the user cancelled (never escapes the worker)."""


class LoadingScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("q", "cancel", "Cancel", show=False),
    ]

    def __init__(self, trace_path: str, preview_after: float | None = None) -> None:
        """`preview_after`: seconds before a preview (None: $FAULTTUI_PREVIEW_AFTER_S or the
        default, see `preview_after_s`)."""
        super().__init__()
        self.trace_path = trace_path
        self.preview_after = preview_after_s(preview_after)

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

        last_reconstructed = 0.0

        def reconstructed(fraction: float) -> None:
            nonlocal last_reconstructed
            if worker.is_cancelled:  # the bytes may all be read long before the end
                raise LoadCancelled()
            now = time.monotonic()
            if now - last_reconstructed >= PROGRESS_INTERVAL_S:
                last_reconstructed = now
                self.post_message(LoadReconstructed(fraction))

        text_source = is_text_trace(self.trace_path)

        def preview(partial: Recording) -> None:
            if worker.is_cancelled:
                raise LoadCancelled()
            self.post_message(LoadPreview(build_session(partial, text_source=text_source)))

        try:
            recording = load_recording(
                self.trace_path, progress=progress,
                preview=preview if self.preview_after is not None else None,
                preview_after_s=self.preview_after or 0.0, reconstructed=reconstructed,
                write_cache_entry=False)
            if worker.is_cancelled:
                return
            self.post_message(LoadProgress(1, 1))
            session = build_session(recording, text_source=text_source)
        except LoadCancelled:
            return
        except Exception as error:  # forwarded to the app, which re-raises it after exit
            self.post_message(LoadFailed(error))
            return
        if not worker.is_cancelled:
            self.post_message(LoadFinished(session))
        # the next open's cache entry, once the trace is on screen (pickling a big recording
        # takes a second or two, which used to delay the full timeline)
        store_recording(recording)

    def on_load_progress(self, message: LoadProgress) -> None:
        percent = 100 * message.done_bytes / message.total_bytes if message.total_bytes else 100
        self.query_one(ProgressBar).update(total=100, progress=percent)
        if percent >= 100:
            self.query_one("#loading-hint", Label).update("building the timeline...")

    def on_load_reconstructed(self, message: LoadReconstructed) -> None:
        if self.query_one(ProgressBar).percentage == 1:  # all read: say how far the rest got
            self.query_one("#loading-hint", Label).update(
                f"building the timeline... {100 * message.fraction:.0f}%")

    def action_cancel(self) -> None:
        self.workers.cancel_all()
        self.app.exit(return_code=130)
