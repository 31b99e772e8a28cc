"""Deciding, inside the writer's transaction, what a finished checkpoint becomes: a new version, an
update of the one it already is, or nothing (its content and sidecar unchanged).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any

from store.errors import BadMetadata, DuplicateVersion, LineageError, ModelregError
from store.records import Version
from store.watch.checkpoint_info import checkpoint_metadata
from store.watch.checkpoints import model_name_for
from store.watch.events import WatchEvent
from store.watch.jobs import Outcome, Plan

PICKLE_EXTENSIONS = (".pkl", ".joblib", ".pickle")
#: A version with a content key and no artifact this long after it was made lost its watcher between the two writes.
ORPHANED_AFTER = 120.0


def pickles_in(path: str) -> list[str]:
    """The files of a checkpoint that need judging before they are trusted: itself, or those in its folder."""
    from store.safety.loader import scannable_files

    return scannable_files(path)


def _age(stamp: str) -> float:
    """Seconds since an ISO time stamp (0 if it cannot be read: never old enough to take over)."""
    try:
        then = datetime.fromisoformat(stamp)
    except ValueError:
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - then).total_seconds()


def _same_fp(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return len(a) == len(b) and all(x == y or (isinstance(x, float) and isinstance(y, float) and abs(x - y) < 1e-6) for x, y in zip(a, b))


class Deciding:
    """Intake's decisions, made inside the writer's transaction."""

    # -- deciding (inside the writer's transaction) -----------------------------------------------

    def apply(self, plan: Plan) -> Outcome:
        job, record = plan.job, plan.record
        if plan.key is not None and self.elsewhere.get(job.path, ("", ""))[1] == plan.key:
            return Outcome()  # another watcher's version holds it, said once already; that watcher looks after it
        found = self.known(job.path)
        if found is None:
            return self._elsewhere(plan)
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

    def _elsewhere(self, plan: Plan) -> Outcome:
        """A path this watcher holds no record of: new, or registered first by another watcher (another node
        on the share, whose record names the path it sees) and unchanged since, or changed since."""
        job, seen = plan.job, self.elsewhere.get(plan.job.path)
        if seen is None or plan.key is None:
            return self._new(plan, None)
        ref = seen[0]
        try:
            doc = self.registry.version_doc(ref)
        except ModelregError:
            return self._new(plan, None)
        old = next(iter(doc.get("artifacts", ())), {})
        if old.get("sha256") and plan.record["kind"] == "file" and old.get("kind") == "file":
            if job.sha256 is None:
                return Outcome(need_hash=[job])
            if job.sha256 == old["sha256"]:  # touched, or rewritten with the same bytes: still that version
                self.elsewhere[job.path] = (ref, plan.key)
                return Outcome()
        return self._new(plan, doc)

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
        known = set(doc.get("problems", ()))  # a sidecar rewritten badly is said, as at registration
        out.events.extend(WatchEvent("problem", version.ref, plan.job.path, p) for p in changes.get("problems", ()) if p not in known)
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
        claim = secrets.token_hex(8)  # tells the version this call made from one another watcher made first
        if plan.key is not None:
            kwargs.update(content_key=plan.key, claim=claim)
        version = self._register(model, kwargs, parent, problems, chained)
        if plan.key is not None and (doc := self.registry.version_doc(version.ref)).get("claim") != claim:
            return self._taken(plan, version, doc)
        return self._record(plan, version, "replaces the earlier content of" if previous else "from")

    def _record(self, plan: Plan, version: Version, what: str, note: str = "") -> Outcome:
        """Put the checkpoint's artifact record on the version this watcher registered, and say so."""
        job, out = plan.job, Outcome()
        record = dict(plan.record)
        if job.sha256 is not None and record["kind"] == "file":
            record["sha256"] = job.sha256
        version = self.registry.update(version.ref, artifacts=[record])
        self._remember(job.path, job.root or "", version.ref)
        line = f"{version.ref}  {what} {job.path}{note}"
        if version.parent:
            line += f"  (parent {version.parent})"
        out.events.append(WatchEvent("registered", version.ref, job.path, line))
        out.events.extend(WatchEvent("problem", version.ref, job.path, p) for p in version.problems)
        if record.get("sha256") is None:
            out.hash.append((version.ref, job.path, record))
        if job.scan is not None and job.scan.get("safe") and job.path.lower().endswith(PICKLE_EXTENSIONS):
            out.describe.append((version.ref, job.path))  # only pickles hold scikit-learn estimators
        return out

    def _taken(self, plan: Plan, version: Version, doc: dict[str, Any]) -> Outcome:
        """Another watcher registered this checkpoint first: its version, its artifact record (the path it sees),
        its hash and description stay as that watcher makes them; this one only says so, once."""
        path = plan.job.path
        if not doc.get("artifacts") and _age(doc.get("created_at", "")) > ORPHANED_AFTER:
            # Its watcher stopped between registering it and recording the file (killed, say): finish that.
            return self._record(plan, version, "from", "  (left without its file by a watcher that stopped)")
        self.elsewhere[path] = (version.ref, plan.key or "")
        self._remember(path, plan.job.root or "", version.ref)  # the run's next checkpoint still chains to it
        return Outcome(events=[WatchEvent("info", version.ref, path, f"{version.ref}  already registered from {path} (by another watcher)")])

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
