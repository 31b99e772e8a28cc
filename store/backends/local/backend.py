"""The local backend: modelreg's documents in a journaled TinyDB store in the registry's directory.

Behaviour and speed are the journal's (:mod:`store.backends.local.journal`): every operation here is
one journal transaction, under the journal's file lock, and the replica is the journal's own tables.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from store.backends.artifacts import FileArtifacts
from store.backends.index import VersionIndex
from store.backends.local.journal import RegistryDB, nonfinite_documents
from store.backends.protocol import Changes, ChangeWatch, Doc, Token
from store.errors import DeployConflict, DuplicateVersion

MODELS, VERSIONS, LIVE, HISTORY = "models", "versions", "live", "history"


class LocalBackend:
    """A :class:`~store.backends.protocol.Backend` over :class:`~store.backends.local.journal.JournalStorage`."""

    shared = False  # the deploy links live in the registry's folder, beside the documents, for every process

    def __init__(self, directory: str | os.PathLike[str], *, create: bool = True) -> None:
        self.location = str(directory)
        self.db = RegistryDB(Path(directory), create=create)
        self.storage = self.db.journal
        self.lock = self.storage.lock
        self.index = VersionIndex()
        self.artifacts = FileArtifacts()
        try:
            self.storage.subscribe(self._on_change, self._on_reset)
            self._on_reset()
        except BaseException:
            self.storage.close()
            raise

    # -- the replica ------------------------------------------------------------------------------

    def _on_change(self, table: str, doc_id: str, old: Doc | None, new: Doc | None) -> None:
        if table == VERSIONS:
            self.index.on_change(doc_id, old, new)
        elif table == MODELS:
            self.index.on_model_change(doc_id, old, new)

    def _on_reset(self) -> None:
        self.index.rebuild(self.storage.table(VERSIONS), self.storage.table(MODELS))

    def models(self) -> Mapping[str, Doc]:
        return self.storage.table(MODELS)

    def versions(self) -> Mapping[str, Doc]:
        return self.storage.table(VERSIONS)

    def live(self) -> Mapping[str, Doc]:
        return self.storage.table(LIVE)

    def history(self) -> Mapping[str, Doc]:
        return self.storage.table(HISTORY)

    def version_docs(self) -> Iterable[Doc]:
        table = self.storage.table(VERSIONS)
        foreign = self.index.foreign[VERSIONS]
        return [d for i, d in table.items() if i not in foreign] if foreign else table.values()

    def refresh(self) -> bool:
        return self.storage.refresh()

    def token(self) -> Token:
        return self.storage.token()

    def changes_since(self, token: Token) -> Changes:
        raw = self.storage.changes_since(token)
        if raw.reset:
            return Changes(raw.token, reset=True)
        by_table: dict[str, set[str]] = {MODELS: set(), VERSIONS: set(), LIVE: set(), HISTORY: set()}
        for table, doc_id in raw.changed:
            if table in by_table:
                by_table[table].add(doc_id)
        # Documents that are not versions or models (plain TinyDB writes) are reported by problems().
        by_table[VERSIONS] -= self.index.foreign[VERSIONS]
        by_table[MODELS] -= self.index.foreign[MODELS]
        return Changes(raw.token, *(frozenset(by_table[t]) for t in (MODELS, VERSIONS, LIVE, HISTORY)))

    def problems(self) -> list[str]:
        lines = []
        if self.storage.outside_edit:
            lines.append(
                "registry.json was changed outside modelreg (a plain TinyDB or an editor); writes are refused "
                "until 'modelreg doctor --adopt' takes the changes in"
            )
        for table, ids in sorted(self.index.foreign.items()):
            if ids:
                shown = ", ".join(sorted(ids, key=int)[:5]) + ("…" if len(ids) > 5 else "")
                lines.append(f"{len(ids)} document(s) in '{table}' are not {table} (id {shown}); they are ignored")
        if self.storage.saw_nonfinite:
            found = nonfinite_documents({name: self.storage.table(name) for name in self.storage.read_names()})
            if found:
                lines.append(f"{', '.join(found[:5])}{'…' if len(found) > 5 else ''} hold NaN or Infinity, which JSON cannot hold")
        return lines

    # -- writes ---------------------------------------------------------------------------------------

    def transaction(self) -> AbstractContextManager[None]:
        return self.storage.transaction()

    def put_model(self, name: str, fields: Mapping[str, Any]) -> Doc:
        with self.storage.transaction():
            doc_id = self.index.models.get(name)
            if doc_id is None:
                doc = {"name": name, **fields}
                self.storage.put(MODELS, str(self.storage.next_id(MODELS)), doc)
            else:
                doc = {**self.storage.table(MODELS)[doc_id], **fields, "name": name}
                self.storage.put(MODELS, doc_id, doc)
        return doc

    def create_version(self, model: str, doc: Mapping[str, Any], *, version: str | None,
                       key: str | None = None, next_version: Callable[[Collection[str]], str] | None = None) -> Doc:
        with self.storage.transaction():
            known = self.index.by_model.get(model, {})
            if key is not None:
                table = self.storage.table(VERSIONS)
                for doc_id in known.values():
                    if table[doc_id].get("content_key") == key:
                        return table[doc_id]
            if version is None:
                if next_version is None:
                    raise ValueError("the local backend needs next_version to assign a version")
                version = next_version(known)
            elif version in known:
                raise DuplicateVersion(
                    f"{model}:{version} already exists; versions are never overwritten "
                    "(omit --version to get the next one, or pick another)"
                )
            stored = {"model": model, "version": version, **doc}
            if key is not None:
                stored["content_key"] = key
            # owned: the caller built doc for the store alone, from fresh containers
            self.storage.put(VERSIONS, str(self.storage.next_id(VERSIONS)), stored, owned=True)
        return stored

    def update_version(self, model: str, version: str, *, set: Mapping[str, Any], unset: Iterable[str] = ()) -> Doc:
        with self.storage.transaction():
            doc_id = self._require(model, version)
            doc = {**self.storage.table(VERSIONS)[doc_id], **set}
            for name in unset:
                doc.pop(name, None)
            self.storage.put(VERSIONS, doc_id, doc, owned=True)
        return doc

    def remove_version(self, model: str, version: str) -> None:
        with self.storage.transaction():
            self.storage.delete(VERSIONS, self._require(model, version))
            for live_id, live in list(self.storage.table(LIVE).items()):
                if live["model"] == model and live["version"] == version:
                    self.storage.delete(LIVE, live_id)

    def switch_live(self, model: str, env: str, *, expected: str | None, to: str | None,
                    entry: Mapping[str, Any], statuses: Mapping[str, str] = {},
                    live_fields: Mapping[str, Any] = {}) -> Doc:
        storage = self.storage
        with storage.transaction():
            found = next((i for i, d in storage.table(LIVE).items() if d["model"] == model and d["env"] == env), None)
            now = storage.table(LIVE)[found]["version"] if found is not None else None
            if now != expected:
                raise DeployConflict(f"{model} in {env} is {now or 'nothing'} now, not {expected or 'nothing'}: someone else switched it; look again")
            stored = self._append(entry)
            if to is None:
                if found is not None:
                    storage.delete(LIVE, found)
            else:
                doc = {"model": model, "env": env, "version": to, **live_fields}
                storage.put(LIVE, found if found is not None else str(storage.next_id(LIVE)), doc)
            for version, status in statuses.items():
                doc_id = self.index.by_model.get(model, {}).get(version)
                if doc_id is not None:  # removed from the registry meanwhile: nothing to mark
                    old = storage.table(VERSIONS)[doc_id]
                    if old["status"] != status:
                        storage.put(VERSIONS, doc_id, {**old, "status": status})
        return stored

    def append_history(self, entry: Mapping[str, Any]) -> Doc:
        with self.storage.transaction():
            return self._append(entry)

    def _append(self, entry: Mapping[str, Any]) -> Doc:
        # The entry's seq is its document id: history is ordered by it, in every process alike.
        seq = self.storage.next_id(HISTORY)
        stored = {**entry, "seq": seq} if "seq" in entry else {"seq": seq, **entry}
        self.storage.put(HISTORY, str(seq), stored)
        return stored

    def _require(self, model: str, version: str) -> str:
        doc_id = self.index.by_model.get(model, {}).get(version)
        if doc_id is None:
            raise KeyError(f"{model}:{version}")  # the registry resolves references before writing
        return doc_id

    def watch(self, wake: Callable[[], None]) -> ChangeWatch:
        # Here, not at the top: watchdog is heavy, and only the app watches (``import store`` stays light).
        from store.backends.local.journal_watch import JournalWatch

        return JournalWatch(self.location, wake)

    def tidy(self) -> None:
        self.storage.tidy()

    def close(self) -> None:
        self.storage.close()
