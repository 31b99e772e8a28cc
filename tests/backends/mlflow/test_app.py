"""The app (Textual Pilot) on a real MLflow server: browse, deploy, roll back, the history, another
process's version appearing by polling, and going offline without losing what it shows."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.backends.mlflow.backend import MlflowBackend
from store.registry import Registry
from tests.servers import stop
from tests.servers.mlflow import fresh_prefix, start_mlflow
from tests.tui.test_app import SCANNED, SMALL, opened, pilot_test, screen_text, until, visible_refs, writes_done
from tui.app import ModelregApp

REPO = Path(__file__).resolve().parents[3]
POLL = 1.0


def populate(registry: Registry, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir(exist_ok=True)
    for i in range(1, 4):
        path = runs / f"alpha{i}.pkl"
        path.write_bytes(b"a" * 100 * i)
        registry.register("alpha", [path], metrics={"accuracy": 0.5 + i / 10}, scan=SCANNED)


def open_on(url: str, prefix: str, tmp_path: Path, **options: object) -> Registry:
    home = tmp_path / "registry"
    home.mkdir(exist_ok=True)
    (home / "config.json").write_text(json.dumps({"environments": ["production", "staging"]}))
    return Registry(home, backend=MlflowBackend(url, prefix=prefix, poll=POLL, **options))  # type: ignore[arg-type]


@pytest.fixture
def reg(mlflow_server: str, tmp_path: Path) -> Iterator[Registry]:
    registry = open_on(mlflow_server, fresh_prefix(), tmp_path)
    populate(registry, tmp_path)
    yield registry
    registry.close()


@pilot_test
async def test_browse_deploy_rollback_and_history_on_a_server(reg: Registry) -> None:
    from tui.screens.confirm import DeployConfirm, RollbackConfirm
    from tui.screens.prompts import EnvironmentPicker

    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        assert main.selected_model == "alpha" and visible_refs(main) == ["alpha:v3", "alpha:v2", "alpha:v1"]
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EnvironmentPicker))
        await pilot.press("down", "enter")
        await until(pilot, lambda: main.env == "staging")
        for keys, version in ((("j", "d"), "v2"), (("k", "d"), "v3")):
            await pilot.press(*keys)
            await until(pilot, lambda: isinstance(app.screen, DeployConfirm))
            await pilot.press("y")
            await until(pilot, lambda: reg.live_map("alpha").get("staging") == version, timeout=15)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, RollbackConfirm))
        await pilot.press("y")
        await until(pilot, lambda: reg.live_map("alpha").get("staging") == "v2", timeout=15)
        await writes_done(app)
        history = reg.history("alpha", "staging")
        assert [(h["action"], h["to"]) for h in history] == [("deploy", "v2"), ("deploy", "v3"), ("rollback", "v2")]
        await until(pilot, lambda: "rollback alpha in staging" in screen_text(app), timeout=15)


@pilot_test
async def test_a_version_made_by_another_process_appears_within_two_polls(reg: Registry, tmp_path: Path) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        assert visible_refs(main)[0] == "alpha:v3"
        backend = reg.backend
        assert isinstance(backend, MlflowBackend)
        other = f"""
from store.backends.mlflow.backend import MlflowBackend
from store.registry import Registry
Registry({str(tmp_path / 'other')!r}, backend=MlflowBackend({backend.client.url!r}, prefix={backend.replica.prefix!r})).register("alpha", [], metrics={{"accuracy": 0.99}})
"""
        done = subprocess.run([sys.executable, "-c", other], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        seen = time.monotonic()
        # Two polls, with slack for a loaded machine (each poll is a request to a one-worker server).
        await until(pilot, lambda: visible_refs(main)[0] == "alpha:v4", timeout=2 * POLL + 10)
        assert time.monotonic() - seen <= 2 * POLL + 10


def test_offline_the_registry_reads_from_the_replica_and_refuses_writes_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    url, process = start_mlflow(tmp_path / "server")
    prefix, saved = fresh_prefix(), tmp_path / "replica.json"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # where the command line keeps its replica
    monkeypatch.setenv("MODELREG_MLFLOW_PREFIX", prefix)
    try:
        registry = open_on(url, prefix, tmp_path, saved=saved)
        populate(registry, tmp_path)
        registry.close()
        assert main(["--registry", url, "versions", "alpha"]) == 0
        assert capsys.readouterr().err == ""
    finally:
        stop(process)  # type: ignore[arg-type]
    assert main(["--registry", url, "versions", "alpha"]) == 0  # offline: read from the saved copy, and said
    out, err = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["v1", "v2", "v3"]
    assert err.startswith("modelreg: warning: cannot reach the MLflow server") and err.count("\n") == 1
    assert "may be out of date" in err
    assert main(["--registry", url, "info", "alpha:v2"]) == 0  # a version named outright: the saved copy too
    out, err = capsys.readouterr()
    assert "alpha:v2" in out and err.startswith("modelreg: warning: cannot reach") and err.count("\n") == 1
    registry = open_on(url, prefix, tmp_path, saved=saved)
    assert [v.version for v in registry.versions("alpha")] == ["v1", "v2", "v3"]
    status = registry.sync_status()
    assert status is not None and status.state == "offline" and status.reason.startswith("cannot reach the MLflow server")
    with pytest.raises(Exception) as refused:
        registry.register("alpha", [])
    assert "cannot reach the MLflow server" in str(refused.value) and "\n" not in str(refused.value)
    assert [v.version for v in registry.versions("alpha")] == ["v1", "v2", "v3"]  # nothing half-written

    async def shown() -> None:  # the app opens on what was synced and says it is offline
        app = ModelregApp(registry)
        async with app.run_test(size=SMALL) as pilot:
            main = await opened(pilot)
            assert visible_refs(main) == ["alpha:v3", "alpha:v2", "alpha:v1"]
            await until(pilot, lambda: "offline, read-only" in screen_text(app), timeout=5)

    asyncio.run(shown())
    registry.close()
