"""The demo's plan: which checkpoints to train across its datasets and algorithms, in order and with
their versions, later ones continuing earlier ones; the same plan for the same seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

DATASETS = ("iris", "wine", "breast_cancer", "digits")
MAX_ESTIMATORS = 150


@dataclass(frozen=True)
class Job:
    """One checkpoint to train: ``parent`` is the earlier job's (model, version) it continues from."""

    dataset: str
    algorithm: str  # logreg, forest, gbm, svc, knn
    params: dict[str, Any]
    model: str
    version: str = ""
    parent: tuple[str, str] | None = None
    note: str = ""
    tags: tuple[str, ...] = ()


# -- the plan ---------------------------------------------------------------------------------

def _model(dataset: str, algorithm: str) -> str:
    return f"{dataset.replace('_', '-')}-{algorithm}"


def _first_jobs() -> list[Job]:
    """The hand-picked start: sweeps across datasets, with fine-tune chains woven in early."""
    def job(dataset: str, algorithm: str, note: str, tags: tuple[str, ...] = ("sweep",),
            parent: tuple[str, str] | None = None, model: str | None = None, **params: Any) -> Job:
        return Job(dataset, algorithm, params, model or _model(dataset, algorithm), parent=parent, note=note, tags=tags)

    ft = ("fine-tune",)
    return [
        job("iris", "logreg", "Strongly regularised baseline.", ("baseline",), C=0.01),
        job("wine", "forest", "Small forest to start from.", ("baseline",), n_estimators=5, max_depth=2),
        job("breast_cancer", "gbm", "Few shallow boosting stages.", ("baseline",), n_estimators=10, max_depth=2),
        job("wine", "forest", "Warm start: 10 more trees.", ft, ("wine-forest", "v1"), n_estimators=15, max_depth=2),
        job("iris", "logreg", "C sweep.", C=0.1),
        job("breast_cancer", "gbm", "Warm start: 20 more stages.", ft, ("breast-cancer-gbm", "v1"), n_estimators=30, max_depth=2),
        job("digits", "svc", "RBF kernel, C sweep.", ("baseline",), C=0.1),
        job("digits", "knn", "k sweep.", ("baseline",), n_neighbors=15),
        job("iris", "logreg", "C sweep.", C=1.0),
        job("wine", "forest", "Warm start: 25 more trees.", ft, ("wine-forest", "v2"), n_estimators=40, max_depth=2),
        job("digits", "svc", "RBF kernel, C sweep.", C=1.0),
        job("breast_cancer", "logreg", "Strongly regularised baseline.", ("baseline",), C=0.01),
        job("digits", "knn", "k sweep.", n_neighbors=7),
        job("breast_cancer", "gbm", "Warm start: 30 more stages.", ft, ("breast-cancer-gbm", "v2"), n_estimators=60, max_depth=2),
        job("iris", "logreg", "C sweep.", C=10.0),
        job("wine", "forest", "Branch of wine-forest:v2: 25 more trees, unlimited depth.", ("fine-tune", "branch"),
            ("wine-forest", "v2"), model="wine-forest-deep", n_estimators=40, max_depth=None),
        job("digits", "svc", "RBF kernel, C sweep.", C=10.0),
        job("breast_cancer", "logreg", "C sweep.", C=0.1),
        job("digits", "knn", "k sweep.", n_neighbors=3),
        job("iris", "forest", "Shallow forest.", ("baseline",), n_estimators=20, max_depth=2),
        job("breast_cancer", "logreg", "C sweep.", C=1.0),
        job("digits", "forest", "Forest baseline.", ("baseline",), n_estimators=20, max_depth=8),
        job("digits", "forest", "Warm start: 40 more trees.", ft, ("digits-forest", "v1"), n_estimators=60, max_depth=8),
        job("digits", "knn", "k sweep.", n_neighbors=1),
    ]


def _more_jobs(rng: random.Random, last: dict[str, Job]) -> Iterator[Job]:
    """After the hand-picked start: seeded random sweeps, and more estimators for the ensembles."""
    while True:
        kind = rng.choice(("logreg", "knn", "svc", "fine-tune"))
        # Ensembles stop growing at MAX_ESTIMATORS, which keeps every checkpoint a few MB at most.
        growing = sorted(m for m, j in last.items() if j.algorithm in ("forest", "gbm")
                         and j.params["n_estimators"] + 30 <= MAX_ESTIMATORS)
        if kind == "fine-tune" and growing:
            name = rng.choice(growing)
            before = last[name]
            more = rng.choice((10, 20, 30))
            params = {**before.params, "n_estimators": before.params["n_estimators"] + more}
            yield Job(before.dataset, before.algorithm, params, name, parent=(name, before.version),
                      note=f"Warm start: {more} more estimators.", tags=("fine-tune",))
        elif kind == "logreg":
            dataset = rng.choice(("iris", "wine", "breast_cancer"))
            params = {"C": round(10 ** rng.uniform(-2.5, 1.5), 4)}
            yield Job(dataset, "logreg", params, _model(dataset, "logreg"), note="Random C search.", tags=("search",))
        elif kind == "knn":
            params = {"n_neighbors": rng.randint(1, 25)}
            yield Job("digits", "knn", params, "digits-knn", note="Random k search.", tags=("search",))
        else:
            params = {"C": round(10 ** rng.uniform(-1.5, 1.5), 4)}
            yield Job("digits", "svc", params, "digits-svc", note="Random C search.", tags=("search",))


def plan(count: int, seed: int = 0) -> list[Job]:
    """The first ``count`` checkpoints to train, each with its version; the same for the same seed."""
    rng = random.Random(seed)
    versions: dict[str, int] = {}
    last: dict[str, Job] = {}
    first = _first_jobs()
    jobs: list[Job] = []
    source = iter(first) if count <= len(first) else _chain(first, rng, last)
    for job in source:
        if len(jobs) >= count:
            break
        versions[job.model] = versions.get(job.model, 0) + 1
        job = replace(job, version=f"v{versions[job.model]}")
        last[job.model] = job
        jobs.append(job)
    return jobs


def _chain(first: list[Job], rng: random.Random, last: dict[str, Job]) -> Iterator[Job]:
    yield from first
    yield from _more_jobs(rng, last)
