"""The tables' scrollbar (tui/widgets/scrollbar.py) draws each kind of line once: what it shows
must be, at every position, what Textual's own scrollbar draws."""

from __future__ import annotations

from textual.geometry import Region
from textual.widget import Widget

from store.registry import Registry
from tests.tui.test_app import LARGE, opened, pilot_test, reg  # noqa: F401
from tests.tui.test_navigation import many  # noqa: F401
from tui.app import ModelregApp
from tui.widgets.scrollbar import KeptScrollBar


def segments(strips: list) -> list[list[tuple[str, object]]]:
    return [[(segment.text, segment.style) for segment in strip] for strip in strips]


@pilot_test
async def test_the_kept_scrollbar_draws_what_textuals_draws(many: Registry) -> None:
    app = ModelregApp(many)
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)
        table = main.versions.table
        table.focus()
        bar = table.vertical_scrollbar
        assert isinstance(bar, KeptScrollBar) and bar.display
        seen = set()
        for _ in range(table.row_count + 2):  # down past the end: every position of the thumb
            await pilot.press("j")
            await pilot.pause()
            whole = Region(0, 0, bar.size.width, bar.size.height)
            kept = bar.render_lines(whole)
            bar._styles_cache.clear()
            bar._render_content()  # Textual's drawing, from nothing
            assert segments(kept) == segments(Widget.render_lines(bar, whole)), f"at scroll {table.scroll_y}"
            seen.add(table.scroll_y)
        assert len(seen) > 10 and max(seen) == table.max_scroll_y  # the thumb went all the way down
        # The kinds of line it keeps are few: track above, thumb, track below, the thumb's partial ends.
        assert len(bar._kept) <= 2 * 8 + 3
