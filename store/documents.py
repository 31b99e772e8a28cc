"""The registry's documents as they are stored, for modelreg's own parts above the seam.

A part of :class:`store.registry.Registry` (it inherits these methods). The app, the watcher,
deploys and transfers read the stored documents themselves, read-only by contract (they are
replaced on change, never edited in place): copying 100,000 of them on every look would make
the app and the watcher crawl. Their few writes (a switch of what is live, hashes learnt while
pinning, imported documents) are here too, as the backend's atomic operations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from store import versions as version_rules
from store.backends.index import VersionIndex
from store.backends.protocol import Backend, Feed, SyncStatus
from store.records import Version, copy_json
from store.references import split_ref


class Documents:
    """Registry's document-level reads and writes for deploys, the watcher, transfers and the app."""

    _backend: Backend
    _index: VersionIndex


    def model_names(self) -> list[str]:
        """Every model's name, case-insensitively sorted."""
        with self.reading(refresh=False):
            return sorted(self._index.models, key=str.lower)

    def model_docs(self) -> list[dict[str, Any]]:
        """Every model's document, in no particular order."""
        with self.reading(refresh=False):
            table = self._backend.models()
            return [table[i] for i in self._index.models.values()]

    def version_docs(self, model: str) -> list[dict[str, Any]]:
        """A model's version documents, oldest first (none for an unknown model)."""
        with self.reading(refresh=False):
            table, ids = self._backend.versions(), self._index.by_model.get(model, {})
            return [table[ids[v]] for v in sorted(ids, key=version_rules.sort_key) if ids[v] in table]

    def all_version_docs(self) -> list[dict[str, Any]]:
        """Every version document, in no particular order."""
        with self.reading(refresh=False):
            return list(self._backend.version_docs())

    def version_doc(self, ref: str) -> dict[str, Any]:
        """The document of the version ``ref`` names now."""
        with self.reading():
            return self._resolve(ref, default=None)[1]

    def docs_holding(self, path: str) -> list[dict[str, Any]]:
        """Documents of the versions with an artifact at exactly ``path``."""
        with self.reading(refresh=False):
            table = self._backend.versions()
            return [table[i] for i in self._index.by_path.get(path, ()) if i in table]

    def artifact_paths(self) -> list[str]:
        """Every artifact path some version holds."""
        with self.reading(refresh=False):
            return list(self._index.by_path)

    def holds(self, path: str) -> bool:
        """Whether some version holds an artifact at exactly ``path`` (one dict lookup)."""
        return path in self._index.by_path

    def live_entries(self) -> list[dict[str, Any]]:
        """Every live entry: ``{"model", "env", "version", ...}``."""
        with self.reading(refresh=False):
            return list(self._backend.live().values())

    def history_entries(self) -> list[dict[str, Any]]:
        """Every deploy history entry as stored, in no particular order (see :meth:`history`)."""
        with self.reading(refresh=False):
            return list(self._backend.history().values())

    def last_version_id(self) -> int:
        """The highest version document id so far: a version with a higher one arrived after."""
        with self.reading(refresh=False):
            return max((int(i) for i in self._backend.versions() if i.isdigit()), default=0)

    def sync_status(self) -> SyncStatus | None:
        """How fresh the documents are on a server's backend, as a :class:`SyncStatus` (synced when,
        writing, offline why); None for a local registry, which is always current."""
        status = getattr(self._backend, "sync_status", None)
        return status() if callable(status) else None

    def feed(self, token: Any) -> Feed:
        """What changed since ``token``, with the documents as they are now: the app's live updates."""
        with self._backend.lock:
            changes = self._backend.changes_since(token)
            if changes.reset:
                return Feed(changes.token, reset=True)

            def docs(ids: frozenset[str], table: Mapping[str, dict[str, Any]]) -> tuple[tuple[str, dict[str, Any] | None], ...]:
                return tuple((i, table.get(i)) for i in sorted(ids, key=lambda i: int(i) if i.isdigit() else 0))

            backend = self._backend
            return Feed(changes.token, False, docs(changes.models, backend.models()), docs(changes.versions, backend.versions()),
                        docs(changes.live, backend.live()), docs(changes.history, backend.history()))

    # -- writes for deploys and transfers ----------------------------------------------------------------

    def set_fields(self, ref: str, *, set: Mapping[str, Any], unset: Iterable[str] = (),
                   if_unchanged: Mapping[str, Any] | None = None) -> Version | None:
        """Set raw fields of a version (what deploys learn: hashes, missing files).

        With ``if_unchanged``, only if those fields still hold those values; None if not (or if
        the version is gone). For modelreg's own modules: users want :meth:`update`.
        """
        with self._backend.transaction():
            model, version = split_ref(ref)
            doc_id = self._index.by_model.get(model, {}).get(version or "")
            if doc_id is None:
                return None
            doc = self._backend.versions()[doc_id]
            if if_unchanged is not None and any(doc.get(k) != v for k, v in if_unchanged.items()):
                return None
            return Version.from_doc(self._backend.update_version(model, version or "", set=copy_json(dict(set)), unset=unset))

    def switch_live(self, model: str, env: str, *, expected: str | None, to: str | None, entry: Mapping[str, Any],
                    previous_status: str | None = None, live_fields: Mapping[str, Any] = {}) -> dict[str, Any]:
        """Record a switch of what is live (deploy's entry point): compare-and-swap, history, statuses.

        ``to`` becomes ``deployed``; ``expected`` (what was live) becomes ``previous_status`` if it was
        ``deployed`` and is live nowhere else. Raises DeployConflict if ``expected`` is no longer live.
        """
        with self._backend.transaction():
            statuses = {}
            if to is not None:
                statuses[to] = "deployed"
            if previous_status and expected and expected != to:
                elsewhere = [e for e in self._live_envs(f"{model}:{expected}") if e != env]
                doc_id = self._index.by_model.get(model, {}).get(expected)
                if not elsewhere and doc_id is not None and self._backend.versions()[doc_id]["status"] == "deployed":
                    statuses[expected] = previous_status
            return dict(self._backend.switch_live(model, env, expected=expected, to=to, entry=copy_json(dict(entry)),
                                                  statuses=statuses, live_fields=copy_json(dict(live_fields))))

    def append_history(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """Append a history entry that switched nothing (a failed deploy, an imported one)."""
        return dict(self._backend.append_history(copy_json(dict(entry))))

    def add_documents(self, models: Iterable[Mapping[str, Any]], versions: Iterable[Mapping[str, Any]]) -> None:
        """Store model and version documents as they are (an import keeps created_at, status...).

        Call inside :meth:`transaction` with documents already checked (``store.transfer``).
        """
        with self._backend.transaction():
            for doc in models:
                self._backend.put_model(doc["name"], copy_json({k: v for k, v in doc.items() if k != "name"}))
            for doc in versions:
                self._backend.create_version(doc["model"], copy_json(dict(doc)), version=doc["version"])
