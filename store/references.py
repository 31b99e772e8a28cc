"""References to versions as people write them: ``MODEL:VERSION``, ``MODEL:latest``, ``MODEL:production``.

:class:`Resolving` is the part of :class:`store.registry.Registry` that turns them into documents.
"""

from __future__ import annotations

from typing import Any

from store import versions as version_rules
from store.backends.index import VersionIndex
from store.backends.protocol import Backend
from store.config import Config
from store.errors import BadReference, UnknownModel, UnknownVersion


def split_ref(ref: str) -> tuple[str, str | None]:
    """``MODEL:VERSION`` -> (model, version); a bare ``MODEL`` has no version part."""
    if not isinstance(ref, str) or not ref.strip():
        raise BadReference(f"bad reference {ref!r}: write MODEL:VERSION, e.g. sentiment:v3 or sentiment:latest")
    model, sep, version = ref.strip().partition(":")
    if sep and not version:
        raise BadReference(f"bad reference '{ref}': nothing after ':'; write MODEL:VERSION, e.g. {model}:latest")
    if not model:
        raise BadReference(f"bad reference '{ref}': no model name before ':'")
    return model, (version if sep else None)


class Resolving:
    """Registry's lookups: model and version documents by name, and references resolved."""

    _backend: Backend
    _index: VersionIndex
    config: Config
    #: Ask the backend for each version named outright, once (an optional ``refetch(model, version)``):
    #: a command that reopens a server's saved replica sees what a plain MLflow client changed since.
    read_through: bool = False
    _refetched: set[tuple[str, str]]

    def _model_doc(self, name: str) -> tuple[str, dict[str, Any]] | None:
        doc_id = self._index.models.get(name)
        return None if doc_id is None else (doc_id, self._backend.models()[doc_id])

    def _retired(self, name: str) -> tuple[str, ...]:
        """The names of ``name``'s removed versions, never given again (history and lineage name them)."""
        found = self._model_doc(name)
        return tuple(found[1].get("retired", ())) if found else ()

    def _require_model(self, name: str) -> tuple[str, dict[str, Any]]:
        found = self._model_doc(name)
        if found is None:
            known = sorted(self._index.models)
            hint = f"; known models: {', '.join(known[:8])}" + ("…" if len(known) > 8 else "") if known else ""
            raise UnknownModel(f"unknown model '{name}'{hint} (see 'modelreg list')")
        return found

    def _version_doc(self, model: str, version: str) -> tuple[str, dict[str, Any]]:
        if self.read_through and (model, version) not in self._refetched:
            self._refetched.add((model, version))
            refetch = getattr(self._backend, "refetch", None)
            if callable(refetch) and version in self._index.by_model.get(model, {}):
                refetch(model, version)
        doc_id = self._index.by_model.get(model, {}).get(version)
        if doc_id is None:
            self._require_model(model)
            known = self._sorted_versions(model)
            shown = ", ".join(known[-6:])
            raise UnknownVersion(
                f"unknown version {model}:{version}; it has {shown or 'no versions'} (see 'modelreg versions {model}')"
            )
        return doc_id, self._backend.versions()[doc_id]

    def _sorted_versions(self, model: str) -> list[str]:
        return sorted(self._index.by_model.get(model, {}), key=version_rules.sort_key)

    def _resolve(self, ref: str, default: str | None = "latest") -> tuple[str, dict[str, Any]]:
        model, version = split_ref(ref)
        if version is None:
            if default is None:
                raise BadReference(f"'{ref}' names a model, not a version: write {model}:VERSION or {model}:latest")
            version = default
        if version == "latest":
            latest = self._index.latest.get(model)
            if latest is None:
                self._require_model(model)
                raise UnknownVersion(f"model '{model}' has no versions yet")
            return self._version_doc(model, latest)
        if version == "best":
            return self._version_doc(model, self._best_version(model, None))
        if version in self._environments(model):
            live = self._live_doc(model, version)
            if live is None:
                self._require_model(model)
                raise UnknownVersion(f"nothing of '{model}' is live in {version}; deploy a version there first")
            return self._version_doc(model, live["version"])
        if version_rules.is_constraint(version):
            match = version_rules.resolve_constraint(version, self._index.by_model.get(model, {}))
            if match is None:
                self._require_model(model)
                raise UnknownVersion(f"no version of '{model}' matches '{version}' (see 'modelreg versions {model}')")
            return self._version_doc(model, match)
        return self._version_doc(model, version)

    def _environments(self, model: str) -> set[str]:
        envs = set(self.config.environments)
        envs.update(doc["env"] for doc in self._backend.live().values() if doc["model"] == model)
        return envs

    def _live_doc(self, model: str, env: str) -> dict[str, Any] | None:
        for doc in self._backend.live().values():
            if doc["model"] == model and doc["env"] == env:
                return doc
        return None
