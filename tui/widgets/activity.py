"""The activity line: the latest thing that happened, and a log of the rest."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from rich.text import Text
from textual.widgets import Static

from tui.catalog import Activity
from tui.safe_text import literal

STYLES = {
    "registered": "green",
    "updated": "cyan",
    "deploy": "bold green",
    "rollback": "bold yellow",
    "problem": "bold red",
    "missing": "bold red",
    "refused": "bold yellow",
    "removed": "yellow",
    "info": "dim",
}
SYMBOLS = {"registered": "+", "updated": "~", "deploy": "▲", "rollback": "↶", "problem": "✗", "missing": "!", "refused": "⊘", "removed": "-", "info": "·"}
KEEP = 500
NOTICE_STYLES = {"information": ("bold", "›"), "warning": ("bold yellow", "⚠"), "error": ("bold red", "✗")}
# The activity line shows the weightiest event of a batch (a deploy beats the status updates it causes).
WEIGHT = {"problem": 5, "missing": 5, "refused": 4, "deploy": 4, "rollback": 4, "registered": 3, "removed": 2, "updated": 1, "info": 0}


class ActivityLine(Static):
    """One line at the bottom; a burst of events shows as one summarised line."""

    def __init__(self) -> None:
        super().__init__(Text("ready", style="dim"), id="activity", markup=False)
        self.log_entries: deque[tuple[float, Activity]] = deque(maxlen=KEEP)
        self.notices: deque[str] = deque(maxlen=50)  # the latest notices, newest last
        self._line = Text("ready", style="dim")
        self._notice_timer: Any = None

    def update(self, content: Any = "", *, layout: bool = False) -> None:
        """Static's update without a layout: the line is one cell high whatever it says."""
        super().update(content, layout=False)

    def add(self, events: list[Activity]) -> None:
        if not events:
            return
        now = time.time()
        for event in events:
            self.log_entries.append((now, event))
        self._line = summary_line(events)
        if self._notice_timer is not None:  # what happened outranks a passing notice
            self._notice_timer.stop()
            self._notice_timer = None
        self.update(self._line)

    def notice(self, message: str, severity: str = "information", timeout: float | None = None) -> None:
        """A passing notice ("copied …", "deploy …: done", a refusal) in place of the activity
        line for ``timeout`` seconds: toasts would cover the panes' borders and this line."""
        self.notices.append(message)
        style, symbol = NOTICE_STYLES.get(severity, NOTICE_STYLES["information"])
        line = Text(f"{symbol} ", style=style)
        line.append_text(literal(message, style, single_line=True))
        self.update(line)
        if self._notice_timer is not None:
            self._notice_timer.stop()
        default = 6.0 if severity == "error" else 3.0
        self._notice_timer = self.set_timer(timeout or default, self._notice_over)

    def _notice_over(self) -> None:
        self._notice_timer = None
        self.update(self._line)


def summary_line(events: list[Activity]) -> Text:
    last = max(reversed(events), key=lambda e: WEIGHT.get(e.kind, 0))
    line = Text(f"{time.strftime('%H:%M:%S')} ", style="dim")
    line.append(f"{SYMBOLS.get(last.kind, '·')} ", style=STYLES.get(last.kind, ""))
    registered = sum(1 for e in events if e.kind == "registered")
    if registered > 1:
        line.append(f"{registered} versions registered, last ", style="green")
    line.append_text(literal(last.message, STYLES.get(last.kind, ""), single_line=True))
    others = len(events) - max(registered, 1)
    if others > 0 and registered > 1:
        line.append(f" (+{others} more, press a)", style="dim")
    return line


def log_line(when: float, event: Activity) -> Text:
    line = Text(time.strftime("%H:%M:%S ", time.localtime(when)), style="dim")
    line.append(f"{SYMBOLS.get(event.kind, '·')} ", style=STYLES.get(event.kind, ""))
    line.append_text(literal(event.message, STYLES.get(event.kind, ""), single_line=True))
    return line
