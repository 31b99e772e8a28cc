"""Turning a finished checkpoint into a registered version, exactly once.

The watcher hands over a checkpoint path when it is finished; :class:`Intake` decides what
that means for the registry:

- a path the registry does not hold yet -> a new version (content hash filled in later);
- a path it holds with the same content (size and modification time, or else the same
  sha256) -> nothing, or a metadata update when its sidecar changed, or "found again" when
  the version was marked missing;
- a path it holds with different content (overwritten in place) -> a new version;
- a checkpoint whose content key (``keys``) another watcher registered first -> that version, said once, and its
  artifact record left as that watcher wrote it.

The registry itself is the memory: each watched artifact record carries a ``watch`` entry
(``fp``: size and mtime of the content, without folder sidecars; ``sidecar``: size and mtime
of the sidecar whose content was applied, never of one merely seen), so a restart knows
exactly which checkpoints and which metadata it has seen.

:meth:`Intake.prepare` does the slow file reading outside the registry lock;
:meth:`Intake.apply` makes the final decision inside the writer's transaction (``deciding``);
the jobs and plans that carry the work are in ``jobs``.
"""

from __future__ import annotations

import bisect
import os
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store import artifacts as artifact_files
from store.watch.checkpoints import (
    CheckpointRules,
    checkpoint_for,
    read_framework_files,
    run_key,
    step_of,
)
from store.errors import ArtifactError, BadMetadata
from store.signatures import from_estimator
from store.watch.deciding import Deciding
from store.watch.events import WatchEvent
from store.watch.jobs import Job, Outcome, Plan  # noqa: F401 - the watcher's threads import them from here
from store.watch.keys import checkpoint_key
from store.watch.settle import content_fingerprint
from store.watch.sidecar import read_sidecar, sidecar_for

#: Files up to this size are hashed before they are registered, in the same write (one request less per
#: checkpoint on a server); bigger ones appear at once and get their hash in a second write.
HASH_AT_ONCE = 1 << 20

if TYPE_CHECKING:
    from store.registry import Registry


def sidecar_fingerprint(path: str | os.PathLike[str] | None) -> list[float] | None:
    """[size, mtime] of a sidecar, or None if there is none: what tells a rewritten one apart."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime]


class Intake(Deciding):
    """Registers finished checkpoints; used by one writer thread at a time."""

    def __init__(self, registry: Registry, rules: CheckpointRules, model: str | None = None) -> None:
        self.registry = registry
        self.rules = rules
        self.model = model
        # run key -> [(step, order, ref)]: the checkpoints of one run, to chain parents.
        self.runs: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        self._order = 0
        # path -> (ref, content key): checkpoints another watcher registered first, whose record this one leaves alone.
        self.elsewhere: dict[str, tuple[str, str]] = {}

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
        if job.sha256 is None and record["kind"] == "file" and (record.get("size") or 0) <= HASH_AT_ONCE:
            job.sha256 = _hash_if_unchanged(path, record)
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
        plan.key = checkpoint_key(path, root)
        if os.path.isdir(path):
            plan.framework = read_framework_files(path)
        return plan

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


def _hash_if_unchanged(path: str, record: dict[str, Any]) -> str | None:
    """sha256 of a small file read now, if it is still what ``record`` describes (else its next event hashes it)."""
    try:
        sha = artifact_files.content_hash(Path(path))
        after = artifact_files.fingerprint(Path(path))
    except ArtifactError:
        return None
    return sha if list(after) == [record.get("size"), record.get("mtime")] else None


def _step(path: str) -> int:
    step = step_of(path)
    return -1 if step is None else step


def root_of(path: str, roots: list[str]) -> str | None:
    """The watched root that holds ``path`` (the deepest one), or None."""
    for root in sorted(roots, key=len, reverse=True):
        if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
            return root
    return None
