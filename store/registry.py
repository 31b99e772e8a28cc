"""The registry: models, their versions, and every operation on them.

One ``Registry`` object is safe to share between threads, and any number of
processes may open the same registry directory at once. The class is assembled from
parts, one module each: :mod:`store.references` (lookups), :mod:`store.editing`,
:mod:`store.questions` and :mod:`store.documents`; registering and the way to the
feature modules (deploy, lineage, compare, summary) are here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

# Leaf modules (they never import the registry), loaded up front: a process that lives for a
# few writes should not pay for an import inside its first one.
from store import registering, signatures, uploading
from store import versions as version_rules
from store.backends.artifacts import ArtifactStore
from store.backends.local.backend import LocalBackend
from store.backends.mlflow.opening import locate
from store.backends.protocol import Backend, Changes, ChangeWatch, team_settings
from store.config import Config
from store.documents import Documents
from store.editing import Editing
from store.errors import DuplicateVersion, LineageError, ModelregError, RegistryAccessError, RegistryNotFound
from store.lifecycle import check_status
from store.metrics import clean_metrics
from store.questions import Questions
from store.reading import caught_up
from store.records import Model, Version, copy_json
from store.references import Resolving, split_ref
from store.stamps import now, whoami
from store.values import check_name, jsonable, strict_json, string_list, text

TRAINING_FIELDS = registering.TRAINING_FIELDS

class Registry(Resolving, Editing, Questions, Documents):
    """A model registry in a directory (see :func:`store.backends.local.location.find_registry`)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, create: bool = True,
                 backend: Backend | None = None) -> None:
        """Open the registry in ``path``; its documents are kept by ``backend`` (default: the local
        journal in ``path``; ``http(s)://HOST:PORT``: an MLflow server). ``path`` always holds config.json,
        saved estimators and deploy links."""
        backend, self.path = locate(path, backend)
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
        self._index, self._refetched = self._backend.index, set()
        try:
            self.config = Config.load(self.path, team_settings(self._backend))
            from store.deploy import deploy as deploys  # see "the way to the feature modules" below

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
    def artifacts(self) -> ArtifactStore:
        """Where artifact bytes are read and written (see :mod:`store.backends.artifacts`)."""
        return self._backend.artifacts

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

    @caught_up
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

    @caught_up
    def resolve(self, ref: str) -> str:
        """The concrete ``MODEL:VERSION`` a reference points at now."""
        _, doc = self._resolve(ref)
        return f"{doc['model']}:{doc['version']}"

    @caught_up
    def get(self, ref: str) -> Version:
        """The version a reference points at: ``m:v3``, ``m:latest``, ``m:best``, ``m:production``, ``m:^1.2``."""
        return Version.from_doc(self._resolve(ref)[1])

    @caught_up
    def model(self, name: str) -> Model:
        return Model.from_doc(self._require_model(name)[1])

    @caught_up
    def models(self) -> list[Model]:
        table = self._backend.models()
        docs = sorted((table[i] for i in self._index.models.values()), key=lambda d: d["name"].lower())
        return [Model.from_doc(d) for d in docs]

    @caught_up
    def versions(self, model: str) -> list[Version]:
        """A model's versions in version order (oldest first)."""
        self._require_model(model)
        table = self._backend.versions()
        ids = self._index.by_model.get(model, {})
        return [Version.from_doc(table[ids[v]]) for v in self._sorted_versions(model)]

    @caught_up
    def versions_with_artifact(self, path: str | os.PathLike[str]) -> list[Version]:
        """Versions that hold an artifact at ``path`` (absolute), oldest first."""
        table = self._backend.versions()
        ids = self._index.by_path.get(str(Path(path).absolute()), set())
        return sorted((Version.from_doc(table[i]) for i in ids), key=lambda v: v.created_at)

    @caught_up
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
        estimators: Mapping[str, Any] | Iterable[Any] | None = None,
        bump: str = "patch",
        hash_artifacts: bool = True,
        source: str | bool | None = None,
        signature: Mapping[str, Any] | None = None,
        problems: Iterable[str] = (),
        scan: Mapping[str, Any] | None = None,
        content_key: str | None = None,
        claim: str | None = None,
        **extra: Any,
    ) -> Version:
        """Register a new version of ``model`` (created on first use) and return it.

        With no ``version`` the next one in the model's scheme is assigned (``bump`` = "patch", "minor" or "major").
        With ``estimator=`` a fitted scikit-learn object is saved into the registry with joblib and described, beside
        the ``artifacts`` files (paths, ``(ROLE, PATH)`` pairs or a ``{ROLE: PATH}`` mapping);
        ``estimators={"rf": rf, ...}`` saves several, each loadable
        by name (``load(ref, name="rf")``). The user's ``params`` and ``training`` win over
        what is extracted from the object (which stays under ``estimator``).
        Pickle, joblib, PyTorch and safetensors artifacts are judged by the restricted
        loader (``store.safety.loader``) unless ``scan`` is given. ``source`` names the sidecar the
        metadata came from; the calling script's path and sha256 are recorded as
        ``source_file``/``source_sha256`` unless ``source=False``. ``signature`` (inputs and
        outputs, see ``store.signatures``) is otherwise taken from the estimator or an MLflow ``MLmodel`` among the
        artifacts. ``content_key`` registers exactly once by content: a version registered earlier with the same key is
        returned instead; a ``claim`` (the caller's token, kept as the field ``claim``) tells which call made it.
        """
        check_name("model", model)
        if isinstance(artifacts, (str, os.PathLike)):
            artifacts = [artifacts]
        elif isinstance(artifacts, Mapping):  # {"gguf": "model.gguf", "lora": "adapter/"}: files with roles
            artifacts = list(artifacts.items())
        records = [self._backend.artifacts.describe(a, with_hash=hash_artifacts) for a in artifacts]
        live_objects: dict[str, Any] = {}
        if estimator is not None or estimators is not None:
            from store import objects  # saving objects pulls in joblib only when there are any

            live_objects = objects.named_objects(estimator, estimators)
        extra = strict_json(extra, "extra")  # refused before anything is saved
        given_signature = None if signature is None else signatures.checked(signature, f"{model} signature")
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
            "extra": extra,
            "problems": list(problems), "claim": claim,
        }
        registering.add_found_fields(doc, self.path, model, records, live_objects, source=source, signature=given_signature)
        if scan or not live_objects:  # judged now, by the restricted loader: deploy and load must know first
            doc["scan"] = jsonable(dict(scan)) if scan else registering.scan_records(self.artifacts, doc["artifacts"])
        uploads = uploading.mark_uploading(doc, self.config.artifact_store)
        doc = {k: v for k, v in doc.items() if v not in (None, "", [], {})} | {"status": doc["status"]}
        if version is not None:
            version = version_rules.validate(version)
        with self._backend.transaction():
            self._ensure_model(model)
            if version is not None and (version in self._index.by_model.get(model, {}) or version in self._retired(model)):
                raise DuplicateVersion(f"{model}:{version} already exists or was removed; a version is never overwritten "
                                       "nor its name given again (omit --version to get the next one, or pick another)")
            if parent:
                # A new version has no children yet, so its parent cannot close a cycle: it must only exist.
                doc["parent"] = self._check_parent(f"{model}:{version or self._next_version(model, bump)}", parent)
            # built above from fresh containers (jsonable, string_list copy what they get): the store's own
            doc = self._backend.create_version(model, doc, version=version, key=content_key,
                                               next_version=lambda known: self._next_version(model, bump))
        if uploads and doc.get("uploading"):  # after it appears, as the watcher's versions do: see store/uploading.py
            return self.upload(f"{doc['model']}:{doc['version']}")
        return Version.from_doc(doc)

    def _next_version(self, model: str, bump: str) -> str:
        latest, retired = self._index.latest.get(model), self._retired(model)
        if latest is None and not retired and (found := self._model_doc(model)) and found[1].get("scheme"):
            return found[1]["scheme"]  # the first version, in the scheme the user named
        if latest is not None and not retired:  # anything ordered above the latest cannot clash: no full scan
            candidate = version_rules.next_version([latest], bump)
            if version_rules.sort_key(candidate) > version_rules.sort_key(latest):
                return candidate
        return version_rules.next_version([*self._index.by_model.get(model, {}), *retired], bump)

    def _training(self, training: Mapping[str, Any] | None) -> dict[str, Any]:  # editing.py's too
        return registering.training_fields(training)

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

    # -- the way to the feature modules ----------------------------------------------------------------
    # Each method imports its module when called, for weight only: ``import store`` stays light (deploy
    # pulls in subprocess, pinning and the hook runner). There is no circle to hide: the feature modules
    # take a Registry and import this module only for type checking (tests/test_import_hygiene.py
    # follows function-level imports too).

    # deploying, rolling back, loading (store/deploy/)

    def deploy(self, ref: str, env: str | None = None, *, verify: bool = False, trust: bool = False) -> dict[str, Any]:
        """Make ``ref`` live in ``env`` (default environment if None); returns the history entry.

        Refuses draft and archived versions, versions without artifacts, missing or changed
        artifacts (``verify=True`` re-hashes them), and artifacts the safety scan did not find
        safe unless ``trust=True`` (recorded in the history); raises DeployError if the
        deploy hook fails.
        """
        from store.deploy import deploy as deploys

        return deploys.deploy(self, ref, env, verify=verify, trust=trust)

    def rollback(self, model: str, env: str | None = None) -> dict[str, Any]:
        """Switch ``model`` in ``env`` back to the version live before the current one; returns the history entry."""
        from store.deploy import deploy as deploys

        return deploys.rollback(self, model, env)

    def history(self, model: str | None = None, env: str | None = None) -> list[dict[str, Any]]:
        """The deploy history, oldest first, optionally for one model and/or environment."""
        from store.deploy import deploy as deploys

        return copy_json(deploys.history(self, model, env))  # entries nest dicts (the hook's outcome): the caller's own

    def upload(self, ref: str) -> Version:
        """Upload ``ref``'s local artifacts to the artifact store (write-once, by sha256)."""
        return uploading.upload(self, ref)

    def set_artifact_store(self, url: str | None) -> str | None:
        """Where versions' local files are uploaded from now on (None: nowhere), as kept. On a backend a team
        shares (an MLflow server) it is set for every machine; else in this registry's config.json."""
        stored = uploading.keep_store(self, url)
        self.config = Config.load(self.path, team_settings(self._backend))  # the variable may still win here
        return stored

    def check_artifacts(self, model: str | None = None, *, verify: bool = False) -> list[dict[str, Any]]:
        """Mark versions whose artifacts vanished or changed as missing (never removing them)."""
        from store.deploy import deploy as deploys

        return deploys.check_artifacts(self, model, verify=verify)

    def load(self, ref: str, trust: bool = False, *, name: str | None = None, check: Any = None) -> Any:
        """The model object of a scikit-learn/joblib version (scanned first), else its artifact paths;
        ``name`` picks one of several objects saved in the version; ``check`` (input data) is refused
        first if its columns or width do not match the version's signature."""
        from store.deploy import loading

        return loading.load(self, ref, trust=trust, name=name, check=check)

    # related reports (store/compare.py, store/lineage.py, store/summary.py)

    def compare(self, refs: Iterable[str]) -> dict[str, Any]:
        from store import compare as comparing

        return comparing.compare(self, list(refs))

    def ancestors(self, ref: str) -> list[Version]:
        from store import lineage

        return lineage.ancestors(self, ref)

    def descendants(self, ref: str) -> list[Version]:
        from store import lineage

        return lineage.descendants(self, ref)

    def tree(self, model: str) -> list[dict[str, Any]]:
        from store import lineage

        return lineage.tree(self, model)

    def data_lineage(self, ref: str) -> list[dict[str, Any]]:
        from store import lineage

        return lineage.data_lineage(self, ref)

    def summary(self, model: str | None = None) -> dict[str, Any]:
        from store import summary as summaries

        return summaries.summary(self, model)
