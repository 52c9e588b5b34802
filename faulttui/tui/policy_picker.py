"""`p` on the main screen: choose the policies to replay the recording under."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, SelectionList

from faulttui.tui.replays import policy_catalogue


class PolicyPicker(ModalScreen[list[str] | None]):
    """Choose the policies to replay (space toggles, Enter or the button confirms)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box"):
            yield Label("Replay the recording under (space toggles):")
            yield SelectionList[str](
                *((f"{policy_id:<20} {summary}", policy_id, policy_id == "retry-vma")
                  for policy_id, summary in policy_catalogue()), id="policy-list")
            yield Button("Compare", variant="primary", id="compare-button")

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#compare-button")
    def _confirm(self) -> None:
        chosen = list(self.query_one(SelectionList).selected)
        if not chosen:
            self.notify("pick at least one policy", severity="warning")
            return
        self.dismiss(chosen)
