"""Signatures (issue 12): captured from estimators, read from sidecars and MLflow MLmodel files,
shown, compared, warned about on the deploy card, and checked by load(ref, check=X)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from store.errors import BadMetadata
from store.registry import Registry
from store.watch.sidecar import read_sidecar
from tui.cli import main
from tui.screens.confirm import DeployConfirm

MLMODEL = """artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
signature:
  inputs: '[{"name": "age", "type": "double"}, {"name": "income", "type": "double"}, {"name": "owner''s score", "type": "long"}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'
mlflow_version: 2.9.2
"""


class Frame:
    """What load(check=...) reads of a data frame: its column names and its shape."""

    def __init__(self, columns: list[str], rows: int = 3) -> None:
        self.columns = columns
        self.shape = (rows, len(columns))


@pytest.fixture(scope="module")
def iris_model() -> LogisticRegression:
    X, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(X, y)


def test_captured_from_an_estimator_and_checked_on_load(registry: Registry, iris_model) -> None:
    v = registry.register("iris", estimator=iris_model)
    assert v.signature == {"inputs": {"shape": [None, 4]}, "outputs": {"classes": [0, 1, 2]}, "source": "estimator"}
    X, _ = load_iris(return_X_y=True)
    assert registry.load(v.ref, check=X[:5]).predict(X[:5]).shape == (5,)
    with pytest.raises(BadMetadata, match=r"^input does not match iris:v1's signature: 3 features per row, expected 4$"):
        registry.load(v.ref, check=X[:5, :3])


def test_attached_estimator_gives_a_signature(registry: Registry, iris_model) -> None:
    v = registry.register("iris", metrics={"accuracy": 0.9})
    assert v.signature is None
    assert registry.update(v.ref, estimator=iris_model).signature["inputs"] == {"shape": [None, 4]}


def test_read_from_a_sidecar(registry: Registry, tmp_path: Path) -> None:
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"w")
    sidecar = tmp_path / "model.bin.json"
    sidecar.write_text(json.dumps({"signature": {"inputs": {"names": ["age", "income"], "dtypes": ["float", "float"]},
                                                 "outputs": {"classes": ["no", "yes"]}}}))
    v = registry.register("credit", [weights], **read_sidecar(sidecar).to_register_kwargs())
    assert v.signature["inputs"] == {"names": ["age", "income"], "dtypes": ["float", "float"], "shape": [None, 2]}
    assert v.signature["source"] == "given"
    with pytest.raises(BadMetadata, match="missing income; unexpected salary"):
        registry.load(v.ref, check=Frame(["age", "salary"]))
    sidecar.write_text(json.dumps({"signature": ["age"]}))
    read = read_sidecar(sidecar)
    assert read.signature is None and "signature must be an object" in read.problems[0]


def test_read_from_an_mlflow_mlmodel(local_registry: Registry, tmp_path: Path, capsys) -> None:
    registry = local_registry  # the CLI opens it again: a registry on disk
    folder = tmp_path / "mlruns" / "model"
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text(MLMODEL)
    (folder / "model.bin").write_bytes(b"w")
    v = registry.register("credit", [folder])
    assert v.signature["inputs"] == {"dtypes": ["double", "double", "long"], "shape": [None, 3], "names": ["age", "income", "owner's score"]}
    assert v.signature["outputs"] == {"dtypes": ["int64"], "shape": [None]} and v.signature["source"] == "MLmodel"
    with pytest.raises(BadMetadata, match="the same columns in another order"):
        registry.load(v.ref, check=Frame(["income", "age", "owner's score"]))
    assert main(["--registry", str(registry.path), "info", v.ref]) == 0
    assert "signature: inputs 3 (age, income, owner's score) → shape [None]  [MLmodel]" in capsys.readouterr().out


def test_compared_and_warned_about_on_the_deploy_card(tmp_path: Path, iris_model, capsys) -> None:
    X, y = load_wine(return_X_y=True)
    wine_model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    reg_path = tmp_path / "reg"
    with Registry(reg_path) as reg:
        reg.register("clf", estimator=iris_model)
        reg.register("clf", estimator=wine_model)
        reg.deploy("clf:v1", "production")
        card = DeployConfirm(reg, "clf:v2", "production")
        console = Console(width=120, record=True)
        console.print(card.body())
        assert "⚠ input width changed: 4 → 13 features" in console.export_text()
    assert main(["--registry", str(reg_path), "compare", "clf", "v1", "v2"]) == 0
    assert "⚠ signature clf:v1 → clf:v2: input width changed: 4 → 13 features" in capsys.readouterr().out


def test_a_bad_signature_given_to_register_is_one_line(registry: Registry) -> None:
    with pytest.raises(BadMetadata, match=r"signature inputs.shape must be a list of whole numbers"):
        registry.register("m", signature={"inputs": {"shape": "wide"}})
    assert registry.models() == []  # nothing written


def test_several_objects_share_a_signature_and_each_checks_its_own(registry: Registry, iris_model) -> None:
    X, y = load_iris(return_X_y=True)
    tree = DecisionTreeClassifier(max_depth=2).fit(X, y)
    v = registry.register("iris", estimators={"lr": iris_model, "tree": tree})
    assert v.signature["inputs"] == {"shape": [None, 4]}  # both take the same input
    narrow = DecisionTreeClassifier(max_depth=2).fit(X[:, :2], y)
    mixed = registry.register("iris", estimators={"lr": iris_model, "narrow": narrow})
    assert mixed.signature is None
    assert registry.load(mixed.ref, name="narrow", check=X[:3, :2]).predict(X[:3, :2]).shape == (3,)
    with pytest.raises(BadMetadata, match="iris:v2 narrow's signature: 4 features per row, expected 2"):
        registry.load(mixed.ref, name="narrow", check=X[:3])
