"""The activity log (``a``): what happened since the app opened, newest first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.console import Group
from rich.text import Text
from textual.binding import Binding, BindingType

from tui.catalog import Activity
from tui.screens.reading import ReadingScreen
from tui.widgets.activity import log_line


class ActivityScreen(ReadingScreen):
    """A scrolling list of the activity so far; escape, q or a closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,a", "close", "Close")]

    def __init__(self, entries: Iterable[tuple[float, Activity]]) -> None:
        lines = [log_line(when, event) for when, event in reversed(list(entries))]
        super().__init__(Group(Text("Activity (newest first)", style="bold underline"), *(lines or [Text("nothing yet", style="dim")])))
