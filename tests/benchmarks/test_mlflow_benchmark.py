"""MLflow backend targets (issue 13), as ratios against baselines measured in the same run on the
same server. Run: python -m pytest tests/benchmarks --benchmarks -s -k mlflow

- registration through modelreg <= 1.3x a bare create_model_version round trip;
- reopening a 10k-version registry from the saved replica <= 2x opening a local registry of that size
  holding the same documents (the issue's target, asserted). Also recorded: the ratio to one bare listing
  request when that is slower (a reopen must ask the server what changed; the two overlap), which shows
  how much of a miss is the server's answer time;
- the first sync <= 1.5x a bare paged search of the same versions;
- app start-up on the MLflow backend <= 1.2x on a local registry of the same size.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from store.backends.mlflow.backend import MlflowBackend
from store.backends.mlflow.client import RestClient
from store.backends.mlflow.mapping import field_tags
from store.registry import Registry
from tests.benchmarks.conftest import summarize
from tests.servers.mlflow import fresh_prefix

pytestmark = pytest.mark.benchmark

SIZE = 10_000


def doc(i: int) -> dict:
    return {"status": "completed", "created_at": "2026-12-03T00:00:00+00:00", "registered_by": "bench@host",
            "metrics": {"accuracy": (i % 1000) / 1000, "f1": (i % 997) / 997}, "params": {"lr": 0.001, "depth": i % 12},
            "tags": ["nightly"], "training_data": ["train-2026-11"]}


def test_registration_costs_at_most_1_3x_a_bare_create(mlflow_server: str, tmp_path: Path, record) -> None:
    prefix = fresh_prefix()
    client = RestClient(mlflow_server)
    client.post("registered-models/create", {"name": prefix + "bare"})
    registry = Registry(tmp_path / "home", backend=MlflowBackend(mlflow_server, prefix=prefix))
    registry.register("m", [], scan={"verdict": "safe"}, source=False)  # the model exists, the connection is warm
    bare, ours = [], []
    for i in range(200):  # interleaved, so both see the same server state and load
        body = {"name": prefix + "bare", "source": "modelreg://bench/x", "tags": field_tags(doc(i))}
        start = time.perf_counter()
        client.post("model-versions/create", body)
        bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        registry.register("m", [], metrics=doc(i)["metrics"], params=doc(i)["params"], tags=["nightly"],
                          training_data=["train-2026-11"], scan={"verdict": "safe"}, source=False)
        ours.append(time.perf_counter() - start)
    registry.close()
    ratio = statistics.median(ours) / statistics.median(bare)
    record("mlflow registration", ours=summarize(ours)["median_ms"], ours_p99=summarize(ours)["p99_ms"],
           bare=summarize(bare)["median_ms"], ratio=ratio)
    assert ratio <= 1.3


def fill_server(url: str, prefix: str, count: int) -> None:
    client = RestClient(url)
    client.post("registered-models/create", {"name": prefix + "m"})

    def create(i: int) -> None:
        fields = {**doc(i), "scan": {"verdict": "safe"}}  # what the local registry's versions hold too
        client.post("model-versions/create", {"name": prefix + "m", "source": "modelreg://bench/x", "tags": field_tags(fields)})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(count)))


def fill_local(path: Path, count: int) -> None:
    registry = Registry(path)
    with registry.transaction():
        for i in range(count):
            # the same fields as the server's versions (tags and training data are two lists more per document)
            registry.register("m", [], scan={"verdict": "safe"}, source=False, metrics=doc(i)["metrics"], params=doc(i)["params"],
                              tags=doc(i)["tags"], training_data=doc(i)["training_data"])
    registry.close()


def test_reopen_first_sync_and_app_start_at_10k(mlflow_server: str, tmp_path: Path, record) -> None:
    prefix = fresh_prefix()
    fill_server(mlflow_server, prefix, SIZE)
    fill_local(tmp_path / "local", SIZE)
    saved = tmp_path / "replica.json"

    # first sync (no saved replica) against a bare paged search of the same versions
    bare_client = RestClient(mlflow_server)
    start = time.perf_counter()
    bare = list(bare_client.pages("model-versions/search", "model_versions", filter=f"name='{prefix}m'", max_results=10000))
    bare_s = time.perf_counter() - start
    start = time.perf_counter()
    first = MlflowBackend(mlflow_server, prefix=prefix, saved=saved)
    first_s = time.perf_counter() - start
    assert len(bare) == SIZE and len(first.index.by_model["m"]) == SIZE
    first.close()

    reopen, local, asked = [], [], []
    for _ in range(15):  # interleaved: the three see the same load
        # Each open's memory is freed outside what is timed, for both: the local backend's documents are
        # freed only by the cyclic collector (250-350 ms at 10k), which would land in whichever open came next.
        gc.collect()
        start = time.perf_counter()
        opened = Registry(tmp_path / "home", backend=MlflowBackend(mlflow_server, prefix=prefix, saved=saved))
        opened.close()
        reopen.append(time.perf_counter() - start)
        del opened
        gc.collect()
        start = time.perf_counter()
        opened = Registry(tmp_path / "local")
        opened.release()
        local.append(time.perf_counter() - start)
        del opened
        # what a reopen must ask the server, bare: the model listing, on a new connection as a reopen's
        start = time.perf_counter()
        bare_client = RestClient(mlflow_server)
        list(bare_client.pages("registered-models/search", "registered_models", filter=f"name LIKE '{prefix}%'", max_results=1000))
        bare_client.close()
        asked.append(time.perf_counter() - start)
    floor = max(statistics.median(local), statistics.median(asked))

    async def app_start(registry: Registry) -> float:
        from tests.tui.test_app import opened
        from tui.app import ModelregApp

        begun = time.perf_counter()
        app = ModelregApp(registry)
        async with app.run_test(size=(120, 40)) as pilot:
            await opened(pilot)
            return time.perf_counter() - begun

    app_mlflow, app_local = [], []
    for _ in range(3):
        on_server = Registry(tmp_path / "home", backend=MlflowBackend(mlflow_server, prefix=prefix, saved=saved))
        app_mlflow.append(asyncio.run(app_start(on_server)))
        on_server.close()
        on_disk = Registry(tmp_path / "local")
        app_local.append(asyncio.run(app_start(on_disk)))
        on_disk.release()
    figures = {"first_sync_s": first_s, "bare_search_s": bare_s, "first_sync_ratio": first_s / bare_s,
               "reopen_ms": summarize(reopen)["median_ms"], "reopen_p99_ms": summarize(reopen)["p99_ms"],
               "local_open_ms": summarize(local)["median_ms"], "local_open_p99_ms": summarize(local)["p99_ms"],
               "bare_listing_ms": summarize(asked)["median_ms"], "bare_listing_p99_ms": summarize(asked)["p99_ms"],
               "reopen_ratio": statistics.median(reopen) / statistics.median(local),
               "reopen_floor_ratio": statistics.median(reopen) / floor,
               "app_mlflow_s": statistics.median(app_mlflow), "app_local_s": statistics.median(app_local),
               "app_ratio": statistics.median(app_mlflow) / statistics.median(app_local)}
    record("mlflow 10k", **figures)
    assert figures["first_sync_ratio"] <= 1.5
    assert figures["reopen_ratio"] <= 2.0
    assert figures["app_ratio"] <= 1.2
