"""Pilot tests: the app never writes blindly or by accident (issue 10, "Never a blind or accidental write").

Every registry here is real, on disk, in an unprotected default environment (staging), where
a single key used to be enough to deploy.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_app import opened, pilot_test, screen_text, until, writes_done

from store.loading import scan_version
from store.registry import Registry
from tui.app import ModelregApp
from tui.main_screen import MainScreen
from tui.screens.confirm import DeployConfirm, RollbackConfirm
from tui.screens.prompts import StatusPicker

SMALL = (80, 24)
TINY = (40, 10)  # below the 60×15 the app needs


class Evil:
    """Unpickling this runs a command: the safety scan calls it unsafe."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("true",))


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    """alpha v1..v3, scanned safe; v1 then v2 deployed to staging (so a rollback is possible).

    beta holds one version per reason a deploy is refused: v1 draft, v2 no artifacts,
    v3 a pickle never scanned, v4 a pickle the scan calls unsafe.
    """
    path = tmp_path / "registry"
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"environments": ["staging", "production"], "protected_environments": ["production"]}))
    registry = Registry(path)
    runs = tmp_path / "runs"
    runs.mkdir()

    def pickled(name: str, obj: Any) -> Path:
        file = runs / f"{name}.pkl"
        file.write_bytes(pickle.dumps(obj))
        return file

    for i in range(1, 4):
        registry.register("alpha", [pickled(f"alpha{i}", {"weights": [i, i + 1]})], f"v{i}", metrics={"accuracy": 0.5 + i / 10})
        scan_version(registry, f"alpha:v{i}")
    registry.deploy("alpha:v1", "staging")
    registry.deploy("alpha:v2", "staging")
    registry.register("beta", [pickled("beta1", {"w": 1})], "v1", status="draft")
    scan_version(registry, "beta:v1")
    registry.register("beta", [], "v2")
    registry.register("beta", [pickled("beta3", {"w": 3})], "v3")
    registry.register("beta", [pickled("beta4", Evil())], "v4")
    scan_version(registry, "beta:v4")
    yield registry
    registry.close()


def digest(path: Path) -> dict[str, str]:
    """Every file under ``path`` and a hash of its bytes."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.rglob("*")) if p.is_file()}


# -- too small ---------------------------------------------------------------------------------


@pilot_test
async def test_acceptance_no_write_while_too_small_with_a_deploy_dialog_open(reg: Registry) -> None:
    before = digest(reg.path)
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        assert main.env == "staging" and main.versions.selected.ref == "alpha:v3"
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DeployConfirm))
        await pilot.resize_terminal(*TINY)
        await until(pilot, lambda: main.has_class("-too-small"))
        await pilot.press("d", "y", "r", "y", "s", "enter")
        await pilot.pause()
        await writes_done(app)
        assert digest(reg.path) == before
        assert app.screen is main  # the dialog was cancelled, and no key opened another
        await pilot.resize_terminal(*SMALL)
        await until(pilot, lambda: not main.has_class("-too-small"))
        await pilot.pause()
        assert app.screen is main and "alpha" in screen_text(app)
        await pilot.press("q")
    assert digest(reg.path) == before
    assert reg.live("alpha", "staging").version == "v2"


@pilot_test
async def test_too_small_shows_only_its_line_and_ignores_every_key_but_quit(reg: Registry) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=TINY) as pilot:
        main = await opened(pilot)
        await pilot.pause()
        text = screen_text(app)
        assert "terminal too small" in text
        assert "alpha" not in text and "Deploy" not in text  # no panes, no footer
        for key in ("d", "r", "s", "t", "e", "c", "l", "a", "question_mark", "ctrl+p", "enter", "slash"):
            await pilot.press(key)
            assert app.screen is main, f"{key} opened {app.screen!r} while the terminal was too small"
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)
    assert app.return_code == 0


@pytest.mark.parametrize("key, screen", [("s", StatusPicker), ("r", RollbackConfirm), ("question_mark", None)])
@pilot_test
async def test_shrinking_cancels_whatever_is_open(reg: Registry, key: str, screen: type | None) -> None:
    before = digest(reg.path)
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        await pilot.press(key)
        await until(pilot, lambda: app.screen is not main)
        if screen is not None:
            assert isinstance(app.screen, screen)
        await pilot.resize_terminal(59, 24)  # one column too few
        await until(pilot, lambda: app.screen is main and main.has_class("-too-small"))
        await pilot.press("y", "enter")
        await pilot.resize_terminal(*SMALL)
        await until(pilot, lambda: not main.has_class("-too-small"))
        assert app.screen is main
        await writes_done(app)
    assert digest(reg.path) == before
