"""Editing a version on an MLflow server: one tag per field, written whole even if the server dies.

Several fields are several requests. Such an edit first writes its whole intent as one tag
(``modelreg:pending``: the fields set and unset), then the fields' tags, then deletes the intent.
Readers take the intent's fields over the tags' while it is there (:mod:`store.backends.mlflow.mapping`),
so a writer or a server that dies half-way leaves the edit whole, and the next edit of the version
writes the rest of it with its own. A failed edit is undone by the backend's compensating writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from store.backends.mlflow import runs
from store.backends.mlflow.client import ApiError
from store.backends.mlflow.mapping import MAX_TAG, PENDING_TAG, PREFIX, RESERVED, field_tags
from store.backends.protocol import Doc

if TYPE_CHECKING:
    from store.backends.mlflow.backend import MlflowBackend


def update(backend: MlflowBackend, server: str, number: str, doc_id: str, *, set: Mapping[str, Any],
           unset: Iterable[str]) -> Doc:
    """Write the fields of version ``number`` that change; its new document (the replica holds it too)."""
    client = backend.client
    old = backend.versions()[doc_id]
    doc = {**old, **set}
    for name in unset:
        doc.pop(name, None)
    ref = {"name": server, "version": number}
    pending = old["mlflow"].get("pending") or {"set": {}, "unset": []}
    changes = {k: doc[k] for k in pending["set"] if k in doc} | {k: v for k, v in set.items() if old.get(k) != v}
    drops = [n for n in dict.fromkeys([*pending["unset"], *unset]) if n not in doc and n not in RESERVED]
    tags = field_tags(changes)
    intent = json.dumps({"set": changes, "unset": drops}, allow_nan=False, separators=(",", ":"))
    # One field is one request, atomic already; an intent too long for one tag goes field by field.
    whole = (len(tags) + len(drops) > 1 or "pending" in old["mlflow"]) and len(intent) <= MAX_TAG
    if whole:
        client.post("model-versions/set-tag", {**ref, "key": PENDING_TAG, "value": intent}, idempotent=True)
        backend._undo.append(_undo(backend, ref, PENDING_TAG, old["mlflow"].get("pending")))
    for tag in tags:
        client.post("model-versions/set-tag", {**ref, **tag}, idempotent=True)
        backend._undo.append(_undo(backend, ref, tag["key"], old.get(tag["key"][len(PREFIX):])))
    for name in drops:
        delete_tag(backend, ref, PREFIX + name)
        backend._undo.append(_undo(backend, ref, PREFIX + name, old.get(name)))
    if run_id := old["mlflow"].get("run_id"):
        runs.log(backend, str(run_id), old, doc)
    if whole:
        delete_tag(backend, ref, PENDING_TAG)
    doc["mlflow"] = {k: v for k, v in doc["mlflow"].items() if k != "pending"}
    backend.replica.set("versions", doc_id, doc)
    return doc


def delete_tag(backend: MlflowBackend, ref: Mapping[str, str], key: str) -> None:
    try:
        backend.client.delete("model-versions/delete-tag", {**ref, "key": key})
    except ApiError as error:
        if error.code != "RESOURCE_DOES_NOT_EXIST":
            raise


def _undo(backend: MlflowBackend, ref: Mapping[str, str], key: str, previous: Any) -> Callable[[], Any]:
    if previous is None:
        return lambda: delete_tag(backend, ref, key)
    value = json.dumps(previous, separators=(",", ":"))
    return lambda: backend.client.post("model-versions/set-tag", {**ref, "key": key, "value": value})
