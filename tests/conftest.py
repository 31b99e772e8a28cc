"""Shared fixtures: registries on real directories under pytest's tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from store.backends.local import journal
from store.backends.memory import MemoryBackend
from store.backends.protocol import Backend
from store.registry import Registry
from tests.servers.s3 import s3, s3_server  # noqa: F401  (fixtures: a real S3, moto's server)

pytest_plugins = ["tests.servers.mlflow", "tests.servers.postgres", "tests.servers.gcs", "tests.servers.azure",
                  "tests.servers.buckets"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--benchmarks", action="store_true", help="run the speed and memory benchmarks")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--benchmarks"):
        return
    skip = pytest.mark.skip(reason="benchmark: run with --benchmarks")
    for item in items:
        if "benchmark" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may find the user's real registry through the location rules."""
    monkeypatch.delenv("MODELREG_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # downloaded artifacts
    monkeypatch.delenv("MODELREG_CACHE", raising=False)
    monkeypatch.delenv("MODELREG_ARTIFACT_STORE", raising=False)


BACKENDS = ["journal", "snapshot", "memory", "mlflow"]


@pytest.fixture(params=BACKENDS)
def registry(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """A registry over every backend, as TinyDB's tests run over every storage: the local one
    two ways (changes kept in the journal, or folded into the snapshot after every write, so
    every test also exercises compaction), the in-memory one, and an MLflow server. A test about the journal's
    files or about other processes asks for ``local_registry`` instead."""
    reg = _open(request, tmp_path, monkeypatch)
    yield reg
    reg.close()


@pytest.fixture(params=["journal", "snapshot"])
def local_registry(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """A registry on the local backend only: for tests of its files and of other processes."""
    reg = _open(request, tmp_path, monkeypatch)
    yield reg
    reg.close()


@pytest.fixture(params=BACKENDS)
def open_registry(request: pytest.FixtureRequest, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Registry]]:
    """Opens registries named by folder, all over one backend (each its own: on the MLflow server,
    its own model-name prefix): for tests that move versions between two registries."""
    opened: list[Registry] = []

    def open_one(name: str) -> Registry:
        reg = _open(request, tmp_path, monkeypatch, tmp_path / name)
        opened.append(reg)
        return reg

    yield open_one
    for reg in opened:
        reg.close()


def backend_for(request: pytest.FixtureRequest) -> Backend | None:
    """A new backend of the kind ``request.param`` names (None: the local journal in the registry's folder).
    On the session's one MLflow server, a fresh model-name prefix keeps each registry to itself."""
    if request.param == "memory":
        return MemoryBackend()
    if request.param == "mlflow":
        from store.backends.mlflow.backend import MlflowBackend
        from tests.servers.mlflow import fresh_prefix

        return MlflowBackend(request.getfixturevalue("mlflow_server"), prefix=fresh_prefix())
    return None


def _open(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          path: Path | None = None) -> Registry:
    if request.param == "snapshot":
        monkeypatch.setattr(journal, "MIN_COMPACT_BYTES", 0)
    return Registry(path or tmp_path / "registry", backend=backend_for(request))


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "runs" / "model.pkl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"weights" * 100)
    return path
