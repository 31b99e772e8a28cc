"""In-memory indexes over the versions table, kept current as documents change.

The journal storage reports every change (ours and other processes'), so the
indexes never need a rescan except after a full reload.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from store.versions import sort_key

Doc = dict[str, Any]


def is_version(doc: Any) -> bool:
    """Enough of a version document for the registry to index and show it."""
    # Written for speed: it runs for every document when a registry opens.
    if type(doc) is not dict or type(doc.get("model")) is not str or type(doc.get("version")) is not str:
        return False
    if type(doc.get("status", "")) is not str or type(doc.get("parent") or "") is not str:
        return False
    artifacts = doc.get("artifacts")
    if artifacts:
        if type(artifacts) is not list:
            return False
        for artifact in artifacts:
            if type(artifact) is not dict or type(artifact.get("path")) is not str:
                return False
    return True


def is_model(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("name"), str)


class VersionIndex:
    """model -> {version -> doc id}; model -> latest version; parent ref -> child doc ids;
    artifact path -> doc ids; model name -> model doc id.

    Documents that are not versions (or models), written by someone else with plain
    TinyDB, are left out and their ids kept in ``foreign``: reported, never a crash."""

    def __init__(self) -> None:
        self.by_model: dict[str, dict[str, str]] = defaultdict(dict)
        self.latest: dict[str, str] = {}
        self.models: dict[str, str] = {}
        self.children: dict[str, set[str]] = defaultdict(set)
        self.by_path: dict[str, set[str]] = defaultdict(set)
        self.foreign: dict[str, set[str]] = {"versions": set(), "models": set()}

    def rebuild(self, versions: dict[str, Doc], models: dict[str, Doc]) -> None:
        self.__init__()  # type: ignore[misc]
        for doc_id, doc in versions.items():
            if is_version(doc):
                self.add(doc_id, doc)
            else:
                self.foreign["versions"].add(doc_id)
        for doc_id, doc in models.items():
            self.on_model_change(doc_id, None, doc)

    def on_model_change(self, doc_id: str, old: Doc | None, new: Doc | None) -> None:
        self.foreign["models"].discard(doc_id)
        if is_model(old) and self.models.get(old["name"]) == doc_id:  # type: ignore[index]
            del self.models[old["name"]]  # type: ignore[index]
        if new is not None:
            if is_model(new):
                self.models[new["name"]] = doc_id
            else:
                self.foreign["models"].add(doc_id)

    def on_change(self, doc_id: str, old: Doc | None, new: Doc | None) -> None:
        if old is not None and not is_version(old):
            old = None  # it was never indexed
        self.foreign["versions"].discard(doc_id)
        if new is not None and not is_version(new):
            self.foreign["versions"].add(doc_id)
            new = None
        if old is not None and new is not None and (old["model"], old["version"]) == (new["model"], new["version"]):
            # An update in place: only links can change. Re-adding would recompute the
            # model's latest version over all its versions, on every metadata update.
            self._unlink(doc_id, old)
            self._link(doc_id, new)
            return
        if old is not None:
            self.discard(doc_id, old)
        if new is not None:
            self.add(doc_id, new)

    def add(self, doc_id: str, doc: Doc) -> None:
        model, version = doc["model"], doc["version"]
        self.by_model[model][version] = doc_id
        latest = self.latest.get(model)
        if latest is None or sort_key(version) > sort_key(latest):
            self.latest[model] = version
        self._link(doc_id, doc)

    def _link(self, doc_id: str, doc: Doc) -> None:
        if parent := doc.get("parent"):
            self.children[parent].add(doc_id)
        for artifact in doc.get("artifacts", ()):
            self.by_path[artifact["path"]].add(doc_id)

    def discard(self, doc_id: str, doc: Doc) -> None:
        versions = self.by_model.get(doc["model"])
        if versions is not None and versions.get(doc["version"]) == doc_id:
            del versions[doc["version"]]
            if not versions:
                del self.by_model[doc["model"]]
                del self.latest[doc["model"]]
            elif self.latest.get(doc["model"]) == doc["version"]:
                self.latest[doc["model"]] = max(versions, key=sort_key)
        self._unlink(doc_id, doc)

    def _unlink(self, doc_id: str, doc: Doc) -> None:
        if parent := doc.get("parent"):
            self.children[parent].discard(doc_id)
        for artifact in doc.get("artifacts", ()):
            ids = self.by_path.get(artifact["path"])
            if ids is not None:
                ids.discard(doc_id)
                if not ids:
                    del self.by_path[artifact["path"]]
