"""Model objects and files in one version (issue 12): kept together, described, attached later,
loaded by name through the restricted loader, and the calling script recorded."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from store.errors import ArtifactError, BadMetadata, UnsafeArtifact
from store.registry import Registry
from tui.catalog import VersionRow
from tui.cli import main
from tui.widgets.detail import render


@pytest.fixture(scope="module")
def fitted() -> tuple[RandomForestClassifier, LogisticRegression]:
    X, y = load_iris(return_X_y=True)
    return RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y), LogisticRegression(max_iter=300).fit(X, y)


def _files(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "files" / "config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"features": 4}))
    notes = tmp_path / "files" / "README.txt"
    notes.write_text("how it was trained")
    return config, notes


def test_object_and_files_in_one_version_user_fields_win(registry: Registry, tmp_path: Path, fitted) -> None:
    rf, _ = fitted
    config, notes = _files(tmp_path)
    v = registry.register("iris", [config, notes], estimator=rf, params={"n_estimators": 999, "lr": 0.1},
                          training={"epochs": 3, "hardware": "cpu"})
    paths = [a["path"] for a in v.artifacts]
    assert paths[:2] == [str(config), str(notes)] and len(paths) == 3  # every file kept, the object beside them
    assert v.params["n_estimators"] == 999 and v.params["lr"] == 0.1  # the user wins...
    assert v.estimator["params"]["n_estimators"] == 5  # ...and the extracted value stays visible
    assert v.params["max_depth"] is None  # extracted params fill in what the user did not give
    assert dict(v.training) == {"framework": "sklearn", "epochs": 3, "hardware": "cpu"}
    assert v.scan["safe"] is True
    loaded = registry.load(v.ref)  # files + one object: load gives the object
    assert type(loaded) is RandomForestClassifier and loaded.n_estimators == 5


def test_several_objects_each_saved_described_and_loadable_by_name(local_registry: Registry, fitted, capsys) -> None:
    registry = local_registry  # the CLI opens it again: a registry on disk
    rf, lr = fitted
    v = registry.register("iris", estimators={"rf_model": rf, "lr_model": lr})
    named = {a["name"]: a for a in v.artifacts}
    assert set(named) == {"rf_model", "lr_model"}  # two files, never one pickled dict
    assert named["rf_model"]["estimator"]["class"].endswith("RandomForestClassifier")
    assert named["lr_model"]["estimator"]["class"].endswith("LogisticRegression")
    assert type(registry.load(v.ref, name="rf_model")) is RandomForestClassifier
    assert type(registry.load(v.ref, name="lr_model")) is LogisticRegression
    with pytest.raises(ArtifactError, match="no object named 'svm'; it holds rf_model, lr_model"):
        registry.load(v.ref, name="svm")
    assert main(["--registry", str(registry.path), "load", v.ref, "--name", "lr_model"]) == 0
    assert "LogisticRegression" in capsys.readouterr().out
    listed = registry.register("iris", estimator=[rf, lr])  # a list is split the same way, named by class
    assert sorted(a["name"] for a in listed.artifacts) == ["logisticregression", "randomforestclassifier"]


def test_update_with_an_object_attaches_it_and_info_shows_it(tmp_path: Path, fitted, capsys) -> None:
    rf, _ = fitted
    reg = Registry(tmp_path / "reg")
    config, _ = _files(tmp_path)
    v = reg.register("iris", [config], params={"C": 1})
    after = reg.update(v.ref, estimator=rf)
    assert after.estimator["class"].endswith("RandomForestClassifier")  # described, not a repr string
    assert after.params["C"] == 1 and after.params["n_estimators"] == 5
    assert len(after.artifacts) == 2 and after.scan["safe"] is True
    assert type(reg.load(v.ref, name="estimator")) is RandomForestClassifier
    with pytest.raises(BadMetadata, match="estimator must be a fitted model object"):
        reg.update(v.ref, estimator="RandomForestClassifier()")  # a repr is not a model
    reg.close()
    assert main(["--registry", str(tmp_path / "reg"), "info", v.ref]) == 0
    out = capsys.readouterr().out
    assert "object estimator: sklearn.ensemble._forest.RandomForestClassifier" in out


def test_attached_files_are_scanned_and_an_unsafe_one_refused(registry: Registry, tmp_path: Path) -> None:
    config, _ = _files(tmp_path)
    v = registry.register("m", [config])
    good = tmp_path / "files" / "weights.pkl"
    good.write_bytes(pickle.dumps({"w": [1.0, 2.0]}))
    after = registry.update(v.ref, artifacts=[good])
    assert [a["path"] for a in after.artifacts] == [str(config), str(good)] and after.scan["safe"] is True
    evil = tmp_path / "files" / "evil.pkl"
    evil.write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
    after = registry.update(v.ref, artifacts=[evil])
    assert after.scan["safe"] is False and "os" in after.scan["reason"]
    with pytest.raises(UnsafeArtifact):
        registry.load(v.ref, name="evil.pkl")


def test_attach_command(tmp_path: Path, capsys) -> None:
    reg_path = tmp_path / "reg"
    config, notes = _files(tmp_path)
    Registry(reg_path).close()
    assert main(["--registry", str(reg_path), "register", "m", str(config)]) == 0
    assert main(["--registry", str(reg_path), "attach", "m:v1", str(notes)]) == 0
    assert "Attached README.txt to m:v1" in capsys.readouterr().out
    with Registry(reg_path) as reg:
        assert [a["path"] for a in reg.get("m:v1").artifacts] == [str(config), str(notes)]
    assert main(["--registry", str(reg_path), "attach", "m:v1", str(notes)]) == 1
    assert capsys.readouterr().err.count("\n") == 1  # already there: one line, nothing added


def test_calling_script_is_recorded_unless_switched_off(registry: Registry, tmp_path: Path, capsys) -> None:
    v = registry.register("m", metrics={"accuracy": 0.9})
    assert v.source_file == str(Path(__file__).resolve())
    assert v.source_sha256 == hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    assert registry.register("m", source=False).source_file is None
    shown = render(VersionRow(v.to_dict()), None).plain  # the app's Detail pane
    assert any(line.startswith("script") and line.endswith(f"{v.source_file} (sha256 {v.source_sha256[:12]})")
               for line in shown.splitlines())


def test_cli_registration_records_no_script(tmp_path: Path) -> None:
    reg_path = tmp_path / "reg"
    Registry(reg_path).close()
    assert main(["--registry", str(reg_path), "register", "m", "--metric", "accuracy=0.9"]) == 0
    with Registry(reg_path) as reg:
        assert reg.get("m:v1").source_file is None  # the command line is not a training script


def test_info_shows_the_source_script(tmp_path: Path, capsys) -> None:
    with Registry(tmp_path / "reg") as reg:
        reg.register("m")
    assert main(["--registry", str(tmp_path / "reg"), "info", "m:v1"]) == 0
    assert f"source script: {Path(__file__).resolve()} (sha256 " in capsys.readouterr().out


def test_non_json_extra_is_refused_naming_the_key(registry: Registry) -> None:
    class Opaque:
        pass

    with pytest.raises(BadMetadata, match=r"^'extra.preprocessor' is an object of type Opaque, which JSON cannot hold"):
        registry.register("m", preprocessor=Opaque())
    with pytest.raises(BadMetadata, match=r"'extra.steps\[1\]' is an object of type Opaque"):
        registry.register("m", steps=["scale", Opaque()])
    assert registry.models() == []  # nothing written
    v = registry.register("m", threshold=numpy.float64(0.5), bins=numpy.arange(3))
    assert v.extra["threshold"] == 0.5 and v.extra["bins"] == [0, 1, 2]  # numpy values become JSON
    with pytest.raises(BadMetadata, match="'extra.scaler' is an object of type Opaque"):
        registry.update(v.ref, extra={"scaler": Opaque()})


def test_a_users_file_with_the_role_object_is_still_scanned(registry: Registry, tmp_path: Path, fitted) -> None:
    rf, _ = fitted
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
    v = registry.register("m", [("object", evil)], estimator=rf)  # the role modelreg gives its own objects
    assert v.scan["safe"] is False and "evil.pkl" in v.scan["reason"]
