"""Evaluating a scikit-learn version on data and recording the result as a new point of each metric.

The model is loaded through the restricted loader (``Registry.load``), never plain pickle. Data is
a CSV file (a header row; the target column is ``--target``, else the last), an NPZ file (arrays
``X`` and ``y``), or ``sklearn:NAME``: a dataset scikit-learn ships (``iris``, ``wine``,
``breast_cancer``, ``digits``, ``diabetes``). numpy and scikit-learn are imported only here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.errors import ArtifactError, BadMetadata

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")

if TYPE_CHECKING:
    from store.registry import Registry

CLASSIFIER_METRICS = ("accuracy", "f1_macro", "precision_macro", "recall_macro", "log_loss")
REGRESSOR_METRICS = ("r2", "rmse", "mae", "mse")
KNOWN = CLASSIFIER_METRICS + REGRESSOR_METRICS
BUNDLED = ("iris", "wine", "breast_cancer", "digits", "diabetes")


@dataclass
class Evaluation:
    ref: str
    data: str  # what was given: a path or sklearn:NAME
    sha256: str  # of the data's bytes
    rows: int
    metrics: dict[str, float]
    previous: dict[str, float] = field(default_factory=dict)  # each metric's value before this evaluation

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "data": self.data, "sha256": self.sha256, "rows": self.rows,
                "metrics": self.metrics, "previous": self.previous}


def load_data(source: str, target: str | None = None) -> tuple[Any, Any, str]:
    """(X, y, sha256 of the data) from a CSV or NPZ file or ``sklearn:NAME``."""
    import numpy

    if source.startswith("sklearn:"):
        name = source.split(":", 1)[1]
        if name not in BUNDLED:
            raise BadMetadata(f"unknown dataset '{name}': scikit-learn ships {', '.join(BUNDLED)}")
        import sklearn.datasets

        X, y = getattr(sklearn.datasets, f"load_{name}")(return_X_y=True)
        digest = hashlib.sha256(numpy.ascontiguousarray(X).tobytes() + numpy.ascontiguousarray(y).tobytes()).hexdigest()
        return X, y, digest
    path = Path(source).expanduser()
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise BadMetadata(f"cannot read the data {source}: {error.strerror or error}") from None
    digest = hashlib.sha256(raw).hexdigest()
    if path.suffix.lower() == ".npz":
        return (*_npz(path, source), digest)
    return (*_csv(raw, source, target), digest)


def _npz(path: Path, source: str) -> tuple[Any, Any]:
    import numpy

    try:
        with numpy.load(path, allow_pickle=False) as arrays:  # never unpickle data files
            if "X" not in arrays or "y" not in arrays:
                raise BadMetadata(f"{source} must hold arrays named X and y; it has {', '.join(arrays.files) or 'none'}")
            return arrays["X"], arrays["y"]
    except (ValueError, OSError) as error:
        raise BadMetadata(f"cannot read {source} as NPZ: {error}") from None


def _csv(raw: bytes, source: str, target: str | None) -> tuple[Any, Any]:
    import csv
    import io

    import numpy

    rows = list(csv.reader(io.StringIO(raw.decode("utf-8", errors="replace"))))
    if len(rows) < 2:
        raise BadMetadata(f"{source} needs a header row and at least one row of data")
    header, body = rows[0], [r for r in rows[1:] if r]
    column = len(header) - 1 if target is None else _column(header, target, source)
    try:
        X = numpy.array([[float(v) for i, v in enumerate(r) if i != column] for r in body])
    except ValueError as error:
        raise BadMetadata(f"{source}: the feature columns must be numbers ({error})") from None
    labels = [r[column] for r in body]
    try:
        y = numpy.array([float(v) for v in labels])
        if all(v.is_integer() for v in y):
            y = y.astype(int)
    except ValueError:
        y = numpy.array(labels)
    return X, y


def _column(header: Sequence[str], target: str, source: str) -> int:
    if target not in header:
        raise BadMetadata(f"{source} has no column '{target}'; its columns: {', '.join(header)}")
    return list(header).index(target)


def score(model: Any, X: Any, y: Any, names: Sequence[str]) -> dict[str, float]:
    """The named metrics of ``model`` on (X, y); a metric the model cannot give is left out."""
    import numpy
    from sklearn import metrics as m

    if not hasattr(model, "predict"):
        raise ArtifactError(f"the loaded object ({type(model).__name__}) has no predict(): not a scikit-learn model")
    predicted = model.predict(X)
    result: dict[str, float] = {}
    for name in names:
        if name == "accuracy":
            result[name] = m.accuracy_score(y, predicted)
        elif name.endswith("_macro") and name.split("_")[0] in ("f1", "precision", "recall"):
            scorer = {"f1": m.f1_score, "precision": m.precision_score, "recall": m.recall_score}[name.split("_")[0]]
            result[name] = scorer(y, predicted, average="macro", zero_division=0)
        elif name == "log_loss" and hasattr(model, "predict_proba"):
            result[name] = m.log_loss(y, model.predict_proba(X), labels=getattr(model, "classes_", None))
        elif name == "r2":
            result[name] = m.r2_score(y, predicted)
        elif name in ("mse", "rmse"):
            mse = m.mean_squared_error(y, predicted)
            result[name] = float(numpy.sqrt(mse)) if name == "rmse" else mse
        elif name == "mae":
            result[name] = m.mean_absolute_error(y, predicted)
    return {k: float(v) for k, v in result.items()}


def evaluate(registry: Registry, ref: str, data: str, *, target: str | None = None,
             metrics: Sequence[str] | None = None, trust: bool = False) -> Evaluation:
    """Evaluate ``ref`` on ``data`` and record each metric as a new point of its history.

    Default metrics: those of the version's own that can be computed here, else accuracy and
    f1_macro for a classifier, r2 and rmse for a regressor."""
    unknown = [n for n in metrics or () if n not in KNOWN]
    if unknown:
        raise BadMetadata(f"cannot compute {', '.join(unknown)}: use {', '.join(KNOWN)}")
    version = registry.get(ref)
    model = registry.load(version.ref, trust=trust)
    if isinstance(model, list):
        # Files beside the model (a config, say): the one pickle among them is the model.
        pickles = [p for p in model if Path(p).suffix.lower() in PICKLE_SUFFIXES]
        if len(pickles) == 1:
            model = registry.load(version.ref, trust=trust, name=os.path.basename(str(pickles[0])))
    if isinstance(model, list):
        raise ArtifactError(f"{version.ref} holds no scikit-learn model to evaluate (its artifacts: {', '.join(os.path.basename(str(p)) for p in model)})")
    X, y, digest = load_data(data, target)
    if metrics:
        names = list(metrics)
    else:
        names = [n for n in version.metrics if n in KNOWN] or list(
            CLASSIFIER_METRICS[:2] if hasattr(model, "classes_") else REGRESSOR_METRICS[:2])
    try:
        found = score(model, X, y, names)
    except ValueError as error:  # wrong width, unknown labels...
        raise BadMetadata(f"cannot evaluate {version.ref} on {data}: {' '.join(str(error).split())[:200]}") from None
    if not found:
        raise BadMetadata(f"none of {', '.join(names)} can be computed for {version.ref}")
    previous = {k: version.metrics[k] for k in found if k in version.metrics}
    registry.update(version.ref, metrics=found, data_sha256=digest)
    return Evaluation(version.ref, data, digest, int(len(y)), found, previous)
