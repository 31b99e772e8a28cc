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
    other.close()
    requests.clear()
    with opener() as registry:
        assert versions_of(registry, "alpha") == [("v1", 0.0), ("v2", 0.1), ("v3", 0.2), ("v4", 0.9)]
        assert versions_of(registry, "beta") == [("v1", None)]
    searches = [r for r in requests if r.startswith("model-versions/search")]
    # alpha's new version by number, then one row to check that none it knows is gone (a plain MLflow
    # client's delete moves the timestamp only); beta, unchanged, is not asked about
    assert len(searches) == 2 and all("alpha" in s for s in searches) and "version_number%3E3" in searches[0], requests
    assert "max_results=1" in searches[1] and "version_number%3C%3D4" in searches[1], requests
    assert len(requests) == 3, requests


def test_a_reopen_sees_every_edit_another_process_made_not_only_the_last(opener, requests: list[str]) -> None:
    other = Registry(opener.saved.parent / "other", backend=MlflowBackend(opener.url, prefix=opener.prefix))
    other.update("alpha:v1", notes="edited elsewhere")
    other.score("alpha:v3", accuracy=0.5)  # the edit signal now names v3 only
    other.close()
    requests.clear()
    with opener() as registry:
        assert registry.get("alpha:v1").notes == "edited elsewhere"
        assert versions_of(registry, "alpha") == [("v1", 0.0), ("v2", 0.1), ("v3", 0.5)]
        assert versions_of(registry, "beta") == [("v1", None)]
    searches = [r for r in requests if r.startswith("model-versions/search")]
    # all of alpha (the signal names the last edit only), nothing of beta
    assert len(searches) == 1 and "alpha" in searches[0] and "version_number" not in searches[0], requests
    requests.clear()
    with opener() as registry:  # saved: the next reopen asks nothing more
        assert registry.get("alpha:v1").notes == "edited elsewhere"
    assert len(requests) == 1, requests


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


# -- each kind of change made while the registry was closed, seen by the reopen ------------------------


def names(registry: Registry, model: str) -> list[str]:
    return [v.version for v in registry.versions(model)]


def test_a_reopen_sees_another_modelreg_processs_changes(opener, tmp_path: Path) -> None:
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"weights")
    other = Registry(tmp_path / "other", backend=MlflowBackend(opener.url, prefix=opener.prefix))
    other.register("alpha", [weights], metrics={"accuracy": 0.9}, scan=SAFE)  # a new version
    other.remove("alpha:v2", force=True)  # a deleted one
    other.tag("alpha:v1", "golden")  # an edited one
    other.update_model("alpha", description="edited elsewhere")
    other.register("gamma", [], scan=SAFE, source=False)  # a new model
    other.deploy("alpha:v4", trust=True)  # an alias and a history entry
    other.close()
    with opener() as registry:
        assert names(registry, "alpha") == ["v1", "v3", "v4"]
        assert registry.get("alpha:v1").tags == ("golden",)
        assert registry.model("alpha").description == "edited elsewhere"
        assert names(registry, "gamma") == ["v1"]
        assert registry.live_map("alpha") == {"production": "v4"}
        assert [(e["to"], e["env"]) for e in registry.history("alpha")] == [("v4", "production")]


def test_a_reopen_sees_a_plain_mlflow_clients_new_versions_and_models(opener) -> None:
    client, p = RestClient(opener.url), opener.prefix
    client.post("model-versions/create", {"name": p + "alpha", "source": "s3://bucket/plain", "tags": [{"key": "team", "value": "ml"}]})
    client.post("registered-models/create", {"name": p + "gamma"})
    client.post("model-versions/create", {"name": p + "gamma", "source": "s3://bucket/g"})
    with opener() as registry:
        assert names(registry, "alpha") == ["v1", "v2", "v3", "v4"]
        assert registry.get("alpha:v4").extra == {"mlflow_tags": {"team": "ml"}}
        assert names(registry, "gamma") == ["v1"]


def test_a_reopen_sees_a_plain_mlflow_clients_deleted_version(opener, requests: list[str]) -> None:
    client, p = RestClient(opener.url), opener.prefix
    client.delete("model-versions/delete", {"name": p + "alpha", "version": "2"})  # moves the model's timestamp only
    with opener() as registry:
        assert names(registry, "alpha") == ["v1", "v3"]
    with opener() as registry:  # and saved so: not fetched again
        assert names(registry, "alpha") == ["v1", "v3"]
    # below the highest number, then the top one: both seen
    client.delete("model-versions/delete", {"name": p + "alpha", "version": "3"})
    with opener() as registry:
        assert names(registry, "alpha") == ["v1"]
        assert names(registry, "beta") == ["v1"]


def test_a_reopen_sees_a_plain_mlflow_clients_deleted_version_beside_a_new_one(opener) -> None:
    client, p = RestClient(opener.url), opener.prefix
    client.delete("model-versions/delete", {"name": p + "alpha", "version": "1"})
    client.post("model-versions/create", {"name": p + "alpha", "source": "s3://bucket/plain"})  # the timestamp is the new one's
    with opener() as registry:
        assert names(registry, "alpha") == ["v2", "v3", "v4"]


def test_a_reopen_sees_a_plain_mlflow_clients_aliases(opener) -> None:
    client, p = RestClient(opener.url), opener.prefix
    client.post("registered-models/alias", {"name": p + "alpha", "alias": "champion", "version": "2"})  # no timestamp moves
    with opener() as registry:
        assert registry.live_map("alpha") == {"champion": "v2"}
    client.post("registered-models/alias", {"name": p + "alpha", "alias": "champion", "version": "3"})
    with opener() as registry:
        assert registry.live_map("alpha") == {"champion": "v3"}
    client.delete("registered-models/alias", {"name": p + "alpha", "alias": "champion"})
    with opener() as registry:
        assert registry.live_map("alpha") == {}


def test_a_reopen_sees_a_plain_mlflow_clients_model_tags(opener) -> None:
    client, p = RestClient(opener.url), opener.prefix
    client.post("registered-models/set-tag", {"name": p + "beta", "key": "modelreg.owner", "value": '"ana"'})
    with opener() as registry:
        assert registry.model("beta").owner == "ana"
    client.delete("registered-models/delete-tag", {"name": p + "beta", "key": "modelreg.owner"})
    with opener() as registry:
        assert registry.model("beta").owner == ""


def test_a_reopen_sees_a_plain_mlflow_clients_deleted_model(opener) -> None:
    client, p = RestClient(opener.url), opener.prefix
    client.delete("registered-models/delete", {"name": p + "beta"})
    with opener() as registry:
        assert [m.name for m in registry.models()] == ["alpha"]
        assert {d["model"] for d in registry.backend.version_docs()} == {"alpha"}  # beta's version went with it
        assert names(registry, "alpha") == ["v1", "v2", "v3"]
        assert registry.backend.problems() == []


def test_edits_a_poll_may_have_missed_are_fetched_by_the_next_reopen(opener) -> None:
    registry = opener(poll=0)  # open meanwhile: it polls
    other = Registry(opener.saved.parent / "other", backend=MlflowBackend(opener.url, prefix=opener.prefix))
    other.update("alpha:v1", notes="first")
    other.score("alpha:v3", accuracy=0.5)  # between two polls: the signal names v3 only
    other.close()
    registry.refresh()
    assert registry.get("alpha:v3").metrics["accuracy"] == 0.5
    registry.close()  # saved before any sweep
    with opener() as registry:
        assert registry.get("alpha:v1").notes == "first"
