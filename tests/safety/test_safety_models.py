"""No false refusals: every scikit-learn estimator that fits quickly on small bundled data,
the usual composites, sparse matrices, masked arrays and random generators load through the
restricted loader in every format people write, and predict exactly as the original does.
What is refused on purpose says why and how to load it anyway."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from store.errors import UnsafeArtifact
from store.safety.pickle_allowlist import CALLED_CLASSES, CLASSES, FUNCTIONS, NEW_HELPERS
from store.safety.pickle_allowlist_gen import datasets, fit_one, plain_objects, sample_estimators
from store.safety import load_file, scan_file

FORMATS = ["joblib", "zlib", "gzip", "bz2", "lzma", "xz", "pickle2", "pickle3", "pickle4", "pickle5"]
METHODS = ("predict", "predict_proba", "decision_function", "transform", "score_samples")


def dump(obj: Any, path: Path, fmt: str) -> Path:
    if fmt == "joblib":
        joblib.dump(obj, path)
    elif fmt.startswith("pickle"):
        path.write_bytes(pickle.dumps(obj, protocol=int(fmt[-1])))
    else:
        joblib.dump(obj, path, compress=(fmt, 3))
    return path


@pytest.fixture(scope="module")
def fitted() -> list[tuple[str, Any, Any]]:
    data, found = datasets(), []
    from sklearn.base import is_classifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, estimator in sample_estimators():
            for dataset in (None, "binary") if is_classifier(estimator) else (None,):
                result = fit_one(estimator, data, dataset)
                if result is not None:
                    found.append((f"{label}/{dataset or 'default'}", *result))
    assert len(found) > 250  # the sample really covers scikit-learn, not a handful
    return found


def outputs(model: Any, X: Any) -> dict[str, Any]:
    found = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in METHODS:
            if hasattr(model, method):
                try:
                    found[method] = getattr(model, method)(X)
                except Exception as error:  # the same failure must happen on the copy
                    found[method] = type(error)
    return found


def same(a: Any, b: Any) -> bool:
    if isinstance(a, type) or isinstance(b, type):
        return a is b
    if hasattr(a, "toarray"):
        a, b = a.toarray(), b.toarray()
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "fc" and a.shape == b.shape:  # BLAS may round differently for another memory alignment
        return np.allclose(a, b, rtol=1e-10, atol=1e-12, equal_nan=True)
    try:
        return np.array_equal(a, b, equal_nan=True)
    except TypeError:  # object or text arrays: NaN cannot be asked about
        return np.array_equal(a, b)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_estimator_loads_and_predicts_the_same(fitted: list[tuple[str, Any, Any]], tmp_path: Path, fmt: str) -> None:
    refused = []
    for label, model, X in fitted:
        path = dump(model, tmp_path / "model.bin", fmt)
        try:
            loaded = load_file(path)
        except UnsafeArtifact as error:
            refused.append(f"{label}: {error}")
            continue
        assert type(loaded) is type(model), label
        want, again, got = outputs(model, X), outputs(model, X), outputs(loaded, X)
        assert want.keys() == got.keys(), label
        for method in want:
            if same(want[method], again[method]):  # methods that draw random numbers cannot be compared
                assert same(want[method], got[method]), (label, method)
    assert not refused, "\n".join(refused[:10])


@pytest.mark.parametrize("fmt", FORMATS)
def test_plain_values_models_hold_load_equal(tmp_path: Path, fmt: str) -> None:
    for label, value in plain_objects():
        loaded = load_file(dump(value, tmp_path / "value.bin", fmt))
        if label.startswith(("RandomState", "Generator")):
            assert same(value.random(5) if hasattr(value, "random") else value.rand(5),
                        loaded.random(5) if hasattr(loaded, "random") else loaded.rand(5)), label
        elif isinstance(value, np.ma.MaskedArray):
            assert type(loaded) is np.ma.MaskedArray and same(value.mask, loaded.mask) and same(value.data, loaded.data)
        elif isinstance(value, list):
            assert len(loaded) == len(value)
            for a, b in zip(value, loaded):
                assert type(a) is type(b) and (a == b if isinstance(a, np.dtype) else same(a, b)), (label, a)
        elif isinstance(value, np.ndarray) or hasattr(value, "toarray"):
            assert type(loaded) is type(value) and same(value, loaded), label
        else:  # loss and link objects: the same class with the same attributes
            assert type(loaded) is type(value) and getattr(loaded, "__dict__", {}).keys() == getattr(value, "__dict__", {}).keys(), label


def test_search_with_scipy_distributions_is_refused_with_why_and_how(tmp_path: Path) -> None:
    from scipy.stats import uniform
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import RandomizedSearchCV

    X, y = load_iris(return_X_y=True)
    search = RandomizedSearchCV(LogisticRegression(max_iter=300), {"C": uniform(0.1, 2)}, n_iter=2, cv=2, random_state=0)
    path = dump(search.fit(X, y), tmp_path / "search.joblib", "joblib")
    with pytest.raises(UnsafeArtifact, match=r"scipy\.stats.*run code stored in the file.*--trust") as caught:
        load_file(path)
    assert "\n" not in str(caught.value)
    assert scan_file(path).verdict == "unsafe"
    assert (load_file(path, trust=True).predict(X) == search.predict(X)).all()  # and trust loads it


def test_the_allow_list_holds_only_what_it_says() -> None:
    import importlib
    import inspect

    def resolve(key: str) -> Any:
        module, name = key.split(":")
        obj: Any = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
        return obj

    for key in CLASSES | CALLED_CLASSES:
        assert inspect.isclass(resolve(key)), key  # classes only: no module, function or alias
    for key in NEW_HELPERS | FUNCTIONS:
        value = resolve(key)
        assert callable(value) and not inspect.isclass(value) and not inspect.ismodule(value), key
    everything = CLASSES | CALLED_CLASSES | NEW_HELPERS | FUNCTIONS
    assert not any(key.startswith(("scipy.stats", "os", "posix", "subprocess", "importlib", "functools")) for key in everything)
    assert {"sklearn.tree._tree:Tree", "sklearn.ensemble._forest:RandomForestClassifier"} <= CLASSES | CALLED_CLASSES
