"""The help screen (``?``): every key of the main screen, the marks, and the filter language."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType

from store.filters import SYNTAX
from tui.keymap import KEYS
from tui.screens.reading import ReadingScreen
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


class HelpScreen(ReadingScreen):
    """Lists every key; any of escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, read_only: bool = False) -> None:
        super().__init__(help_text(read_only))
        self.read_only = read_only
