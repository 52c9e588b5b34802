"""The faulttui Textual app: a loading screen, then the main screen (for a big trace first on a
preview, pushed over the loading screen whose worker goes on, then on the full timeline)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from faulttui.tui.compare import CompareScreen
from faulttui.tui.loading import LoadingScreen
from faulttui.tui.main_screen import MainScreen
from faulttui.tui.messages import LoadFailed, LoadFinished, LoadPreview, LoadReconstructed
from faulttui.tui.session import TraceSession
from faulttui.tui.timeline_screen import TimelineScreen
from replay import ReplayParams

# (title, help, action) for the command palette, offered on the screens that have the action
PALETTE_ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("Zoom in", "Halve the time per column around the cursor", "zoom(-1)"),
    ("Zoom out", "Double the time per column", "zoom(1)"),
    ("Pan left", "Move the view a quarter to the left", "pan(-1)"),
    ("Pan right", "Move the view a quarter to the right", "pan(1)"),
    ("Next fault", "Next fault of the selected thread", "fault(1)"),
    ("Previous fault", "Previous fault of the selected thread", "fault(-1)"),
    ("Next contention", "Next mmap_lock acquisition that waited", "contention(1)"),
    ("Previous contention", "Previous mmap_lock acquisition that waited", "contention(-1)"),
    ("Zoom to fault", "Fit the selected fault in the view", "zoom_fault"),
    ("Go to start", "Cursor to the start of the trace", "goto_start"),
    ("Go to end", "Cursor to the end of the trace", "goto_end"),
    ("Set marker", "Set marker A, then B", "marker"),
    ("Sort threads", "Sort the thread list by the next column", "sort"),
    ("Lock lane mm", "Show the next address space's mmap_lock in the lock lane", "cycle_lock"),
    ("Search", "Find a tid, comm, fault address or VMA", "search"),
    ("Keys", "Show the key help", "help"),
    ("Compare policies", "Replay under other policies and compare", "compare"),
    ("Next policy", "Compare view: show the next replayed policy", "next_replay"),
    ("Switch pane", "Compare view: make the other pane the active one", "switch_pane"),
    ("Metrics or detail", "Compare view, narrow terminal: show the metrics or the detail",
     "toggle_lower"),
)


class FaultTuiApp(App[None]):
    CSS_PATH = "styles.tcss"
    TITLE = "faulttui"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+c", "quit", "Quit", show=False)]

    def __init__(self, trace_path: str, compare_policies: Sequence[str] = (),
                 replay_params: ReplayParams | Mapping[str, Any] | None = None,
                 preview_after_s: float | None = None) -> None:
        """`preview_after_s`: seconds of loading before a preview is shown (None: the
        default or $FAULTTUI_PREVIEW_AFTER_S, see faulttui.tui.preview)."""
        super().__init__()
        self.preview_after_s = preview_after_s
        self.trace_path = trace_path
        self.compare_policies = tuple(compare_policies)
        self.replay_params = replay_params
        self.sub_title = os.path.basename(trace_path)
        self.failure: BaseException | None = None
        self.session: TraceSession | None = None  # what the main screen shows
        self.preview_screen: MainScreen | None = None  # showing a preview while loading

    def on_mount(self) -> None:
        self.push_screen(LoadingScreen(self.trace_path, self.preview_after_s))

    async def on_load_preview(self, message: LoadPreview) -> None:
        self.session = message.session
        self.preview_screen = MainScreen(message.session)
        await self.push_screen(self.preview_screen)  # mounted before LoadFinished is handled

    def on_load_reconstructed(self, message: LoadReconstructed) -> None:
        if self.preview_screen is not None:
            self.preview_screen.show_loading(message.fraction)

    def on_load_finished(self, message: LoadFinished) -> None:
        self.session = message.session
        if self.preview_screen is not None:
            self.preview_screen.adopt(message.session)
            self.preview_screen = None
        else:
            self.switch_screen(MainScreen(message.session))
        if self.compare_policies:
            self.push_screen(CompareScreen(message.session, self.compare_policies,
                                           self.replay_params))

    async def action_quit(self) -> None:
        self.workers.cancel_all()  # a load behind a preview stops at its next checkpoint
        self.exit()

    def on_load_failed(self, message: LoadFailed) -> None:
        self.failure = message.error
        self.exit(return_code=2)

    def record_failure(self, error: BaseException) -> None:
        """Keep the first unexpected error of a worker; run_open re-raises it after exit."""
        if self.failure is None:
            self.failure = error

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, TimelineScreen):  # the main screen or the compare view
            for title, help_text, action in PALETTE_ACTIONS:
                if hasattr(screen, f"action_{action.split('(')[0]}"):
                    yield SystemCommand(title, help_text, _runner(screen, action))


def _runner(screen: TimelineScreen, action: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await screen.run_action(action)
    return run
