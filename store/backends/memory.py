"""A backend that keeps its documents in memory, for one process: tests, and a sketch for new backends.

It is the smallest thing that honours :class:`~store.backends.protocol.Backend`, so the registry's
behaviour tests run over it as well as over the journal: whatever they need of a backend, a new
one must do too. Nothing survives the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from store.backends.artifacts import FileArtifacts
from store.backends.index import VersionIndex
from store.backends.protocol import Changes, Doc, Token
from store.errors import DeployConflict, DuplicateVersion

KINDS = ("models", "versions", "live", "history")


class _NoWatch:
    """Nothing to watch: every write is this process's own."""

    reason = "the memory backend has no other writers"

    def start(self) -> str:
        return "none"

    def stop(self) -> None:
        pass


class MemoryBackend:
    """Documents in dicts, a change log for ``changes_since``, an undo log for transactions."""

    shared = False  # one process: its deploy links are the registry's own

    def __init__(self, location: str = "memory") -> None:
        self.location = location
        self.lock = threading.RLock()
        self.index = VersionIndex()
        self.artifacts = FileArtifacts()
        self._docs: dict[str, dict[str, Doc]] = {kind: {} for kind in KINDS}
        self._last_id: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._log: list[tuple[int, str, str]] = []
        self._depth = 0
        self._undo: list[tuple[str, str, Doc | None]] = []

    # -- the replica (here, the documents themselves) ---------------------------------------------

    def models(self) -> Mapping[str, Doc]:
        return self._docs["models"]

    def versions(self) -> Mapping[str, Doc]:
        return self._docs["versions"]

    def live(self) -> Mapping[str, Doc]:
        return self._docs["live"]

    def history(self) -> Mapping[str, Doc]:
        return self._docs["history"]

    def version_docs(self) -> Iterable[Doc]:
        return self._docs["versions"].values()

    def refresh(self) -> bool:
        return False  # nobody else writes

    def token(self) -> Token:
        return len(self._log)

    def changes_since(self, token: Token) -> Changes:
        with self.lock:
            changed: dict[str, set[str]] = {kind: set() for kind in KINDS}
            for _, kind, doc_id in self._log[token:]:
                changed[kind].add(doc_id)
            return Changes(len(self._log), *(frozenset(changed[k]) for k in KINDS))

    def problems(self) -> list[str]:
        return []

    def watch(self, wake: Callable[[], None]) -> _NoWatch:
        return _NoWatch()

    # -- writes -----------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.lock:
            self._depth += 1
            try:
                yield
            except BaseException:
                if self._depth == 1:
                    for kind, doc_id, old in reversed(self._undo):
                        self._set(kind, doc_id, old, undoable=False)
                raise
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._undo = []

    def put_model(self, name: str, fields: Mapping[str, Any]) -> Doc:
        with self.transaction():
            doc_id = self.index.models.get(name)
            if doc_id is None:
                doc = {"name": name, **fields}
                self._set("models", self._new_id("models"), doc)
            else:
                doc = {**self._docs["models"][doc_id], **fields, "name": name}
                self._set("models", doc_id, doc)
            return doc

    def create_version(self, model: str, doc: Mapping[str, Any], *, version: str | None,
                       key: str | None = None, next_version: Callable[[Collection[str]], str] | None = None) -> Doc:
        with self.transaction():
            known = self.index.by_model.get(model, {})
            if key is not None:
                for doc_id in known.values():
                    if self._docs["versions"][doc_id].get("content_key") == key:
                        return self._docs["versions"][doc_id]
            if version is None:
                # Like a server that numbers versions itself when the caller gives no rule.
                version = next_version(known) if next_version else str(len(known) + 1)
            elif version in known:
                raise DuplicateVersion(f"{model}:{version} already exists; versions are never overwritten")
            stored = {"model": model, "version": version, **doc}
            if key is not None:
                stored["content_key"] = key
            self._set("versions", self._new_id("versions"), stored)
            return stored

    def update_version(self, model: str, version: str, *, set: Mapping[str, Any], unset: Iterable[str] = ()) -> Doc:
        with self.transaction():
            doc_id = self._require(model, version)
            doc = {**self._docs["versions"][doc_id], **set}
            for name in unset:
                doc.pop(name, None)
            self._set("versions", doc_id, doc)
            return doc

    def remove_version(self, model: str, version: str) -> None:
        with self.transaction():
            self._set("versions", self._require(model, version), None)
            for live_id, live in list(self._docs["live"].items()):
                if live["model"] == model and live["version"] == version:
                    self._set("live", live_id, None)

    def switch_live(self, model: str, env: str, *, expected: str | None, to: str | None,
                    entry: Mapping[str, Any], statuses: Mapping[str, str] = {},
                    live_fields: Mapping[str, Any] = {}) -> Doc:
        with self.transaction():
            found = next((i for i, d in self._docs["live"].items() if d["model"] == model and d["env"] == env), None)
            now = self._docs["live"][found]["version"] if found is not None else None
            if now != expected:
                raise DeployConflict(f"{model} in {env} is {now or 'nothing'} now, not {expected or 'nothing'}")
            stored = self._append(entry)
            if to is None:
                if found is not None:
                    self._set("live", found, None)
            else:
                doc = {"model": model, "env": env, "version": to, **live_fields}
                self._set("live", found if found is not None else self._new_id("live"), doc)
            for version, status in statuses.items():
                doc_id = self.index.by_model.get(model, {}).get(version)
                if doc_id is not None and self._docs["versions"][doc_id]["status"] != status:
                    self._set("versions", doc_id, {**self._docs["versions"][doc_id], "status": status})
            return stored

    def append_history(self, entry: Mapping[str, Any]) -> Doc:
        with self.transaction():
            return self._append(entry)

    def tidy(self) -> None:
        pass

    def close(self) -> None:
        pass

    # -- inside -----------------------------------------------------------------------------------

    def _append(self, entry: Mapping[str, Any]) -> Doc:
        doc_id = self._new_id("history")
        seq = int(doc_id)
        stored = {**entry, "seq": seq} if "seq" in entry else {"seq": seq, **entry}
        self._set("history", doc_id, stored)
        return stored

    def _new_id(self, kind: str) -> str:
        self._last_id[kind] += 1  # never reused, even after a rollback: ids only need to be unique
        return str(self._last_id[kind])

    def _require(self, model: str, version: str) -> str:
        doc_id = self.index.by_model.get(model, {}).get(version)
        if doc_id is None:
            raise KeyError(f"{model}:{version}")  # the registry resolves references before writing
        return doc_id

    def _set(self, kind: str, doc_id: str, doc: Doc | None, *, undoable: bool = True) -> None:
        if self._depth == 0:
            raise RuntimeError("memory backend writes must happen inside transaction()")
        docs = self._docs[kind]
        old = docs.get(doc_id)
        if undoable:
            self._undo.append((kind, doc_id, old))
        if doc is None:
            docs.pop(doc_id, None)
        else:
            docs[doc_id] = doc
        self._log.append((len(self._log) + 1, kind, doc_id))
        if kind == "versions":
            self.index.on_change(doc_id, old, doc)
        elif kind == "models":
            self.index.on_model_change(doc_id, old, doc)
