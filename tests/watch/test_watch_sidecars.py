"""Sidecars racing their checkpoints: a sidecar's fingerprint is remembered only with its content.

A checkpoint folder made a moment ago is watched only once inotify reported the folder, and
watchdog then reports the files already inside as *created* (not closed, not renamed). A
sidecar renamed into place before that looks as if it were still being written when its
model is renamed in right after it. It must still end up in the version, and the version's
record must never claim a sidecar whose content it does not hold.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from watchdog.events import DirCreatedEvent, FileClosedEvent, FileCreatedEvent, FileMovedEvent, FileSystemEvent

from store.demo.training import create_demo, train
from store.registry import Registry
from store.watch.sidecar import read_sidecar
from store.watch import Watcher
from tests.conftest import backend_for
from tests.watch.test_watch import MODES, SETTLE, WATCH_BACKENDS, Events, make_registry, quiesce, versions, wait_until


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "runs"
    path.mkdir()
    return path


@pytest.fixture(params=WATCH_BACKENDS)
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    reg = make_registry(tmp_path, backend_for(request))
    yield reg
    reg.close()


class ScriptedWatcher(Watcher):
    """A watcher whose observer is the test: it receives watchdog's events in a chosen order,
    through the same entry point watchdog's thread uses."""

    def _start_observers(self) -> None:
        for root in self.roots:
            st = os.stat(root)
            self._root_ids[root] = (st.st_dev, st.st_ino)
            self.modes[root] = "inotify"

    def feed(self, *events: FileSystemEvent) -> None:
        for event in events:
            self._on_fs_event(event, False)


@contextmanager
def scripted(registry: Registry, root: Path, settle: float = SETTLE) -> Iterator[tuple[ScriptedWatcher, Events]]:
    events = Events()
    watcher = ScriptedWatcher(registry, [root], settle=settle, on_event=events)
    watcher.start()
    assert watcher.idle(20)
    try:
        yield watcher, events
    finally:
        watcher.stop()


def sidecar_fp(path: Path) -> list[float]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime]


def watch_record(registry: Registry, ref: str) -> dict[str, object]:
    [artifact] = registry.get(ref).artifacts
    return artifact["watch"]


def write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def test_a_sidecar_seen_only_as_created_in_a_new_folder_is_applied_when_its_model_is_renamed_in(registry: Registry, root: Path) -> None:
    # What inotify reports for the demo trainer's step folder when the folder's watch came
    # after the sidecar's rename but before the model's: the lead's iris-logreg:v2.
    folder = root / "iris-logreg" / "step-0005"
    folder.mkdir(parents=True)
    model, sidecar = folder / "model.pt", folder / "model.pt.json"
    write_atomically(sidecar, json.dumps({"metrics": {"accuracy": 0.97}, "tags": ["demo"], "lr": 0.1}).encode())
    with scripted(registry, root) as (watcher, events):
        watcher.feed(DirCreatedEvent(str(root / "iris-logreg")), DirCreatedEvent(str(folder)), FileCreatedEvent(str(sidecar)))
        write_atomically(model, b"weights" * 100)
        watcher.feed(
            FileCreatedEvent(str(model) + ".tmp"),
            FileClosedEvent(str(model) + ".tmp"),
            FileMovedEvent(str(model) + ".tmp", str(model)),
        )
        assert wait_until(lambda: len(events.of("registered")) == 1)
        quiesce(watcher)
    [version] = versions(registry)
    assert version.metrics == {"accuracy": 0.97} and version.tags == ("demo",)
    assert version.source == str(sidecar) and version.extra["lr"] == 0.1
    assert watch_record(registry, version.ref)["sidecar"] == sidecar_fp(sidecar)


@pytest.mark.parametrize("finished_by", ["close", "settle"])
def test_a_sidecar_half_written_when_its_model_is_renamed_in_is_applied_once_finished(registry: Registry, root: Path, finished_by: str) -> None:
    folder = root / "run" / "step-0001"
    folder.mkdir(parents=True)
    model, sidecar = folder / "model.pt", folder / "model.pt.json"
    text = json.dumps({"metrics": {"accuracy": 0.9}, "params": {"depth": 4}, "notes": "complete"})
    # A settle period long enough that the half sidecar is looked at only through the model's rename.
    with scripted(registry, root, settle=1.0) as (watcher, events):
        watcher.feed(DirCreatedEvent(str(root / "run")), DirCreatedEvent(str(folder)))
        with open(sidecar, "w") as handle:
            handle.write(text[:20])
            handle.flush()
            watcher.feed(FileCreatedEvent(str(sidecar)))
            write_atomically(model, b"weights" * 100)
            watcher.feed(FileMovedEvent(str(model) + ".tmp", str(model)))
            assert wait_until(lambda: len(events.of("registered")) == 1)
            [version] = versions(registry)
            # Registered at once with what is known; the half sidecar is neither a problem nor remembered.
            assert version.metrics == {} and version.problems == ()
            assert watch_record(registry, version.ref)["sidecar"] is None
            handle.write(text[20:])
        if finished_by == "close":
            watcher.feed(FileClosedEvent(str(sidecar)))
        assert wait_until(lambda: bool(versions(registry)[0].metrics))
        quiesce(watcher, 1.0)
    [version] = versions(registry)
    assert version.metrics == {"accuracy": 0.9} and version.params == {"depth": 4} and version.notes == "complete"
    assert watch_record(registry, version.ref)["sidecar"] == sidecar_fp(sidecar)
    assert any("metadata from" in e.message for e in events.of("updated"))


@pytest.mark.parametrize("mode", MODES)
def test_sidecars_renamed_in_just_before_their_models_in_new_folders_are_all_applied(registry: Registry, root: Path, mode: str) -> None:
    # The demo trainer's pattern at full speed, on a real observer: each folder's watch races its files.
    count = 150
    events = Events()
    with Watcher(registry, [root], poll=mode == "poll", settle=SETTLE, on_event=events) as watcher:
        assert watcher.idle(20)
        for i in range(count):
            folder = root / "sweep" / f"step-{i:04d}"
            folder.mkdir(parents=True)
            write_atomically(folder / "model.pt.json", json.dumps({"metrics": {"accuracy": i / count}, "tags": ["sweep"]}).encode())
            write_atomically(folder / "model.pt", i.to_bytes(4, "big") * 250)
        assert wait_until(lambda: len(versions(registry)) >= count, timeout=60)
        quiesce(watcher)
    found = versions(registry)
    assert len(found) == count
    for version in found:
        [artifact] = version.artifacts
        sidecar = Path(artifact["path"] + ".json")
        assert version.tags == ("sweep",) and version.metrics == read_sidecar(sidecar).metrics, version.ref
        assert artifact["watch"]["sidecar"] == sidecar_fp(sidecar), version.ref


def _estimator_file(path: Path) -> None:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    joblib.dump(LogisticRegression(C=1.0, max_iter=500).fit(X, y), path)


def test_the_estimator_description_fills_in_params_and_never_overrides_the_sidecars(registry: Registry, root: Path) -> None:
    early, late = root / "early.joblib", root / "late.joblib"
    with Watcher(registry, [root], settle=SETTLE) as watcher:
        assert watcher.idle(20)
        write_atomically(Path(str(early) + ".json"), json.dumps({"params": {"C": 0.25, "recipe": "a"}, "metrics": {"accuracy": 0.9}}).encode())
        _estimator_file(early)
        _estimator_file(late)
        assert wait_until(lambda: all(v.estimator for v in versions(registry)) and len(versions(registry)) == 2, timeout=60)
        # A sidecar that arrives after the description still wins over it.
        write_atomically(Path(str(late) + ".json"), json.dumps({"params": {"C": 8.0}, "metrics": {"accuracy": 0.8}}).encode())
        assert wait_until(lambda: registry.get("late:v1").metrics == {"accuracy": 0.8})
        quiesce(watcher)
    first, second = registry.get("early:v1"), registry.get("late:v1")
    assert first.params["C"] == 0.25 and first.params["recipe"] == "a" and first.params["max_iter"] == 500
    assert second.params["C"] == 8.0 and second.params["max_iter"] == 500
    assert first.metrics == {"accuracy": 0.9} and "LogisticRegression" in json.dumps(first.estimator)
    assert "LogisticRegression" in json.dumps(second.estimator)


def test_the_demo_trainer_watched_live_registers_every_checkpoint_with_its_sidecar(tmp_path: Path) -> None:
    # As `modelreg demo` does: watch the runs folder while the trainer writes into it.
    paths = create_demo(tmp_path / "demo")
    registry = Registry(paths.registry)
    try:
        with Watcher(registry, [paths.runs], settle=SETTLE) as watcher:
            assert watcher.idle(20)
            checkpoints = train(paths.runs, count=8, interval=0.05)
            assert wait_until(lambda: len(versions(registry)) == 8 and all(v.estimator for v in versions(registry)), timeout=90)
            quiesce(watcher)
        for checkpoint in checkpoints:
            [version] = [v for v in versions(registry) if v.artifacts[0]["path"] == str(checkpoint.path)]
            sidecar = read_sidecar(checkpoint.sidecar)
            assert version.ref == checkpoint.ref and version.metrics == checkpoint.metrics
            assert version.source == str(checkpoint.sidecar) and "demo" in version.tags, version.ref
            assert all(version.params[k] == v for k, v in sidecar.params.items()), version.ref
            assert version.artifacts[0]["watch"]["sidecar"] == sidecar_fp(checkpoint.sidecar), version.ref
    finally:
        registry.close()
