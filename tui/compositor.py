"""A screen compositor that draws, for a partial update, only the widgets and lines that changed.

Textual's compositor answers a change of a few lines by drawing every widget whose *parent*
overlaps the box around all changed lines, each one whole: a cursor moving one row in the
Versions pane drew the Models pane, the Detail pane, the scrollbars, the activity line and the
footer too (~400 lines through the style cache and line filters, for 2 that changed). Here a
widget is drawn only where its visible region meets a changed region, and only the rows
between its first and last changed line. What reaches the terminal is the same: the same
lines, cut at the same places, from the same widgets in the same order (front to back), so
each changed cell is painted by the widget that Textual would have painted it with
(tests/tui/test_compositor.py compares every partial update with a full render).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual._compositor import Compositor
from textual.geometry import Region
from textual.strip import Strip


class FrugalCompositor(Compositor):
    """Textual's :class:`Compositor` with a narrower partial update (full renders unchanged)."""

    def __init__(self) -> None:
        super().__init__()
        self._changed: list[Region] | None = None  # the regions of the partial update being drawn

    def render_partial_update(self) -> Any:
        self._changed = list(self._dirty_regions)
        try:
            return super().render_partial_update()
        finally:
            self._changed = None

    def _get_renders(self, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
        changed = self._changed
        if crop is None or changed is None:
            yield from super()._get_renders(crop)
            return
        for widget, (region, clip) in self.visible_widgets.items():
            visible = region.intersection(clip)
            hits = [hit for hit in (visible.intersection(dirty) for dirty in changed) if hit]
            if not hits:
                continue
            top, bottom = min(hit.y for hit in hits), max(hit.bottom for hit in hits)
            # Whole rows of the widget: the compositor cuts each line at the same places for all widgets.
            rows = Region(visible.x, top, visible.width, bottom - top)
            yield region, rows, widget.render_lines(Region(rows.x - region.x, rows.y - region.y, rows.width, rows.height))
