"""The watcher on real folders with real observers (inotify and polling): every finished
checkpoint registered once, never a half-written or temporary one, never a duplicate."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from store.backends.protocol import Backend
from store.records import Version
from store.registry import Registry
from store.watch import Watcher, WatchEvent
from tests.conftest import BACKENDS, backend_for

SETTLE = 0.3
MODES = ["inotify", "poll"]


class Events:
    """Collects watch events from the watcher's threads."""

    def __init__(self) -> None:
        self.items: list[tuple[float, WatchEvent]] = []
        self.lock = threading.Lock()

    def __call__(self, event: WatchEvent) -> None:
        with self.lock:
            self.items.append((time.time(), event))

    def of(self, kind: str) -> list[WatchEvent]:
        with self.lock:
            return [e for _, e in self.items if e.kind == kind]

    def times(self, kind: str) -> list[float]:
        with self.lock:
            return [t for t, e in self.items if e.kind == kind]


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def make_registry(tmp_path: Path, backend: Backend | None = None, **watch: object) -> Registry:
    path = tmp_path / "registry"
    path.mkdir(exist_ok=True)
    (path / "config.json").write_text(json.dumps({"watch": {"poll_interval": 0.1, **watch}}))
    return Registry(path, backend=backend)


def versions(registry: Registry) -> list[Version]:
    registry.refresh()
    return registry.find()


def paths(registry: Registry) -> list[str]:
    return sorted(a["path"] for v in versions(registry) for a in v.artifacts)


@contextmanager
def watching(registry: Registry, root: Path, mode: str, settle: float = SETTLE, **kwargs: object) -> Iterator[tuple[Watcher, Events]]:
    events = Events()
    watcher = Watcher(registry, [root], poll=mode == "poll", settle=settle, on_event=events, **kwargs)
    watcher.start()
    assert watcher.idle(20)
    try:
        yield watcher, events
    finally:
        watcher.stop()


def quiesce(watcher: Watcher, settle: float = SETTLE) -> None:
    """Give late events time to arrive (a poll, a settle period), then wait for the work they cause."""
    time.sleep(settle + 0.3)
    assert watcher.idle(30)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "runs"
    path.mkdir()
    return path


# Every backend but "snapshot", which is the journal again with compaction on every write: nothing the watcher does.
WATCH_BACKENDS = [kind for kind in BACKENDS if kind != "snapshot"]


@pytest.fixture(params=WATCH_BACKENDS)
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    reg = make_registry(tmp_path, backend_for(request))
    yield reg
    reg.close()


# -- when a checkpoint is finished ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_checkpoint_written_in_chunks_is_registered_once_after_its_last_write(registry: Registry, root: Path, mode: str) -> None:
    target = root / "resnet-epoch3.pt"
    chunk = os.urandom(100_000)
    with watching(registry, root, mode, settle=1.0) as (watcher, events):
        with open(target, "wb") as handle:
            for _ in range(50):  # 5 MB over 5 s
                handle.write(chunk)
                handle.flush()
                time.sleep(0.1)
            last_write = time.time()
        assert wait_until(lambda: len(versions(registry)) == 1)
        quiesce(watcher, 1.0)
    [version] = versions(registry)
    assert events.times("registered")[0] >= last_write
    assert len(events.of("registered")) == 1
    assert version.artifacts[0]["size"] == 5_000_000
    assert version.artifacts[0]["sha256"] == sha256(target)
    assert version.model == "resnet" and version.extra["step"] == 3


@pytest.mark.parametrize("mode", MODES)
def test_a_temporary_file_renamed_into_place_is_registered_under_its_final_name(registry: Registry, root: Path, mode: str) -> None:
    with watching(registry, root, mode) as (watcher, events):
        temporary = root / "model.pt.tmp"
        with open(temporary, "wb") as handle:
            for _ in range(5):
                handle.write(b"w" * 10_000)
                handle.flush()
                time.sleep(0.1)
        time.sleep(SETTLE + 0.3)  # long enough for the temporary name to count as finished, were it a checkpoint
        os.rename(temporary, root / "model.pt")
        assert wait_until(lambda: len(versions(registry)) == 1)
        quiesce(watcher)
    assert paths(registry) == [str(root / "model.pt")]
    assert not events.of("problem")


def write_hf_checkpoint(folder: Path, step: int, loss: float) -> None:
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(os.urandom(20_000))
    (folder / "config.json").write_text(json.dumps({"architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert", "_name_or_path": "distilbert-base-uncased"}))
    state = {"global_step": step, "epoch": 1.0, "log_history": [{"loss": 0.5, "step": step}, {"eval_loss": loss, "eval_accuracy": 0.9, "step": step}]}
    (folder / "trainer_state.json").write_text(json.dumps(state))


@pytest.mark.parametrize("mode", MODES)
def test_hugging_face_tmp_checkpoint_renamed_is_one_version_of_the_final_folder(registry: Registry, root: Path, mode: str) -> None:
    with watching(registry, root, mode) as (watcher, events):
        write_hf_checkpoint(root / "sentiment" / "tmp-checkpoint-500", 500, 0.25)
        time.sleep(SETTLE + 0.3)
        os.rename(root / "sentiment" / "tmp-checkpoint-500", root / "sentiment" / "checkpoint-500")
        assert wait_until(lambda: len(versions(registry)) == 1)
        write_hf_checkpoint(root / "sentiment" / "tmp-checkpoint-1000", 1000, 0.2)
        os.rename(root / "sentiment" / "tmp-checkpoint-1000", root / "sentiment" / "checkpoint-1000")
        assert wait_until(lambda: len(versions(registry)) == 2)
        quiesce(watcher)
    first, second = registry.versions("sentiment")
    assert [a["path"] for a in first.artifacts] == [str(root / "sentiment" / "checkpoint-500")]
    assert first.artifacts[0]["kind"] == "dir"
    assert first.metrics["loss"] == 0.25 and first.extra["step"] == 500
    assert first.training["framework"] == "transformers" and first.training["base_model"] == "distilbert-base-uncased"
    assert second.parent == first.ref  # the previous checkpoint of the same run
    assert not [p for p in paths(registry) if "tmp-" in p]


@pytest.mark.parametrize("mode", MODES)
def test_a_checkpoint_folder_moved_in_from_elsewhere_is_one_version(registry: Registry, root: Path, tmp_path: Path, mode: str) -> None:
    outside = tmp_path / "scratch" / "checkpoint-7"
    outside.mkdir(parents=True)
    (outside / "model.safetensors").write_bytes(os.urandom(10_000))
    (outside / "optimizer.pt").write_bytes(os.urandom(5_000))
    (outside / "modelreg.json").write_text(json.dumps({"model": "detector", "metrics": {"map": 0.61}}))
    (root / "detector").mkdir()
    with watching(registry, root, mode) as (watcher, events):
        os.rename(outside, root / "detector" / "checkpoint-7")
        assert wait_until(lambda: len(versions(registry)) == 1)
        quiesce(watcher)
    [version] = versions(registry)
    assert version.ref == "detector:v1" and version.metrics == {"map": 0.61}
    assert paths(registry) == [str(root / "detector" / "checkpoint-7")]


@pytest.mark.parametrize("mode", MODES)
def test_a_checkpoint_file_moved_in_or_out_and_back_is_seen_at_once(registry: Registry, root: Path, tmp_path: Path,
                                                                    mode: str) -> None:
    """``mv ~/scratch/model.pt runs/`` is a whole file at once: no close event follows, so waiting for
    one (the close timeout, 60 s) would leave it unregistered for a minute."""
    outside = tmp_path / "scratch"
    outside.mkdir()
    (outside / "model.pt").write_bytes(os.urandom(10_000))
    with watching(registry, root, mode) as (watcher, events):
        assert watcher.close_timeout >= 60
        os.rename(outside / "model.pt", root / "model.pt")
        assert wait_until(lambda: len(versions(registry)) == 1, timeout=15)
        quiesce(watcher)
        os.rename(root / "model.pt", outside / "model.pt")
        assert wait_until(lambda: registry.get("model:v1").missing, timeout=15)
        quiesce(watcher)
        os.rename(outside / "model.pt", root / "model.pt")  # back again, unchanged
        assert wait_until(lambda: not registry.get("model:v1").missing, timeout=15)
        quiesce(watcher)
    assert [v.ref for v in versions(registry)] == ["model:v1"]
    assert paths(registry) == [str(root / "model.pt")]


@pytest.mark.parametrize("mode", MODES)
def test_a_checkpoint_in_folders_made_with_mkdir_p_is_registered(registry: Registry, root: Path, mode: str) -> None:
    with watching(registry, root, mode) as (watcher, events):
        deep = root / "translator" / "2026-11-23" / "run-4"
        deep.mkdir(parents=True)
        (deep / "model_step_100.safetensors").write_bytes(os.urandom(10_000))
        assert wait_until(lambda: len(versions(registry)) == 1)
        quiesce(watcher)
    [version] = versions(registry)
    assert version.model == "translator"
    assert paths(registry) == [str(deep / "model_step_100.safetensors")]


@pytest.mark.parametrize("mode", MODES)
def test_200_checkpoint_folders_with_sidecars_become_200_versions(registry: Registry, root: Path, mode: str) -> None:
    with watching(registry, root, mode) as (watcher, events):
        for i in range(200):
            folder = root / "classifier" / f"checkpoint-{i}"
            folder.mkdir(parents=True)
            (folder / "model.safetensors").write_bytes(i.to_bytes(4, "big") * 100)
            (folder / "modelreg.json").write_text(json.dumps({"metrics": {"accuracy": i / 200}, "tags": ["sweep"]}))
        assert wait_until(lambda: len(versions(registry)) >= 200, timeout=60)
        quiesce(watcher)
    found = versions(registry)
    assert len(found) == 200
    assert len(set(paths(registry))) == 200
    assert all(v.tags == ("sweep",) and "accuracy" in v.metrics for v in found)
    assert sorted(v.metrics["accuracy"] for v in found) == [i / 200 for i in range(200)]


@pytest.mark.parametrize("mode", MODES)
def test_a_sidecar_before_after_or_never_gives_one_version_each_with_metadata_merged(registry: Registry, root: Path, mode: str) -> None:
    with watching(registry, root, mode) as (watcher, events):
        (root / "before.pt.json").write_text(json.dumps({"metrics": {"accuracy": 0.8}, "notes": "written first"}))
        (root / "before.pt").write_bytes(b"b" * 1000)
        for name in ("soon", "later", "delayed"):
            (root / f"{name}.pt").write_bytes(name.encode() * 100)
        (root / "never.pt").write_bytes(b"n" * 1000)
        (root / "soon.pt.json").write_text(json.dumps({"metrics": {"accuracy": 0.81}}))
        time.sleep(1.5)
        (root / "later.pt.meta.json").write_text(json.dumps({"metrics": {"accuracy": 0.82}, "params": {"lr": 0.1}}))
        time.sleep(3.0)
        (root / "delayed.pt.json").write_text(json.dumps({"metrics": {"accuracy": 0.83}, "git_commit": "abc1234"}))
        assert wait_until(lambda: any(v.model == "delayed" and v.metrics for v in versions(registry)))
        quiesce(watcher)
    by_model = {}
    for version in versions(registry):
        by_model.setdefault(version.model, []).append(version)
    assert sorted(by_model) == ["before", "delayed", "later", "never", "soon"]
    assert all(len(found) == 1 for found in by_model.values())
    assert by_model["before"][0].metrics == {"accuracy": 0.8} and by_model["before"][0].notes == "written first"
    assert by_model["soon"][0].metrics == {"accuracy": 0.81}
    assert by_model["later"][0].metrics == {"accuracy": 0.82} and by_model["later"][0].params == {"lr": 0.1}
    assert by_model["delayed"][0].git_commit == "abc1234" and by_model["delayed"][0].metrics == {"accuracy": 0.83}
    assert by_model["never"][0].metrics == {}
    assert len(events.of("registered")) == 5


# -- exactly once, across restarts --------------------------------------------------------------------------


def test_checkpoints_added_while_stopped_are_registered_once_on_start(registry: Registry, root: Path) -> None:
    with watching(registry, root, "inotify") as (watcher, _):
        for i in range(5):
            (root / f"model-{i}.pt").write_bytes(os.urandom(1000))
        assert wait_until(lambda: len(versions(registry)) == 5)
        quiesce(watcher)
    for i in range(5, 55):
        (root / f"model-{i}.pt").write_bytes(os.urandom(1000))
    old = time.time() - 60  # finished a while ago: registered by the scan without waiting
    for i in range(5, 55):
        os.utime(root / f"model-{i}.pt", (old, old))
    with watching(registry, root, "inotify") as (watcher, events):
        assert wait_until(lambda: len(versions(registry)) == 55)
        quiesce(watcher)
    assert len(events.of("registered")) == 50
    with watching(registry, root, "poll") as (watcher, events):
        quiesce(watcher)
    assert len(events.of("registered")) == 0
    assert len(versions(registry)) == 55 and len(set(paths(registry))) == 55
    assert all(v.artifacts[0]["sha256"] for v in versions(registry))


def test_a_checkpoint_overwritten_with_new_content_is_a_new_version_same_content_is_not(registry: Registry, root: Path) -> None:
    target = root / "last.ckpt"
    with watching(registry, root, "inotify") as (watcher, events):
        target.write_bytes(b"first" * 1000)
        assert wait_until(lambda: len(versions(registry)) == 1)
        quiesce(watcher)
        target.write_bytes(b"first" * 1000)  # same bytes again, new mtime
        quiesce(watcher)
        assert len(versions(registry)) == 1
        target.write_bytes(b"second" * 1000)
        assert wait_until(lambda: len(versions(registry)) == 2)
        quiesce(watcher)
    first, second = registry.versions(versions(registry)[0].model)
    assert second.parent == first.ref
    assert second.artifacts[0]["sha256"] == sha256(target)
    assert first.artifacts[0]["sha256"] != second.artifacts[0]["sha256"]


@pytest.mark.parametrize("mode", MODES)
def test_deleted_or_moved_away_checkpoints_are_marked_missing_never_removed(registry: Registry, root: Path, tmp_path: Path, mode: str) -> None:
    with watching(registry, root, mode) as (watcher, events):
        (root / "a.pt").write_bytes(b"a" * 100)
        write_hf_checkpoint(root / "hf" / "checkpoint-1", 1, 0.3)
        assert wait_until(lambda: len(versions(registry)) == 2)
        quiesce(watcher)
        (root / "a.pt").unlink()
        os.rename(root / "hf" / "checkpoint-1", tmp_path / "elsewhere")
        assert wait_until(lambda: all(v.missing for v in versions(registry)))
        quiesce(watcher)
        os.rename(tmp_path / "elsewhere", root / "hf" / "checkpoint-1")  # back again, unchanged
        assert wait_until(lambda: not registry.get("hf:v1").missing)
        quiesce(watcher)
    assert len(versions(registry)) == 2
    assert registry.get("a:v1").missing and not registry.get("hf:v1").missing
    assert len(events.of("missing")) == 2


# -- errors never stop the watcher ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_after_a_bad_sidecar_a_pipe_and_a_vanishing_file_the_next_100_still_register(registry: Registry, root: Path, mode: str) -> None:
    with watching(registry, root, mode) as (watcher, events):
        (root / "broken.pt.json").write_text("{not json")
        (root / "broken.pt").write_bytes(b"x" * 100)
        os.mkfifo(root / "pipe.pt")
        for _ in range(20):
            vanishing = root / "vanishing.pt"
            vanishing.write_bytes(b"v" * 100)
            vanishing.unlink()
        for i in range(100):
            (root / f"after-{i}.pt").write_bytes(i.to_bytes(2, "big") * 50)
        assert wait_until(lambda: len(versions(registry)) >= 101, timeout=30)
        quiesce(watcher)
    # A vanishing file may have been seen whole (closed) before it went: then it is registered and missing.
    assert all(v.missing for v in versions(registry) if v.model == "vanishing")
    kept = [v for v in versions(registry) if v.model != "vanishing"]
    models = {v.model for v in kept}
    assert len(kept) == 101 and "broken" in models and "pipe" not in models
    broken = registry.get("broken:v1")
    assert broken.problems and "not valid JSON" in broken.problems[0] and str(root / "broken.pt.json") in broken.problems[0]
    assert any("broken.pt.json" in e.message for e in events.of("problem"))
    assert all("\n" not in e.message for e in events.of("problem"))


@pytest.mark.parametrize("mode", MODES)
def test_a_sidecar_rewritten_badly_after_registration_is_a_problem_line(registry: Registry, root: Path, mode: str) -> None:
    with watching(registry, root, mode) as (watcher, events):
        (root / "m.pt.json").write_text(json.dumps({"metrics": {"acc": 0.5}}))
        (root / "m.pt").write_bytes(b"m" * 100)
        assert wait_until(lambda: len(versions(registry)) == 1)
        quiesce(watcher)
        (root / "m.pt.json").write_text('{"metrics": {"acc": 0.9')  # an editor saved half of it
        assert wait_until(lambda: bool(registry.get("m:v1").problems))
        quiesce(watcher)
    [line] = [e for e in events.of("problem")]
    assert line.ref == "m:v1" and str(root / "m.pt.json") in line.message and "not valid JSON" in line.message
    assert registry.get("m:v1").metrics == {"acc": 0.5}  # the last good metadata stays


def test_an_exception_in_the_handler_is_reported_and_watching_goes_on(registry: Registry, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import store.watch.event_handling as watch_module  # where file events meet checkpoint_for

    real = watch_module.checkpoint_for

    def flaky(path: object, *args: object) -> object:
        if "boom" in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args)

    monkeypatch.setattr(watch_module, "checkpoint_for", flaky)
    with watching(registry, root, "inotify") as (watcher, events):
        (root / "boom.pt").write_bytes(b"b" * 100)
        for i in range(100):
            (root / f"fine-{i}.pt").write_bytes(i.to_bytes(2, "big") * 10)
        assert wait_until(lambda: len(versions(registry)) == 100)
        quiesce(watcher)
        assert all(observer.is_alive() for observer in watcher._observers)
    assert any("boom.pt" in e.message and "permission denied" in e.message for e in events.of("problem"))


def test_a_dead_observer_is_restarted_and_what_it_missed_is_registered(registry: Registry, root: Path) -> None:
    with watching(registry, root, "inotify") as (watcher, events):
        for observer in watcher._observers:
            observer.stop()
            observer.join()
        (root / "while-dead.pt").write_bytes(b"d" * 100)
        assert wait_until(lambda: len(versions(registry)) == 1)
        (root / "after-restart.pt").write_bytes(b"r" * 100)
        assert wait_until(lambda: len(versions(registry)) == 2)
        quiesce(watcher)
    assert any("restarted" in e.message for e in events.of("info"))


def test_hitting_the_inotify_watch_limit_falls_back_to_polling_and_says_how_to_raise_it(registry: Registry, root: Path) -> None:
    with watching(registry, root, "inotify") as (watcher, events):
        watcher._on_watch_limit(OSError(28, "inotify watch limit reached"))
        assert wait_until(lambda: watcher.modes[str(root)].startswith("polling"))
        (root / "polled.pt").write_bytes(b"p" * 100)
        assert wait_until(lambda: len(versions(registry)) == 1)
        quiesce(watcher)
    assert any("fs.inotify.max_user_watches" in e.message for e in events.of("problem"))


def test_a_subfolder_the_kernel_refuses_to_watch_falls_back_to_polling(registry: Registry, root: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel's refusal is injected where watchdog calls it, so the path through watchdog's
    own bookkeeping (which only logs the refusal) to the watcher is the real one."""
    import ctypes
    import errno

    from watchdog.observers import inotify_c

    real_add_watch = inotify_c.inotify_add_watch

    def add_watch(fd: int, path: bytes, mask: int) -> int:
        if path.endswith(b"/refused"):
            ctypes.set_errno(errno.ENOSPC)
            return -1
        return real_add_watch(fd, path, mask)

    monkeypatch.setattr(inotify_c, "inotify_add_watch", add_watch)
    with watching(registry, root, "inotify") as (watcher, events):
        assert watcher.modes[str(root)].startswith("inotify")
        (root / "refused").mkdir()
        assert wait_until(lambda: watcher.modes[str(root)].startswith("polling"))
        (root / "refused" / "unheard.pt").write_bytes(b"u" * 100)
        assert wait_until(lambda: len(versions(registry)) == 1)
        quiesce(watcher)
    assert any("fs.inotify.max_user_watches" in e.message for e in events.of("problem"))


def test_a_queue_overflow_triggers_a_rescan(registry: Registry, root: Path) -> None:
    import logging

    with watching(registry, root, "inotify") as (watcher, events):
        for observer in watcher._observers:  # the observer lives on but hears nothing, as after an overflow
            observer.unschedule_all()
        (root / "lost-event.pt").write_bytes(b"l" * 100)
        time.sleep(0.5)
        assert versions(registry) == []
        logging.getLogger("watchdog.observers.inotify_c").warning("Inotify queue overflowed; filesystem events were lost")
        assert wait_until(lambda: len(versions(registry)) == 1)
        quiesce(watcher)
    assert any("overflow" in e.message for e in events.of("info"))


# -- pickles -----------------------------------------------------------------------------------------------------


class Payload:
    marker = ""

    def __reduce__(self) -> tuple[object, ...]:
        return (os.mkdir, (self.marker,))


def test_a_malicious_pickle_never_runs_and_is_flagged_while_a_safe_one_is_described(registry: Registry, root: Path, tmp_path: Path) -> None:
    import pickle

    import joblib
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    marker = tmp_path / "pwned"
    Payload.marker = str(marker)
    X, y = load_iris(return_X_y=True)
    with watching(registry, root, "inotify") as (watcher, events):
        (root / "evil.pkl").write_bytes(pickle.dumps(Payload()))
        joblib.dump(DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y), root / "iris-tree.joblib")
        assert wait_until(lambda: len(versions(registry)) == 2)
        assert wait_until(lambda: registry.get("iris-tree:v1").estimator is not None, timeout=60)
        quiesce(watcher)
    assert not marker.exists()
    evil = registry.get("evil:v1")
    assert evil.unsafe and evil.scan["verdict"] in ("unsafe", "error") and evil.estimator is None
    assert any("unsafe" in p for p in evil.problems)
    assert any("evil.pkl" in e.message and "unsafe" in e.message for e in events.of("problem"))
    tree = registry.get("iris-tree:v1")
    assert not tree.unsafe and tree.scan["safe"]
    assert "DecisionTreeClassifier" in json.dumps(tree.estimator) and tree.params.get("max_depth") == 3


# -- naming and lineage ------------------------------------------------------------------------------------------


def test_model_option_names_checkpoints_without_a_sidecar_model(registry: Registry, root: Path) -> None:
    with watching(registry, root, "inotify", model="fraud") as (watcher, _):
        (root / "epoch=1-step=100-val_loss=0.40.ckpt").write_bytes(b"1" * 100)
        (root / "epoch=2-step=200-val_loss=0.30.ckpt").write_bytes(b"2" * 100)
        (root / "other.pt.json").write_text(json.dumps({"model": "named-by-sidecar"}))
        (root / "other.pt").write_bytes(b"o" * 100)
        assert wait_until(lambda: len(versions(registry)) == 3)
        quiesce(watcher)
    first, second = registry.versions("fraud")
    assert first.metrics == {"val_loss": 0.4} and first.extra["step"] == 100 and first.extra["epoch"] == 1
    assert second.parent == first.ref
    assert registry.versions("named-by-sidecar")


def test_chaining_parents_can_be_switched_off(tmp_path: Path, root: Path) -> None:
    registry = make_registry(tmp_path, chain_parents=False)
    with watching(registry, root, "inotify") as (watcher, _):
        (root / "model_step_1.pt").write_bytes(b"1" * 100)
        assert wait_until(lambda: len(versions(registry)) == 1)
        (root / "model_step_2.pt").write_bytes(b"2" * 100)
        assert wait_until(lambda: len(versions(registry)) == 2)
        quiesce(watcher)
    assert all(v.parent is None for v in versions(registry))
    registry.close()
