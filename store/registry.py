"""The registry: models, their versions, and every operation on them.

One ``Registry`` object is safe to share between threads, and any number of
processes may open the same registry directory at once.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from store import artifacts as artifact_files
from store import compare as comparing
from store import lineage
from store import summary as summaries
from store import versions as version_rules
from store.backends.local.backend import LocalBackend
from store.backends.local.location import find_registry
from store.backends.protocol import Backend, Changes, ChangeWatch, Feed
from store.config import Config
from store.deploy import deploy as deploys
from store.deploy import loading
from store.errors import (
    BadMetadata,
    BadReference,
    DuplicateVersion,
    LineageError,
    ModelregError,
    RegistryAccessError,
    RegistryNotFound,
    UnknownModel,
    UnknownVersion,
)
from store.filters import compile_filter
from store.lifecycle import check_status, check_transition
from store.metrics import clean_metrics, lower_is_better, to_number
from store.records import Model, Version, copy_json
from store.references import split_ref
from store.safety.loader import scan_paths, scannable_files
from store.stamps import now, whoami
from store.values import check_name, jsonable, string_list, text

TRAINING_FIELDS = ("framework", "base_model", "samples", "epochs", "batch_size", "learning_rate", "duration", "cost", "hardware")

F = TypeVar("F", bound=Callable[..., Any])
_GONE = object()


def _locked(method: F) -> F:
    """Run a method under the registry's thread lock, caught up with other processes."""

    @functools.wraps(method)
    def wrapper(self: Registry, *args: Any, **kwargs: Any) -> Any:
        with self._backend.lock:
            self._backend.refresh()
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Registry:
    """A model registry in a directory (see :func:`store.backends.local.location.find_registry`)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, create: bool = True,
                 backend: Backend | None = None) -> None:
        """Open the registry in ``path``; its documents are kept by ``backend`` (default: the local
        journal in ``path``). ``path`` always holds config.json, saved estimators and deploy links."""
        self.path = find_registry(path)
        try:
            if not create and not self.path.is_dir():
                raise RegistryNotFound(f"no registry at {self.path}: run 'modelreg init' or pass --registry PATH")
            if backend is None:
                backend = LocalBackend(self.path, create=create)
            elif create:
                self.path.mkdir(parents=True, exist_ok=True)
            self._backend: Backend = backend
        except OSError as error:  # e.g. a folder we may not read: one line, never a traceback
            raise RegistryAccessError(f"cannot open the registry at {self.path}: {error.strerror or error}") from None
        self._index = self._backend.index
        try:
            self.config = Config.load(self.path)
            deploys.repair_if_interrupted(self)
        except BaseException as error:
            self._backend.close()
            if isinstance(error, OSError):
                raise RegistryAccessError(f"cannot open the registry at {self.path}: {error.strerror or error}") from None
            raise

    def close(self) -> None:
        self._backend.tidy()
        self._backend.close()

    def release(self) -> None:
        """Close without tidying up: for a read-only registry (a tidy-up is a write)."""
        self._backend.close()

    @property
    def backend(self) -> Backend:
        """The backend the documents are kept in (see :mod:`store.backends.protocol`)."""
        return self._backend

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry({str(self.path)!r})"

    # -- keeping up ------------------------------------------------------------------------------

    @_locked
    def problems(self) -> list[str]:
        """What the registry holds but cannot use, one line each: documents written by
        someone else that are not versions or models, and NaN/Infinity written by hand."""
        return self._backend.problems()

    def refresh(self) -> bool:
        """Catch up with other processes' writes; True if anything changed."""
        return self._backend.refresh()

    def token(self) -> Any:
        return self._backend.token()

    def changes_since(self, token: Any) -> Changes:
        """What changed since ``token``: cheap enough to call several times a second."""
        return self._backend.changes_since(token)

    @contextmanager
    def reading(self, *, refresh: bool = True) -> Iterator[None]:
        """Hold the registry still while several reads must agree (caught up first, unless told not to)."""
        with self._backend.lock:
            if refresh:
                self._backend.refresh()
            yield

    def watch_changes(self, wake: Callable[[], None]) -> ChangeWatch:
        """A watch that calls ``wake`` soon after any process writes the registry (start it; stop it)."""
        return self._backend.watch(wake)

    def transaction(self) -> AbstractContextManager[None]:
        """Group writes: all of them are kept or none is, and no other writer comes in between."""
        return self._backend.transaction()

    # -- lookups ------------------------------------------------------------------------------

    def _model_doc(self, name: str) -> tuple[str, dict[str, Any]] | None:
        doc_id = self._index.models.get(name)
        return None if doc_id is None else (doc_id, self._backend.models()[doc_id])

    def _require_model(self, name: str) -> tuple[str, dict[str, Any]]:
        found = self._model_doc(name)
        if found is None:
            known = sorted(self._index.models)
            hint = f"; known models: {', '.join(known[:8])}" + ("…" if len(known) > 8 else "") if known else ""
            raise UnknownModel(f"unknown model '{name}'{hint} (see 'modelreg list')")
        return found

    def _version_doc(self, model: str, version: str) -> tuple[str, dict[str, Any]]:
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

    @_locked
    def resolve(self, ref: str) -> str:
        """The concrete ``MODEL:VERSION`` a reference points at now."""
        _, doc = self._resolve(ref)
        return f"{doc['model']}:{doc['version']}"

    @_locked
    def get(self, ref: str) -> Version:
        """The version a reference points at: ``m:v3``, ``m:latest``, ``m:best``, ``m:production``, ``m:^1.2``."""
        return Version.from_doc(self._resolve(ref)[1])

    @_locked
    def model(self, name: str) -> Model:
        return Model.from_doc(self._require_model(name)[1])

    @_locked
    def models(self) -> list[Model]:
        table = self._backend.models()
        docs = sorted((table[i] for i in self._index.models.values()), key=lambda d: d["name"].lower())
        return [Model.from_doc(d) for d in docs]

    @_locked
    def versions(self, model: str) -> list[Version]:
        """A model's versions in version order (oldest first)."""
        self._require_model(model)
        table = self._backend.versions()
        ids = self._index.by_model.get(model, {})
        return [Version.from_doc(table[ids[v]]) for v in self._sorted_versions(model)]

    @_locked
    def versions_with_artifact(self, path: str | os.PathLike[str]) -> list[Version]:
        """Versions that hold an artifact at ``path`` (absolute), oldest first."""
        table = self._backend.versions()
        ids = self._index.by_path.get(str(Path(path).absolute()), set())
        return sorted((Version.from_doc(table[i]) for i in ids), key=lambda v: v.created_at)

    @_locked
    def children(self, ref: str) -> list[Version]:
        _, doc = self._resolve(ref, default=None)
        table = self._backend.versions()
        kids = [table[i] for i in self._index.children.get(f"{doc['model']}:{doc['version']}", ())]
        return [Version.from_doc(d) for d in sorted(kids, key=lambda d: (d["model"], version_rules.sort_key(d["version"])))]

    # -- registering ---------------------------------------------------------------------------

    def register(
        self,
        model: str,
        artifacts: Iterable[str | os.PathLike[str]] = (),
        version: str | None = None,
        *,
        metrics: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Iterable[str] | None = None,
        parent: str | None = None,
        training_data: Iterable[str] | str | None = None,
        git_commit: str | None = None,
        notes: str | None = None,
        status: str | None = None,
        training: Mapping[str, Any] | None = None,
        estimator: Any = None,
        bump: str = "patch",
        hash_artifacts: bool = True,
        source: str | None = None,
        problems: Iterable[str] = (),
        scan: Mapping[str, Any] | None = None,
        content_key: str | None = None,
        **extra: Any,
    ) -> Version:
        """Register a new version of ``model`` (created on first use) and return it.

        With no ``version`` the next one in the model's scheme is assigned
        (``bump`` = "patch", "minor" or "major"). With ``estimator=`` a fitted
        scikit-learn object is saved into the registry with joblib and described.
        Pickle, joblib, PyTorch and safetensors artifacts are judged by the restricted
        loader (``store.safety.loader``) unless ``scan`` is given. ``content_key`` registers
        exactly once by content: a version registered earlier with the same key is returned instead.
        """
        check_name("model", model)
        if isinstance(artifacts, (str, os.PathLike)):
            artifacts = [artifacts]
        records = [artifact_files.describe(a, with_hash=hash_artifacts) for a in artifacts]
        doc: dict[str, Any] = {
            "status": check_status(status or "completed"),
            "created_at": now(),
            "registered_by": whoami(),
            "artifacts": records,
            "metrics": clean_metrics(metrics),
            "params": jsonable(dict(params or {})),
            "training": self._training(training),
            "training_data": string_list(training_data, "training_data"),
            "git_commit": text(git_commit, "git_commit") or None,
            "tags": string_list(tags, "tags"),
            "notes": text(notes, "notes"),
            "extra": jsonable(extra),
            "problems": list(problems),
        }
        if source:
            doc["source"] = str(source)
        if scan:
            doc["scan"] = jsonable(dict(scan))
        elif estimator is None and any(scannable_files(str(a["path"])) for a in records):
            # Judged now, by the restricted loader: deploy and load must know before anyone trusts it.
            doc["scan"] = scan_paths([str(a["path"]) for a in records]).to_dict()
        if estimator is not None:
            doc.update(self._save_estimator(model, estimator))
        doc = {k: v for k, v in doc.items() if v not in (None, "", [], {})} | {"status": doc["status"]}
        if version is not None:
            version = version_rules.validate(version)
        with self._backend.transaction():
            self._ensure_model(model)
            if version is not None and version in self._index.by_model.get(model, {}):
                raise DuplicateVersion(
                    f"{model}:{version} already exists; versions are never overwritten "
                    "(omit --version to get the next one, or pick another)"
                )
            if parent:
                # A new version has no children yet, so its parent cannot close a cycle: it must only exist.
                doc["parent"] = self._check_parent(f"{model}:{version or self._next_version(model, bump)}", parent)
            # built above from fresh containers (jsonable, string_list copy what they get): the store's own
            doc = self._backend.create_version(model, doc, version=version, key=content_key,
                                               next_version=lambda known: self._next_version(model, bump))
        return Version.from_doc(doc)

    def _next_version(self, model: str, bump: str) -> str:
        latest = self._index.latest.get(model)
        if latest is not None:
            # Anything ordered above the latest cannot clash, so skip the full scan.
            candidate = version_rules.next_version([latest], bump)
            if version_rules.sort_key(candidate) > version_rules.sort_key(latest):
                return candidate
        return version_rules.next_version(self._index.by_model.get(model, {}), bump)

    def _training(self, training: Mapping[str, Any] | None) -> dict[str, Any]:
        result = {}
        for key, value in (training or {}).items():
            if key not in TRAINING_FIELDS:
                raise BadMetadata(f"unknown training field '{key}': use {', '.join(TRAINING_FIELDS)}")
            if value is not None:
                result[key] = jsonable(value)
        return result

    def _save_estimator(self, model: str, estimator: Any) -> dict[str, Any]:
        from store.safety import estimators

        folder = self.path / "artifacts" / model
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{uuid.uuid4().hex[:12]}.joblib"
        estimators.save(estimator, path)
        info = estimators.describe(estimator)
        record = artifact_files.describe(path)
        record["framework"] = "sklearn"
        return {
            "artifacts": [record],
            "estimator": copy_json(info),  # the stored document owns its containers
            "params": jsonable(info.get("params", {})),
            "training": {"framework": "sklearn"},
            "scan": {"safe": True, "verdict": "safe", "reason": "saved by modelreg from a live estimator"},
        }

    def _ensure_model(self, name: str) -> None:
        if self._model_doc(name) is None:
            self._backend.put_model(name, {"created_at": now()})

    def _check_parent(self, child: str, parent: str) -> str:
        try:
            _, doc = self._resolve(parent, default=None)
        except ModelregError as error:
            raise LineageError(f"parent {parent} of {child} does not exist: {error}") from None
        resolved = f"{doc['model']}:{doc['version']}"
        if resolved != child and not self._index.children.get(child):
            return resolved  # nothing descends from the child, so no ancestor can be it: no walk up long chains
        # Walk up from the parent: meeting the child again would close a cycle.
        seen, ref = set(), resolved
        while ref:
            if ref == child or ref in seen:
                raise LineageError(f"{resolved} cannot be the parent of {child}: that would make a cycle")
            seen.add(ref)
            ref = self._parent_of(ref)
        return resolved

    def _parent_of(self, ref: str) -> str | None:
        model, version = split_ref(ref)
        doc_id = self._index.by_model.get(model, {}).get(version or "")
        return self._backend.versions()[doc_id].get("parent") if doc_id else None

    # -- changing versions ------------------------------------------------------------------------

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
        """Add or update metrics after the fact."""
        clean = clean_metrics(metrics)
        if not clean:
            raise BadMetadata("give at least one metric, e.g. accuracy=0.93")
        return self._change(ref, lambda d: d.__setitem__("metrics", {**d.get("metrics", {}), **clean}))

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
        **fields: Any,
    ) -> Version:
        """Merge new metadata into a version (what a late sidecar does).

        ``metrics``, ``params``, ``training`` and ``extra`` are merged; other
        fields (notes, tags, training_data, git_commit, parent, artifacts,
        estimator, scan, missing, problems, source) are replaced.
        """
        clean = clean_metrics(metrics)
        allowed = {"notes", "tags", "training_data", "git_commit", "parent", "artifacts", "estimator", "scan", "missing", "problems", "source", "status"}
        unknown = set(fields) - allowed
        if unknown:
            raise BadMetadata(f"cannot update {', '.join(sorted(unknown))}: use one of {', '.join(sorted(allowed))}")

        def change(doc: dict[str, Any]) -> None:
            for key, value in (("metrics", clean), ("params", jsonable(dict(params or {}))), ("training", self._training(training)), ("extra", jsonable(dict(extra or {})))):
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
                else:
                    value = jsonable(value)
                if value in (None, "", [], {}, False) and key != "status":
                    doc.pop(key, None)
                else:
                    doc[key] = value

        return self._change(ref, change)

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
    ) -> Model:
        """Change a model's own metadata; None leaves a field as it is."""
        for metric, direction in (directions or {}).items():
            if direction not in ("min", "max"):
                raise BadMetadata(f"direction of '{metric}' must be 'min' or 'max', got {direction!r}")
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
            doc = self._backend.put_model(name, {k: v for k, v in doc.items() if k != "name"})
        return Model.from_doc(doc)

    def remove(self, ref: str, *, force: bool = False) -> Version:
        """Remove a version registered by mistake. Its files on disk are never deleted."""
        with self._backend.transaction():
            _, doc = self._resolve(ref, default=None)
            exact = f"{doc['model']}:{doc['version']}"
            if not force:
                if envs := self._live_envs(exact):
                    raise BadMetadata(f"{exact} is live in {', '.join(envs)}; deploy another version first, or pass --force")
                if kids := self._index.children.get(exact):
                    names = sorted(f"{self._backend.versions()[k]['model']}:{self._backend.versions()[k]['version']}" for k in kids)
                    raise LineageError(f"{exact} is the parent of {', '.join(names)}; pass --force to remove it anyway")
            self._backend.remove_version(doc["model"], doc["version"])
        return Version.from_doc(doc)

    def _live_envs(self, ref: str) -> list[str]:
        model, version = split_ref(ref)
        return sorted(d["env"] for d in self._backend.live().values() if d["model"] == model and d["version"] == version)

    # -- questions ----------------------------------------------------------------------------------

    @_locked
    def find(
        self,
        where: str | Callable[[dict[str, Any]], bool] | None = None,
        *,
        model: str | None = None,
        tags: Iterable[str] = (),
        status: str | None = None,
        limit: int | None = None,
    ) -> list[Version]:
        """Versions across models matching a filter expression (or a callable over the document)."""
        predicate = compile_filter(where) if isinstance(where, str) else where
        wanted_tags = set(tags)
        if status is not None:
            check_status(status)
        if model is not None:
            self._require_model(model)
            table = self._backend.versions()
            docs = [table[i] for i in self._index.by_model.get(model, {}).values()]
        else:
            docs = self._backend.version_docs()
        found = [
            d
            for d in docs
            if (status is None or d.get("status", "completed") == status)
            and (not wanted_tags or wanted_tags.issubset(d.get("tags", ())))
            and (predicate is None or predicate(d))
        ]
        found.sort(key=lambda d: (d["model"], version_rules.sort_key(d["version"])))
        return [Version.from_doc(d) for d in found[:limit]]

    def directions(self, model: str) -> dict[str, str]:
        found = self._model_doc(model)
        return dict(found[1].get("directions", {})) if found else {}

    def primary_metric(self, model: str) -> str | None:
        """The model's primary metric: set explicitly, else the first metric its versions report."""
        found = self._model_doc(model)
        if found and found[1].get("primary_metric"):
            return found[1]["primary_metric"]
        table = self._backend.versions()
        for version in self._sorted_versions(model):
            metrics = table[self._index.by_model[model][version]].get("metrics")
            if metrics:
                return next(iter(metrics))
        return None

    def _best_version(self, model: str, metric: str | None) -> str:
        self._require_model(model)
        metric = metric or self.primary_metric(model)
        if metric is None:
            raise UnknownVersion(f"no version of '{model}' has metrics; add some with 'modelreg score'")
        lower = lower_is_better(metric, self.directions(model))
        table = self._backend.versions()
        scored = []
        for version in self._sorted_versions(model):
            value = to_number(table[self._index.by_model[model][version]].get("metrics", {}).get(metric))
            if value is not None:
                scored.append((-value if lower else value, version))
        if not scored:
            raise UnknownVersion(f"no version of '{model}' has the metric '{metric}'")
        # max() keeps the first of equals; the later version should win a tie.
        return max(reversed(scored), key=lambda pair: pair[0])[1]

    @_locked
    def best(self, model: str, metric: str | None = None) -> Version:
        """The best version by ``metric`` (default: the model's primary metric), respecting its direction."""
        return Version.from_doc(self._version_doc(model, self._best_version(model, metric))[1])

    # -- what is live -----------------------------------------------------------------------------------

    @_locked
    def live(self, model: str, env: str | None = None) -> Version | None:
        """The version of ``model`` live in ``env`` (default environment if None), or None."""
        self._require_model(model)
        doc = self._live_doc(model, env or self.config.default_environment)
        if doc is None:
            return None
        return Version.from_doc(self._version_doc(model, doc["version"])[1])

    @_locked
    def live_map(self, model: str | None = None) -> dict[str, Any]:
        """{env: version} for one model, or {model: {env: version}} for all."""
        result: dict[str, dict[str, str]] = {}
        for doc in self._backend.live().values():
            result.setdefault(doc["model"], {})[doc["env"]] = doc["version"]
        return dict(sorted(result.get(model, {}).items())) if model else result

    # -- documents, for the app, the watcher, deploys and transfers ------------------------------------
    # The stored documents themselves, read-only by contract (they are replaced on change, never edited
    # in place): copying 100,000 of them on every look would make the app and the watcher crawl.

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

    # -- deploying, rolling back, loading (store/deploy.py, store/loading.py) ---------------------------

    def deploy(self, ref: str, env: str | None = None, *, verify: bool = False, trust: bool = False) -> dict[str, Any]:
        """Make ``ref`` live in ``env`` (default environment if None); returns the history entry.

        Refuses draft and archived versions, versions without artifacts, missing or changed
        artifacts (``verify=True`` re-hashes them), and artifacts the safety scan did not find
        safe unless ``trust=True`` (recorded in the history); raises DeployError if the
        deploy hook fails.
        """
        return deploys.deploy(self, ref, env, verify=verify, trust=trust)

    def rollback(self, model: str, env: str | None = None) -> dict[str, Any]:
        """Switch ``model`` in ``env`` back to the version live before the current one; returns the history entry."""
        return deploys.rollback(self, model, env)

    def history(self, model: str | None = None, env: str | None = None) -> list[dict[str, Any]]:
        """The deploy history, oldest first, optionally for one model and/or environment."""
        return copy_json(deploys.history(self, model, env))  # entries nest dicts (the hook's outcome): the caller's own

    def check_artifacts(self, model: str | None = None, *, verify: bool = False) -> list[dict[str, Any]]:
        """Mark versions whose artifacts vanished or changed as missing (never removing them)."""
        return deploys.check_artifacts(self, model, verify=verify)

    def load(self, ref: str, trust: bool = False) -> Any:
        """The model object of a scikit-learn/joblib version (scanned first), else its artifact paths."""
        return loading.load(self, ref, trust=trust)

    # -- related reports live in their own modules ------------------------------------------------------

    def compare(self, refs: Iterable[str]) -> dict[str, Any]:
        return comparing.compare(self, list(refs))

    def ancestors(self, ref: str) -> list[Version]:
        return lineage.ancestors(self, ref)

    def descendants(self, ref: str) -> list[Version]:
        return lineage.descendants(self, ref)

    def tree(self, model: str) -> list[dict[str, Any]]:
        return lineage.tree(self, model)

    def data_lineage(self, ref: str) -> list[dict[str, Any]]:
        return lineage.data_lineage(self, ref)

    def summary(self, model: str | None = None) -> dict[str, Any]:
        return summaries.summary(self, model)
