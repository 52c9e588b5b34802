"""Key bindings shared by every screen that shows a timeline (main and compare)."""

from __future__ import annotations

from textual.binding import Binding

TIMELINE_NAVIGATION: tuple[Binding, ...] = (
    Binding("w", "zoom(-1)", "Zoom in"),
    Binding("plus", "zoom(-1)", "Zoom in", show=False),
    Binding("s", "zoom(1)", "Zoom out"),
    Binding("minus", "zoom(1)", "Zoom out", show=False),
    Binding("a", "pan(-1)", "Pan"),
    Binding("d", "pan(1)", "Pan", show=False),
    Binding("j", "lane(1)", "Thread"),
    Binding("k", "lane(-1)", "Thread", show=False),
)
