"""Metric history, evaluation through the safe loader, and drift (issue 12)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from store.evaluation import evaluate
from store.metric_history import drift, live_drift, series
from store.registry import Registry
from tui.cli import main
from tui.catalog import VersionRow
from tui.widgets.detail import metric_changes, render


@pytest.fixture(scope="module")
def iris_model() -> LogisticRegression:
    X, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(X[::2], y[::2])


def test_every_change_is_a_point_and_registration_is_the_first(registry: Registry) -> None:
    v = registry.register("m", metrics={"accuracy": 0.80})
    assert series(v, "accuracy") == [{"value": 0.80, "at": v.created_at, "by": v.registered_by}]
    assert v.metric_history == {}  # registering writes nothing more than the metrics
    registry.score(v.ref, accuracy=0.85)
    registry.score(v.ref, accuracy=0.85)  # the same value again is not a point
    after = registry.update(v.ref, metrics={"accuracy": 0.9, "f1": 0.7}, data_sha256="ab" * 32)
    points = series(after, "accuracy")
    assert [p["value"] for p in points] == [0.80, 0.85, 0.9]
    assert points[-1]["data"] == "ab" * 32 and points[-1]["by"] == v.registered_by and points[-1]["at"] > v.created_at
    assert after.metrics["accuracy"] == 0.9  # the latest is the value
    assert [p["value"] for p in series(after, "f1")] == [0.7]


def test_evaluate_twice_records_a_series_with_the_data_fingerprint(tmp_path: Path, iris_model, capsys) -> None:
    reg_path = tmp_path / "reg"
    with Registry(reg_path) as reg:
        v = reg.register("iris", estimator=iris_model, metrics={"accuracy": 0.5})
    assert main(["--registry", str(reg_path), "evaluate", v.ref, "--data", "sklearn:iris"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Evaluated {v.ref} on sklearn:iris (150 rows, sha256 ")
    assert "accuracy: 0.9" in out and "from 0.5)" in out  # the change against the previous value
    X, y = load_iris(return_X_y=True)
    data = tmp_path / "holdout.csv"
    with open(data, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "label", "b", "c", "d"])
        for row, label in zip(X[1::2], y[1::2]):
            writer.writerow([row[0], label, *row[1:]])
    assert main(["--registry", str(reg_path), "evaluate", v.ref, "--data", str(data), "--target", "label",
                 "--metrics", "accuracy,f1_macro"]) == 0
    capsys.readouterr()
    assert main(["--registry", str(reg_path), "metrics", v.ref, "accuracy", "--json"]) == 0
    points = json.loads(capsys.readouterr().out)["metrics"]["accuracy"]
    assert len(points) == 3 and points[0]["value"] == 0.5 and "data" not in points[0]
    assert points[1]["data"] != points[2]["data"] and all(len(p["data"]) == 64 for p in points[1:])
    assert main(["--registry", str(reg_path), "info", v.ref]) == 0
    assert "(3 values)" in capsys.readouterr().out


def test_evaluate_on_npz_and_bad_data_is_one_line(tmp_path: Path, iris_model, capsys) -> None:
    X, y = load_iris(return_X_y=True)
    npz = tmp_path / "data.npz"
    numpy.savez(npz, X=X, y=y)
    with Registry(tmp_path / "reg") as reg:
        v = reg.register("iris", estimator=iris_model)
        result = evaluate(reg, v.ref, str(npz))
        assert set(result.metrics) == {"accuracy", "f1_macro"} and result.rows == 150
    for argv, message in ((["--data", "sklearn:mnist"], "unknown dataset 'mnist'"),
                          (["--data", str(tmp_path / "nope.csv")], "cannot read the data"),
                          (["--data", "sklearn:wine"], "cannot evaluate iris:v1 on sklearn:wine"),
                          (["--data", "sklearn:iris", "--metrics", "bleu"], "cannot compute bleu")):
        assert main(["--registry", str(tmp_path / "reg"), "evaluate", "iris:v1", *argv]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_drift_of_the_live_version_is_flagged(tmp_path: Path, iris_model, capsys) -> None:
    X, y = load_iris(return_X_y=True)
    good, worse = tmp_path / "good.npz", tmp_path / "worse.npz"
    numpy.savez(good, X=X, y=y)
    rng = numpy.random.default_rng(0)
    numpy.savez(worse, X=X + rng.normal(0, 2.0, X.shape), y=y)
    reg_path = tmp_path / "reg"
    with Registry(reg_path) as reg:
        v = reg.register("iris", estimator=iris_model)
        reg.deploy(v.ref, "production")
        evaluate(reg, v.ref, str(good), metrics=["accuracy"])
        assert live_drift(reg) == []
        evaluate(reg, v.ref, str(worse), metrics=["accuracy"])
        rows = live_drift(reg)
        assert [(r["ref"], r["env"], r["metric"]) for r in rows] == [("iris:v1", "production", "accuracy")]
        assert rows[0]["drop"] < -0.1
        doc = reg.get(v.ref).to_dict()
    assert main(["--registry", str(reg_path), "status"]) == 0
    assert f"▼ iris:v1 (production) accuracy {rows[0]['drop']:+.4g}" in capsys.readouterr().out
    spark, drop = metric_changes(doc, {})["accuracy"]
    assert len(spark) == 2 and drop == rows[0]["drop"]
    shown = render(VersionRow(doc, ("production",)), None).plain  # what the app's Detail pane shows
    assert f"{spark}  ▼ {drop:+.4g}" in shown


def test_a_loss_falling_is_not_drift(registry: Registry) -> None:
    v = registry.register("m", metrics={"val_loss": 0.5})
    registry.update(v.ref, metrics={"val_loss": 0.4}, data_sha256="a" * 64)
    assert drift(registry.get(v.ref)) == {}
    registry.update(v.ref, metrics={"val_loss": 0.6}, data_sha256="b" * 64)
    assert drift(registry.get(v.ref))["val_loss"]["drop"] == pytest.approx(0.1)


def test_a_model_file_registered_with_a_config_beside_it_can_be_evaluated(tmp_path: Path, iris_model, capsys) -> None:
    """`register M model.joblib --artifact config=cfg.json` holds two files: the one pickle is the model."""
    import joblib

    model_file, config = tmp_path / "model.joblib", tmp_path / "cfg.json"
    joblib.dump(iris_model, model_file)
    config.write_text("{}")
    reg_path = tmp_path / "reg"
    Registry(reg_path).close()
    assert main(["--registry", str(reg_path), "register", "iris", str(model_file), "--artifact", f"config={config}",
                 "--duration", "3h", "--cost", "$0.80"]) == 0
    assert main(["--registry", str(reg_path), "evaluate", "iris:v1", "--data", "sklearn:iris", "--metrics", "accuracy"]) == 0
    assert "accuracy: 0.9" in capsys.readouterr().out
    assert main(["--registry", str(reg_path), "report", "iris:v1"]) == 0
    card = capsys.readouterr().out
    assert "duration: 3h" in card and "cost: $0.80" in card
    assert main(["--registry", str(reg_path), "best", "--all", "--metric", "accuracy"]) == 0
    assert capsys.readouterr().out.strip() == f"iris:v1  accuracy={iris_model.score(*load_iris(return_X_y=True))}"
