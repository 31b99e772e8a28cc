"""Text plots of one metric across a model's versions: bars (the sparkline is ``tui.catalog.sparkline``).

Plain characters only (block elements), so they survive tmux, 16 colours and NO_COLOR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from tui.safe_text import clean
from tui.screens.deltas import number

BAR, EMPTY = "█", "·"


@dataclass(frozen=True)
class Point:
    label: str
    value: float | None
    marked: bool = False  # one of the versions being compared


class BarChart:
    """Horizontal bars scaled between the lowest and highest value, sized to the width given.

    The best value (by the metric's direction) is starred; marked points get a ●.
    """

    def __init__(self, points: Sequence[Point], lower_is_better: bool = False) -> None:
        self.points = list(points)
        self.lower_is_better = lower_is_better

    def best(self) -> int | None:
        scored = [(p.value, i) for i, p in enumerate(self.points) if p.value is not None]
        if not scored:
            return None
        pick = min if self.lower_is_better else max
        # The later version wins a tie, as Registry.best does.
        return pick(reversed(scored), key=lambda pair: pair[0])[1]

    def lines(self, width: int) -> list[Text]:
        known = [p.value for p in self.points if p.value is not None]
        label_width = min(max((len(clean(p.label, single_line=True)) for p in self.points), default=1), 24)
        value_width = max((len(number(v)) for v in known), default=1)
        room = min(60, max(4, width - label_width - value_width - 7))
        low, high = (min(known), max(known)) if known else (0.0, 0.0)
        best = self.best()
        lines = []
        for i, point in enumerate(self.points):
            mark = "●" if point.marked else " "
            star = "★" if i == best else " "
            label = clean(point.label, single_line=True)[:label_width].ljust(label_width)
            line = Text(f"{mark} {label} ", style="bold" if point.marked else "")
            if point.value is None:
                line.append(EMPTY.ljust(room), style="dim")
                line.append(f" {'—'.rjust(value_width)}  ")
            else:
                filled = 1 + round((point.value - low) / (high - low) * (room - 1)) if high > low else room
                line.append(BAR * filled, style="green" if i == best else "cyan")
                line.append(" " * (room - filled))
                line.append(f" {number(point.value).rjust(value_width)} {star}")
            lines.append(line)
        return lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines(options.max_width)
