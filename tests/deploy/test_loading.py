"""Loading registered versions: scanned first, refused when unsafe, and the CLI around it."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from store.deploy import loading
from store.errors import ArtifactError, UnsafeArtifact
from store.registry import Registry
from tui.cli import main


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    registry = Registry(tmp_path / "registry")
    yield registry
    registry.close()


@pytest.fixture(scope="module")
def forest() -> RandomForestClassifier:
    X, y = load_iris(return_X_y=True)
    return RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0).fit(X, y)


def _evil_forest(forest: RandomForestClassifier, marker: Path) -> RandomForestClassifier:
    evil = pickle.loads(pickle.dumps(forest))
    evil.estimators_.append(Payload(marker))
    return evil


def test_load_scans_then_returns_the_estimator(reg: Registry, forest: RandomForestClassifier, tmp_path: Path) -> None:
    X, _ = load_iris(return_X_y=True)
    path = tmp_path / "runs" / "forest.joblib"
    path.parent.mkdir()
    joblib.dump(forest, path, compress=3)
    version = reg.register("iris", [path])
    loaded = loading.load(reg, version.ref)
    assert (loaded.predict(X) == forest.predict(X)).all()
    scan = reg.get(version.ref).scan
    assert scan and scan["verdict"] == "safe" and "sklearn.ensemble._forest.RandomForestClassifier" in scan["imports"]
    assert not reg.get(version.ref).unsafe

    saved = reg.register("iris", estimator=forest)  # saved by modelreg itself
    assert (reg.load(saved.ref).predict(X) == forest.predict(X)).all()


def test_malicious_pickles_are_refused_and_never_run(reg: Registry, forest: RandomForestClassifier, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(Payload(marker)))
    hidden_pickle = tmp_path / "hidden.pkl"
    hidden_pickle.write_bytes(pickle.dumps(_evil_forest(forest, marker), protocol=5))
    hidden_joblib = tmp_path / "hidden.joblib"
    joblib.dump(_evil_forest(forest, marker), hidden_joblib)
    for path in (plain, hidden_pickle, hidden_joblib):
        version = reg.register("evil", [path])
        with pytest.raises(UnsafeArtifact) as refused:
            loading.load(reg, version.ref)
        message = str(refused.value)
        assert path.name in message and "posix.system" in message and "--trust" in message and "\n" not in message
        assert reg.get(version.ref).unsafe and reg.get(version.ref).scan["verdict"] == "unsafe"
    assert not marker.exists()


def test_truncated_and_missing_files(reg: Registry, forest: RandomForestClassifier, tmp_path: Path) -> None:
    path = tmp_path / "forest.pkl"
    data = pickle.dumps(forest)
    path.write_bytes(data[: len(data) // 2])
    version = reg.register("iris", [path])
    with pytest.raises(ArtifactError, match="iris:v1: cannot load .*forest.pkl"):  # one line, no traceback
        loading.load(reg, version.ref)
    assert reg.get(version.ref).scan["verdict"] == "error"
    with pytest.raises(ArtifactError, match="iris:v1: cannot load"):  # trusted, but still not a model
        loading.load(reg, version.ref, trust=True)
    path.unlink()
    with pytest.raises(ArtifactError, match="is missing from disk"):
        loading.load(reg, version.ref)


def test_trust_loads_a_file_the_scanner_cannot_follow(reg: Registry, tmp_path: Path) -> None:
    path = tmp_path / "odd.pkl"
    # Harmless, but built by calling a function outside the allow-list (operator.add).
    path.write_bytes(b"\x80\x02coperator\nadd\nK\x02K\x03\x86R.")
    version = reg.register("odd", [path])
    with pytest.raises(UnsafeArtifact, match="operator.add"):
        loading.load(reg, version.ref)
    assert loading.load(reg, version.ref, trust=True) == 5


def test_other_artifacts_load_as_paths(reg: Registry, tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"\0" * 64)
    folder = tmp_path / "checkpoint-500"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    version = reg.register("chat", [weights, folder])
    assert loading.load(reg, version.ref) == [weights, folder]
    assert reg.get(version.ref).scan["verdict"] == "error"  # registering judged it: 64 zero bytes are no safetensors
    two = reg.register("pair", [tmp_path / "model.safetensors", folder])
    folder.joinpath("config.json").unlink()
    folder.rmdir()
    with pytest.raises(ArtifactError, match="checkpoint-500"):
        loading.load(reg, two.ref)


def test_cli_scan_and_load(reg: Registry, forest: RandomForestClassifier, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "PWNED"
    good = tmp_path / "good.joblib"
    joblib.dump(forest, good)
    bad = tmp_path / "bad.joblib"
    joblib.dump(_evil_forest(forest, marker), bad)
    registry = ["--registry", str(reg.path)]

    assert main([*registry, "scan", str(good)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("SAFE") and "sklearn.ensemble._forest.RandomForestClassifier" in out
    assert main([*registry, "scan", str(bad), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "unsafe" and "posix.system" in report["imports"] and report["ref"] is None

    good_ref = reg.register("iris", [good]).ref
    bad_ref = reg.register("iris", [bad]).ref
    assert main([*registry, "scan", bad_ref]) == 1
    assert "UNSAFE" in capsys.readouterr().out

    assert main([*registry, "load", good_ref]) == 0
    out = capsys.readouterr().out
    assert "RandomForestClassifier" in out and "n_estimators: 4" in out
    assert main([*registry, "load", good_ref, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["estimator"]["params"]["max_depth"] == 3

    assert main([*registry, "load", bad_ref]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("modelreg: error: refusing to load") and "--trust" in err and "\n" not in err
    assert "Traceback" not in captured.err and not marker.exists()

    assert main([*registry, "scan", str(tmp_path / "missing.pkl")]) == 1
    assert "no file" in capsys.readouterr().err


def test_load_falls_back_to_the_deploy_pin_after_rotation(reg: Registry, forest: RandomForestClassifier, tmp_path: Path) -> None:
    X, _ = load_iris(return_X_y=True)
    path = tmp_path / "runs" / "checkpoint-1" / "forest.joblib"
    path.parent.mkdir(parents=True)
    joblib.dump(forest, path)
    version = reg.register("iris", [path])
    reg.deploy(version.ref)
    path.unlink()  # a training run's checkpoint rotation deletes the original
    loaded = loading.load(reg, "iris:production")
    assert (loaded.predict(X) == forest.predict(X)).all()
    assert reg.get(version.ref).scan["verdict"] == "safe"


def test_load_without_original_or_pin_names_the_missing_file(reg: Registry, forest: RandomForestClassifier, tmp_path: Path) -> None:
    path = tmp_path / "forest.joblib"
    joblib.dump(forest, path)
    version = reg.register("iris", [path])
    path.unlink()
    with pytest.raises(ArtifactError, match="forest.joblib is missing"):
        loading.load(reg, version.ref)
