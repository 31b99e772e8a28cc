"""Saving scikit-learn estimators and describing them as plain JSON.

scikit-learn and joblib are imported inside the functions: ``import store`` stays light.
``store.safety.inspector.describe_file`` loads with the restricted loader in a separate worker with a timeout, so
a slow or crashing file never takes the caller (the watcher, the app) down with it.

Run as ``python -m store.safety.estimators PATH`` it prints the description of PATH as JSON.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from store.durable import fsync_dir, fsync_file

MAX_LIST = 100  # classes and feature names kept in a description
TOP_IMPORTANCES = 50
MAX_REPR = 200
_ROOT = Path(__file__).resolve().parents[1]  # the folder holding the ``store`` package


def save(estimator: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``estimator`` with joblib, atomically: a reader never sees half a file."""
    import joblib

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        joblib.dump(estimator, tmp)
        fsync_file(Path(tmp))  # registered means on disk, the artifact as much as the record
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def describe(estimator: Any) -> dict[str, Any]:
    """A JSON-able summary of a (fitted) estimator.

    Keys: ``class`` (module.qualname), ``sklearn_version``, ``params`` (get_params(deep=False)),
    ``fitted``, and when the estimator has them: ``n_features_in_``, ``feature_names_in_``,
    ``classes_`` (the first 100, with ``n_classes``), ``feature_importances_`` (count and the
    top 50 by magnitude, named when feature names are known), ``coef_`` (shape, min, max,
    mean |coef|, norm), ``steps`` for a Pipeline.
    """
    kind = type(estimator)
    info: dict[str, Any] = {"class": f"{kind.__module__}.{kind.__qualname__}", "sklearn_version": _sklearn_version()}
    if hasattr(estimator, "get_params"):
        try:
            info["params"] = {str(k): _param(v) for k, v in estimator.get_params(deep=False).items()}
        except Exception as error:  # a broken third-party get_params must not stop registration
            info["params_error"] = _short(repr(error))
        info["fitted"] = _is_fitted(estimator)
    n_features = _attr(estimator, "n_features_in_")
    if isinstance(n_features, (int,)) or hasattr(n_features, "__index__"):
        info["n_features_in_"] = int(n_features)
    names = _attr(estimator, "feature_names_in_")
    if names is not None:
        names = [str(n) for n in list(names)]
        info["feature_names_in_"] = names[:MAX_LIST]
        if len(names) > MAX_LIST:
            info["n_feature_names"] = len(names)
    classes = _attr(estimator, "classes_")
    if classes is not None:
        values = _to_list(classes)
        if values is not None:
            info["classes_"] = [_param(c) for c in values[:MAX_LIST]]
            info["n_classes"] = len(values)
    importances = _attr(estimator, "feature_importances_")
    if importances is not None:
        info["feature_importances_"] = _importances(importances, names)
    coef = _attr(estimator, "coef_")
    if coef is not None:
        info["coef_"] = _coef_summary(coef)
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and all(isinstance(s, tuple) and len(s) == 2 for s in steps):
        info["steps"] = [{"name": str(n), "class": _class_name(s)} for n, s in steps]
    return info


# -- helpers --------------------------------------------------------------------------------


def _sklearn_version() -> str | None:
    try:
        import sklearn
    except ImportError:
        return None
    return str(sklearn.__version__)


def _attr(estimator: Any, name: str) -> Any:
    try:  # fitted attributes are often properties that raise when unfitted
        return getattr(estimator, name, None)
    except Exception:
        return None


def _is_fitted(estimator: Any) -> bool | None:
    try:
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted
    except ImportError:
        return None
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    except Exception:
        return None
    return True


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REPR else text[: MAX_REPR - 1] + "…"


def _class_name(value: Any) -> str:
    if isinstance(value, str):  # "passthrough" or "drop" in a Pipeline
        return value
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _param(value: Any, depth: int = 0) -> Any:
    """Numbers, text, booleans and None as they are (NaN and infinities as None); small
    lists, tuples and dicts of those element by element; anything else as a short repr."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # a numpy scalar
        return _param(value.item(), depth)
    if depth < 3 and isinstance(value, (list, tuple)) and len(value) <= MAX_LIST:
        return [_param(v, depth + 1) for v in value]
    if depth < 3 and isinstance(value, dict) and len(value) <= MAX_LIST:
        return {str(k): _param(v, depth + 1) for k, v in value.items()}
    if hasattr(value, "get_params"):
        return _short(f"{_class_name(value)}(…)")
    return _short(repr(value))


def _to_list(values: Any) -> list[Any] | None:
    try:
        return list(values.tolist() if hasattr(values, "tolist") else values)
    except TypeError:
        return None


def _floats(values: Any) -> list[float]:
    import numpy

    array = numpy.asarray(values, dtype=float).ravel()
    return [float(v) for v in array]


def _importances(values: Any, names: list[str] | None) -> dict[str, Any]:
    floats = _floats(values)
    order = sorted(range(len(floats)), key=lambda i: -abs(floats[i]) if math.isfinite(floats[i]) else 0)
    top = []
    for i in order[:TOP_IMPORTANCES]:
        entry: dict[str, Any] = {"index": i, "importance": floats[i] if math.isfinite(floats[i]) else None}
        if names is not None and i < len(names):
            entry["feature"] = names[i]
        top.append(entry)
    return {"count": len(floats), "top": top}


def _coef_summary(coef: Any) -> dict[str, Any]:
    import numpy

    array = numpy.asarray(coef.toarray() if hasattr(coef, "toarray") else coef, dtype=float)
    finite = array[numpy.isfinite(array)]
    summary: dict[str, Any] = {"shape": list(array.shape)}
    if finite.size:
        summary.update(
            min=float(finite.min()),
            max=float(finite.max()),
            mean_abs=float(numpy.abs(finite).mean()),
            norm=float(numpy.linalg.norm(finite)),
        )
    return summary


def _main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m store.safety.estimators PATH", file=sys.stderr)
        return 2
    from store.safety.loader import load_file

    print(json.dumps(describe(load_file(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
