"""The demo's trainer: real scikit-learn models on the datasets scikit-learn ships, written
as checkpoints with sidecars the way a training script would, so a watcher can pick them up.

Layout under the runs folder, one folder per model (the watcher names a model after the first
folder below its root, and each sidecar says the same)::

    runs/wine-forest/step-0002/model.joblib
    runs/wine-forest/step-0002/model.joblib.json

Every checkpoint is written to a temporary name and renamed into place, sidecar first, so a
watcher never sees half a file and always finds the sidecar beside a new model file. Some
checkpoints are fine-tunes: a warm-started random forest or gradient boosting model loaded
from an earlier checkpoint and given more estimators, with that checkpoint as its parent.

Nothing is downloaded (only ``load_*`` datasets, never ``fetch_*``), and the same seed gives
the same models and metrics. scikit-learn and joblib are imported inside the functions that
need them, so importing this module stays light.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.backends.local.location import DOT_DIR
from store.demo.planning import DATASETS, MAX_ESTIMATORS, Job, plan  # noqa: F401 - importable from here as before
from store.errors import ModelregError

if TYPE_CHECKING:
    from store.records import Version
    from store.registry import Registry


TEST_SIZE = 0.3
DEFAULT_COUNT = 24
DEFAULT_INTERVAL = 2.0
MODEL_FILE = "model.joblib"
# Marks the demo's checkpoints as made up by the demo, in place of a real commit.
DEMO_MARKER = "demo"
CONFIG = {
    "environments": ["production", "staging"],
    "default_environment": "staging",
    "protected_environments": ["production"],
}


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint the trainer wrote: the model file, its sidecar and what the sidecar says."""

    step: int
    model: str
    version: str
    parent: str | None
    dataset: str
    algorithm: str
    path: Path
    sidecar: Path
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.version}"


@dataclass(frozen=True)
class Split:
    """A dataset's stratified train/test split for a seed; the test part is the held-out set."""

    dataset: str
    X_train: Any
    X_test: Any
    y_train: Any
    y_test: Any
    total: int

    @property
    def description(self) -> str:
        return (
            f"{self.dataset} train split: {len(self.y_train)} of {self.total} rows "
            f"(stratified, {int(TEST_SIZE * 100)}% held out)"
        )


@dataclass(frozen=True)
class DemoPaths:
    root: Path
    registry: Path
    runs: Path


# -- training ---------------------------------------------------------------------------------

def load_split(dataset: str, seed: int = 0) -> Split:
    """The train/test split of one of scikit-learn's bundled datasets, as the demo uses it."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    if dataset not in DATASETS:
        raise ModelregError(f"unknown demo dataset '{dataset}': use one of {', '.join(DATASETS)}")
    X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=TEST_SIZE, stratify=y, random_state=seed)
    return Split(dataset, X_train, X_test, y_train, y_test, len(y))


def _estimator(job: Job, seed: int) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    p = job.params
    if job.algorithm == "forest":
        return RandomForestClassifier(n_estimators=p["n_estimators"], max_depth=p["max_depth"], random_state=seed)
    if job.algorithm == "gbm":
        return GradientBoostingClassifier(n_estimators=p["n_estimators"], max_depth=p["max_depth"], random_state=seed)
    # Distance- and gradient-based models need scaled features, as a real pipeline would have.
    if job.algorithm == "logreg":
        final = LogisticRegression(C=p["C"], max_iter=2000)
    elif job.algorithm == "svc":
        final = SVC(C=p["C"], gamma="scale")
    else:
        final = KNeighborsClassifier(n_neighbors=p["n_neighbors"])
    return Pipeline([("scale", StandardScaler()), (job.algorithm, final)])


def _continue(parent_file: Path, job: Job) -> Any:
    """The parent checkpoint, set to add estimators on the next fit (scikit-learn's warm start)."""
    import joblib

    estimator = joblib.load(parent_file)  # our own file, written by this trainer
    estimator.set_params(warm_start=True, n_estimators=job.params["n_estimators"], max_depth=job.params["max_depth"])
    return estimator


def evaluate(estimator: Any, split: Split) -> dict[str, float]:
    """Held-out metrics: accuracy first (the registry's primary metric), f1_macro, and log_loss
    for models that give probabilities."""
    from sklearn.metrics import accuracy_score, f1_score, log_loss

    predicted = estimator.predict(split.X_test)
    metrics = {
        "accuracy": float(accuracy_score(split.y_test, predicted)),
        "f1_macro": float(f1_score(split.y_test, predicted, average="macro")),
    }
    if hasattr(estimator, "predict_proba"):
        probabilities = estimator.predict_proba(split.X_test)
        metrics["log_loss"] = float(log_loss(split.y_test, probabilities, labels=estimator.classes_))
    return metrics


def _key_params(estimator: Any) -> dict[str, Any]:
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    wanted = ("C", "max_iter", "kernel", "gamma", "n_neighbors", "weights", "n_estimators", "max_depth",
              "learning_rate", "criterion", "random_state")
    params = final.get_params()
    result = {"estimator": type(final).__name__}
    result.update({key: params[key] for key in wanted if key in params})
    if hasattr(estimator, "steps"):
        result["pipeline"] = " -> ".join(type(step).__name__ for _, step in estimator.steps)
    return result


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    os.replace(temporary, path)


def train_one(job: Job, step: int, runs: Path, seed: int, parent_file: Path | None = None) -> Checkpoint:
    """Train ``job`` and write its checkpoint and sidecar under ``runs``."""
    import joblib

    split = load_split(job.dataset, seed)
    started = time.perf_counter()
    estimator = _continue(parent_file, job) if parent_file else _estimator(job, seed)
    estimator.fit(split.X_train, split.y_train)
    duration = time.perf_counter() - started
    metrics = evaluate(estimator, split)
    parent = f"{job.parent[0]}:{job.parent[1]}" if job.parent else None
    sidecar = {
        "model": job.model,
        "version": job.version,
        "parent": parent,
        "status": "completed",
        "framework": "sklearn",
        "metrics": metrics,
        "params": _key_params(estimator),
        "training": {"samples": len(split.y_train), "duration_s": round(duration, 4), "hardware": "cpu"},
        "training_data": [f"sklearn/{job.dataset}", split.description],
        "git_commit": DEMO_MARKER,
        "tags": ["demo", *job.tags],
        "notes": f"modelreg demo: {job.note}",
        "step": step,
        "extra": {"demo_seed": seed, "dataset": job.dataset},
    }
    folder = runs / job.model / f"step-{step:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL_FILE
    sidecar_path = folder / f"{MODEL_FILE}.json"
    text = json.dumps({k: v for k, v in sidecar.items() if v is not None}, indent=2) + "\n"
    _write_atomically(sidecar_path, lambda p: p.write_text(text))
    _write_atomically(path, lambda p: joblib.dump(estimator, p))
    return Checkpoint(step, job.model, job.version, parent, job.dataset, job.algorithm, path, sidecar_path, metrics)


def train(
    runs: str | os.PathLike[str],
    count: int = DEFAULT_COUNT,
    interval: float = DEFAULT_INTERVAL,
    seed: int = 0,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
    stop_event: threading.Event | None = None,
) -> list[Checkpoint]:
    """Train ``count`` checkpoints into ``runs``, one every ``interval`` seconds; return them.

    ``on_checkpoint`` is called (in this thread) after each one is in place. Setting
    ``stop_event`` stops the trainer between checkpoints, and during the wait.
    """
    if count < 1:
        raise ModelregError(f"--count is {count}; give at least 1 checkpoint")
    if interval < 0:
        raise ModelregError(f"--interval is {interval}; give a number of seconds >= 0")
    runs = Path(runs)
    runs.mkdir(parents=True, exist_ok=True)
    stop_event = stop_event or threading.Event()
    written: dict[tuple[str, str], Path] = {}
    done: list[Checkpoint] = []
    start = time.monotonic()
    for step, job in enumerate(plan(count, seed), start=1):
        # A steady cadence: training time counts towards the interval.
        if stop_event.wait(max(0.0, start + (step - 1) * interval - time.monotonic())):
            break
        checkpoint = train_one(job, step, runs, seed, written.get(job.parent) if job.parent else None)
        written[(job.model, job.version)] = checkpoint.path
        done.append(checkpoint)
        if on_checkpoint is not None:
            on_checkpoint(checkpoint)
        if stop_event.is_set():
            break
    return done


# -- the demo folder and its registry -----------------------------------------------------------

def create_demo(root: str | os.PathLike[str]) -> DemoPaths:
    """A fresh registry ``root/.modelreg`` (environments production and staging) and ``root/runs``.

    Refuses a folder that already holds a registry or runs, so a demo never mixes with real work.
    """
    from store.registry import Registry

    root = Path(root).expanduser().resolve()
    paths = DemoPaths(root, root / DOT_DIR, root / "runs")
    for taken in (paths.registry, paths.runs):
        if taken.exists() and (not taken.is_dir() or any(taken.iterdir())):
            raise ModelregError(f"{taken} already exists; give 'modelreg demo' an empty or new folder")
    paths.registry.mkdir(parents=True, exist_ok=True)
    (paths.registry / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
    Registry(paths.registry, create=True).close()
    paths.runs.mkdir(exist_ok=True)
    return paths


def register_checkpoint(registry: Registry, checkpoint: Checkpoint) -> Version:
    """Register a checkpoint from its sidecar, as the watcher would: the model file is the
    artifact, with its safety scan, and a description of the estimator when the scan says safe."""
    from store.safety import estimators
    from store.safety.loader import inspect_file
    from store.watch.sidecar import read_sidecar

    kwargs = read_sidecar(checkpoint.sidecar).to_register_kwargs()
    model = kwargs.pop("model")
    scan, loaded = inspect_file(checkpoint.path)  # the restricted load is the scan
    version = registry.register(model, [checkpoint.path], scan=scan.to_dict(), **kwargs)
    if not scan.safe:
        return version
    return registry.update(version.ref, estimator=estimators.describe(loaded))


def run_demo(
    root: str | os.PathLike[str],
    count: int = DEFAULT_COUNT,
    interval: float = DEFAULT_INTERVAL,
    seed: int = 0,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
    stop_event: threading.Event | None = None,
) -> list[Checkpoint]:
    """Create the demo folder under ``root`` and train into ``root/runs`` (see :func:`train`).

    Registers nothing itself: something watching ``root/runs`` does, or ``on_checkpoint``.
    """
    paths = create_demo(root)
    return train(paths.runs, count, interval, seed, on_checkpoint, stop_event)


def populate(registry_path: str | os.PathLike[str], count: int = DEFAULT_COUNT, seed: int = 0,
             runs: str | os.PathLike[str] | None = None) -> list[Version]:
    """Train ``count`` checkpoints without waiting and register each one: a filled registry for
    screenshots and tests. The checkpoints go to ``runs`` (default: ``runs/`` beside the registry)."""
    from store.registry import Registry

    registry_path = Path(registry_path)
    runs = Path(runs) if runs is not None else registry_path.parent / "runs"
    if not (registry_path / "config.json").exists():
        registry_path.mkdir(parents=True, exist_ok=True)
        (registry_path / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
    versions: list[Version] = []
    with Registry(registry_path, create=True) as registry:
        train(runs, count, 0.0, seed, lambda checkpoint: versions.append(register_checkpoint(registry, checkpoint)))
    return versions
