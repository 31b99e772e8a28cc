"""``modelreg demo``: real scikit-learn checkpoints and sidecars, registered and reproducible."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import types
from pathlib import Path

import joblib
import pytest
from sklearn.utils.validation import check_is_fitted

from store.demo import training as demo_training
from store.watch.checkpoints import model_name_for, scan_tree
from store.config import Config
from store.demo.training import evaluate, load_split, plan, populate, train
from store.registry import Registry
from store.watch.sidecar import read_sidecar, sidecar_for
from tui.cli import main


def _demo(folder: Path, *extra: str) -> int:
    return main(["demo", str(folder), "--no-ui", "--count", "6", "--interval", "0", *extra])


def _metrics(registry_path: Path) -> dict[str, dict[str, float]]:
    with Registry(registry_path, create=False) as registry:
        return {v.ref: v.metrics for m in registry.models() for v in registry.versions(m.name)}


def test_no_ui_trains_real_checkpoints_and_registers_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _demo(tmp_path / "demo") == 0
    out = capsys.readouterr().out
    assert "Trained and registered 6 checkpoints" in out

    registry_path = tmp_path / "demo" / ".modelreg"
    config = Config.load(registry_path)
    assert {"production", "staging"} <= set(config.environments)
    with Registry(registry_path, create=False) as registry:
        versions = [v for m in registry.models() for v in registry.versions(m.name)]
        assert len(versions) == 6
        datasets = set()
        for version in versions:
            [artifact] = version.artifacts
            sidecar = read_sidecar(sidecar_for(artifact["path"]))
            assert sidecar.problems == []
            assert sidecar.framework == "sklearn" and sidecar.git_commit == "demo"
            assert {"samples", "duration", "hardware"} <= set(sidecar.training)
            dataset = sidecar.extra["dataset"]
            datasets.add(dataset)
            # The checkpoint is a fitted estimator whose recorded accuracy can be reproduced.
            estimator = joblib.load(artifact["path"])
            check_is_fitted(estimator)
            assert evaluate(estimator, load_split(dataset, seed=0)) == version.metrics
            # Registered as the watcher would: scanned safe, and the estimator described.
            assert version.scan["verdict"] == "safe"
            assert version.estimator["fitted"] is True
            assert list(version.metrics)[:2] == ["accuracy", "f1_macro"]
            if version.parent:
                assert registry.get(version.parent).model  # the parent is registered
        assert len(datasets) >= 2
        fine_tunes = [v for v in versions if v.parent]
        assert fine_tunes and all("fine-tune" in v.tags for v in fine_tunes)
        # A fine-tune continues its parent: same forest, more trees.
        child = fine_tunes[0]
        parent = registry.get(child.parent)
        assert child.params["n_estimators"] > parent.params["n_estimators"]


def test_checkpoints_follow_the_watchers_naming_rules(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    written = train(runs, count=6, interval=0, seed=3)
    found = scan_tree(runs)
    assert sorted(found) == sorted(c.path for c in written)
    for checkpoint in written:
        assert model_name_for(checkpoint.path, runs) == checkpoint.model
        assert json.loads(checkpoint.sidecar.read_text())["model"] == checkpoint.model
    assert not [p for p in runs.rglob("*") if p.name.endswith(".tmp")]  # written by rename


def test_same_seed_same_models(tmp_path: Path) -> None:
    assert _demo(tmp_path / "a", "--seed", "7") == 0
    assert _demo(tmp_path / "b", "--seed", "7") == 0
    assert _demo(tmp_path / "c", "--seed", "8") == 0
    first = _metrics(tmp_path / "a" / ".modelreg")
    assert first == _metrics(tmp_path / "b" / ".modelreg")
    assert first != _metrics(tmp_path / "c" / ".modelreg")


def test_refuses_a_folder_that_already_holds_a_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".modelreg").mkdir()
    (tmp_path / ".modelreg" / "registry.json").write_text("{}")
    assert _demo(tmp_path) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already exists" in err and "Traceback" not in err


def test_bad_count_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", str(tmp_path / "d"), "--no-ui", "--count", "0"]) == 1
    assert "--count" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_plan_beyond_the_first_round_keeps_parents_and_versions_consistent() -> None:
    jobs = plan(60, seed=5)
    assert jobs == plan(60, seed=5)
    seen: dict[tuple[str, str], demo_training.Job] = {}
    for job in jobs:
        assert (job.model, job.version) not in seen
        if job.parent:
            parent = seen[job.parent]  # trained earlier in the same run
            assert parent.algorithm == job.algorithm in ("forest", "gbm")
            assert job.params["n_estimators"] > parent.params["n_estimators"]
        seen[(job.model, job.version)] = job
    assert {job.dataset for job in jobs} == set(demo_training.DATASETS)
    # A long demo keeps its ensembles, and so its checkpoints, small.
    long = plan(300, seed=5)
    assert max(j.params.get("n_estimators", 0) for j in long) <= demo_training.MAX_ESTIMATORS
    assert sum(1 for j in long if j.parent) > 20


def test_stop_event_stops_the_trainer_between_checkpoints(tmp_path: Path) -> None:
    stop = threading.Event()
    started = time.monotonic()
    written = train(tmp_path / "runs", count=10, interval=30, seed=0, on_checkpoint=lambda c: stop.set(), stop_event=stop)
    assert len(written) == 1 and time.monotonic() - started < 25  # well inside the 30 s wait it cut short


def test_populate_fills_a_registry_for_screenshots(tmp_path: Path) -> None:
    versions = populate(tmp_path / "reg" / ".modelreg", count=4, seed=0)
    assert [v.ref for v in versions] == ["iris-logreg:v1", "wine-forest:v1", "breast-cancer-gbm:v1", "wine-forest:v2"]
    assert versions[-1].parent == "wine-forest:v1"
    assert (tmp_path / "reg" / "runs" / "wine-forest").is_dir()


def test_with_ui_trains_in_the_background_until_the_app_exits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app itself is tested elsewhere: here a stand-in app checks what the demo hands it,
    waits for the first checkpoint to land, and quits; training must stop with it."""
    seen: list[argparse.Namespace] = []

    def open_app(args: argparse.Namespace) -> int:
        seen.append(args)
        runs = Path(args.watch[0])
        deadline = time.monotonic() + 20
        while not list(runs.rglob("model.joblib")) and time.monotonic() < deadline:
            time.sleep(0.05)
        return 0

    monkeypatch.setitem(sys.modules, "tui.launch", types.SimpleNamespace(open_app=open_app))
    folder = tmp_path / "demo"
    assert main(["demo", str(folder), "--count", "50", "--interval", "0.5"]) == 0
    [args] = seen
    assert Path(args.registry) == folder / ".modelreg"
    assert [Path(p) for p in args.watch] == [folder / "runs"]
    assert args.read_only is False and args.poll is False
    # The trainer stopped with the app: nothing more arrives.
    written = len(list((folder / "runs").rglob("model.joblib")))
    time.sleep(1.2)
    assert 1 <= written == len(list((folder / "runs").rglob("model.joblib"))) < 50
