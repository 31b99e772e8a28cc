"""The app's sync indicator on a real MLflow server: "synced N s ago" counting up, "writing…" while
a write of the app's is in flight, "offline (read-only)" when the server stops (write keys then
refuse in one line and open no dialog), and back to "synced" when it starts again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from store.backends.mlflow.backend import MlflowBackend
from store.registry import Registry
from tests.backends.mlflow.test_app import POLL, open_on, populate
from tests.servers import stop
from tests.servers.mlflow import fresh_prefix, start_mlflow
from tests.tui.test_app import SMALL, opened, pilot_test, screen_text, until, writes_done
from tui.app import ModelregApp
from tui.main_screen import MainScreen

FOOTER_KEYS = ("? Help", "d Deploy", "r Rollback", "q Quit")  # what the 80-column footer shows on a local registry


def status_line(app: ModelregApp) -> str:
    """The row above the footer: the activity line, then the indicator."""
    return screen_text(app).splitlines()[-2]


def check_layout(app: ModelregApp) -> None:
    """The indicator fits at 80×24 beside the activity line, and pushes nothing out."""
    lines = screen_text(app).splitlines()
    assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
    assert all(key in lines[-1] for key in FOOTER_KEYS), lines[-1]
    assert "Models" in lines[0] or "Versions" in lines[0]


@pytest.fixture
def slow_poll(mlflow_server: str, tmp_path: Path) -> Iterator[Registry]:
    """A registry that syncs with the server only once a minute: the age is seen to grow."""
    prefix = fresh_prefix()
    registry = open_on(mlflow_server, prefix, tmp_path)
    populate(registry, tmp_path)
    registry.close()
    registry = Registry(tmp_path / "registry", backend=MlflowBackend(mlflow_server, prefix=prefix, poll=60))  # type: ignore[arg-type]
    yield registry
    registry.close()


@pilot_test
async def test_the_indicator_says_synced_and_counts_the_seconds_once_a_second(slow_poll: Registry) -> None:
    app = ModelregApp(slow_poll)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        await until(pilot, lambda: main.sync.text.startswith("synced"))
        # Counted from the sync before the app opened: how far it got depends on the machine.
        first = seconds(main.sync.text)
        drawn: list[str] = []
        draw = main.sync.update
        main.sync.update = lambda content="", **kw: (drawn.append(str(content)), draw(content, **kw))[1]  # type: ignore[method-assign]
        started = time.monotonic()
        await until(pilot, lambda: seconds(main.sync.text) >= first + 2, timeout=30)
        await pilot.pause()
        shown = main.sync.text
        assert status_line(app).rstrip().endswith(f"│ {shown}"), status_line(app)
        check_layout(app)
        # Redrawn only when the words change: about once a second, never more, counting up.
        assert 1 <= len(drawn) <= time.monotonic() - started + 1, drawn
        assert drawn[-1] == f"│ {shown}"
        counts = [seconds(text.removeprefix("│ ")) for text in drawn]
        assert counts == sorted(set(counts)) and counts[0] > first, drawn


def seconds(text: str) -> int:
    """12 from "synced 12 s ago"."""
    words = text.split()
    assert text.startswith("synced ") and words[2:] == ["s", "ago"], text
    return int(words[1])


@pytest.fixture
def reg(mlflow_server: str, tmp_path: Path) -> Iterator[Registry]:
    registry = open_on(mlflow_server, fresh_prefix(), tmp_path)
    populate(registry, tmp_path)
    yield registry
    registry.close()


@pilot_test
async def test_a_deploy_shows_writing_until_the_server_has_it_then_synced(reg: Registry) -> None:
    from tui.screens.confirm import DeployConfirm

    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        await until(pilot, lambda: main.sync.text.startswith("synced"))
        await to_staging(pilot, main)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DeployConfirm))
        # Hold the backend while the deploy is confirmed: a server that is slow to answer.
        lock = reg.backend.lock  # type: ignore[attr-defined]
        lock.acquire()
        try:
            await pilot.press("y")
            await until(pilot, lambda: main.sync.text == "writing…")
            await pilot.pause()
            assert "│ writing…" in status_line(app)
            check_layout(app)
            assert reg.live_map("alpha").get("staging") is None  # the deploy is still waiting for the server
        finally:
            lock.release()
        await until(pilot, lambda: reg.live_map("alpha").get("staging") == "v3", timeout=15)
        await writes_done(app)
        await until(pilot, lambda: main.sync.text.startswith("synced"))
        assert main.sync.writes == 0


async def to_staging(pilot: Any, main: MainScreen) -> None:
    """Deploys go to staging (production is protected: its dialog asks for the model's name)."""
    from tui.screens.prompts import EnvironmentPicker

    await pilot.press("e")
    await until(pilot, lambda: isinstance(pilot.app.screen, EnvironmentPicker))
    await pilot.press("down", "enter")
    await until(pilot, lambda: main.env == "staging")


async def press_refused(pilot: Any, main: MainScreen, key: str, what: str) -> None:
    """A write key while offline: no dialog, one line saying why."""
    await pilot.press(key)
    await pilot.pause()
    assert pilot.app.screen is main, f"{key} opened {pilot.app.screen}"
    notice = main.activity.notices[-1]
    assert notice.startswith(f"{what} refused: the server is offline; cannot reach the MLflow server at ") and "\n" not in notice
    assert f"⊘ {what} refused: the server is offline;" in status_line(pilot.app)  # whole at 80 columns
    assert main.activity.log_entries[-1][1].message == notice  # the log has it whole


@pilot_test
async def test_a_stopped_server_shows_offline_refuses_writes_in_one_line_and_comes_back(tmp_path: Path) -> None:
    from tui.screens.confirm import DeployConfirm

    directory = tmp_path / "server"
    url, process = start_mlflow(directory)
    try:
        registry = open_on(url, fresh_prefix(), tmp_path)
        populate(registry, tmp_path)
        app = ModelregApp(registry)
        async with app.run_test(size=SMALL) as pilot:
            main = await opened(pilot)
            await until(pilot, lambda: main.sync.text.startswith("synced"))
            await to_staging(pilot, main)
            await asyncio.to_thread(stop, process)  # type: ignore[arg-type]
            await until(pilot, lambda: main.sync.text == "offline (read-only)", timeout=2 * POLL + 5)
            await pilot.pause()
            assert status_line(app).rstrip().endswith("│ ✗ offline (read-only)"), status_line(app)
            check_layout(app)
            logged = [event.message for _, event in main.activity.log_entries]
            assert any(m.startswith("offline, read-only: cannot reach the MLflow server") for m in logged), logged
            for key, what in (("d", "deploy"), ("r", "rollback"), ("t", "tag"), ("s", "status")):
                await press_refused(pilot, main, key, what)
            assert main.selected_model == "alpha" and len(main.versions.shown_rows) == 3  # still reading from the replica
            port = int(url.rsplit(":", 1)[1])
            _, process = await asyncio.to_thread(start_mlflow, directory, None, port)
            await until(pilot, lambda: main.sync.text.startswith("synced"), timeout=2 * POLL + 5)
            await until(pilot, lambda: any("the server answers again" in e.message for _, e in main.activity.log_entries))
            await pilot.press("d")  # writing works again
            await until(pilot, lambda: isinstance(app.screen, DeployConfirm))
            await pilot.press("y")
            await until(pilot, lambda: registry.live_map("alpha").get("staging") == "v3", timeout=15)
            await writes_done(app)
        registry.close()
    finally:
        stop(process)  # type: ignore[arg-type]


def test_the_age_stays_a_few_cells_long() -> None:
    from tui.widgets.sync import age

    assert [age(s) for s in (-0.2, 0.9, 59.9, 60, 3599, 3600, 86_400 * 3)] == ["0 s", "0 s", "59 s", "1 min", "59 min", "1 h", "72 h"]
