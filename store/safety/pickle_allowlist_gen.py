"""Generate ``store/pickle_allowlist.py`` from scikit-learn itself.

Run ``python -m store.safety.pickle_allowlist_gen`` after upgrading scikit-learn, NumPy or SciPy,
review the diff, and commit it. It takes every estimator class of ``all_estimators()``,
fits each one that can be fitted quickly on a small bundled dataset (plus the usual
composites, sparse matrices, masked arrays and random generators), pickles it with joblib
and with pickle at protocols 2-5, and records what unpickling it really does: which classes
are rebuilt by ``__new__`` + state, which classes are *called* by their own ``__reduce__``
(the Cython ``Tree`` and loss objects), which Cython helpers rebuild a class, and which
plain functions are kept as values (``score_func=f_classif``). Only this, never a rule over
a namespace, is what the restricted loader in ``store.safety.loader`` admits from these libraries.

The fitting helpers are also what the tests use to prove there are no false refusals.
"""

from __future__ import annotations

import io
import pickle
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FIT_SECONDS = 1.0  # an estimator slower than this on the small data is left out of the sample
_OUT = Path(__file__).with_name("pickle_allowlist.py")
# Handled by hand in store.safety.loader, with argument checks of their own.
_BY_HAND = {
    "numpy.core.multiarray:_reconstruct", "numpy._core.multiarray:_reconstruct",
    "numpy.core.multiarray:scalar", "numpy._core.multiarray:scalar",
    "numpy.core.numeric:_frombuffer", "numpy._core.numeric:_frombuffer",
    "numpy:dtype", "numpy.ma.core:_mareconstruct",
    "numpy.random._pickle:__bit_generator_ctor", "numpy.random._pickle:__generator_ctor",
    "numpy.random._pickle:__randomstate_ctor",
    "copyreg:_reconstructor", "copyreg:__newobj__", "copyreg:__newobj_ex__", "_codecs:encode",
    "builtins:set", "builtins:frozenset", "builtins:slice", "builtins:complex", "builtins:bytearray",
    "builtins:getattr", "collections:OrderedDict", "collections:defaultdict",
}


def key(module: str, name: str) -> str:
    return f"{module}:{name}"


def compat_name(module: str, name: str, protocol: int) -> tuple[str, str]:
    """The Python 3 name pickle itself resolves a protocol 0-2 (Python 2) name to."""
    import _compat_pickle

    if protocol < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            return _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    return module, name


def datasets() -> dict[str, Any]:
    from sklearn.datasets import load_diabetes, load_iris

    iris, diabetes = load_iris(), load_diabetes()
    binary = iris.target < 2  # two classes: binary losses and decision functions differ from multiclass
    return {"iris": (iris.data, iris.target), "diabetes": (diabetes.data, diabetes.target),
            "binary": (iris.data[binary], iris.target[binary])}


_TEXT = ["the cat sat", "the dog ran far", "a cat and a dog", "birds fly high", "the end"] * 6


def fit_one(estimator: Any, data: dict[str, Any], dataset: str | None = None) -> tuple[Any, Any] | None:
    """``(fitted estimator, X to predict/transform with)``, or None if it cannot be fitted quickly here."""
    from sklearn.base import clone, is_classifier, is_regressor

    X, y = data[dataset or ("diabetes" if is_regressor(estimator) else "iris")]
    attempts: list[tuple[Any, ...]] = [(X, y), (X,), (_TEXT,), ([{"a": 1, "b": 2}, {"a": 3}],), (y,)]
    if is_regressor(estimator):
        attempts.insert(1, (X, __import__("numpy").c_[y, y]))
    if is_classifier(estimator):
        attempts.append((X, __import__("numpy").c_[y == 1, y == 2].astype(int)))
    for args in attempts:
        candidate = clone(estimator)
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                candidate.fit(*args)
        except Exception:
            continue
        if time.perf_counter() - started > FIT_SECONDS:
            return None
        return candidate, args[0]
    return None


def sample_estimators() -> Iterator[tuple[str, Any]]:
    """Unfitted instances: every estimator of ``all_estimators()`` and the usual composites."""
    from sklearn.utils import all_estimators

    try:
        from sklearn.utils._test_common.instance_generator import _construct_instances
    except ImportError:  # older scikit-learn: default constructors only
        _construct_instances = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, cls in all_estimators():
            try:
                instances = list(_construct_instances(cls)) if _construct_instances else [cls()]
            except Exception:
                continue
            for i, instance in enumerate(instances):
                yield (name if i == 0 else f"{name}#{i}"), instance
                yield from _loss_variants(name, instance)
    yield from composites()


def _loss_variants(name: str, estimator: Any) -> Iterator[tuple[str, Any]]:
    """The same estimator with each of its ``loss`` options: each loss pickles its own objects."""
    from sklearn.base import clone

    constraints = getattr(type(estimator), "_parameter_constraints", {}).get("loss", [])
    for constraint in constraints:
        for option in sorted(getattr(constraint, "options", ()) or (), key=str):
            if isinstance(option, str) and option != estimator.get_params().get("loss"):
                try:
                    yield f"{name}(loss={option})", clone(estimator).set_params(loss=option)
                except Exception:
                    continue


def composites() -> Iterator[tuple[str, Any]]:
    from scipy.stats import uniform
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import SplineTransformer, StandardScaler

    yield "Pipeline", Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))])
    yield "ColumnTransformer", Pipeline([
        ("cols", ColumnTransformer([("a", StandardScaler(), [0, 1]), ("b", SplineTransformer(), [2, 3])])),
        ("clf", LogisticRegression(max_iter=500)),
    ])
    yield "GridSearchCV", GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.1, 1.0]}, cv=2)
    yield "RandomizedSearchCV", RandomizedSearchCV(
        RandomForestClassifier(n_estimators=5, random_state=0), {"max_depth": [2, 3, 4]}, n_iter=2, cv=2, random_state=0)
    yield "SplineTransformer", SplineTransformer()
    # Refused on purpose, not sampled: its scipy.stats distribution runs code while unpickling.
    _ = uniform


def plain_objects() -> Iterator[tuple[str, Any]]:
    """Values fitted estimators hold beside themselves: sparse matrices, masked arrays, generators."""
    import numpy as np
    import scipy.sparse as sp

    dense = np.arange(12.0).reshape(3, 4)
    for fmt in ("csr", "csc", "coo", "bsr", "lil", "dok", "dia"):
        yield f"{fmt}_matrix", getattr(sp, f"{fmt}_matrix")(dense)
        yield f"{fmt}_array", getattr(sp, f"{fmt}_array")(dense)
    yield "MaskedArray", np.ma.masked_array(dense, mask=dense > 5)
    yield "RandomState", np.random.RandomState(0)
    for bit in ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"):
        yield f"Generator({bit})", np.random.Generator(getattr(np.random, bit)(0))
    yield from _loss_objects()
    yield "arrays", [np.arange(3), np.array(["a", "b"], dtype=object), np.array([1.5], dtype=">f8"),
                     np.datetime64("2024-01-01"), np.float32(1.5), np.int64(3), np.dtype([("a", "<f8"), ("b", "<i4")]),
                     np.zeros(2, dtype=[("a", "<f8"), ("b", "<i4")]), np.asfortranarray(dense), np.bool_(True),
                     np.array([1 + 2j]), np.str_("x")]


def _loss_objects() -> Iterator[tuple[str, Any]]:
    """Every loss and link object scikit-learn's estimators may hold, built with its defaults."""
    import inspect

    from sklearn._loss import link, loss
    from sklearn.linear_model import _sgd_fast

    for module in (loss, link, _sgd_fast):
        for name, cls in vars(module).items():
            if not inspect.isclass(cls) or cls.__module__ != module.__name__ or inspect.isabstract(cls):
                continue
            try:
                yield name, cls()
            except Exception:
                continue


def dumps_all(obj: Any) -> Iterator[bytes]:
    """The object pickled every way a user writes it: joblib (protocols 2-5) and plain pickle (2-5)."""
    import joblib

    for protocol in (2, 3, 4, 5):
        buffer = io.BytesIO()
        joblib.dump(obj, buffer, protocol=protocol)
        yield buffer.getvalue()
        yield pickle.dumps(obj, protocol=protocol)


class _Tracer:
    """An unrestricted joblib unpickler that records what loading does. Only for our own fresh files."""

    def __init__(self) -> None:
        self.classes: set[str] = set()
        self.called: set[str] = set()
        self.helpers: set[str] = set()
        self.values: set[str] = set()
        self.by_hand: set[str] = set()

    def trace(self, data: bytes) -> None:
        from joblib.numpy_pickle import NumpyUnpickler

        tracer = self
        names: dict[int, str] = {}

        class Tracing(NumpyUnpickler):
            dispatch = NumpyUnpickler.dispatch.copy()

            def find_class(self, module: str, name: str) -> Any:
                found = super().find_class(module, name)
                module, name = compat_name(module, name, self.proto)
                names[id(found)] = key(module, name)
                if not isinstance(found, type) and key(module, name) not in _BY_HAND:
                    tracer.values.add(key(module, name))
                return found

            def load_reduce(self) -> None:
                args, func = self.stack[-1], self.stack[-2]
                name = names.get(id(func))
                if name in _BY_HAND:
                    tracer.by_hand.add(name)
                    if name in ("copyreg:_reconstructor", "copyreg:__newobj__", "copyreg:__newobj_ex__"):
                        tracer.classes.add(names[id(args[0])])
                elif isinstance(func, type):
                    tracer.called.add(name)
                elif name is not None:
                    tracer.values.discard(name)
                    tracer.helpers.add(name)
                    if args and isinstance(args[0], type):
                        tracer.classes.add(names[id(args[0])])
                super().load_reduce()

            def load_newobj(self) -> None:
                tracer.classes.add(names[id(self.stack[-2])])
                super().load_newobj()

            def load_newobj_ex(self) -> None:
                tracer.classes.add(names[id(self.stack[-3])])
                super().load_newobj_ex()

            dispatch[pickle.REDUCE[0]] = load_reduce
            dispatch[pickle.NEWOBJ[0]] = load_newobj
            dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

        Tracing("", io.BytesIO(data), True).load()


def generate() -> str:
    import numpy
    import scipy
    import sklearn
    from sklearn.utils import all_estimators

    tracer, data, skipped = _Tracer(), datasets(), []
    from sklearn.base import is_classifier

    for label, estimator in sample_estimators():
        for dataset in (None, "binary") if is_classifier(estimator) else (None,):
            fitted = fit_one(estimator, data, dataset)
            if fitted is None:
                skipped.append(f"{label} on {dataset or 'its data'}")
                continue
            for blob in dumps_all(fitted[0]):
                tracer.trace(blob)
    for _, value in plain_objects():
        for blob in dumps_all(value):
            tracer.trace(blob)
    classes = tracer.classes | {key(c.__module__, c.__qualname__) for _, c in all_estimators()}
    classes.add("joblib.numpy_pickle:NumpyArrayWrapper")
    classes -= tracer.called
    lines = [
        f'"""Generated by ``python -m store.safety.pickle_allowlist_gen`` from scikit-learn {sklearn.__version__},',
        f"NumPy {numpy.__version__} and SciPy {scipy.__version__}: review changes, never edit by hand.",
        "",
        f"{len(skipped)} estimator instances could not be fitted within {FIT_SECONDS:g} s on the small data and",
        'were not sampled (their classes are still listed from ``all_estimators()``)."""',
        "",
    ]
    for name, values, doc in (
        ("CLASSES", classes, "rebuilt only by __new__ and then their state, never by calling them"),
        ("CALLED_CLASSES", tracer.called, "their own __reduce__ calls them; only with plain-data arguments"),
        ("NEW_HELPERS", tracer.helpers, "helpers that rebuild an allowed class given as first argument"),
        ("FUNCTIONS", tracer.values, "functions kept as values (score_func=...), never called while loading"),
    ):
        lines.append(f"# {doc}")
        lines.append(f"{name}: frozenset[str] = frozenset({{")
        lines.extend(f'    "{value}",' for value in sorted(values))
        lines.append("})")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    text = generate()
    _OUT.write_text(text)
    print(f"wrote {_OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
