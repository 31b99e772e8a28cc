"""The seed workflows of issue 12, end to end, with real scikit-learn models on the datasets it ships:
how people used Kirin, AFS, an experiment_history.jsonl and Exoplanet's registry, done with modelreg."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from store.metric_history import series
from store.registry import Registry
from tui.cli import main


def run(reg: Path, *argv: str) -> int:
    return main(["--registry", str(reg), *argv])


def test_commit_objects_and_files_in_one_version(tmp_path: Path, capsys) -> None:
    """Kirin's commit(add_files=[...], metadata=...): two fitted models, their config and feature list."""
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    rf = RandomForestClassifier(n_estimators=30, random_state=0).fit(X_train, y_train)
    lr = LogisticRegression(max_iter=5000).fit(X_train, y_train)
    config = tmp_path / "work" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"test_size": 0.25, "seed": 0}))
    features = tmp_path / "work" / "features.txt"
    features.write_text("\n".join(load_wine().feature_names))
    reg_path = tmp_path / "reg"
    with Registry(reg_path) as reg:
        v = reg.register("wine", [config, features], estimators={"rf_model": rf, "lr_model": lr},
                         metrics={"rf_accuracy": rf.score(X_test, y_test), "lr_accuracy": lr.score(X_test, y_test)},
                         params={"test_size": 0.25}, training={"samples": len(X_train)}, dataset="sklearn:wine")
        assert [a.get("name") for a in v.artifacts] == [None, None, "rf_model", "lr_model"]
        assert v.source_file == str(Path(__file__).resolve())
        reg.deploy(v.ref, "production")
        for name, original in (("rf_model", rf), ("lr_model", lr)):
            loaded = reg.load("wine:production", name=name, check=X_test)  # the restricted loader, the signature checked
            assert numpy.array_equal(loaded.predict(X_test), original.predict(X_test))
    assert run(reg_path, "info", "wine:v1") == 0
    out = capsys.readouterr().out
    assert "object rf_model: sklearn.ensemble._forest.RandomForestClassifier" in out
    assert f"artifact: {config}" in out and "signature: inputs 13" in out


def test_afs_register_lineage_deploy_and_rollback(tmp_path: Path, capsys) -> None:
    """AFS: register_model(base_model=..., lora_path=..., evaluation_scores=...), a LineageTracker,
    automatic deprecation of what a deploy replaces, and going back."""
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=1, stratify=y)
    afs = tmp_path / "afs"
    (afs / "models").mkdir(parents=True)
    versions = {}
    for depth, version in ((2, "v1"), (6, "v2")):
        model = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X_train, y_train)
        joblib.dump(model, afs / "models" / f"tree-{version}.joblib")
        versions[version] = {"model_path": f"models/tree-{version}.joblib", "base_model": "decision-tree",
                             "evaluation_scores": {"accuracy": model.score(X_test, y_test), "rouge": {"rougeL": 0.1 * depth}},
                             "duration_hours": 0.25 * depth, "cost_usd": 0.1 * depth}
    (afs / "registry.json").write_text(json.dumps({"models": {"cancer": {
        "metadata": {"description": "tumour classifier", "owner": "clinic-ml", "tags": ["tabular"]}, "versions": versions}}}))
    (afs / "lineage.json").write_text(json.dumps({"lineages": {"cancer:v2": {"parent_model": "cancer", "parent_version": "v1"}}}))
    reg_path = tmp_path / "reg"
    Registry(reg_path).close()
    (reg_path / "config.json").write_text(json.dumps({"environments": ["production"], "deprecate_replaced": True}))
    assert run(reg_path, "import", str(afs / "registry.json")) == 0
    # A third version registered the AFS way from the command line: an adapter-like role and foreign metadata.
    model = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X_train, y_train)
    joblib.dump(model, tmp_path / "tree-v3.joblib")
    meta = tmp_path / "v3.json"
    meta.write_text(json.dumps({"evaluation_scores": {"accuracy": model.score(X_test, y_test)}, "duration_hours": 1,
                                "parent_version": "v2", "base_model": "decision-tree"}))
    assert run(reg_path, "register", "cancer", "--artifact", f"model={tmp_path / 'tree-v3.joblib'}", "--metadata", str(meta)) == 0
    for version in ("v1", "v2", "v3"):
        assert run(reg_path, "scan", f"cancer:{version}") == 0  # imported files are judged before they may go live
    assert run(reg_path, "deploy", "cancer:v2") == 0
    assert run(reg_path, "deploy", "cancer:v3") == 0
    with Registry(reg_path) as reg:
        assert reg.model("cancer").owner == "clinic-ml"
        assert [a.ref for a in reg.ancestors("cancer:v3")] == ["cancer:v2", "cancer:v1"]
        assert reg.get("cancer:v2").status == "deprecated"  # replaced by a deploy, as AFS does
        assert reg.get("cancer:v3").training == {"duration": 3600, "base_model": "decision-tree"}
        assert reg.get("cancer:v1").training["duration"] == 1800
        assert [v.ref for v in reg.find("role:model")] == ["cancer:v1", "cancer:v2", "cancer:v3"]
    assert run(reg_path, "rollback", "cancer") == 0
    with Registry(reg_path) as reg:
        assert reg.live("cancer").ref == "cancer:v2"
        assert accuracy_score(y_test, reg.load("cancer:production").predict(X_test)) == reg.get("cancer:v2").metrics["accuracy"]
    capsys.readouterr()
    assert run(reg_path, "report", "cancer:production") == 0
    out = capsys.readouterr().out
    assert "Data lineage" in out and "rollback" in out


def test_experiment_history_import_compare_export_and_reimport(tmp_path: Path, capsys) -> None:
    """experiment_history.jsonl with view_experiments.py --compare v1.0 v1.2 --metric accuracy."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=2, stratify=y)
    history = tmp_path / "digits" / "experiment_history.jsonl"
    history.parent.mkdir()
    accuracy = {}
    with open(history, "w") as handle:
        for i, C in enumerate((0.01, 1.0, 100.0)):
            version = f"v1.{i}"
            predicted = SVC(C=C, gamma=0.001).fit(X_train, y_train).predict(X_test)
            accuracy[version] = accuracy_score(y_test, predicted)
            handle.write(json.dumps({"version": version, "timestamp": f"2026-01-0{i + 1}T10:00:00+00:00",
                                     "config": {"svm": {"C": C, "gamma": 0.001}},
                                     "metrics": {"overall": {"accuracy": accuracy[version]}},
                                     "metadata": {"git_commit": f"abc{i}", **({"parent_version": f"v1.{i - 1}"} if i else {})}}) + "\n")
    reg_path = tmp_path / "reg"
    Registry(reg_path).close()
    assert run(reg_path, "import", str(history)) == 0
    capsys.readouterr()
    assert run(reg_path, "compare", "digits", "v1.0", "v1.2", "--metric", "accuracy") == 0
    delta = accuracy["v1.2"] - accuracy["v1.0"]
    expected = f"accuracy digits:v1.0 → digits:v1.2: ✓ improvement: {delta:+.4g} ({delta / accuracy['v1.0']:+.2%})"
    assert expected in capsys.readouterr().out
    out = tmp_path / "exported.jsonl"
    assert run(reg_path, "export", "--format", "experiments", "digits", str(out)) == 0
    again = tmp_path / "again"
    Registry(again).close()
    assert run(again, "import", str(out), "--model", "digits") == 0
    keep = ("version", "created_at", "metrics", "params", "git_commit", "parent", "status")
    with Registry(reg_path) as first, Registry(again) as second:
        assert [{k: v.to_dict()[k] for k in keep} for v in second.versions("digits")] == [
            {k: v.to_dict()[k] for k in keep} for v in first.versions("digits")]
        assert second.get("digits:v1.2").params == {"svm.C": 100.0, "svm.gamma": 0.001}


def test_evaluate_twice_and_see_the_series(tmp_path: Path, capsys) -> None:
    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=3, stratify=y)
    model = LogisticRegression(max_iter=1000).fit(X_train, y_train)
    holdout = tmp_path / "holdout.npz"
    numpy.savez(holdout, X=X_test, y=y_test)
    shifted = tmp_path / "shifted.npz"
    numpy.savez(shifted, X=X_test * 1.8, y=y_test)
    reg_path = tmp_path / "reg"
    with Registry(reg_path) as reg:
        reg.register("iris", estimator=model, metrics={"accuracy": model.score(X_test, y_test)})
        reg.deploy("iris:v1", "production")
    assert run(reg_path, "evaluate", "iris:production", "--data", str(holdout), "--metrics", "accuracy") == 0
    assert run(reg_path, "evaluate", "iris:production", "--data", str(shifted), "--metrics", "accuracy") == 0
    with Registry(reg_path) as reg:
        points = series(reg.get("iris:v1"), "accuracy")
    assert [p["value"] for p in points[:2]] == [model.score(X_test, y_test)] * 2  # evaluated again: a point all the same
    assert points[2]["value"] == model.score(X_test * 1.8, y_test) < points[1]["value"]
    assert len({p.get("data") for p in points}) == 3  # none, the holdout's sha256, the shifted data's
    capsys.readouterr()
    assert run(reg_path, "metrics", "iris:v1", "accuracy") == 0
    assert "latest" in capsys.readouterr().out
    assert run(reg_path, "status") == 0
    assert "▼ iris:v1 (production) accuracy" in capsys.readouterr().out


def test_best_across_models(tmp_path: Path, capsys) -> None:
    """Exoplanet's get_best_model(): the best version whatever the model."""
    reg_path = tmp_path / "reg"
    scores = {}
    with Registry(reg_path) as reg:
        for name, loader in (("iris", load_iris), ("wine", load_wine), ("cancer", load_breast_cancer)):
            X, y = loader(return_X_y=True)
            X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=4, stratify=y)
            for depth in (1, 3):
                model = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X_train, y_train)
                v = reg.register(name, estimator=model, metrics={"accuracy": model.score(X_test, y_test)},
                                 training={"duration": depth * 10.0 + len(name)})
                scores[v.ref] = v.metrics["accuracy"]
        best = max(scores, key=lambda ref: (scores[ref], ref))
        assert reg.best_overall("accuracy").metrics["accuracy"] == scores[best]
    assert run(reg_path, "best", "--all") == 0
    assert capsys.readouterr().out.split()[1] == f"accuracy={scores[best]}"
    assert run(reg_path, "best", "wine", "--metric", "training.duration") == 0
    assert capsys.readouterr().out.startswith("wine:v1  training.duration=14.0")
