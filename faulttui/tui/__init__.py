"""The Textual TUI: the only package that imports textual (its modules import it lazily here,
so `import faulttui.tui` stays cheap)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from replay import ReplayParams


def run_open(trace_path: str) -> int:
    """Run the TUI on `trace_path`; return the exit code. A load error is re-raised."""
    from faulttui.tui.app import FaultTuiApp  # textual loads here, not at package import

    app = FaultTuiApp(trace_path)
    app.run()
    if app.failure is not None:
        raise app.failure
    return app.return_code or 0


def run_compare(trace_path: str, policies: Sequence[str],
                params: ReplayParams | Mapping[str, Any] | None = None) -> int:
    """Load `trace_path`, replay it under `policies` with the what-if knobs `params` (a
    replay.ReplayParams, or its keyword arguments: seed, memory_limit, ...) and
    open the compare view (recording and replay stacked, metrics with deltas). Escape goes
    back to the main screen. Returns the exit code; a load error is re-raised."""
    from faulttui.tui.app import FaultTuiApp  # textual loads here, not at package import

    app = FaultTuiApp(trace_path, compare_policies=policies, replay_params=params)
    app.run()
    if app.failure is not None:
        raise app.failure
    return app.return_code or 0
