"""The Backend protocol itself, over every backend: what the next backend must do to fit the seam.

Each test talks to a backend directly (no Registry), so a new backend (a team server, MLflow)
added to BACKENDS gets them for free: exactly-once creation by content key, versions assigned
under the backend's own atomicity, compare-and-swap of what is live, all-or-nothing transactions,
and a change feed that names what changed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path

import pytest

from store.backends.local.backend import LocalBackend
from store.backends.memory import MemoryBackend
from store.backends.mlflow.backend import MlflowBackend
from store.backends.protocol import Backend
from store.errors import DeployConflict, DuplicateVersion
from tests.servers.mlflow import fresh_prefix

BACKENDS = ["local", "memory", "mlflow"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    made: Backend
    if request.param == "mlflow":
        made = MlflowBackend(request.getfixturevalue("mlflow_server"), prefix=fresh_prefix())
    else:
        made = LocalBackend(tmp_path / "registry") if request.param == "local" else MemoryBackend()
    yield made
    made.close()


def next_number(known: Collection[str]) -> str:
    return f"v{len(known) + 1}"


def test_every_backend_is_a_backend(backend: Backend) -> None:
    assert isinstance(backend, Backend)


def test_versions_are_assigned_by_the_backend_and_never_overwritten(backend: Backend) -> None:
    backend.put_model("m", {"created_at": "then"})
    first = backend.create_version("m", {"status": "completed"}, version=None, next_version=next_number)
    second = backend.create_version("m", {"status": "completed"}, version=None, next_version=next_number)
    assert (first["version"], second["version"]) == ("v1", "v2")
    with pytest.raises(DuplicateVersion):
        backend.create_version("m", {"status": "completed"}, version="v1")
    assert sorted(d["version"] for d in backend.version_docs()) == ["v1", "v2"]
    assert backend.index.latest["m"] == "v2" and set(backend.index.by_model["m"]) == {"v1", "v2"}


def test_a_content_key_creates_a_version_exactly_once(backend: Backend) -> None:
    backend.put_model("m", {})
    once = backend.create_version("m", {"status": "completed"}, version=None, key="sha:abc", next_version=next_number)
    again = backend.create_version("m", {"status": "completed"}, version=None, key="sha:abc", next_version=next_number)
    other = backend.create_version("m", {"status": "completed"}, version=None, key="sha:def", next_version=next_number)
    assert again == once and other["version"] == "v2"
    assert len(list(backend.version_docs())) == 2


def test_switch_live_is_compare_and_swap_with_one_history_entry(backend: Backend) -> None:
    backend.put_model("m", {})
    for version in ("v1", "v2"):
        backend.create_version("m", {"status": "completed"}, version=version)
    entry = {"seq": None, "env": "prod", "model": "m", "from": None, "to": "v1", "action": "deploy"}
    first = backend.switch_live("m", "prod", expected=None, to="v1", entry=entry, statuses={"v1": "deployed"})
    assert first["to"] == "v1" and isinstance(first["seq"], int)
    with pytest.raises(DeployConflict):  # someone else's view: nothing live; it is v1 now
        backend.switch_live("m", "prod", expected=None, to="v2", entry={**entry, "to": "v2"})
    assert [d["version"] for d in backend.live().values()] == ["v1"]
    assert len(backend.history()) == 1  # the refused switch wrote nothing
    second = backend.switch_live("m", "prod", expected="v1", to="v2", entry={**entry, "from": "v1", "to": "v2"},
                                 statuses={"v2": "deployed", "v1": "completed"})
    assert second["seq"] > first["seq"]
    statuses = {d["version"]: d["status"] for d in backend.version_docs()}
    assert statuses == {"v1": "completed", "v2": "deployed"}


def test_a_transaction_that_fails_leaves_nothing_behind(backend: Backend) -> None:
    backend.put_model("m", {})
    before = backend.token()
    with pytest.raises(RuntimeError, match="boom"):
        with backend.transaction():
            backend.create_version("m", {"status": "completed"}, version="v1")
            backend.put_model("other", {})
            raise RuntimeError("boom")
    assert list(backend.version_docs()) == [] and "other" not in backend.index.models
    assert "m" in backend.index.models
    backend.create_version("m", {"status": "completed"}, version="v1")  # and the store still works
    assert backend.changes_since(before)


def test_changes_since_names_what_changed_by_kind(backend: Backend) -> None:
    backend.put_model("m", {})
    backend.create_version("m", {"status": "completed"}, version="v1")
    token = backend.token()
    assert not backend.changes_since(token)
    backend.update_version("m", "v1", set={"tags": ["x"]})
    backend.create_version("m", {"status": "completed"}, version="v2")
    changes = backend.changes_since(token)
    assert not changes.reset and not changes.models and not changes.live
    assert {backend.versions()[i]["version"] for i in changes.versions} == {"v1", "v2"}
    backend.remove_version("m", "v1")
    later = backend.changes_since(changes.token)
    assert len(later.versions) == 1 and next(iter(later.versions)) not in backend.versions()


def test_update_and_remove(backend: Backend) -> None:
    backend.put_model("m", {"owner": "ana"})
    backend.create_version("m", {"status": "completed", "notes": "n"}, version="v1")
    updated = backend.update_version("m", "v1", set={"tags": ["a"]}, unset=["notes"])
    assert updated["tags"] == ["a"] and "notes" not in updated
    assert backend.put_model("m", {"owner": "bo"})["owner"] == "bo" and len(backend.models()) == 1
    backend.switch_live("m", "prod", expected=None, to="v1", entry={"seq": None, "model": "m", "env": "prod"})
    backend.remove_version("m", "v1")
    assert list(backend.version_docs()) == [] and list(backend.live().values()) == []
