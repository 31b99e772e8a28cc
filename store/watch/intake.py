"""Turning a finished checkpoint into a registered version, exactly once.

The watcher hands over a checkpoint path when it is finished; :class:`Intake` decides what
that means for the registry:

- a path the registry does not hold yet -> a new version (content hash filled in later);
- a path it holds with the same content (size and modification time, or else the same
  sha256) -> nothing, or a metadata update when its sidecar changed, or "found again" when
  the version was marked missing;
- a path it holds with different content (overwritten in place) -> a new version.

The registry itself is the memory: each watched artifact record carries a ``watch`` entry
(``fp``: size and mtime of the content, without folder sidecars; ``sidecar``: size and mtime
of the sidecar whose content was applied, never of one merely seen), so a restart knows
exactly which checkpoints and which metadata it has seen.

:meth:`Intake.prepare` does the slow file reading outside the registry lock;
:meth:`Intake.apply` makes the final decision inside the writer's transaction.
"""

from __future__ import annotations

import bisect
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from store import artifacts as artifact_files
from store.watch.checkpoints import (
    CheckpointRules,
    checkpoint_for,
    model_name_for,
    read_framework_files,
    run_key,
    step_of,
)
from store.watch.checkpoint_info import checkpoint_metadata
from store.errors import ArtifactError, BadMetadata, DuplicateVersion, LineageError, ModelregError
from store.records import Version
from store.watch.settle import content_fingerprint
from store.signatures import from_estimator
from store.watch.sidecar import Sidecar, read_sidecar, sidecar_for
from store.watch.events import WatchEvent

if TYPE_CHECKING:
    from store.registry import Registry

PICKLE_EXTENSIONS = (".pkl", ".joblib", ".pickle")


@dataclass
class Job:
    """A unit of work for the watcher's writer thread.

    kinds: "checkpoint" (a finished checkpoint), "gone" (a path deleted or moved away),
    "hashed" (a content hash to store), "described" (an estimator description to store).
    ``sidecar_ok`` False: the sidecar may still be being written, so it is used only if it
    reads as a whole; otherwise a later job (when it is closed or settled) brings it.
    """

    kind: str
    path: str
    root: str | None = None
    sidecar_ok: bool = True
    sha256: str | None = None
    scan: dict[str, Any] | None = None
    ref: str | None = None
    record: dict[str, Any] | None = None
    info: dict[str, Any] | None = None


@dataclass
class Plan:
    """What :meth:`Intake.prepare` read about a finished checkpoint."""

    job: Job
    record: dict[str, Any]
    sidecar: Sidecar | None = None
    sidecar_error: str | None = None
    sidecar_path: str | None = None
    sidecar_read: bool = False  # its content (or what is wrong with it) is in this plan
    framework: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What the writer does next: events to report, work for the other threads."""

    events: list[WatchEvent] = field(default_factory=list)
    hash: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (ref, path, record)
    describe: list[tuple[str, str]] = field(default_factory=list)  # (ref, path)
    need_hash: list[Job] = field(default_factory=list)  # compare by content before deciding
    need_scan: list[Job] = field(default_factory=list)  # scan pickles before registering
    settle: list[tuple[str, str]] = field(default_factory=list)  # (checkpoint, root) to wait for

    def extend(self, other: Outcome) -> None:
        for name in ("events", "hash", "describe", "need_hash", "need_scan", "settle"):
            getattr(self, name).extend(getattr(other, name))


def pickles_in(path: str) -> list[str]:
    """The files of a checkpoint that need judging before they are trusted: itself, or those in its folder."""
    from store.safety.loader import scannable_files

    return scannable_files(path)


def sidecar_fingerprint(path: str | os.PathLike[str] | None) -> list[float] | None:
    """[size, mtime] of a sidecar, or None if there is none: what tells a rewritten one apart."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime]


class Intake:
    """Registers finished checkpoints; used by one writer thread at a time."""

    def __init__(self, registry: Registry, rules: CheckpointRules, model: str | None = None) -> None:
        self.registry = registry
        self.rules = rules
        self.model = model
        # run key -> [(step, order, ref)]: the checkpoints of one run, to chain parents.
        self.runs: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        self._order = 0

    # -- what the registry already knows ---------------------------------------------------------

    def known(self, path: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(version doc, artifact record) of the newest version holding ``path``, or None."""
        docs = self.registry.docs_holding(path)
        if not docs:
            return None
        doc = max(docs, key=lambda d: d.get("created_at", ""))
        record = next(a for a in doc.get("artifacts", ()) if a.get("path") == path)
        return doc, record

    def learn_runs(self, roots: list[str]) -> None:
        """Rebuild the run index from the registry: the checkpoints already known under ``roots``."""
        self.runs.clear()
        docs = sorted(self.registry.all_version_docs(), key=lambda d: d.get("created_at", ""))
        for doc in docs:
            for artifact in doc.get("artifacts", ()):
                path = artifact.get("path", "")
                root = root_of(path, roots)
                if root is not None and "watch" in artifact:
                    self._remember(path, root, f"{doc['model']}:{doc['version']}")

    def _remember(self, path: str, root: str, ref: str) -> None:
        self._order += 1
        bisect.insort(self.runs[run_key(path, root)], (_step(path), self._order, ref))

    def _previous(self, path: str, root: str) -> str | None:
        """The checkpoint of the same run just before this one (the highest step up to its own,
        latest registered among equals), for a lineage chain. Entries are kept sorted."""
        step = step_of(path)
        entries = self.runs.get(run_key(path, root), [])
        if step is not None:
            entries = entries[: bisect.bisect_right(entries, (step, float("inf"), ""))]
        return entries[-1][2] if entries else None

    # -- reading a checkpoint (no registry lock held) ---------------------------------------------

    def prepare(self, job: Job) -> Plan | Outcome | None:
        """Read a finished checkpoint: None if it is gone or no checkpoint; an Outcome when it
        turned out to belong to a checkpoint folder (wait for that instead)."""
        path, root = job.path, job.root or ""
        if not os.path.lexists(path):
            return None
        owner = checkpoint_for(path, root, self.rules)
        if owner is None:
            return None
        if str(owner) != path:
            return Outcome(settle=[(str(owner), root)])
        if not (os.path.isdir(path) or os.path.isfile(path)):
            # A pipe or device would block the hasher forever; a dangling link has nothing to register.
            return Outcome(events=[WatchEvent("problem", None, path, f"{path}: not a regular file or folder; skipped")])
        try:
            record = artifact_files.describe(path, with_hash=False)
        except ArtifactError:
            return None
        record["path"] = path
        plan = Plan(job, record)
        sidecar = sidecar_for(path)
        plan.sidecar_path = str(sidecar) if sidecar else None
        # Stat before reading: the content read is then never older than the fingerprint, so a
        # sidecar replaced meanwhile shows a new fingerprint next time and is read again.
        sidecar_fp = sidecar_fingerprint(plan.sidecar_path)
        if sidecar is not None:
            try:
                plan.sidecar = read_sidecar(sidecar)
            except BadMetadata as error:
                # A sidecar still being written fails to parse: not a problem yet, only unread.
                # An empty one is a file just created (its close brings it again), never a verdict.
                if job.sidecar_ok and sidecar_fp and sidecar_fp[0] > 0:
                    plan.sidecar_error = str(error)
        plan.sidecar_read = sidecar is None or plan.sidecar is not None or plan.sidecar_error is not None
        # Only the fingerprint of applied content is remembered: one recorded for a sidecar
        # that was not read would make it look applied, and it would never be read.
        record["watch"] = {"fp": content_fingerprint(path), "sidecar": sidecar_fp if plan.sidecar_read else None}
        if os.path.isdir(path):
            plan.framework = read_framework_files(path)
        return plan

    # -- deciding (inside the writer's transaction) -----------------------------------------------

    def apply(self, plan: Plan) -> Outcome:
        job, record = plan.job, plan.record
        found = self.known(job.path)
        if found is None:
            return self._new(plan, None)
        doc, old = found
        old_watch = old.get("watch") or {}
        old_fp = old_watch.get("fp") or [old.get("size"), old.get("mtime")]
        same = _same_fp(old_fp, record["watch"]["fp"])
        if not same and old.get("sha256") and record["kind"] == "file":
            if job.sha256 is None:
                return Outcome(need_hash=[job])
            same = job.sha256 == old["sha256"]
            if same:
                record["sha256"] = job.sha256
        if not same:
            return self._new(plan, doc)
        return self._same(plan, doc, old)

    def _same(self, plan: Plan, doc: dict[str, Any], old: dict[str, Any]) -> Outcome:
        """The registered checkpoint, unchanged: refresh what changed around it."""
        ref = f"{doc['model']}:{doc['version']}"
        out = Outcome()
        changes: dict[str, Any] = {}
        notes: list[str] = []
        sidecar_changed = plan.sidecar_read and not _same_fp(
            (old.get("watch") or {}).get("sidecar"), plan.record["watch"]["sidecar"]
        )
        new_record = {**old, "watch": {**(old.get("watch") or {}), "fp": plan.record["watch"]["fp"]}}
        if doc.get("missing"):
            changes["missing"] = False
            notes.append("found again")
        if sidecar_changed and (plan.sidecar is not None or plan.sidecar_error):
            changes.update(self._metadata_update(plan, doc))
            notes.append(f"metadata from {plan.sidecar_path}")
            new_record["watch"]["sidecar"] = plan.record["watch"]["sidecar"]
            if plan.record["kind"] == "dir":
                # The folder's hash covers its sidecar too: take the new size, hash again.
                new_record.update(size=plan.record["size"], mtime=plan.record["mtime"], sha256=None)
                out.hash.append((ref, plan.job.path, new_record))
        elif plan.job.sha256 and new_record.get("mtime") != plan.record["mtime"]:
            # Touched but identical: remember the new mtime so the next look is cheap.
            new_record.update(mtime=plan.record["mtime"])
            changes["artifacts"] = None
        if not changes:
            return out
        changes["artifacts"] = [new_record if a.get("path") == plan.job.path else a for a in doc.get("artifacts", ())]
        version = self._update(ref, changes, out)
        if notes:
            out.events.append(WatchEvent("updated", version.ref, plan.job.path, f"{version.ref}  {', '.join(notes)}"))
        return out

    def _metadata_update(self, plan: Plan, doc: dict[str, Any]) -> dict[str, Any]:
        label = plan.sidecar_path or ""
        problems = [p for p in doc.get("problems", ()) if not p.startswith(label)]
        if plan.sidecar_error:
            return {"problems": [*problems, plan.sidecar_error]}
        assert plan.sidecar is not None
        kwargs = plan.sidecar.to_register_kwargs()
        for key in ("model", "version"):
            kwargs.pop(key, None)
        changes: dict[str, Any] = {"problems": [*problems, *kwargs.pop("problems", [])]}
        for key in ("metrics", "params", "training", "notes", "tags", "training_data", "git_commit", "parent", "status", "source"):
            if key in kwargs:
                changes[key] = kwargs.pop(key)
        if kwargs:
            changes["extra"] = kwargs
        return changes

    def _update(self, ref: str, changes: dict[str, Any], out: Outcome) -> Version:
        changes = {k: v for k, v in changes.items() if v is not None or k == "artifacts"}
        if changes.get("artifacts") is None:
            changes.pop("artifacts", None)
        try:
            return self.registry.update(ref, **changes)
        except ModelregError as error:
            # A bad parent or status from a sidecar must not stop the rest of the update.
            for key in ("status", "parent"):
                changes.pop(key, None)
            changes["problems"] = [*changes.get("problems", []), f"{changes.get('source', ref)}: {error}"]
            out.events.append(WatchEvent("problem", ref, changes.get("source") or "", f"{ref}: {error}"))
            return self.registry.update(ref, **changes)

    def _new(self, plan: Plan, previous: dict[str, Any] | None) -> Outcome:
        job = plan.job
        if job.scan is None and pickles_in(job.path):
            return Outcome(need_scan=[job])
        out = Outcome()
        model, kwargs, problems = self._register_kwargs(plan)
        parent = kwargs.pop("parent", None)
        chained = False
        if parent is None and self.rules.chain_parents:
            parent = self._previous(job.path, job.root or "")
            chained = parent is not None
        if job.scan is not None:
            kwargs["scan"] = job.scan
            if job.scan.get("verdict") == "unsafe":  # "error" (not judged) is kept on the version, not shouted
                problems.append(f"{job.path}: unsafe pickle, never loaded without --trust: {job.scan.get('reason')}")
        version = self._register(model, kwargs, parent, problems, chained)
        record = dict(plan.record)
        if job.sha256 is not None and record["kind"] == "file":
            record["sha256"] = job.sha256
        version = self.registry.update(version.ref, artifacts=[record])
        self._remember(job.path, job.root or "", version.ref)
        what = "replaces the earlier content of" if previous else "from"
        line = f"{version.ref}  {what} {job.path}"
        if version.parent:
            line += f"  (parent {version.parent})"
        out.events.append(WatchEvent("registered", version.ref, job.path, line))
        out.events.extend(WatchEvent("problem", version.ref, job.path, p) for p in version.problems)
        if record.get("sha256") is None:
            out.hash.append((version.ref, job.path, record))
        if job.scan is not None and job.scan.get("safe") and job.path.lower().endswith(PICKLE_EXTENSIONS):
            out.describe.append((version.ref, job.path))  # only pickles hold scikit-learn estimators
        return out

    def _register_kwargs(self, plan: Plan) -> tuple[str, dict[str, Any], list[str]]:
        """Model name, keyword arguments for Registry.register, and problems, from everything known."""
        job = plan.job
        root = job.root or ""
        metrics: dict[str, Any] = {}
        training: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        problems: list[str] = []
        if plan.record.get("framework"):
            training["framework"] = plan.record["framework"]
        found = checkpoint_metadata(job.path, plan.framework or {})  # the reader 'modelreg register' uses too
        metrics.update(found["metrics"])
        training.update(found["training"])
        extra.update(found["extra"])
        problems.extend(found["problems"])
        kwargs: dict[str, Any] = {}
        sidecar_model = None
        if plan.sidecar_error:
            problems.append(plan.sidecar_error)
        if plan.sidecar is not None:
            given = plan.sidecar.to_register_kwargs()
            sidecar_model = given.pop("model", None)
            problems.extend(given.pop("problems", ()))
            metrics.update(given.pop("metrics", {}))
            training.update(given.pop("training", {}))
            for key in ("version", "parent", "status", "git_commit", "notes", "params", "tags", "training_data", "source"):
                if key in given:
                    kwargs[key] = given.pop(key)
            extra.update(given)
        model = model_name_for(job.path, root, sidecar_model or self.model)
        kwargs.update(metrics=metrics, training=training, **extra)
        return model, kwargs, problems

    def _register(self, model: str, kwargs: dict[str, Any], parent: str | None, problems: list[str], chained: bool) -> Version:
        """Register, dropping a clashing version or a bad parent (and saying so) rather than failing."""
        while True:
            try:
                return self.registry.register(model, [], parent=parent, problems=problems, **kwargs)
            except DuplicateVersion as error:
                problems.append(f"{kwargs.get('source', model)}: {error}; registered under the next free version")
                kwargs.pop("version")
            except LineageError as error:
                if not chained:
                    problems.append(f"{kwargs.get('source', model)}: {error}; registered without a parent")
                parent = None
            except BadMetadata as error:
                if "status" in kwargs:
                    problems.append(f"{kwargs.get('source', model)}: {error}")
                    kwargs.pop("status")
                else:
                    raise

    # -- the other kinds of job --------------------------------------------------------------------

    def gone(self, path: str) -> Outcome:
        """Mark the versions holding ``path`` (or anything below it) missing; never remove them."""
        out = Outcome()
        prefix = path.rstrip(os.sep) + os.sep
        with self.registry.reading(refresh=False):
            # A deleted folder takes the checkpoints below it along: look for them only then.
            paths = [path] if self.registry.holds(path) else [p for p in self.registry.artifact_paths() if p.startswith(prefix)]
            docs = {f"{d['model']}:{d['version']}": d for p in paths for d in self.registry.docs_holding(p)}
        for _, doc in sorted(docs.items()):
            if doc.get("missing"):
                continue
            held = [a["path"] for a in doc.get("artifacts", ())]
            if any(os.path.lexists(p) for p in held):
                continue  # another of its artifacts, or the path itself, is back
            ref = f"{doc['model']}:{doc['version']}"
            self.registry.update(ref, missing=True)
            out.events.append(WatchEvent("missing", ref, path, f"{ref}  missing: {path} was deleted or moved away"))
        return out

    def hashed(self, job: Job) -> Outcome:
        """Store a content hash computed off the event thread, if the file did not change meanwhile."""
        assert job.ref is not None and job.record is not None
        found = self.known(job.path)
        if found is None:
            return Outcome()
        doc, old = found
        if f"{doc['model']}:{doc['version']}" != job.ref or old.get("sha256") or old.get("size") != job.record.get("size"):
            return Outcome()
        if old.get("mtime") != job.record.get("mtime"):
            return Outcome()
        artifacts = [{**a, "sha256": job.record["sha256"]} if a.get("path") == job.path else a for a in doc["artifacts"]]
        self.registry.update(job.ref, artifacts=artifacts)
        return Outcome()

    def described(self, job: Job) -> Outcome:
        """Store what the estimator in a safe pickle is; its parameters fill in what no sidecar gave."""
        assert job.ref is not None and job.info is not None
        doc = self.registry.get(job.ref)
        params = {k: v for k, v in (job.info.get("params") or {}).items() if k not in doc.params}
        signature = {} if doc.signature else {"signature": from_estimator(job.info)}  # a sidecar's own wins
        version = self.registry.update(job.ref, estimator=job.info, params=params, **signature)
        name = job.info.get("class") or "estimator"
        return Outcome(events=[WatchEvent("updated", version.ref, job.path, f"{version.ref}  described: {name}")])


def _same_fp(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return len(a) == len(b) and all(x == y or (isinstance(x, float) and isinstance(y, float) and abs(x - y) < 1e-6) for x, y in zip(a, b))


def _step(path: str) -> int:
    step = step_of(path)
    return -1 if step is None else step


def root_of(path: str, roots: list[str]) -> str | None:
    """The watched root that holds ``path`` (the deepest one), or None."""
    for root in sorted(roots, key=len, reverse=True):
        if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
            return root
    return None
