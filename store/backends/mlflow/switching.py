"""Deploys on an MLflow server: write the history entry, let the log decide, then point the alias.

See :mod:`store.backends.mlflow.history` for the rule. Measured with 4 deployers x 20 switches:
every entry kept, every race refused, and the final alias equal to the log's last accepted entry.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from store.backends.mlflow import history as hist
from store.backends.mlflow.client import ApiError
from store.backends.mlflow.mapping import aliases_of
from store.backends.mlflow.replica import LIVE_TAG
from store.backends.protocol import Doc
from store.errors import DeployConflict
from store.stamps import now

if TYPE_CHECKING:
    from store.backends.mlflow.backend import MlflowBackend

SETTLED = 60.0  # seconds after which an alias that disagrees with the log was moved outside modelreg


def append(backend: MlflowBackend, entry: Mapping[str, Any], kind: str,
           switch: tuple[str | None, str | None] = (None, None)) -> Doc:
    """Write one entry; the replica caught up to it. Returns the entry as stored (seq assigned)."""
    seq = _write(backend, entry, kind, switch)
    return {**dict(entry), "seq": seq}


def _write(backend: MlflowBackend, entry: Mapping[str, Any], kind: str, switch: tuple[str | None, str | None],
           statuses: Mapping[str, str] | None = None) -> int:
    replica, client = backend.replica, backend.client
    body = {"name": replica.history_model, "source": "modelreg://registry/history",
            "tags": hist.entry_tags({k: v for k, v in entry.items() if k != "seq"}, kind, switch, statuses)}
    try:
        answer = client.post("model-versions/create", body)
    except ApiError as error:
        if error.code != "RESOURCE_DOES_NOT_EXIST":
            raise
        try:  # the first entry ever: the hidden model that holds the history
            client.post("registered-models/create", {"name": replica.history_model,
                                                     "description": "modelreg's deploy history: one version per entry"})
        except ApiError as exists:
            if exists.code != "RESOURCE_ALREADY_EXISTS":
                raise
        answer = client.post("model-versions/create", body)
    seq = int(answer["model_version"]["version"])
    replica.sync_history()  # every entry below ours is visible once ours is: the server numbers in order
    return seq


def switch(backend: MlflowBackend, model: str, env: str, *, expected: str | None, to: str | None,
           entry: Mapping[str, Any], statuses: Mapping[str, str], live_fields: Mapping[str, Any]) -> Doc:
    replica = backend.replica
    replica.sync_history()
    fold = replica.history.fold(model, env)
    if fold.last is not None and not fold.last.done:
        _finish(backend, model, env, fold.last)
    if fold.last is not None and fold.live != expected and _moved_outside(backend, model, env, fold, expected):
        # The alias was moved outside modelreg (MLflow's UI or client): record that first, so the
        # log and the server agree, then our switch is judged from there.
        _write(backend, {"env": env, "model": model, "from": fold.live, "to": expected, "action": "outside",
                         "by": "mlflow", "at": now(), "hook": None, "ok": True,
                         "reason": "the alias was moved outside modelreg"}, hist.SWITCH, (fold.live, expected))
    seq = _write(backend, entry, hist.SWITCH, (expected, to), statuses)
    fold = replica.history.fold(model, env)
    if seq in fold.refused:
        first = fold.refused[seq]
        _forget(backend, seq)
        who = first.doc.get("by") or "someone"
        raise DeployConflict(
            f"{model} in {env}: {who} made {first.to or 'nothing'} live first (history #{first.seq}"
            f"{', at ' + str(first.doc['at']) if first.doc.get('at') else ''}); "
            f"not switching {expected or 'nothing'} to {to or 'nothing'}: look at the history and deploy again")
    _set_statuses(backend, model, statuses)
    if live_fields and to is not None:
        value = json.dumps({**dict(live_fields), "version": to})
        backend.client.post("registered-models/set-tag", {"name": replica.server_name(model), "key": LIVE_TAG + env,
                                                          "value": value}, idempotent=True)
        answer = replica.answers.setdefault(replica.server_name(model), {"name": replica.server_name(model)})
        answer["tags"] = [t for t in answer.get("tags", ()) if t.get("key") != LIVE_TAG + env] + [{"key": LIVE_TAG + env, "value": value}]
    _point_alias(backend, model, env)
    _mark_done(backend, replica.history.entries.get(seq))
    return dict(replica.history.visible.get(str(seq)) or {**dict(entry), "seq": seq})


def _set_statuses(backend: MlflowBackend, model: str, statuses: Mapping[str, str]) -> None:
    replica = backend.replica
    for version, status in statuses.items():
        doc_id = backend.index.by_model.get(model, {}).get(version)
        if doc_id is None:
            continue
        # Read first: a status set by a write whose answer was lost (the server died) is not in our
        # replica, and update_version writes only what differs from the replica.
        replica.fetch_version(replica.server_name(model), str(backend.versions()[doc_id]["mlflow"]["number"]))
        doc_id = backend.index.by_model.get(model, {}).get(version)
        if doc_id is not None and backend.versions()[doc_id].get("status") != status:
            backend.update_version(model, version, set={"status": status})


def _mark_done(backend: MlflowBackend, entry: hist.Entry | None) -> None:
    if entry is None or entry.done:
        return
    backend.client.post("model-versions/set-tag", {"name": backend.replica.history_model, "version": str(entry.seq),
                                                   "key": hist.DONE_TAG, "value": "true"}, idempotent=True)
    entry.done = True


def _finish(backend: MlflowBackend, model: str, env: str, last: hist.Entry) -> None:
    """The log's last accepted switch, not marked done: its writer (or the server) died before it set
    its statuses and pointed the alias, or it is doing so now. Unless the alias was moved elsewhere
    since (an outside move, judged below), do it for them: the same writes, so a race is harmless."""
    replica, client = backend.replica, backend.client
    try:
        answer = client.get("model-versions/get", name=replica.history_model, version=str(last.seq))["model_version"]
    except ApiError as error:
        if error.code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return  # deleted meanwhile (a refused entry): the next sync refolds
    if hist.DONE_TAG in {t.get("key") for t in answer.get("tags", ())}:
        last.done = True
        return
    server = replica.server_name(model)
    number = aliases_of(client.get("registered-models/get", name=server)["registered_model"]).get(env)
    doc_id = replica.numbers.get(server, {}).get(number or "")
    aliased = backend.versions()[doc_id]["version"] if doc_id in backend.versions() else None
    if aliased not in (last.expected, last.to):
        return
    _set_statuses(backend, model, last.statuses)
    _point_alias(backend, model, env)
    _mark_done(backend, last)


def _moved_outside(backend: MlflowBackend, model: str, env: str, fold: hist.Fold, expected: str | None) -> bool:
    """The server's alias says ``expected`` while the log says otherwise, and has for a while.

    A deployer points the alias right after its entry is accepted: within a few seconds. An alias
    that still disagrees after ``SETTLED`` seconds was moved by someone else (a deployer that died
    before pointing it left its entry not done, and :func:`_finish` pointed it already).
    """
    if fold.last is None or time.time() - fold.last.created < SETTLED:
        return False
    answer = backend.client.get("registered-models/get", name=backend.replica.server_name(model))["registered_model"]
    number = aliases_of(answer).get(env)
    doc_id = backend.replica.numbers.get(backend.replica.server_name(model), {}).get(number or "")
    now_live = backend.versions()[doc_id]["version"] if doc_id in backend.versions() else None
    return now_live == expected


def _forget(backend: MlflowBackend, seq: int) -> None:
    """Delete a refused entry (the log refuses it anyway: a deployer that dies here changes nothing)."""
    replica = backend.replica
    try:
        backend.client.delete("model-versions/delete", {"name": replica.history_model, "version": str(seq)})
    except ApiError as error:
        if error.code != "RESOURCE_DOES_NOT_EXIST":
            raise
    for changed in replica.history.forget(seq):
        replica.set("history", changed, replica.history.visible.get(changed))


def _point_alias(backend: MlflowBackend, model: str, env: str) -> None:
    """Point the alias at what the log says is live, until no newer accepted entry appears meanwhile."""
    replica, client = backend.replica, backend.client
    server = replica.server_name(model)
    while True:
        fold = replica.history.fold(model, env)
        upto = fold.last.seq if fold.last else 0
        number = None
        if fold.live is not None:
            doc_id = backend.index.by_model.get(model, {}).get(fold.live)
            number = str(backend.versions()[doc_id]["mlflow"]["number"]) if doc_id is not None else None
        if number is None:
            try:
                client.delete("registered-models/alias", {"name": server, "alias": env})
            except ApiError as error:
                if error.code != "RESOURCE_DOES_NOT_EXIST":
                    raise
        else:
            client.post("registered-models/alias", {"name": server, "alias": env, "version": number}, idempotent=True)
        replica.sync_history()
        again = replica.history.fold(model, env)
        if (again.last.seq if again.last else 0) == upto:
            break
    answer = replica.answers.setdefault(server, {"name": server})
    aliases = [a for a in answer.get("aliases", ()) if a.get("alias") != env]
    if number is not None:
        aliases.append({"alias": env, "version": number})
    answer["aliases"] = aliases
    replica.take_aliases(server, model, {a["alias"]: str(a["version"]) for a in aliases})
