"""Changing what the registry holds: metrics, tags, statuses, metadata, model fields, removal.

A part of :class:`store.registry.Registry` (it inherits these methods): each change is one backend
transaction that resolves the reference, applies the rule, and writes the fields that changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
import os
from typing import Any

from store import metric_history, signatures, uploading
from store import versions as version_rules
from store.backends.index import VersionIndex
from store.backends.protocol import Backend
from store.errors import BadMetadata, LineageError
from store.lifecycle import check_status, check_transition
from store.metrics import clean_metrics
from store.records import Model, Version
from store.references import split_ref
from store.stamps import now, whoami
from store.values import check_name, jsonable, strict_json, string_list, text

_GONE = object()


class Editing:
    """Registry's methods that change versions and models."""

    _backend: Backend
    _index: VersionIndex

    def _change(self, ref: str, change: Callable[[dict[str, Any]], None]) -> Version:
        with self._backend.transaction():
            _, doc = self._resolve(ref, default=None)
            updated = {**doc}
            change(updated)  # replaces fields with fresh values, never edits nested ones in place
            fresh = {k: v for k, v in updated.items() if doc.get(k, _GONE) is not v}
            gone = [k for k in doc if k not in updated]
            stored = self._backend.update_version(doc["model"], doc["version"], set=fresh, unset=gone)
        return Version.from_doc(stored)

    def score(self, ref: str, **metrics: Any) -> Version:
        """Add or update metrics after the fact; each change is a new point of the metric's history."""
        clean = clean_metrics(metrics)
        if not clean:
            raise BadMetadata("give at least one metric, e.g. accuracy=0.93")
        return self._change(ref, self._metrics_change(clean, None))

    def _metrics_change(self, clean: dict[str, float], data: str | None) -> Callable[[dict[str, Any]], None]:
        at, by = now(), whoami()

        def change(doc: dict[str, Any]) -> None:
            doc[metric_history.FIELD] = metric_history.record(doc, clean, at, by, data)
            doc["metrics"] = {**doc.get("metrics", {}), **clean}

        return change

    def tag(self, ref: str, *tags: str) -> Version:
        new = string_list(tags, "tags")
        return self._change(ref, lambda d: d.__setitem__("tags", string_list([*d.get("tags", []), *new], "tags")))

    def untag(self, ref: str, *tags: str) -> Version:
        return self._change(ref, lambda d: d.__setitem__("tags", [t for t in d.get("tags", []) if t not in tags]))

    def set_status(self, ref: str, status: str) -> Version:
        """Move a version through its lifecycle; refused transitions say which are allowed."""
        check_status(status)
        if status == "deployed":
            raise BadMetadata(f"use 'modelreg deploy {ref}' to deploy: it switches what is live, not just the status")

        def change(doc: dict[str, Any]) -> None:
            ref_now = f"{doc['model']}:{doc['version']}"
            if doc["status"] == "deployed" and self._live_envs(ref_now):
                raise BadMetadata(f"{ref_now} is live in {', '.join(self._live_envs(ref_now))}; roll back or deploy another version first")
            check_transition(ref_now, doc["status"], status)
            doc["status"] = status

        return self._change(ref, change)

    def update(
        self,
        ref: str,
        *,
        metrics: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        training: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        estimators: Mapping[str, Any] | Iterable[Any] | None = None,
        data_sha256: str | None = None,
        **fields: Any,
    ) -> Version:
        """Merge new metadata into a version (what a late sidecar does).

        ``metrics``, ``params``, ``training`` and ``extra`` are merged; other
        fields (notes, tags, training_data, git_commit, parent, artifacts,
        estimator, scan, missing, problems, source) are replaced. A live object as
        ``estimator=`` (or ``estimators={name: obj}``) and file paths as ``artifacts=``
        are attached instead: saved or described, added to the version and scanned.
        New metric values become points of each metric's history; ``data_sha256`` marks
        them as an evaluation on that data (see ``store.metric_history``).
        """
        from store import objects

        new_objects = fields.get("estimator")
        paths = fields.get("artifacts")
        attaching = estimators is not None or (new_objects is not None and (objects.is_object(new_objects) or objects.is_object_map(new_objects)))
        adds_paths = isinstance(paths, (list, tuple)) and bool(paths) and all(isinstance(p, (str, os.PathLike)) for p in paths)
        if not attaching and new_objects is not None and not isinstance(new_objects, Mapping):
            raise BadMetadata(f"estimator must be a fitted model object (or its description), not {type(new_objects).__name__} {new_objects!r:.40}")
        if attaching or adds_paths:
            live = objects.named_objects(new_objects if attaching else None, estimators)
            fields = {k: v for k, v in fields.items() if not (k == "estimator" and attaching) and not (k == "artifacts" and adds_paths)}
            objects.attach(self, ref, paths if adds_paths else (), live)
            if not (metrics or params or training or extra or fields):
                return self.get(ref)
        extra = strict_json(dict(extra or {}), "extra")
        clean = clean_metrics(metrics)
        allowed = {"notes", "tags", "training_data", "git_commit", "parent", "artifacts", "estimator", "scan", "missing", "problems", "source", "status", "signature"}
        unknown = set(fields) - allowed
        if unknown:
            raise BadMetadata(f"cannot update {', '.join(sorted(unknown))}: use one of {', '.join(sorted(allowed))}")

        metrics_change = self._metrics_change(clean, data_sha256) if clean else None

        def change(doc: dict[str, Any]) -> None:
            if metrics_change is not None:
                metrics_change(doc)
            for key, value in (("params", jsonable(dict(params or {}))), ("training", self._training(training)), ("extra", extra)):
                if value:
                    doc[key] = {**doc.get(key, {}), **value}
            for key, value in fields.items():
                if key == "parent" and value:
                    value = self._check_parent(f"{doc['model']}:{doc['version']}", value)
                elif key == "status":
                    check_transition(f"{doc['model']}:{doc['version']}", doc["status"], value)
                elif key in ("tags", "training_data"):
                    value = string_list(value, key)
                elif key == "notes":
                    value = text(value, key)
                elif key == "signature" and value is not None:
                    value = signatures.checked(value, f"{doc['model']}:{doc['version']} signature")
                else:
                    value = jsonable(value)
                if value in (None, "", [], {}, False) and key != "status":
                    doc.pop(key, None)
                else:
                    doc[key] = value
            if "artifacts" in fields:  # new files for object storage: not deployable until they are there
                uploading.mark_uploading(doc, self.config.artifact_store)

        version = self._change(ref, change)
        if "artifacts" in fields and uploading.ready(version):
            return self.upload(version.ref)  # type: ignore[attr-defined]  (Registry's)
        return version

    def update_model(
        self,
        name: str,
        *,
        description: str | None = None,
        owner: str | None = None,
        tags: Iterable[str] | None = None,
        notes: str | None = None,
        primary_metric: str | None = None,
        directions: Mapping[str, str] | None = None,
        scheme: str | None = None,
    ) -> Model:
        """Change a model's own metadata; None leaves a field as it is. ``scheme`` is the first
        version a model without versions gets (``v1.0``, ``1.0.0``); the next follow from it."""
        for metric, direction in (directions or {}).items():
            if direction not in ("min", "max"):
                raise BadMetadata(f"direction of '{metric}' must be 'min' or 'max', got {direction!r}")
        if scheme is not None:
            scheme = version_rules.validate_scheme(scheme)
        with self._backend.transaction():
            _, doc = self._require_model(name)
            doc = {**doc}
            for key, value in (("description", description), ("owner", owner), ("notes", notes)):
                if value is not None:
                    doc[key] = text(value, key)
            if tags is not None:
                doc["tags"] = string_list(tags, "tags")
            if primary_metric is not None:
                doc["primary_metric"] = primary_metric or None
            if directions:
                doc["directions"] = {**doc.get("directions", {}), **directions}
            if scheme is not None:
                if self._index.by_model.get(name):
                    raise BadMetadata(f"'{name}' already has versions, which set its scheme; name the next one with --version")
                doc["scheme"] = scheme
            doc = self._backend.put_model(name, {k: v for k, v in doc.items() if k != "name"})
        return Model.from_doc(doc)

    def ensure_model(self, name: str) -> Model:
        """The model ``name``, created (with no versions) if it does not exist yet."""
        check_name("model", name)
        with self._backend.transaction():
            self._ensure_model(name)
            return Model.from_doc(self._require_model(name)[1])

    def remove(self, ref: str, *, force: bool = False) -> Version:
        """Remove a version registered by mistake. Its files on disk are never deleted.

        A live version is refused even with ``force`` (serving would go on using what the registry no
        longer names): deploy another version there, or roll back, first. ``force`` removes a parent.
        The removed version's name is retired: the next version never takes it again, so the history
        and lineage that name it stay true."""
        with self._backend.transaction():
            _, doc = self._resolve(ref, default=None)
            exact = f"{doc['model']}:{doc['version']}"
            if envs := self._live_envs(exact):
                raise BadMetadata(f"{exact} is live in {', '.join(envs)}; deploy another version there, "
                                  f"or roll back, before removing it")
            if not force and (kids := self._index.children.get(exact)):
                names = sorted(f"{self._backend.versions()[k]['model']}:{self._backend.versions()[k]['version']}" for k in kids)
                raise LineageError(f"{exact} is the parent of {', '.join(names)}; pass --force to remove it anyway")
            self._backend.remove_version(doc["model"], doc["version"])
            _, model = self._require_model(doc["model"])
            retired = sorted({*self._retired(doc["model"]), doc["version"]}, key=version_rules.sort_key)
            self._backend.put_model(doc["model"], {**{k: v for k, v in model.items() if k != "name"}, "retired": retired})
        return Version.from_doc(doc)

    def _live_envs(self, ref: str) -> list[str]:
        model, version = split_ref(ref)
        return sorted(d["env"] for d in self._backend.live().values() if d["model"] == model and d["version"] == version)
