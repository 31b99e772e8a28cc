"""Pinned artifacts: the registry's own copies of what a deploy or a rollback needs.

Training runs rotate checkpoints (HF Trainer's ``save_total_limit`` deletes old
ones), so a live version must never depend on the file it was registered from.
Deploying pins each artifact by content, then gathers a version's pins in a
release folder that the deploy link points at::

    pinned/objects/<sha256>              a hard link to the artifact (a copy across
                                         filesystems); a folder artifact is a tree
                                         of hard links
    pinned/releases/<model>/<version>/   one relative symlink per artifact, named
                                         like the original: model.pkl -> objects/<sha256>
    pinned/releases/<model>/<version>.json
                                         what was pinned, with each object's size and
                                         modification time, to tell later if it changed

Nothing here is ever deleted by modelreg, so every version that was once live
can be switched back to after its originals are gone. A hard link shares its
inode with the original: deleting the original is harmless, but rewriting it in
place changes the pin too, which the size and time check then reports.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store.artifacts import check_unchanged, content_hash, fingerprint
from store.backends.artifacts import ArtifactStore
from store.durable import atomic_write, fsync_dir
from store.errors import ArtifactError, DeployError

PINNED = "pinned"
# A hard link is impossible across filesystems, on some filesystems, or past the link limit.
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES}


@dataclass(frozen=True)
class Release:
    """A version's pinned artifacts, gathered in one folder."""

    model: str
    version: str
    path: Path
    entries: tuple[dict[str, Any], ...]  # name, sha256, kind, size, mtime (of the pinned object)

    @property
    def primary(self) -> Path:
        """The pinned artifact (the release folder when there are several or none)."""
        return self.path / self.entries[0]["name"] if len(self.entries) == 1 else self.path

    def problem(self, root: Path, *, verify: bool = False) -> str | None:
        """Why a pinned object no longer matches what was pinned, or None."""
        for entry in self.entries:
            obj = object_path(root, entry["sha256"])
            if not os.path.lexists(self.path / entry["name"]) or not obj.exists():
                return f"the pinned copy of {entry['name']} is gone"
            size, mtime = fingerprint(obj)
            if size != entry["size"] or abs(mtime - entry["mtime"]) > 1e-6:
                return f"the pinned copy of {entry['name']} changed since it was pinned"
            if verify and content_hash(obj) != entry["sha256"]:
                return f"the pinned copy of {entry['name']} changed (its sha256 differs)"
        return None


def pinned_root(registry: Path) -> Path:
    # Absolute: these paths go into the live table and the hook, which runs in another folder.
    return registry.absolute() / PINNED


def object_path(root: Path, sha256: str) -> Path:
    return root / "objects" / sha256


def release_dir(root: Path, model: str, version: str) -> Path:
    return root / "releases" / safe_part(model) / safe_part(version)


def safe_part(name: str) -> str:
    """A model, version or environment name as one path component (imports may bypass validation)."""
    if not name or "/" in name or "\0" in name or name.startswith("."):
        raise DeployError(f"'{name}' cannot be used as a folder name for deploys; rename it")
    return name


def entry_names(artifacts: list[dict[str, Any]]) -> list[str]:
    """Each artifact's name in the release: its own name, numbered if two share one."""
    names = [Path(a["path"]).name or "artifact" for a in artifacts]
    return [name if names.count(name) == 1 else f"{i + 1}-{name}" for i, name in enumerate(names)]


def load_release(root: Path, doc: dict[str, Any]) -> Release | None:
    """The version's release if one was pinned for its current artifacts."""
    model, version = doc["model"], doc["version"]
    folder = release_dir(root, model, version)
    try:
        entries = json.loads(folder.with_name(f"{version}.json").read_text())["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    artifacts = doc.get("artifacts", [])
    names = entry_names(artifacts)
    if [e["name"] for e in entries] != names:
        return None  # the version's artifacts were replaced since
    for entry, artifact in zip(entries, artifacts):
        if artifact.get("sha256") and artifact["sha256"] != entry["sha256"]:
            return None
    return Release(model, version, folder, tuple(entries))


def release_at(root: Path, model: str, version: str) -> Release | None:
    """The release pinned for ``model:version``, whatever the version's record says now."""
    folder = release_dir(root, model, version)
    try:
        entries = json.loads(folder.with_name(f"{version}.json").read_text())["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Release(model, version, folder, tuple(entries))


def pin_version(root: Path, doc: dict[str, Any], *, verify: bool = False, doing: str = "deploy",
                store: ArtifactStore | None = None) -> tuple[Release, list[str]]:
    """Pin a version's artifacts (reusing an intact earlier pin) and return its release.

    Also returns the sha256 of each artifact, computed here if registration skipped it.
    Refuses, with a one-line DeployError, artifacts that are missing or changed. ``store`` (the
    registry's artifact store) checks and fetches them; without it they are local files.
    """
    ref = f"{doc['model']}:{doc['version']}"
    artifacts = doc.get("artifacts", [])
    earlier = load_release(root, doc)
    damaged = earlier.problem(root, verify=verify) if earlier else None
    if earlier and not damaged:
        return earlier, [e["sha256"] for e in earlier.entries]
    for artifact in artifacts:
        if reason := (store.problem(artifact, verify=verify) if store else check_unchanged(artifact, verify=verify)):
            extra = f", and {damaged} (was the original rewritten in place?)" if damaged else ""
            raise DeployError(f"cannot {doing} {ref}: {reason}{extra}; re-register the model file, or deploy another version")
    entries, hashes = [], []
    for artifact, name in zip(artifacts, entry_names(artifacts)):
        try:
            source = store.materialize(artifact) if store else Path(artifact["path"])
        except ArtifactError as error:
            raise DeployError(f"cannot {doing} {ref}: {error}") from None
        sha = artifact.get("sha256") or content_hash(source)
        obj = _pin_object(root, source, sha, artifact)
        size, mtime = fingerprint(obj)
        entries.append({"name": name, "sha256": sha, "kind": artifact.get("kind", "file"), "size": size, "mtime": mtime})
        hashes.append(sha)
    return _write_release(root, doc["model"], doc["version"], entries), hashes


def pinned_release(root: Path, doc: dict[str, Any], store: ArtifactStore | None, *, doing: str = "deploy") -> Release:
    """``doc``'s pinned release, pinned again from its originals only if it is missing or damaged."""
    release = load_release(root, doc)
    if release is not None and release.problem(root) is None:
        return release
    try:
        release, _ = pin_version(root, doc, doing=doing, store=store)
    except OSError as error:
        raise DeployError(f"cannot pin {doc['model']}:{doc['version']} into {root}: {error.strerror or error}") from None
    return release


def _pin_object(root: Path, source: Path, sha: str, artifact: dict[str, Any]) -> Path:
    obj = object_path(root, sha)
    if obj.exists():
        size, mtime = fingerprint(obj)
        same_file = size == artifact.get("size") and abs(mtime - artifact.get("mtime", mtime)) <= 1e-6
        # Pinned by content: an object made from another file is reused once its hash is confirmed.
        if same_file or (size == artifact.get("size") and content_hash(obj) == sha):
            return obj
    obj.parent.mkdir(parents=True, exist_ok=True)
    temporary = obj.with_name(f".{sha}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        if source.is_dir():
            _link_tree(source, temporary)
        else:
            link_or_copy(source, temporary)
        if obj.is_dir() and not obj.is_symlink():
            # A damaged folder object: a folder cannot be renamed over a full one, so move it aside.
            aside = obj.with_name(f".{sha}.damaged-{uuid.uuid4().hex[:8]}")
            os.rename(obj, aside)
            shutil.rmtree(aside, ignore_errors=True)
        os.replace(temporary, obj)
    except OSError as error:
        _remove(temporary)
        raise ArtifactError(f"cannot pin {source} into {root}: {error.strerror or error}") from None
    fsync_dir(obj.parent)
    return obj


def link_or_copy(source: Path, target: Path) -> str:
    """Hard-link ``source`` to ``target``, else copy it (durably); returns "link" or "copy"."""
    try:
        os.link(source, target)
        return "link"
    except OSError as error:
        if error.errno not in _NO_LINK:
            raise
    shutil.copy2(source, target)  # keeps the modification time, which the change check compares
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return "copy"


def _link_tree(source: Path, target: Path) -> None:
    for folder, dirs, files in os.walk(source):
        relative = Path(folder).relative_to(source)
        (target / relative).mkdir(parents=True, exist_ok=True)
        for name in files:
            link_or_copy(Path(folder) / name, target / relative / name)
        dirs[:] = [d for d in dirs if not (Path(folder) / d).is_symlink()]
    # An empty folder's fingerprint is its own modification time.
    shutil.copystat(source, target)


def _write_release(root: Path, model: str, version: str, entries: list[dict[str, Any]]) -> Release:
    folder = release_dir(root, model, version)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {e["name"] for e in entries}
    for stale in os.listdir(folder):
        if stale not in wanted:
            _remove(folder / stale)
    for entry in entries:
        target = os.path.relpath(object_path(root, entry["sha256"]), folder)
        link = folder / entry["name"]
        if not (link.is_symlink() and os.readlink(link) == target):
            switch_link(link, target)
    fsync_dir(folder)
    manifest = folder.with_name(f"{version}.json")
    atomic_write(manifest, json.dumps({"model": model, "version": version, "entries": entries}, indent=1).encode())
    return Release(model, version, folder, tuple(entries))


def switch_link(link: Path, target: str) -> None:
    """Point the symlink ``link`` at ``target`` atomically: a reader sees the old or the new, never nothing."""
    temporary = link.with_name(f".{link.name}.swap-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.symlink(target, temporary)
    try:
        os.replace(temporary, link)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
