"""A vertical scrollbar that keeps its finished lines by what each shows, not where.

When a table scrolls one row, Textual's scrollbar moves its thumb and sends every one of its
lines through the style cache and the line filters again (at 160x48, about as much work as the
rest of the frame), though its lines are only of four or five kinds: track above, thumb, track
below and the thumb's two partial ends. :class:`KeptScrollBar` draws each kind once and looks
the others up, so a scroll draws at most the thumb's changed ends.
"""

from __future__ import annotations

from typing import Any

from rich.color import Color
from rich.segment import Segment
from textual.geometry import Region
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.strip import Strip
from textual.widget import Widget


def styling_key(widget: Widget, crop: Region) -> tuple[Any, ...]:
    """What a widget's finished line depends on besides its content: lines kept under one key are
    dropped when it changes (size, crop, background, styles, theme, line filters)."""
    return (
        widget.size, crop.column_span, widget.background_colors, widget.styles._cache_key, widget.opacity,
        id(widget.app.ansi_theme), tuple(map(id, widget.get_line_filters())),
    )


class KeptScrollBar(ScrollBar):
    """Textual's :class:`ScrollBar`, drawing a vertical bar's lines once per kind."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._kept: dict[Segment, Strip] = {}
        self._kept_key: Any = None

    def render_lines(self, crop: Region) -> list[Strip]:
        bar = self.render()
        styles = self.styles
        plain = isinstance(bar, ScrollBarRender) and type(bar).__rich_console__ is ScrollBarRender.__rich_console__
        if not (self.vertical and plain and not styles.gutter and not any(edge for edge, _ in styles.outline)):
            return super().render_lines(crop)
        # What the bar's own renderer would draw (ScrollBarRender.__rich_console__), a segment a line.
        style = self.app.console.get_style(bar.style)
        lines = bar.render_bar(
            size=self.size.height, virtual_size=bar.virtual_size, window_size=bar.window_size, position=bar.position,
            thickness=self.size.width, vertical=True, back_color=style.bgcolor or Color.parse("#555555"), bar_color=style.color or Color.parse("bright_magenta"),
        ).segments
        key = styling_key(self, crop)
        if key != self._kept_key:
            self._kept.clear()
            self._kept_key = key
        strips = []
        current = False
        for y in crop.line_range:
            segment = lines[y]
            strip = self._kept.get(segment)
            if strip is None:
                if not current:  # Textual's drawing keeps the bar's lines until it is refreshed
                    self._render_content()
                    current = True
                self._styles_cache._dirty_lines.add(y)  # its cache keeps lines by position: this one is new there
                strip = self._kept[segment] = super().render_lines(Region(crop.x, y, crop.width, 1))[0]
            strips.append(strip)
        return strips

