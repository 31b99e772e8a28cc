"""The replica kept on disk between runs (in the registry's local folder under the user's cache
directory), so a registry on a server opens at local speed, fetches only what changed since, and
opens read-only from what it last saw while the server cannot be reached."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from store.backends.mlflow import history as hist
from store.backends.mlflow.replica import Replica
from store.durable import atomic_write

FORMAT = 3
FILE = "replica.json"


def save(replica: Replica, path: Path, url: str) -> None:
    with replica.lock:
        state: dict[str, Any] = {
            "format": FORMAT, "url": url, "prefix": replica.prefix, "docs": replica.docs, "last_id": replica.last_id,
            # a version's id and number are rebuilt from its document: a tenth of the file less to parse
            "ids": {k: v for k, v in replica.ids.items() if not k.startswith("v\0")}, "stamps": replica.stamps,
            "edited": replica.edited, "answers": replica.answers, "searched": replica.searched,
            "history": [[e.seq, e.kind, e.doc, e.expected, e.to, e.created, e.statuses, e.done]
                        for e in replica.history.entries.values()],
            "problems": {k: v for k, v in replica.problems.items() if v},
        }
        payload = json.dumps(state, separators=(",", ":")).encode()
    atomic_write(path, payload)


def load(replica: Replica, path: Path, url: str) -> bool:
    """Fill ``replica`` from ``path``; False (and nothing changed) if there is none or it does not fit."""
    try:
        state = json.loads(path.read_bytes())
        if state.get("format") != FORMAT or state.get("url") != url or state.get("prefix") != replica.prefix:
            return False
        docs = {kind: dict(state["docs"][kind]) for kind in ("models", "versions", "live", "history")}
        ids = state["ids"]
        entries = [_entry(row) for row in state["history"]]
        problems = state["problems"]
        if not isinstance(ids, dict) or not isinstance(problems, dict):
            raise TypeError
        numbers: dict[str, dict[str, str]] = {}
        for doc_id, doc in docs["versions"].items():
            server, number = replica.prefix + doc["model"], str(doc["mlflow"]["number"])
            ids[f"v\0{server}\0{number}"] = doc_id
            numbers.setdefault(server, {})[number] = doc_id
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False  # no saved replica, or a damaged one: the first sync fetches everything
    with replica.lock:
        replica.docs = docs
        replica.ids, replica.last_id = ids, int(state["last_id"])
        replica.stamps, replica.edited, replica.answers = state["stamps"], state["edited"], state["answers"]
        replica.numbers, replica.searched = numbers, {k: int(v) for k, v in state["searched"].items()}
        replica.problems = problems
        replica.history = hist.HistoryLog()
        replica.history.add(entries)
        replica.index.rebuild(docs["versions"], docs["models"])
    return True


class Listing(threading.Thread):
    """The model listing, fetched in a thread while the saved replica is read (the server's time and ours overlap)."""

    def __init__(self, replica: Replica) -> None:
        super().__init__(daemon=True)
        self.replica = replica
        self.answer: list[dict[str, Any]] | None = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.answer = self.replica.list_models()
        except BaseException as error:  # handed to the caller in result()
            self.error = error
        finally:
            self.replica.client.close()  # this thread's connection

    def result(self) -> list[dict[str, Any]]:
        self.join()
        if self.error is not None:
            raise self.error
        return self.answer or []


def _entry(row: list[Any]) -> hist.Entry:
    seq, kind, doc, expected, to, created = row[:6]
    statuses, done = (row[6:8] if len(row) >= 8 else ({}, True))  # a file saved before entries were marked done
    return hist.Entry(int(seq), str(kind), dict(doc), expected, to, float(created), dict(statuses), bool(done))
