"""A screen compositor that draws, for a partial update, only the widgets and lines that changed.

Textual's compositor answers a change of a few lines by drawing every widget whose *parent*
overlaps the box around all changed lines, each one whole: a cursor moving one row in the
Versions pane drew the Models pane, the Detail pane, the scrollbars, the activity line and the
footer too (~400 lines through the style cache and line filters, for 2 that changed). Here a
widget is drawn only where a changed line still shows it (not behind a widget in front: a
scrolled table's container and the screen under it are not drawn again), and only in runs of
changed lines. What reaches the terminal is the same: the same lines, cut at the same places,
each changed cell painted by the widget Textual would have painted it with, the front-most
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
        # Per changed line, the chops (by first column) that reach the terminal and that no widget
        # in front has drawn yet: a widget behind others (the screen, a pane's container) is drawn
        # only where it still shows, since Textual keeps the front-most widget's chop anyway.
        wanted: dict[int, set[int]] = {}
        cuts = self.cuts
        for y, x1, x2 in self._regions_to_spans(changed):
            if not 0 <= y < len(cuts):
                continue
            line = cuts[y]
            wanted.setdefault(y, set()).update(x for x, end in zip(line, line[1:]) if x < x2 and end > x1)
        for widget, (region, clip) in self.visible_widgets.items():
            if not wanted:
                return
            visible = region.intersection(clip)
            left, right = visible.x, visible.right
            lines = sorted(y for y, chops in wanted.items() if visible.y <= y < visible.bottom and any(left <= x < right for x in chops))
            for top, bottom in _runs(lines):
                for y in range(top, bottom):  # drawn here now: the chops of these lines within the widget
                    chops = wanted.get(y)
                    if chops is not None:
                        chops.difference_update([x for x in chops if left <= x < right])
                        if not chops:
                            del wanted[y]
                # Whole rows of the widget: the compositor cuts each line at the same places for all widgets.
                rows = Region(left, top, visible.width, bottom - top)
                yield region, rows, widget.render_lines(Region(rows.x - region.x, rows.y - region.y, rows.width, rows.height))


def _runs(lines: list[int], gap: int = 2) -> Iterable[tuple[int, int]]:
    """Sorted line numbers as (top, bottom) runs, a run spanning gaps of up to ``gap`` lines: a
    cursor leaving row 40 for 41 while row 0 changes too draws 3 lines, not 42."""
    if not lines:
        return
    start = end = lines[0]
    for y in lines:
        if y - end > gap:
            yield start, end
            start = y
        end = y + 1
    yield start, end
