"""The help screen (``?``): every key of the main screen, the marks, and the filter language."""

from __future__ import annotations

from typing import ClassVar

import re
import textwrap

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType

from store.filters import SYNTAX
from tui.keymap import KEYS
from tui.screens.reading import ReadingScreen
from tui.widgets.versions import BADGES, MARKS_LEGEND


_COLUMN = re.compile(r"^(\s*\S.*?\s{2,})(?=\S)")


class Hanging:
    """Plain text laid out in columns (a term, two or more spaces, its description), wrapped
    to the width it is shown at with each wrapped line under its description, not at the margin."""

    def __init__(self, text: str) -> None:
        self.text = text

    def lines(self) -> list[str]:
        """The text's logical lines: a sentence the source broke across lines is one again."""
        lines: list[str] = []
        for line in self.text.splitlines():
            previous = lines[-1] if lines else ""
            match = _COLUMN.match(previous)
            indent = len(match.group(1)) if match else len(previous) - len(previous.lstrip())
            continues = (
                previous.strip() and line.strip() and "->" not in line
                and len(line) - len(line.lstrip()) == indent and not previous.rstrip().endswith((".", ";", ":", ")"))
            )
            if continues:
                lines[-1] = previous.rstrip() + " " + line.strip()
            else:
                lines.append(line)
        return lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(20, options.max_width)
        for line in self.lines():
            match = _COLUMN.match(line)
            indent = len(match.group(1)) if match else len(line) - len(line.lstrip())
            if indent > width // 2:  # a column too far right to wrap under: under the margin then
                indent = len(line) - len(line.lstrip())
            wrapped = textwrap.wrap(line, width=width, subsequent_indent=" " * indent, drop_whitespace=True) or [""]
            for part in wrapped:
                # textwrap keeps the first line's own leading spaces only when asked: put them back.
                yield Text(part if part.startswith(" ") or part is not wrapped[0] else line[: len(line) - len(line.lstrip())] + part)


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
        Hanging(SYNTAX),
        Text("escape, q or ? closes this help.", style="dim"),
    )


class HelpScreen(ReadingScreen):
    """Lists every key; any of escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, read_only: bool = False) -> None:
        super().__init__(help_text(read_only))
        self.read_only = read_only
