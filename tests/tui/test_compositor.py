"""The main screen's frugal compositor (tui/compositor.py): a terminal fed only its partial
updates shows, after every frame, exactly what a full render of the screen shows; and a cursor
move draws a few lines, not every pane."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from rich.segment import Segment
from textual._compositor import ChopsUpdate, LayoutUpdate
from textual.widget import Widget

from store.registry import Registry
from tests.tui.test_app import LARGE, opened, pilot_test, reg, until  # noqa: F401
from tests.tui.test_live import inotify_only, other_process  # noqa: F401
from tests.tui.test_navigation import many  # noqa: F401
from tui.app import ModelregApp
from tui.compositor import FrugalCompositor

Cell = tuple[str, str]  # a character and its style (without the mouse's meta)


def cells(segments: list[Segment]) -> list[Cell]:
    out: list[Cell] = []
    for segment in segments:
        if segment.control:
            continue
        style = str(segment.style.clear_meta_and_links()) if segment.style else ""
        out.extend((char, style) for char in segment.text)
    return out


class Terminal:
    """A grid of cells that only ``_display``'s updates change, as a real terminal would be."""

    def __init__(self, app: ModelregApp) -> None:
        self.app = app
        self.grid: list[list[Cell]] = []
        self.partial = self.full = 0
        self.mismatches: list[str] = []
        original = app._display

        def display(screen: Any, update: Any) -> None:
            original(screen, update)
            if update is None or screen is not app.main or app.screen is not screen:
                return
            if isinstance(update, LayoutUpdate):
                self.full += 1
                self.grid = [cells(list(strip)) for strip in screen._compositor.render_strips()]
            elif isinstance(update, ChopsUpdate) and self.grid:
                self.partial += 1
                self.apply(update)

        app._display = display  # type: ignore[method-assign]

    def apply(self, update: ChopsUpdate) -> None:
        # What ChopsUpdate.render_segments writes: each changed span, chop by chop, cut at the span's end.
        for y, x1, x2 in update.spans:
            for end, (x, strip) in zip(update.chop_ends[y], update.chops[y].items()):
                if strip is None or x > x2 or end <= x1:
                    continue
                if not (x2 > x >= x1 and end <= x2):
                    strip = strip.crop(0, min(end, x2) - x)
                for offset, cell in enumerate(cells(list(strip))):
                    self.grid[y][x + offset] = cell

    async def start(self, pilot: Any) -> None:
        """A first full frame for the terminal to start from."""
        self.app.main.refresh()
        await until(pilot, lambda: self.full)

    async def settled(self, pilot: Any) -> None:
        """Once the app has painted all it had to, the terminal must show what a full render shows
        (a footer being recomposed, or a repaint already scheduled, may take a few frames)."""
        deadline = time.monotonic() + 10  # cheap when equal; a loaded machine may need the time
        while True:
            await pilot.pause()
            truth = [cells(list(strip)) for strip in self.app.main._compositor.render_strips()]
            different = [
                f"line {y}: {''.join(c for c, _ in seen)!r} != {''.join(c for c, _ in expected)!r}"
                for y, (seen, expected) in enumerate(zip(self.grid, truth)) if seen != expected
            ]
            if not different or time.monotonic() > deadline:
                self.mismatches += different
                return
            await pilot.pause(0.05)


@pilot_test
async def test_partial_updates_leave_the_terminal_as_a_full_render(reg: Registry, inotify_only: None) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)
        assert isinstance(main._compositor, FrugalCompositor)
        terminal = Terminal(app)
        await terminal.start(pilot)
        # Cursor moves, pane switches, a model switch, marks, sort, a filter, and a write elsewhere.
        for keys in (["j", "j", "k"], ["h", "j"], ["enter"], ["j", "space", "j", "space"], ["o"], ["G", "g"]):
            await pilot.press(*keys)
            await pilot.pause(0.1)
            await terminal.settled(pilot)
        await pilot.press("slash", *"accuracy>0.83", "enter")
        await pilot.pause(0.1)
        await terminal.settled(pilot)
        await other_process(reg.path, 'registry.register("sentiment", version="v6", metrics={"accuracy": 0.99})')
        await until(pilot, lambda: main.versions.table.has_row("sentiment:v6"))
        await pilot.pause(0.1)
        await terminal.settled(pilot)
        assert terminal.partial >= 10
        assert terminal.mismatches == [], "\n".join(terminal.mismatches)


@pytest.fixture
def detail_held(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Detail pane follows the cursor DETAIL_DELAY later, by design; on a loaded machine that
    can fall inside press()'s wait. Held off, so what is counted is the cursor's own frames."""
    import tui.main_screen

    monkeypatch.setattr(tui.main_screen, "DETAIL_DELAY", 60.0)


@pilot_test
async def test_a_cursor_move_draws_the_lines_it_changes(reg: Registry, detail_held: None) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        await opened(pilot)
        await pilot.pause(0.2)
        drawn = await _drawn_by(pilot, "j")
        # The old and the new cursor row; no other pane.
        assert drawn["VersionsTable"] == 2, drawn
        assert not {"ModelsTable", "DetailPane", "Footer", "ActivityLine"} & set(drawn), drawn

async def _drawn_by(pilot: Any, *keys: str) -> Counter[str]:
    """Lines each kind of widget drew through Textual's own drawing (the style cache) for ``keys``."""
    drawn: Counter[str] = Counter()
    original = Widget.render_lines

    def counting(widget: Widget, crop: Any) -> Any:
        lines = original(widget, crop)
        drawn[type(widget).__name__] += len(lines)
        return lines

    Widget.render_lines = counting  # type: ignore[method-assign]
    try:
        await pilot.press(*keys)
        await until(pilot, lambda: drawn)  # on a loaded machine the frame may come after press() returns
        await pilot.pause()
    finally:
        Widget.render_lines = original  # type: ignore[method-assign]
    return drawn


@pilot_test
async def test_a_scroll_draws_the_table_not_what_lies_under_it(many: Registry, detail_held: None) -> None:
    app = ModelregApp(many)
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)
        table = main.versions.table
        table.focus()
        visible = table.size.height - 1  # rows under the header
        await pilot.press(*["j"] * (visible - 1))  # the cursor on the last visible row
        await pilot.pause(0.1)
        terminal = Terminal(app)
        await terminal.start(pilot)
        assert table.scroll_y == 0
        drawn = await _drawn_by(pilot, "j", "j", "j")  # each one scrolls the table a row
        assert table.scroll_y == 3
        # Every visible row moved, so the table is drawn (its rows kept: only the new ones go
        # through the style cache), but not the pane, the body and the screen behind it ...
        assert drawn["VersionsTable"] <= 3 * 2, drawn
        assert not {"VersionsPane", "Horizontal", "MainScreen"} & set(drawn), drawn
        # ... and the scrollbar draws only a kind of line it has not drawn before.
        assert drawn["KeptScrollBar"] <= 3 * 2, drawn
        await terminal.settled(pilot)
        assert terminal.partial >= 3
        assert terminal.mismatches == [], "\n".join(terminal.mismatches)


@pilot_test
async def test_a_cursor_move_far_from_the_top_draws_two_rows(many: Registry, detail_held: None) -> None:
    """DataTable redraws its hover row (the first, with no mouse) at every key: with the cursor
    on row 20 a move drew the 20 rows between too."""
    app = ModelregApp(many)
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)
        main.versions.table.focus()
        await pilot.press(*["j"] * 20)
        await pilot.pause(0.1)
        lines: list[int] = []
        original = FrugalCompositor._get_renders

        def renders(compositor: FrugalCompositor, crop: Any = None) -> Any:
            for region, rows, strips in original(compositor, crop):
                lines.append(rows.height)
                yield region, rows, strips

        FrugalCompositor._get_renders = renders  # type: ignore[method-assign]
        try:
            await pilot.press("j")
            await until(pilot, lambda: lines)  # the frame may come after press() returns
            await pilot.pause()
        finally:
            FrugalCompositor._get_renders = original  # type: ignore[method-assign]
        assert lines and max(lines) <= 2, lines


@pilot_test
async def test_the_mouse_moving_over_rows_leaves_the_terminal_as_a_full_render(many: Registry, detail_held: None) -> None:
    app = ModelregApp(many)
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)
        table = main.versions.table
        terminal = Terminal(app)
        await terminal.start(pilot)
        for y, x in ((3, 2), (4, 2), (4, 30), (6, 30), (5, 12)):  # row to row, and along a row
            await pilot.hover(table, offset=(x, y))
            await pilot.pause()
            assert table.hover_row == y - 1
            await terminal.settled(pilot)
        await pilot.press("j")  # a key hides the hover again
        await terminal.settled(pilot)
        assert terminal.partial >= 5
        assert terminal.mismatches == [], "\n".join(terminal.mismatches)
