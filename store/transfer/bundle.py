"""Portable bundles: one tar archive with models, versions, deploy history and artifacts.

A bundle (format 1) is a plain tar archive, gzip-compressed when its name ends in
``.gz`` or ``.tgz`` (model weights rarely compress, so plain tar is the default):

    manifest.json   {"format": "modelreg-bundle", "format_version": 1, "created_at", "created_by",
                     "models": [...], "versions": ["m:v", ...], "history": n,
                     "artifacts": {archive path: {"sha256", "kind", "size"}},
                     "live": {model: {env: version}}}       # what was live, for the record only
    models.json     the models' documents
    versions.json   the versions' documents, parents before children; each artifact record
                    gains "bundle_path", or "bundled": false when it was missing at export
    history.json    the deploy history entries of the exported models, oldest first
    artifacts/<sha256>/<name>   each artifact, a file or a folder tree, named by its content

Importing is all-or-nothing: every check (format, entry names, conflicts, parents)
runs before anything is written; artifacts are extracted into a temporary folder
inside the registry, verified against their sha256, moved into
``<registry>/artifacts/imported/<sha256>/<name>``, and only then are the documents
written, in one transaction.

Here: reading a bundle and importing it. Exporting is in ``bundle_export``, writing the plan in
``bundle_plan``, and the names and result types in ``bundle_format``; all are importable from here.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import tarfile
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from store import artifacts as artifact_files
from store.errors import BundleError, ModelregError
from store.lifecycle import check_status
from store.references import split_ref
from store.registry import Registry
from store.stamps import now, whoami
from store.transfer.bundle_export import export_bundle  # noqa: F401 - the public names live here too
from store.transfer.bundle_format import (  # noqa: F401 - ExportResult: importable from here as before
    _BUNDLE_PATH, DOCUMENTS, FORMAT, FORMAT_VERSION, HISTORY_KEYS, IMPORTED_DIR, ExportResult, ImportPlan, ImportResult,
    _ref, _refs,
)
from store.transfer.bundle_plan import check_plan, insert_plan
from store.values import check_name
from store.versions import validate as validate_version

# -- import: bundles ------------------------------------------------------------------------------


def import_bundle(registry: Registry, path: str | os.PathLike[str], *, skip_existing: bool = False) -> ImportResult:
    """Bring a bundle written by :func:`export_bundle` into ``registry``, all or nothing."""
    path = Path(path).expanduser()
    tar = _open_bundle(path)
    try:
        members = _checked_members(tar, path)
        manifest = _read_json(tar, members, "manifest.json", path)
        _check_manifest(manifest, path)
        plan = _bundle_plan(path, manifest, *(_read_json(tar, members, n, path) for n in DOCUMENTS[1:]))
        ordered = check_plan(registry, plan, skip_existing=skip_existing)
        wanted = {r["bundle_path"] for d in ordered for r in d.get("artifacts", ()) if "bundle_path" in r}
        with _incoming_dir(registry) as incoming:
            placed = _extract(tar, members, manifest["artifacts"], wanted, incoming, registry, path)
    finally:
        tar.close()
    try:
        _point_artifacts(plan, placed)
        return insert_plan(registry, plan, skip_existing=skip_existing, artifacts=len(wanted))
    except BaseException:
        for final, created in placed.values():
            if created:
                _remove(final)
        raise


_UNREADABLE = (tarfile.TarError, EOFError, zlib.error, OSError)


def _damaged(path: Path, error: BaseException) -> BundleError:
    # tarfile lists every compression it tried, one per line: say it in one.
    reason = "not a tar archive" if "method tar" in str(error) else " ".join(str(error).split()) or type(error).__name__
    return BundleError(f"{path} is not a readable modelreg bundle (corrupt or truncated: {reason}); nothing was imported")


def _open_bundle(path: Path) -> tarfile.TarFile:
    if not path.is_file():
        raise BundleError(f"no bundle at {path}; give the path of a file written by 'modelreg export'")
    try:
        return tarfile.open(path, "r:*")
    except OSError as error:
        if error.errno is None:  # gzip's "not a gzip file" and friends carry no errno
            raise _damaged(path, error) from None
        raise BundleError(f"cannot read {path}: {error.strerror}; nothing was imported") from None
    except _UNREADABLE as error:
        raise _damaged(path, error) from None


def _checked_members(tar: tarfile.TarFile, path: Path) -> dict[str, tarfile.TarInfo]:
    """Every entry, refused as a whole if any could write outside its folder or is not a plain file or folder."""
    members: dict[str, tarfile.TarInfo] = {}
    try:
        entries = tar.getmembers()  # reads the whole archive: a truncated one fails here
    except _UNREADABLE as error:
        raise _damaged(path, error) from None
    for member in entries:
        name = member.name
        parts = PurePosixPath(name).parts
        if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts or "\\" in name:
            raise BundleError(f"{path} is unsafe: entry '{name}' points outside the bundle; nothing was imported")
        if not (member.isfile() or member.isdir()):
            kind = "link" if member.issym() or member.islnk() else "special file"
            raise BundleError(f"{path} is unsafe: entry '{name}' is a {kind}; bundles hold only files and folders; nothing was imported")
        clean = PurePosixPath(*parts).as_posix() if parts else ""
        if clean not in DOCUMENTS and not (clean.startswith("artifacts/") and _BUNDLE_PATH.match(clean)):
            raise BundleError(f"{path} has an unexpected entry '{name}'; it was not written by 'modelreg export'")
        if clean in members:
            raise BundleError(f"{path} holds '{name}' twice; it was not written by 'modelreg export'")
        members[clean] = member
    return members


def _read_json(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str, path: Path) -> Any:
    member = members.get(name)
    if member is None or not member.isfile():
        raise BundleError(f"{path} has no {name}; it is not a modelreg bundle (or it is truncated)")
    try:
        handle = tar.extractfile(member)
        return json.loads(handle.read()) if handle else None
    except _UNREADABLE as error:
        raise _damaged(path, error) from None
    except ValueError:
        raise BundleError(f"{path}: {name} is not valid JSON; the bundle is damaged") from None


def _check_manifest(manifest: Any, path: Path) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{path} is not a modelreg bundle (its manifest does not say {FORMAT})")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BundleError(f"{path} uses bundle format {version}; this modelreg reads up to {FORMAT_VERSION}, upgrade it")
    if not isinstance(manifest.get("artifacts"), dict):
        raise BundleError(f"{path}: the manifest lists no artifacts table; the bundle is damaged")
    for name, info in manifest["artifacts"].items():
        match = _BUNDLE_PATH.fullmatch(name)
        if not match or not isinstance(info, dict) or info.get("sha256") != match.group(1) or match.group(2) in (".", ".."):
            raise BundleError(f"{path}: the manifest's artifact entry '{name}' is malformed; the bundle is damaged")


def _bundle_plan(path: Path, manifest: dict[str, Any], models: Any, versions: Any, history: Any) -> ImportPlan:
    if not all(isinstance(x, list) and all(isinstance(d, dict) for d in x) for x in (models, versions, history)):
        raise BundleError(f"{path}: models, versions and history must be lists of objects; the bundle is damaged")
    live = manifest.get("live") or {}
    stamp = {"from": path.name, "at": now(), "by": whoami()}
    docs = [_bundle_version(doc, manifest, live, stamp, path) for doc in versions]
    for model in models:
        try:
            check_name("model", model.get("name"))
        except ModelregError as error:
            raise BundleError(f"{path}: a model document is invalid ({error}); the bundle is damaged") from None
    names = {d["model"] for d in docs}
    for entry in history:
        if not HISTORY_KEYS <= set(entry) or not all(isinstance(entry[k], str) for k in ("model", "env", "action")):
            raise BundleError(f"{path}: a history entry lacks {', '.join(sorted(HISTORY_KEYS - set(entry))) or 'text fields'}; the bundle is damaged")
    entries = [{**h, "imported": True, "imported_from": path.name, "original_seq": h.get("seq")} for h in history if h.get("model") in names]
    return ImportPlan(source=path.name, format="bundle", models=models, versions=docs, history=entries)


def _bundle_version(doc: dict[str, Any], manifest: dict[str, Any], live: dict[str, Any], stamp: dict[str, Any], path: Path) -> dict[str, Any]:
    try:
        check_name("model", doc.get("model"))
        if validate_version(doc.get("version")) != doc["version"]:
            raise BundleError(f"bad version {doc['version']!r}")
        check_status(doc.get("status"))
        if doc.get("parent") is not None:
            split_ref(doc["parent"])
    except ModelregError as error:
        raise BundleError(f"{path}: a version document is invalid ({error}); the bundle is damaged") from None
    doc = copy.deepcopy(doc)
    for record in doc.get("artifacts", ()):
        if not isinstance(record, dict) or not isinstance(record.get("path"), str):
            raise BundleError(f"{path}: an artifact record of {_ref(doc)} is malformed; the bundle is damaged")
        bundle_path = record.get("bundle_path")
        if bundle_path is not None and bundle_path not in manifest["artifacts"]:
            raise BundleError(f"{path}: {_ref(doc)} names artifact '{bundle_path}' that the manifest does not list")
    # The target must judge pickle safety itself: a bundle's "safe" verdict is not trusted.
    if isinstance(doc.get("scan"), dict) and doc["scan"].get("safe"):
        del doc["scan"]
    marker = dict(stamp)
    if envs := sorted(env for env, version in (live.get(doc["model"]) or {}).items() if version == doc["version"]):
        marker["was_live_in"] = envs
    doc["imported"] = marker
    return doc


@contextmanager
def _incoming_dir(registry: Registry) -> Iterator[Path]:
    root = registry.path.joinpath(*IMPORTED_DIR)
    root.mkdir(parents=True, exist_ok=True)
    incoming = root / f".incoming-{uuid.uuid4().hex[:12]}"
    incoming.mkdir()
    try:
        yield incoming
    finally:
        shutil.rmtree(incoming, ignore_errors=True)


def _extract(
    tar: tarfile.TarFile,
    members: dict[str, tarfile.TarInfo],
    listed: dict[str, dict[str, Any]],
    wanted: set[str],
    incoming: Path,
    registry: Registry,
    path: Path,
) -> dict[str, tuple[Path, bool]]:
    """Extract, verify and move the wanted artifacts: {archive path: (final path, created by us)}."""
    chosen = [m for name, m in members.items() if any(name == w or name.startswith(w + "/") for w in wanted)]
    missing = sorted(w for w in wanted if w not in members)
    if missing:
        raise BundleError(f"{path} lacks the artifact entries {_refs(missing)}; the bundle is truncated or damaged")
    try:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(incoming, members=chosen, filter="data")
        else:  # names and types were already checked one by one above
            tar.extractall(incoming, members=chosen)
    except _UNREADABLE as error:
        raise BundleError(f"{path}: could not extract its artifacts ({error}); the bundle is corrupt or truncated; nothing was imported") from None
    for name in sorted(wanted):
        expected = listed[name]["sha256"]
        if artifact_files.content_hash(incoming / name) != expected:
            raise BundleError(f"{path}: artifact '{name}' does not match its sha256; the bundle is damaged; nothing was imported")
    placed: dict[str, tuple[Path, bool]] = {}
    try:
        for name in sorted(wanted):
            final = registry.path.absolute().joinpath(*IMPORTED_DIR, *PurePosixPath(name).parts[1:])
            if final.exists() or final.is_symlink():
                if artifact_files.content_hash(final) != listed[name]["sha256"]:
                    raise BundleError(f"{final} already exists with other content; move it aside and import again")
                placed[name] = (final, False)  # the same content from an earlier import: share it
                continue
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(incoming / name, final)
            placed[name] = (final, True)
    except BaseException:
        for final, created in placed.values():
            if created:
                _remove(final)
        raise
    return placed


def _point_artifacts(plan: ImportPlan, placed: dict[str, tuple[Path, bool]]) -> None:
    """Point the version documents at the extracted artifacts."""
    for doc in plan.versions:
        for record in doc.get("artifacts", ()):
            name = record.pop("bundle_path", None)
            if name is None or name not in placed:
                continue
            final = placed[name][0]
            size, mtime = artifact_files.fingerprint(final)
            sha = PurePosixPath(name).parts[1]
            record.update(imported_from=record["path"], path=str(final), sha256=sha, size=size, mtime=mtime)
        if any(r.get("bundled") is False for r in doc.get("artifacts", ())):
            doc["missing"] = True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()  # the <sha256> folder, if now empty
    except OSError:
        pass
