"""The sync indicator at the right of the activity line: on a registry on a server, how fresh
what the app shows is ("synced 3 s ago", "writing…", "offline (read-only)"); hidden on a local
registry, which is always current."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.widgets import Static

from store.backends.protocol import SyncStatus

TICK = 1.0  # seconds: the age is shown in whole seconds, so redrawing more often shows nothing new


def age(seconds: float) -> str:
    """3 s, 2 min, 1 h: a few cells whatever the age."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    return f"{whole // 3600} h"


class SyncIndicator(Static):
    """Words, not only colour (NO_COLOR): the state reads the same in any terminal. The poll loop
    hands it each new :class:`SyncStatus`; between those, a timer counts the age once a second,
    redrawing only this widget and only when its words change."""

    def __init__(self) -> None:
        super().__init__("", id="sync", markup=False)
        self.status: SyncStatus | None = None
        self.writes = 0  # this app's writes in flight (the poll cannot see them: a write holds the registry's lock)
        self.text = ""
        self._timer: Any = None

    @property
    def offline(self) -> str | None:
        """Why the server cannot be reached, while it cannot (else None)."""
        status = self.status
        return (status.reason or "the server cannot be reached") if status is not None and status.state == "offline" else None

    def show(self, status: SyncStatus | None) -> None:
        """A new status from the poll loop (None: a local registry, nothing to show)."""
        if status == self.status:
            return
        self.status = status
        self.set_class(status is not None, "-server")
        if status is not None and self._timer is None:
            self._timer = self.set_interval(TICK, self.tick)
        elif status is None and self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.tick()

    def write_started(self) -> None:
        self.writes += 1
        self.tick()

    def write_ended(self) -> None:
        self.writes = max(0, self.writes - 1)
        self.tick()

    def words(self) -> str:
        status = self.status
        if status is None:
            return ""
        if status.state == "offline":
            return "offline (read-only)"
        if self.writes or status.state == "writing":
            return "writing…"
        return f"synced {age(time.monotonic() - status.synced_at)} ago"

    def tick(self) -> None:
        text = self.words()
        if text == self.text:
            return  # the same words: nothing to draw
        grew = len(text) != len(self.text)
        self.text = text
        line = Text("│ ", style="dim")
        if text.startswith("offline"):
            line.append("✗ " + text, style="bold red")
        elif text.startswith("writing"):
            line.append(text, style="bold")
        else:
            line.append(text)
        # The line's width changes only when the words' length does (9 s → 10 s): lay out then.
        self.update(line, layout=grew)
