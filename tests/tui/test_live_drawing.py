"""What a live row and the first frame cost to draw: a new version lays nothing out and draws the
changed lines (the Detail pane and the Models pane's summary follow in later frames); the first
useful frame does not wait for the models' summaries."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from textual.screen import Screen
from textual.widget import Widget

from store.registry import Registry
from tests.tui.test_app import LARGE, opened, pilot_test, reg, until  # noqa: F401
from tests.tui.test_live import inotify_only, other_process, sentiment_selected  # noqa: F401
from tui import main_screen
from tui.app import ModelregApp
from tui.main_screen import MainScreen


@pilot_test
async def test_a_new_version_lays_nothing_out_and_the_detail_follows(reg: Registry, inotify_only: None, monkeypatch: pytest.MonkeyPatch) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        main = await sentiment_selected(pilot)
        await until(pilot, lambda: main.detail.row is not None and main.detail.row.ref == "sentiment:v5")
        # The cursor moved just before the write: the Detail pane has yet to show v4 when the row arrives.
        monkeypatch.setattr(main_screen, "DETAIL_DELAY", 60.0)
        await pilot.press("j")
        await until(pilot, lambda: main.versions.selected is not None and main.versions.selected.ref == "sentiment:v4")
        assert main.versions.selected is not None and main.versions.selected.ref == "sentiment:v4"
        assert main.detail.row is not None and main.detail.row.ref == "sentiment:v5"
        layouts: list[bool] = []
        frames: list[Counter[str]] = []
        drawn: Counter[str] = Counter()
        refresh_layout, compositor_refresh, render_lines = Screen._refresh_layout, Screen._compositor_refresh, Widget.render_lines

        def laying_out(screen: Screen[Any], size: Any = None, scroll: bool = False) -> None:
            layouts.append(scroll)
            refresh_layout(screen, size, scroll)

        def painting(screen: Screen[Any]) -> None:
            compositor_refresh(screen)
            frames.append(Counter(drawn))
            drawn.clear()

        def drawing(widget: Widget, crop: Any) -> Any:
            lines = render_lines(widget, crop)
            drawn[type(widget).__name__] += len(lines)
            return lines

        Screen._refresh_layout, Screen._compositor_refresh, Widget.render_lines = laying_out, painting, drawing  # type: ignore[method-assign]
        try:
            await other_process(reg.path, 'registry.register("sentiment", version="v6", metrics={"accuracy": 0.5})')
            await until(pilot, lambda: main.versions.table.has_row("sentiment:v6"))
            # Then the summary and the Detail pane, each in a frame of its own (DETAIL_DELAY is 60 s).
            await until(pilot, lambda: main.models.summaries["sentiment"].count == 6 and sum(f["DetailPane"] for f in frames))
            await pilot.pause()
        finally:
            Screen._refresh_layout, Screen._compositor_refresh, Widget.render_lines = refresh_layout, compositor_refresh, render_lines  # type: ignore[method-assign]
        assert layouts == [], "a new row laid the screen out"
        row_frame = next(i for i, frame in enumerate(frames) if frame["VersionsTable"])
        # The new row first; the Detail pane and the Models pane's summary (it reads every version) after.
        assert frames[row_frame]["DetailPane"] == 0 and frames[row_frame]["ModelsTable"] == 0, frames[row_frame]
        assert main.models.summaries["sentiment"].count == 6
        assert frames[row_frame]["VersionsTable"] <= 8, frames[row_frame]  # the header and the six rows, moved
        # ... and in a frame after it (not DETAIL_DELAY later: the live change showed it).
        assert main.detail.row is not None and main.detail.row.ref == "sentiment:v4"
        assert any(frame["DetailPane"] for frame in frames[row_frame + 1:]), frames


@pilot_test
async def test_the_first_useful_frame_comes_before_the_models_summaries(reg: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(main_screen, "FIRST_PAINT_WAIT", 60.0)  # only the painted frame lets them go
    app = ModelregApp(reg)
    at_first_frame: list[int] = []
    original = app._display

    def display(screen: Any, update: Any) -> None:
        original(screen, update)
        main = next((s for s in app.screen_stack if isinstance(s, MainScreen)), None)
        if update is not None and main is not None and main.versions.shown_rows and not at_first_frame:
            at_first_frame.append(len(main.models.summaries))

    app._display = display  # type: ignore[method-assign]
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)  # waits for the summaries too
        assert at_first_frame == [0]
        assert set(main.models.summaries) == {"alpha", "sentiment"}
