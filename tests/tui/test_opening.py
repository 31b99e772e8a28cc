"""Opening the registry as the app starts (tui.opening): the first paint waits a while for it, so
that a registry that opens quickly is never drawn as an empty layout first; a slow one is shown
as loading, then filled; one that cannot be opened ends the app with its one-line error."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import tui.app
from store.errors import ModelregError
from store.registry import Registry
from tests.tui.test_app import SMALL, opened, pilot_test, reg, until  # noqa: F401
from tui.app import ModelregApp
from tui.main_screen import MainScreen
from tui.opening import FIRST_VIEW_WAIT


def record_frames(app: ModelregApp) -> list[tuple[int, int]]:
    """(models shown, versions shown) for every frame of the main screen the app draws."""
    frames: list[tuple[int, int]] = []
    original = app._display

    def display(screen: Any, renderable: Any) -> None:
        original(screen, renderable)
        if renderable is not None and isinstance(screen, MainScreen):
            frames.append((screen.models.row_count, screen.versions.table.row_count))

    app._display = display  # type: ignore[method-assign]
    return frames


@pilot_test
async def test_a_registry_that_opens_quickly_is_drawn_with_its_versions_from_the_first_frame(
        reg: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    path = reg.path
    reg.release()
    # The first paint waits this long at most; a loaded machine may take longer than 0.3 s to
    # open even a small registry, and what is tested is that the first frame is a full one.
    monkeypatch.setattr(tui.app, "FIRST_VIEW_WAIT", 30.0)

    def opener() -> Registry:
        time.sleep(FIRST_VIEW_WAIT / 3)  # a registry that takes a while to read (a large one, a slow disk)
        return Registry(path, create=False)

    app = ModelregApp(opener=opener)
    frames = record_frames(app)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        assert main.models.row_count == 2
    assert frames, "no frame was drawn"
    assert frames[0] == (2, 3), f"the first frame drew {frames[0]} (models, versions), not the first model's versions"


@pilot_test
async def test_a_slow_registry_is_shown_loading_then_filled(reg: Registry) -> None:
    path = reg.path
    reg.release()
    go = threading.Event()

    def slow_opener() -> Registry:
        go.wait(30)
        return Registry(path, create=False)

    app = ModelregApp(opener=slow_opener)
    frames = record_frames(app)
    async with app.run_test(size=SMALL) as pilot:
        for _ in range(400):  # the main screen comes without the registry once FIRST_VIEW_WAIT is up
            if frames:
                break
            await asyncio.sleep(FIRST_VIEW_WAIT / 20)
        main = app.main
        assert frames and frames[0][1] == 0 and main.models.loading
        go.set()
        await opened(pilot)
        assert not main.models.loading and main.versions.table.row_count == 3
    assert frames[-1] == (2, 3)


@pilot_test
async def test_a_path_that_is_not_a_registry_ends_the_app_with_one_line(tmp_path: Path) -> None:
    def opener() -> Registry:
        return Registry(tmp_path / "typo", create=False)

    app = ModelregApp(opener=opener)
    async with app.run_test(size=SMALL) as pilot:
        await until(pilot, lambda: app.return_code is not None or app._exit_renderables or not app.is_running)
    assert app.return_value == 1
    assert app.error and "\n" not in app.error and "typo" in app.error
    try:
        Registry(tmp_path / "typo", create=False)
    except ModelregError as error:
        assert app.error == str(error)
