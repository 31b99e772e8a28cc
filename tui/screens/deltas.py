"""Metric values and their changes, as text that reads the same with or without colour.

Colour says better or worse; the symbols say it again for NO_COLOR, 16-colour
terminals and colour-blind readers: ▲/▼ the way the value moved, ✓/✗ whether that
is an improvement given the metric's direction, ↑/↓ which way is better.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

BETTER, WORSE, SAME = "✓", "✗", "="
UP, DOWN = "▲", "▼"
GOOD_STYLE, BAD_STYLE, DIM_STYLE = "green", "red", "dim"


def number(value: Any) -> str:
    """A metric or param value, short and aligned: 4 decimals for ordinary floats."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    size = abs(value)
    if value == 0:
        return "0"
    if size >= 1e6 or size < 1e-3:
        return f"{value:.3g}"
    if size >= 1000:
        return f"{value:,.1f}"
    return f"{value:.4f}"


def param(value: Any) -> str:
    """A param value as written: ``0.1``, ``500``, ``saga``, ``None``; floats without padding."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)  # "…" as typed, not an escape
    return str(value)


def signed(value: float) -> str:
    return number(value) if value < 0 else f"+{number(value)}"


def direction_mark(lower_is_better: bool) -> str:
    """↓ when lower is better, ↑ when higher is."""
    return "↓" if lower_is_better else "↑"


def delta_text(delta: float | None, relative: float | None, improved: bool | None) -> Text:
    """``▲ +0.0200 +2.2% ✓``: movement, absolute and relative change, verdict."""
    if delta is None:
        return Text("")
    if delta == 0 or improved is None:
        return Text(f"{SAME} no change", style=DIM_STYLE)
    arrow = UP if delta > 0 else DOWN
    parts = [arrow, signed(delta)]
    if relative is not None:
        parts.append(f"{relative * 100:+.1f}%")
    parts.append(BETTER if improved else WORSE)
    return Text(" ".join(parts), style=GOOD_STYLE if improved else BAD_STYLE)


def verdict_text(improved: bool | None) -> Text:
    if improved is None:
        return Text(SAME, style=DIM_STYLE)
    return Text(BETTER, style=GOOD_STYLE) if improved else Text(WORSE, style=BAD_STYLE)


LEGEND = f"{UP}{DOWN} rose/fell  {BETTER} better  {WORSE} worse  ↑ higher is better  ↓ lower is better"
