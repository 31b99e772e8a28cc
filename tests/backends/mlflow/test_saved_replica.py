"""The replica saved between runs, on a real MLflow server: a reopen asks the server once and fetches
only what changed; a damaged, half-written or foreign file is refetched silently, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from store.backends.mlflow.backend import MlflowBackend
from store.backends.mlflow.client import RestClient
from store.registry import Registry
from tests.servers.mlflow import fresh_prefix

SAFE = {"verdict": "safe"}


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The REST endpoints every client asks from now on (threads included), in order."""
    seen: list[str] = []
    original = RestClient._request

    def counted(self: RestClient, method: str, path: str, *args: object, **kwargs: object) -> dict:
        seen.append(path.split("/mlflow/", 1)[-1])
        return original(self, method, path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(RestClient, "_request", counted)
    return seen


@pytest.fixture
def opener(mlflow_server: str, tmp_path: Path) -> Iterator[Callable[[], Registry]]:
    prefix, saved = fresh_prefix(), tmp_path / "replica.json"

    def open_registry(**options: float) -> Registry:
        return Registry(tmp_path / "home", backend=MlflowBackend(mlflow_server, prefix=prefix, saved=saved, **options))

    open_registry.saved, open_registry.prefix, open_registry.url = saved, prefix, mlflow_server  # type: ignore[attr-defined]
    with open_registry() as registry:
        for i in range(3):
            registry.register("alpha", [], metrics={"accuracy": i / 10}, scan=SAFE, source=False)
        registry.register("beta", [], scan=SAFE, source=False)
    assert saved.exists()
    with open_registry():  # catches up with the timestamps our own writes moved (and saves that)
        pass
    yield open_registry


def versions_of(registry: Registry, model: str) -> list[tuple[str, float | None]]:
    return [(v.version, v.metrics.get("accuracy")) for v in registry.versions(model)]


def test_a_reopen_with_nothing_changed_asks_the_server_once(opener, requests: list[str]) -> None:
    for _ in range(2):
        requests.clear()
        with opener() as registry:
            assert versions_of(registry, "alpha") == [("v1", 0.0), ("v2", 0.1), ("v3", 0.2)]
        # one listing of the registered models, and no version fetched again
        assert len(requests) == 1 and requests[0].startswith("registered-models/search"), requests


def test_what_a_reopen_fetched_is_saved_and_not_fetched_again(opener, requests: list[str]) -> None:
    with opener() as registry:  # our own write moves the model's timestamp...
        registry.register("alpha", [], metrics={"accuracy": 0.5}, scan=SAFE, source=False)
    with opener() as registry:  # ...which the next reopen looks into once (versions above those it searched)
        assert versions_of(registry, "alpha")[-1] == ("v4", 0.5)
    requests.clear()
    with opener() as registry:  # and no more after that
        assert versions_of(registry, "alpha")[-1] == ("v4", 0.5)
    assert len(requests) == 1, requests


def test_a_reopen_fetches_only_what_changed_on_the_server(opener, requests: list[str]) -> None:
    other = Registry(opener.saved.parent / "other", backend=MlflowBackend(opener.url, prefix=opener.prefix))
    other.register("alpha", [], metrics={"accuracy": 0.9}, scan=SAFE, source=False)
    other.update("alpha:v1", notes="edited elsewhere")
    other.close()
    requests.clear()
    with opener() as registry:
        assert versions_of(registry, "alpha") == [("v1", 0.0), ("v2", 0.1), ("v3", 0.2), ("v4", 0.9)]
        assert registry.get("alpha:v1").notes == "edited elsewhere"
        assert versions_of(registry, "beta") == [("v1", None)]
    searches = [r for r in requests if r.startswith("model-versions/search")]
    # alpha's new version by number, its edited one by name; beta, unchanged, is not asked about
    assert len(searches) == 1 and "alpha" in searches[0] and "version_number%3E3" in searches[0], requests
    assert any(r.startswith("model-versions/get") and "version=1" in r for r in requests), requests


@pytest.mark.parametrize("damage", ["half-written", "not JSON", "an older format", "another server", "wrong types"])
def test_a_damaged_replica_is_fetched_again_silently(opener, requests: list[str], damage: str) -> None:
    saved: Path = opener.saved
    raw = saved.read_bytes()
    state = json.loads(raw)
    if damage == "half-written":
        saved.write_bytes(raw[: len(raw) // 2])
    elif damage == "not JSON":
        saved.write_bytes(b"\x00\xff garbage")
    elif damage == "an older format":
        saved.write_text(json.dumps({**state, "format": 3}))
    elif damage == "another server":
        saved.write_text(json.dumps({**state, "url": "http://127.0.0.1:1"}))
    else:
        saved.write_text(json.dumps({**state, "docs": {**state["docs"], "versions": ["not", "a", "table"]}}))
    requests.clear()
    with opener() as registry:
        assert versions_of(registry, "alpha") == [("v1", 0.0), ("v2", 0.1), ("v3", 0.2)]
        assert registry.problems() == []
    # everything fetched again, and the file written anew: the next reopen fetches nothing
    assert any(r.startswith("model-versions/search") for r in requests)
    requests.clear()
    with opener() as registry:
        assert versions_of(registry, "alpha") == [("v1", 0.0), ("v2", 0.1), ("v3", 0.2)]
    assert len(requests) == 1, requests


def test_a_hand_edited_version_map_or_counter_is_not_trusted(opener) -> None:
    saved: Path = opener.saved
    state = json.loads(saved.read_text())
    [alpha] = [s for s in state["numbers"] if s.endswith("alpha")]
    state["numbers"][alpha].pop("1")  # no longer names every version document: rebuilt from the documents
    state["last_id"] = 0  # would hand out ids in use: the largest id in use wins
    saved.write_text(json.dumps(state))
    expected = [("v1", 0.0), ("v2", 0.1), ("v3", 0.2), ("v4", 0.7), ("v5", 0.8), ("v6", 0.9)]
    with opener(poll=0, sweep=0) as registry:  # every read fetches everything again: each version must land on its own document
        for accuracy in (0.7, 0.8, 0.9):
            registry.register("alpha", [], metrics={"accuracy": accuracy}, scan=SAFE, source=False)
        assert versions_of(registry, "alpha") == expected
        assert versions_of(registry, "beta") == [("v1", None)]
        assert len(list(registry.backend.version_docs())) == 7  # none twice, none lost
    with opener() as registry:
        assert versions_of(registry, "alpha") == expected and versions_of(registry, "beta") == [("v1", None)]
