"""Describing fitted estimators, in this process and in a separate one with a timeout."""

from __future__ import annotations

import json
import pickle
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from store.safety import estimators, inspector
from tests.safety.pickle_opcodes import NONE, POP


def test_describe_a_forest_with_named_features() -> None:
    X, y = load_iris(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0).fit(X, y)
    forest.feature_names_in_ = np.array(["sl", "sw", "pl", "pw"], dtype=object)  # what fit() keeps from a DataFrame
    info = estimators.describe(forest)
    json.dumps(info)
    assert info["class"] == "sklearn.ensemble._forest.RandomForestClassifier"
    assert info["params"]["n_estimators"] == 4 and info["params"]["max_depth"] == 3
    assert info["fitted"] is True and info["n_features_in_"] == 4 and info["classes_"] == [0, 1, 2]
    assert info["feature_names_in_"] == ["sl", "sw", "pl", "pw"]
    importances = info["feature_importances_"]
    assert importances["count"] == 4 and {e["feature"] for e in importances["top"]} == {"sl", "sw", "pl", "pw"}
    values = [e["importance"] for e in importances["top"]]
    assert values == sorted(values, reverse=True) and abs(sum(values) - 1) < 1e-9
    assert info["sklearn_version"]


def test_importances_are_capped_to_the_top_fifty() -> None:
    X, y = load_digits(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    importances = estimators.describe(forest)["feature_importances_"]
    assert importances["count"] == 64 and len(importances["top"]) == 50
    assert importances["top"][0]["importance"] == max(forest.feature_importances_)


def test_describe_coefficients_pipelines_and_odd_params() -> None:
    X, y = load_iris(return_X_y=True)
    logistic = LogisticRegression(max_iter=500).fit(X, y)
    coef = estimators.describe(logistic)["coef_"]
    assert coef["shape"] == [3, 4] and abs(coef["norm"] - np.linalg.norm(logistic.coef_)) < 1e-9
    assert coef["min"] == logistic.coef_.min() and coef["max"] == logistic.coef_.max()

    pipe = Pipeline([("scale", StandardScaler()), ("svc", SVC())]).fit(X, y)
    info = estimators.describe(pipe)
    assert info["steps"] == [
        {"name": "scale", "class": "sklearn.preprocessing._data.StandardScaler"},
        {"name": "svc", "class": "sklearn.svm._classes.SVC"},
    ]
    assert info["classes_"] == [0, 1, 2]
    json.dumps(info)  # the steps param (estimator objects) is repr'd, not dumped

    imputer = estimators.describe(SimpleImputer(missing_values=np.nan))
    assert imputer["params"]["missing_values"] is None and imputer["fitted"] is False
    assert "n_features_in_" not in imputer


def test_describe_file_in_a_subprocess_and_its_timeout(tmp_path: Path) -> None:
    X, y = load_iris(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    path = estimators.save(forest, tmp_path / "sub" / "forest.joblib")
    assert path.exists() and not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    info = inspector.describe_file(path)
    assert info is not None and info == json.loads(json.dumps(estimators.describe(forest)))

    # The same forest behind millions of no-op opcodes takes the restricted (pure-Python)
    # unpickler seconds, against a budget of a tenth of one: the child is killed and the file is
    # left undescribed. (The budget does not count the worker's start.)
    plain = pickle.dumps(forest, protocol=4)
    assert plain[:2] == b"\x80\x04"
    slow, fast = tmp_path / "slow.pkl", tmp_path / "fast.pkl"
    slow.write_bytes(plain[:2] + (NONE + POP) * 6_000_000 + plain[2:])
    fast.write_bytes(plain)
    assert type(pickle.loads(slow.read_bytes())) is RandomForestClassifier  # our own bytes: a valid pickle
    assert inspector.describe_file(fast, timeout=30) == info
    started = time.monotonic()
    assert inspector.describe_file(slow, timeout=0.1) is None
    assert time.monotonic() - started < 30

    (tmp_path / "broken.joblib").write_bytes(path.read_bytes()[:100])
    assert inspector.describe_file(tmp_path / "broken.joblib") is None
