"""The help screen (``?``): every key of the main screen, the marks, and the filter language."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from store.filters import SYNTAX
from tui.keymap import KEYS
from tui.widgets.versions import BADGES, MARKS_LEGEND


def help_text(read_only: bool) -> Group:
    keys = Table.grid(padding=(0, 2))
    keys.add_column(no_wrap=True, style="bold")
    keys.add_column()
    for key in KEYS:
        note = Text(key.help)
        if key.writes and read_only:
            note.append("  (refused: read-only)", style="bold yellow")
        keys.add_row(Text(key.shown), note)
    badges = Text("  ".join(f"{symbol} {status}" for status, (symbol, _) in BADGES.items()))
    return Group(
        Text("modelreg — keys", style="bold underline"),
        keys,
        Text("\nVersion marks", style="bold underline"),
        Text(MARKS_LEGEND),
        Text("\nStatus badges", style="bold underline"),
        badges,
        Text("\nFilter language (/)", style="bold underline"),
        Text(SYNTAX),
        Text("escape, q or ? closes this help.", style="dim"),
    )


class HelpScreen(ModalScreen[None]):
    """Lists every key; any of escape, q or ? closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100; max-width: 100%; height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close"),
        Binding("j", "scroll('down')", "Down", show=False),
        Binding("k", "scroll('up')", "Up", show=False),
    ]

    def __init__(self, read_only: bool = False) -> None:
        super().__init__()
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(help_text(self.read_only), id="help-text")

    def action_scroll(self, direction: str) -> None:
        scroller = self.query_one("#help", VerticalScroll)
        scroller.scroll_down() if direction == "down" else scroller.scroll_up()

    def action_close(self) -> None:
        self.dismiss(None)
