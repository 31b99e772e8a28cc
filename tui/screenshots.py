"""SVG screenshots of every pane and screen, from fixed data on a frozen clock.

    python -m tui.screenshots            # rewrites screenshots/*.svg

The same scenes drive the snapshot tests (tests/tui/test_snapshots.py), so what the
README shows is what the tests check. Everything that could vary between runs is
pinned: the registry's contents and clock, the user name, the UI's "now", the
artifact directory, and the cursor blink.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import shutil
import sys
import time
import types
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from store.registry import Registry
    from tui.app import ModelregApp

# Artifacts are shown with their absolute paths, so the scene lives at a fixed one.
SCENE_ROOT = Path("/tmp/modelreg-scenes")
OUT = Path(__file__).resolve().parent.parent / "screenshots"
START = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)  # first registration
NOW = datetime(2026, 11, 23, 14, 30, tzinfo=timezone.utc)  # the UI's "now"
USER = "alice@gpu1"
SIZES = ((80, 24), (160, 48))


@dataclass(frozen=True)
class Scene:
    name: str
    keys: tuple[str, ...]
    about: str


# Start on the model with the richest history: iris-logreg, third in the Models pane.
PICK = ("h", "j", "j", "enter")

SCENES: tuple[Scene, ...] = (
    Scene("main", (), "the three panes: models, versions of the selected model, detail"),
    Scene("filter", ("slash", *"accuracy>0.94", "enter"), "versions filtered with the find language"),
    Scene("compare", ("j", "j", "space", "k", "k", "space", "c"), "v2 and v4 marked and compared, with a plot"),
    Scene("lineage", ("l", "d"), "the version tree with the data lineage panel"),
    Scene("deploy", ("d",), "deploy confirmation for the protected production environment"),
    Scene("rollback", ("r",), "rollback confirmation: what is live now and what it returns to"),
    Scene("status", ("j", "s"), "the status picker, offering only allowed transitions"),
    Scene("tag", ("t",), "the tag prompt"),
    Scene("environment", ("e",), "the environment picker"),
    Scene("help", ("question_mark",), "every key"),
)


# -- a frozen world --------------------------------------------------------------------------------


class _Clock:
    """Registration and deploy times: START, then a few minutes later for each write."""

    def __init__(self) -> None:
        self.when = START

    def __call__(self) -> str:
        self.when += timedelta(minutes=7)
        return self.when.isoformat()


class _FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return NOW if tz is not None else NOW.replace(tzinfo=None)


@contextmanager
def frozen() -> Iterator[None]:
    """Pin every clock and name the UI shows, for as long as the block runs."""
    clock = _Clock()
    fixed_time = types.SimpleNamespace(
        time=lambda: NOW.timestamp(), strftime=time.strftime, localtime=time.gmtime, gmtime=time.gmtime,
        monotonic=time.monotonic, perf_counter=time.perf_counter,
    )
    patches = [
        mock.patch("store.registry.now", clock),
        mock.patch("store.registry.whoami", lambda: USER),
        mock.patch("store.deploy.deploy.now", clock),
        mock.patch("store.deploy.deploy.whoami", lambda: USER),
        mock.patch("tui.widgets.versions.datetime", _FrozenDatetime),
        mock.patch("tui.widgets.activity.time", fixed_time),
    ]
    with ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        yield


# -- the data --------------------------------------------------------------------------------------

_DATA = {
    "iris": "iris@sklearn-1.9",
    "wine": "wine@sklearn-1.9",
    "digits": "digits@sklearn-1.9",
}


def build_registry(root: Path = SCENE_ROOT) -> Registry:
    """A fresh registry under ``root`` with a few models, lineage across models, and deploys.

    Call inside :func:`frozen` so the timestamps and names are the fixed ones.
    """
    from store.registry import Registry

    shutil.rmtree(root, ignore_errors=True)
    (root / "registry").mkdir(parents=True)
    (root / "registry" / "config.json").write_text(json.dumps({"environments": ["production", "staging"]}))
    registry = Registry(root / "registry")

    def add(model: str, version: str, metrics: dict[str, float], params: dict[str, Any], **more: Any) -> None:
        artifact = root / "runs" / model / f"{version}.joblib"
        artifact.parent.mkdir(parents=True, exist_ok=True)
        artifact.write_bytes(f"{model}:{version}".encode() * (200 + 40 * len(params)))
        dataset = _DATA[model.split("-")[0]]
        # Recorded as 'modelreg scan' would find a real model file (these bytes are only a stand-in):
        # an unscanned pickle may not be deployed, and the scenes deploy.
        scan = {"safe": True, "verdict": "safe", "reason": f"{artifact.name}: joblib/pickle, every import on the allow-list"}
        registry.register(
            model, [artifact], version, metrics=metrics, params=params, training_data=[dataset],
            git_commit=f"{abs(hash_of(model + version)):07x}"[:7], scan=scan, **more,
        )

    add("iris-logreg", "v1", {"accuracy": 0.900, "f1_macro": 0.899, "log_loss": 0.310}, {"C": 0.1, "max_iter": 100, "solver": "lbfgs"},
        tags=["baseline"])
    add("iris-logreg", "v2", {"accuracy": 0.947, "f1_macro": 0.946, "log_loss": 0.182}, {"C": 1.0, "max_iter": 100, "solver": "lbfgs"},
        parent="iris-logreg:v1")
    add("iris-logreg", "v3", {"accuracy": 0.933, "f1_macro": 0.931, "log_loss": 0.201}, {"C": 10.0, "max_iter": 100, "solver": "lbfgs"},
        parent="iris-logreg:v1")
    add("iris-logreg", "v4", {"accuracy": 0.967, "f1_macro": 0.966, "log_loss": 0.143}, {"C": 1.0, "max_iter": 500, "solver": "saga"},
        parent="iris-logreg:v2", tags=["candidate"], notes="warm start from v2; [bold]markup[/bold] stays literal")
    add("wine-forest", "v1", {"accuracy": 0.917, "f1_macro": 0.912}, {"n_estimators": 50, "max_depth": 4})
    add("wine-forest", "v2", {"accuracy": 0.944, "f1_macro": 0.941}, {"n_estimators": 100, "max_depth": 6}, parent="wine-forest:v1")
    add("wine-forest", "v3", {"accuracy": 0.972, "f1_macro": 0.970}, {"n_estimators": 200, "max_depth": 8}, parent="wine-forest:v2",
        status="training")
    add("digits-svm", "v1", {"accuracy": 0.961, "f1_macro": 0.960}, {"C": 1.0, "gamma": "scale"})
    add("digits-svm", "v2", {"accuracy": 0.983, "f1_macro": 0.983}, {"C": 10.0, "gamma": "scale"}, parent="digits-svm:v1")
    add("digits-svm-ft", "v1", {"accuracy": 0.987, "f1_macro": 0.986}, {"C": 10.0, "gamma": 0.001}, parent="digits-svm:v2")

    registry.deploy("iris-logreg:v1", "production")
    registry.deploy("iris-logreg:v2", "production")
    registry.deploy("iris-logreg:v4", "staging")
    registry.deploy("wine-forest:v2", "production")
    registry.deploy("digits-svm:v2", "production")
    return registry


def hash_of(text: str) -> int:
    """A stable small hash (Python's hash() is salted per process)."""
    value = 0
    for char in text:
        value = (value * 131 + ord(char)) % 0xFFFFFFF
    return value


# -- driving the app ---------------------------------------------------------------------------------


def make_app(registry: Registry) -> ModelregApp:
    from tui.app import ModelregApp

    return ModelregApp(registry)


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until the registry is loaded and shown (never a fixed sleep alone)."""
    from tui.main_screen import MainScreen

    app = pilot.app
    for _ in range(200):
        main = next((s for s in app.screen_stack if isinstance(s, MainScreen)), None)
        # Loaded, and the Detail pane (drawn a frame after the versions) showing the selected one.
        if main is not None and main.loaded.is_set() and (not main.detail_shown() or main.detail.row is main.versions.selected):
            break
        await pilot.pause(0.02)
    await pilot.pause()


async def play(pilot: Pilot[Any], scene: Scene) -> None:
    """Open the app's view for ``scene``: wait for the data, press its keys, stop cursors blinking."""
    from textual.widgets import Input

    await settle(pilot)
    await pilot.press(*PICK, *scene.keys)
    await pilot.pause()
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


@contextmanager
def scene_registry() -> Iterator[Registry]:
    """The scene's registry, freshly built, with the clocks frozen until the block ends.

    A file lock keeps two runs (say, tests and this script) off the one fixed directory.
    """
    SCENE_ROOT.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{SCENE_ROOT}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        with frozen():
            registry = build_registry()
            try:
                yield registry
            finally:
                registry.close()


def shoot(scene: Scene, size: tuple[int, int]) -> str:
    """An SVG screenshot of ``scene`` at ``size`` (columns, rows)."""

    async def run(registry: Registry) -> str:
        app = make_app(registry)
        async with app.run_test(size=size) as pilot:
            await play(pilot, scene)
            return app.export_screenshot(title=f"modelreg · {scene.name}")

    with scene_registry() as registry:
        return asyncio.run(run(registry))


def main(argv: list[str] | None = None) -> int:
    """Write screenshots/<scene>.svg (160×48) and screenshots/<scene>-80x24.svg for every scene."""
    names = set(argv if argv is not None else sys.argv[1:])
    OUT.mkdir(exist_ok=True)
    for scene in SCENES:
        if names and scene.name not in names:
            continue
        for size in SIZES:
            suffix = "" if size == (160, 48) else f"-{size[0]}x{size[1]}"
            path = OUT / f"{scene.name}{suffix}.svg"
            path.write_text(shoot(scene, size), encoding="utf-8", newline="\n")
            print(f"wrote {path.relative_to(OUT.parent)}  ({scene.about})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
