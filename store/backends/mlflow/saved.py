"""The replica kept on disk between runs (in the registry's local folder under the user's cache
directory), so a registry on a server opens at local speed, fetches only what changed since, and
opens read-only from what it last saw while the server cannot be reached."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from store.backends.bulk_load import gc_paused
from store.backends.mlflow import history as hist
from store.backends.mlflow.replica import Replica
from store.durable import atomic_write

FORMAT = 4
FILE = "replica.json"


def save(replica: Replica, path: Path, url: str) -> None:
    with replica.lock:
        state: dict[str, Any] = {
            "format": FORMAT, "url": url, "prefix": replica.prefix, "docs": replica.docs,
            "last_id": replica.last_id, "ids": replica.ids, "numbers": replica.numbers, "stamps": replica.stamps,
            "edited": {k: "" if k in replica.partial else v for k, v in replica.edited.items()},
            "answers": replica.answers, "searched": replica.searched,
            "history": [[e.seq, e.kind, e.doc, e.expected, e.to, e.created, e.statuses, e.done]
                        for e in replica.history.entries.values()],
            "problems": {k: v for k, v in replica.problems.items() if v}, "settings": replica.settings,
        }
        payload = json.dumps(state, separators=(",", ":")).encode()
    atomic_write(path, payload)


def load(replica: Replica, path: Path, url: str, listing: Listing | None = None) -> bool:
    """Fill ``replica`` from ``path``; False (and nothing changed) if there is none or it does not fit.
    Nothing is rebuilt per version but the index, as a local registry's open does. ``listing``: parsed
    only once its request is sent (parsing holds the GIL: the request would wait for it otherwise)."""
    with gc_paused():
        return _load(replica, path, url, listing)


def _load(replica: Replica, path: Path, url: str, listing: Listing | None) -> bool:
    try:
        raw = path.read_bytes()
        if listing is not None:
            listing.asked.wait(1.0)  # bounded: a server slow to accept must not hold the read up further
        state = json.loads(raw)
        if state.get("format") != FORMAT or state.get("url") != url or state.get("prefix") != replica.prefix:
            return False
        docs = {kind: dict(state["docs"][kind]) for kind in ("models", "versions", "live", "history")}
        ids, numbers, problems = state["ids"], state["numbers"], state["problems"]
        entries = [_entry(row) for row in state["history"]]
        settings = state.get("settings", {})  # absent from files saved before the team's settings
        if not isinstance(settings, dict) or not all(isinstance(v, str) for v in settings.values()):
            raise TypeError
        if not isinstance(ids, dict) or not isinstance(problems, dict):
            raise TypeError
        if not _covers(numbers, docs["versions"]):
            numbers = _numbers_of(docs["versions"], replica.prefix)  # written by hand, or damaged: rebuilt
        # a new id must never take one in use, whatever the file says its counter is
        last_id = max(int(state["last_id"]), *map(int, docs["versions"]), *map(int, docs["models"]), *map(int, docs["live"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False  # no saved replica, or a damaged one: the first sync fetches everything
    with replica.lock:
        replica.docs = docs
        replica.ids, replica.last_id = ids, last_id
        replica.stamps, replica.edited, replica.answers = state["stamps"], state["edited"], state["answers"]
        replica.numbers, replica.searched = numbers, {k: int(v) for k, v in state["searched"].items()}
        replica.problems, replica.settings = problems, settings
        replica.history = hist.HistoryLog()
        replica.history.add(entries)
        replica.index.rebuild(docs["versions"], docs["models"])
    return True


def _covers(numbers: Any, versions: dict[str, Any]) -> bool:
    """``numbers`` names each version document exactly once (checked on ids only: no per-document work)."""
    if type(numbers) is not dict:
        return False
    ids: set[Any] = set()
    count = 0
    try:
        for by_number in numbers.values():
            ids.update(by_number.values())
            count += len(by_number)
    except (AttributeError, TypeError):
        return False
    return count == len(ids) == len(versions) and ids == versions.keys()


def _numbers_of(versions: dict[str, Any], prefix: str) -> dict[str, dict[str, str]]:
    numbers: dict[str, dict[str, str]] = {}
    for doc_id, doc in versions.items():
        numbers.setdefault(prefix + doc["model"], {})[str(doc["mlflow"]["number"])] = doc_id
    return numbers


class Listing(threading.Thread):
    """The model listing, fetched in a thread while the saved replica is read (the server's time and ours overlap)."""

    def __init__(self, replica: Replica) -> None:
        super().__init__(daemon=True)
        self.replica = replica
        self.answer: list[dict[str, Any]] | None = None
        self.error: BaseException | None = None
        self.asked = threading.Event()  # the request is on its way (or failed)
        self.start()

    def run(self) -> None:
        client = self.replica.client
        client.on_sent(self.asked.set)
        try:
            self.answer = self.replica.list_models()
        except BaseException as error:  # handed to the caller in result()
            self.error = error
        finally:
            self.asked.set()
            client.on_sent(None)
            client.close()  # this thread's connection

    def result(self) -> list[dict[str, Any]]:
        self.join()
        if self.error is not None:
            raise self.error
        return self.answer or []


def _entry(row: list[Any]) -> hist.Entry:
    seq, kind, doc, expected, to, created = row[:6]
    statuses, done = (row[6:8] if len(row) >= 8 else ({}, True))  # a file saved before entries were marked done
    return hist.Entry(int(seq), str(kind), dict(doc), expected, to, float(created), dict(statuses), bool(done))
