"""Cells of the panes' tables: measuring and lining up their text, and rendering one cell.

:func:`render_cell_line` is what DataTable does to draw a one-line cell (a ``Styled`` of a
``Padding`` rendered through the console), step for step but without Rich's generic renderable
machinery, which costs several times the work itself (tests/tui/test_table_cells.py checks the two agree).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

# Columns are one space apart (each cell carries a leading space; DataTable's own padding is
# off): the default two-sided padding costs two columns per column, too many at 80 columns.
GAP = 1
_NULL = Style.null()
_NEWLINE = Text("\n")


def column_width(label: str, values: Sequence[str]) -> int:
    """Cells a column takes on screen: its widest value or label, plus the gap."""
    return max([cell_len(label), *map(cell_len, values)]) + GAP


def decimal_layout(values: Sequence[str]) -> tuple[int, int]:
    """Cells before and from the decimal point across a column of numbers (see :func:`align_decimal`)."""
    parts = [_split_decimal(v) for v in values if v]
    return max((cell_len(i) for i, _ in parts), default=0), max((cell_len(f) for _, f in parts), default=0)


def align_decimal(value: str, layout: tuple[int, int]) -> str:
    """``value`` padded so that its decimal point sits where the column's others do."""
    if not value:
        return ""
    whole, fraction = _split_decimal(value)
    return whole.rjust(layout[0]) + fraction.ljust(layout[1])


def fits_layout(value: str, layout: tuple[int, int]) -> bool:
    whole, fraction = _split_decimal(value)
    return len(whole) <= layout[0] and len(fraction) <= layout[1]


def _split_decimal(value: str) -> tuple[str, str]:
    if "." in value and "e" not in value:
        whole, _, fraction = value.partition(".")
        return whole, "." + fraction
    return value, ""


def ellipsize(value: str, width: int, *, middle: bool = False) -> str:
    """``value`` cut to ``width`` cells with a … when it does not fit: at the end, or in
    the middle so that names sharing a prefix (``digits-knn``, ``digits-svc``) stay apart."""
    if cell_len(value) <= width:
        return value
    if middle and width >= 5:
        tail = ""
        for char in reversed(value):
            if cell_len(char + tail) > (width - 1) // 2:
                break
            tail = char + tail
        return ellipsize(value[: len(value) - len(tail)], width - cell_len(tail)) + tail
    text = Text(value)
    text.truncate(width, overflow="ellipsis")
    return text.plain


def render_cell_line(console: Console, cell: Text, width: int, pre_style: Style, post_style: Style) -> list[Segment] | None:
    """One line of ``width`` cells showing ``cell`` as DataTable draws a cell of a one-line row
    with no padding (``Styled(Padding(cell, 0), pre_style, post_style)``, no wrapping); None for
    a cell that case does not cover (several lines, wrapping asked for), to be drawn the slow way."""
    if cell.no_wrap is False or "\n" in cell.plain:
        return None
    line = _fitting_line(console, cell, width)
    if line is None:
        line = _wrapped_line(console, cell, width)
    # ... and Styled puts the cell's base and cursor styles under it, and the cursor's colour over it.
    styled = [Segment(text, None if control else pre_style + style, control) for text, style, control in line]
    if post_style:
        styled = [Segment(text, None if control else (style + post_style if style else post_style), control) for text, style, control in styled]
    return styled


def _fitting_line(console: Console, cell: Text, width: int) -> list[Segment] | None:
    """The common cell (one style, no tabs, shorter than its column, not centred) laid out
    directly: what wrapping, joining and rendering it come to, at a fraction of their cost."""
    plain = cell.plain
    if "\t" in plain or cell.justify in ("center", "full") or cell_len(plain) > width:
        return None
    if cell.spans:
        # (The Marks column's glyphs.) Unjustified, wrapping and joining leave the text as it is.
        if cell.justify not in (None, "default"):
            return None
        return Segment.adjust_line_length(list(cell.render(console)), width, style=_NULL, pad=True)
    # Wrapping pads a left or right justified line inside the text (in its style; right
    # justifying strips the line's end first), joining turns that style into a span, and
    # rendering resolves it; an unstyled text has no span.
    if cell.justify == "left":
        plain += " " * (width - cell_len(plain))
    elif cell.justify == "right":
        plain = plain.rstrip()
        plain = " " * (width - cell_len(plain)) + plain
    style = cell.style
    if not style:
        return Segment.adjust_line_length([Segment(plain)], width, style=_NULL, pad=True)
    resolved = console.get_style(style, default=_NULL) if isinstance(style, str) else style
    return Segment.adjust_line_length([Segment(plain, _NULL + resolved)], width, style=_NULL, pad=True)


def _wrapped_line(console: Console, cell: Text, width: int) -> list[Segment]:
    lines = cell.wrap(
        console, width, justify=cell.justify or "default", overflow=cell.overflow or "fold",
        tab_size=(console.tab_size if cell.tab_size is None else cell.tab_size) or 8, no_wrap=True,
    )
    segments = list(_NEWLINE.join(lines).render(console))
    # Padding renders the text to its width (padding with an unstyled space, or cutting it) ...
    return Segment.adjust_line_length(segments, width, style=_NULL, pad=True)


def lead(cell: object) -> object:
    """A cell with its leading gap (text only: other renderables are drawn as they are)."""
    if isinstance(cell, Text):
        cell.pad_left(GAP)
    return cell
