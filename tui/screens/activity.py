"""The activity log (``a``): what happened since the app opened, newest first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.catalog import Activity
from tui.widgets.activity import log_line


class ActivityScreen(ModalScreen[None]):
    """A scrolling list of the activity so far; escape, q or a closes it."""

    DEFAULT_CSS = """
    ActivityScreen { align: center middle; }
    ActivityScreen > VerticalScroll {
        width: 100; max-width: 100%; height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,a", "close", "Close"),
        Binding("j", "scroll('down')", "Down", show=False),
        Binding("k", "scroll('up')", "Up", show=False),
    ]

    def __init__(self, entries: Iterable[tuple[float, Activity]]) -> None:
        super().__init__()
        self.entries = list(entries)

    def compose(self) -> ComposeResult:
        lines = [log_line(when, event) for when, event in reversed(self.entries)]
        with VerticalScroll(id="activity-log"):
            yield Static(Group(Text("Activity (newest first)", style="bold underline"), *(lines or [Text("nothing yet", style="dim")])))

    def action_scroll(self, direction: str) -> None:
        scroller = self.query_one("#activity-log", VerticalScroll)
        scroller.scroll_down() if direction == "down" else scroller.scroll_up()

    def action_close(self) -> None:
        self.dismiss(None)
