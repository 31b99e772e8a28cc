"""A lean MLflow tracking server for the tests: one worker, sqlite backend store, local artifacts.

``mlflow_server`` is shared by the whole session (11-18 s to start); tests isolate themselves by a
fresh registered-model-name prefix (``mlflow_url`` adds one). ``mlflow_server_on`` starts one on
any backend store URI (PostgreSQL for the concurrency tests).
"""

from __future__ import annotations

import itertools
import json
import os
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port, server_program, start, stop

_counter = itertools.count()


def wait_for_mlflow(url: str, process, timeout: float = 90.0) -> None:
    """Wait until the server answers its REST API (listening is not enough: workers import for seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"mlflow server exited with {process.returncode} before answering", pytrace=False)
        try:
            with urllib.request.urlopen(f"{url}/api/2.0/mlflow/registered-models/search?max_results=1", timeout=2) as answer:
                json.load(answer)
                return
        except OSError:
            time.sleep(0.2)
    stop(process)
    pytest.fail(f"mlflow server at {url} did not answer within {timeout:.0f} s", pytrace=False)


def start_mlflow(directory: Path, store_uri: str | None = None, port: int | None = None) -> tuple[str, object]:
    """A server on ``store_uri`` (default: sqlite in ``directory``); ``port``: the same one again, to restart it."""
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    store_uri = store_uri or f"sqlite:///{directory / 'mlflow.db'}"
    process = start([server_program("mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
                     "--workers", "1", "--backend-store-uri", store_uri,
                     "--artifacts-destination", str(directory / "artifacts")],
                    directory / "server.log", env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    url = f"http://127.0.0.1:{port}"
    wait_for_mlflow(url, process)
    return url, process


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a session-wide MLflow server on sqlite."""
    url, process = start_mlflow(tmp_path_factory.mktemp("mlflow"))
    try:
        yield url
    finally:
        stop(process)  # type: ignore[arg-type]


def fresh_prefix() -> str:
    """A registered-model-name prefix no other test on the shared server uses."""
    return f"t{os.getpid()}-{next(_counter)}-{uuid.uuid4().hex[:6]}."


@pytest.fixture(scope="session")
def mlflow_on_postgres(tmp_path_factory: pytest.TempPathFactory, postgres_uri: str) -> Iterator[str]:
    """An MLflow server whose backend store is PostgreSQL: for the concurrency tests."""
    url, process = start_mlflow(tmp_path_factory.mktemp("mlflow-pg"), postgres_uri)
    try:
        yield url
    finally:
        stop(process)  # type: ignore[arg-type]
