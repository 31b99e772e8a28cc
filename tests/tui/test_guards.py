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
from tests.tui.test_app import opened, pilot_test, screen_text, until, writes_done
from tests.tui.test_screens import Host

from store.deploy.loading import scan_version
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
    registry.update("beta:v3", scan={})  # as a version registered before registering judged pickles
    registry.register("beta", [pickled("beta4", Evil())], "v4")
    scan_version(registry, "beta:v4")
    yield registry
    registry.close()


def dialog_text(app: Any) -> str:
    """The words inside the dialog's border, as one line (so a wrapped sentence reads whole)."""
    inside = [line.strip().strip("█").strip() for line in screen_text(app).splitlines() if line.strip().startswith("█")]
    return " ".join(" ".join(inside).split())


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


@pytest.mark.parametrize("key, screen", [("d", DeployConfirm), ("s", StatusPicker), ("r", RollbackConfirm), ("t", None), ("question_mark", None), ("ctrl+p", None)])
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


# -- deploy and rollback dialogs: y only where the registry would deploy --------------------------


@pilot_test
async def test_redeploying_the_live_version_says_so_and_stops(reg: Registry) -> None:
    reg.deploy("alpha:v3", "production")  # protected: a live redeploy used to ask for the typed name
    app = Host(DeployConfirm(reg, "alpha:v3", "production"))
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        text = dialog_text(app)
        assert "alpha:v3 is already live in production: deploying it again changes nothing" in text
        assert "nothing to deploy: any key closes" in text
        assert not app.screen.query("#confirm-name") and "type the model name" not in text
        assert "Deploy" not in screen_text(app).splitlines()[-1]  # the footer offers no deploy key
        await pilot.press(*"alpha")
    assert app.results == [False]


REFUSED = [
    ("beta:v1", "cannot deploy beta:v1: it is draft; mark it ready with 'modelreg status beta:v1 completed' first"),
    ("beta:v2", "cannot deploy beta:v2: it has no artifacts; attach its files first"),
    ("beta:v3", "cannot deploy beta:v3: its pickle artifacts were never scanned; run 'modelreg scan beta:v3' first"),
    ("beta:v4", "cannot deploy beta:v4: the safety scan says unsafe"),
]


@pytest.mark.parametrize("ref, reason", REFUSED, ids=["draft", "no-artifacts", "unscanned", "unsafe"])
@pilot_test
async def test_deploy_dialog_states_the_refusal_and_offers_no_deploy_key(reg: Registry, ref: str, reason: str) -> None:
    app = Host(DeployConfirm(reg, ref, "staging"))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        text = dialog_text(app)
        assert f"✗ {reason}" in text
        assert "nothing to deploy: any key closes" in text and "y: deploy" not in text
        footer = screen_text(app).splitlines()[-1]
        assert "Deploy" not in footer and "Cancel" in footer
        await pilot.press("y")
    assert app.results == [False]


@pytest.mark.parametrize("ref", [ref for ref, _ in REFUSED])
@pilot_test
async def test_d_then_y_on_a_refused_version_writes_nothing(reg: Registry, ref: str) -> None:
    before = digest(reg.path)
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        main.jump_to(ref)
        await until(pilot, lambda: main.versions.selected is not None and main.versions.selected.ref == ref)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DeployConfirm))
        assert "cannot deploy" in screen_text(app)
        await pilot.press("y", "y", "enter")
        await until(pilot, lambda: app.screen is main)
        await writes_done(app)
    assert digest(reg.path) == before


@pilot_test
async def test_rollback_to_a_version_the_registry_would_refuse_offers_no_key(reg: Registry) -> None:
    # alpha:v1 was live before v2; since then a scan found its pickle unsafe.
    reg.update("alpha:v1", scan={"safe": False, "verdict": "unsafe", "reason": "alpha1.pkl: imports posix.system"})
    app = Host(RollbackConfirm(reg, "alpha", "staging"))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        text = dialog_text(app)
        assert "live now v2 → back to v1" in text
        assert "✗ Rollback impossible: cannot deploy alpha:v1: the safety scan says unsafe (alpha1.pkl: imports posix.system)" in text
        assert "nothing to roll back: any key closes" in text
        assert "Roll back" not in screen_text(app).splitlines()[-1]
        await pilot.press("y")
    assert app.results == [False]
    assert reg.live("alpha", "staging").version == "v2"


@pilot_test
async def test_deployable_version_still_deploys_with_y(reg: Registry) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DeployConfirm))
        text = screen_text(app)
        assert "cannot deploy" not in text and "y: deploy" in text
        await pilot.press("y")
        await until(pilot, lambda: reg.live("alpha", "staging").version == "v3")
        assert app.screen is main
