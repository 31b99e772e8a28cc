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
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from store import artifacts as artifact_files
from store.errors import BundleError, ModelregError
from store.lifecycle import check_status
from store.references import split_ref
from store.registry import Registry
from store.stamps import now, whoami
from store.values import check_name
from store.versions import validate as validate_version

FORMAT = "modelreg-bundle"
FORMAT_VERSION = 1
DOCUMENTS = ("manifest.json", "models.json", "versions.json", "history.json")
IMPORTED_DIR = ("artifacts", "imported")
_BUNDLE_PATH = re.compile(r"artifacts/([0-9a-f]{64})/([^/]+)")
_SHOWN = 5
HISTORY_KEYS = frozenset({"model", "env", "action", "from", "to", "at", "ok"})


@dataclass
class ExportResult:
    """What ``export_bundle`` wrote."""

    path: Path
    models: list[str]
    versions: list[str]
    history: int
    artifacts: int
    bytes: int
    missing: list[str] = field(default_factory=list)  # versions exported without their artifacts

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path)}


@dataclass
class ImportPlan:
    """Documents ready to insert: what every importer (bundle or foreign format) produces."""

    source: str
    format: str
    models: list[dict[str, Any]]  # model documents, used only for models the target lacks
    versions: list[dict[str, Any]]  # complete version documents
    history: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    """What an import added to the registry (and what it left out)."""

    source: str
    format: str
    models: list[str]
    versions: list[str]
    skipped: list[str]
    history: int
    artifacts: int
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _refs(refs: Iterable[str]) -> str:
    refs = list(refs)
    shown = ", ".join(refs[:_SHOWN])
    return shown + (f" and {len(refs) - _SHOWN} more" if len(refs) > _SHOWN else "")


def _ref(doc: dict[str, Any]) -> str:
    return f"{doc['model']}:{doc['version']}"


# -- export -------------------------------------------------------------------------------------


def export_bundle(
    registry: Registry,
    out: str | os.PathLike[str],
    refs: Sequence[str] = (),
    *,
    everything: bool = False,
    with_parents: bool = False,
    allow_missing: bool = False,
) -> ExportResult:
    """Write the versions ``refs`` name (``MODEL:VERSION`` or a whole ``MODEL``), or every
    version with ``everything=True``, to the bundle ``out``.

    A version whose artifact is missing is refused unless ``allow_missing``, which
    exports its metadata only and marks it missing. An artifact whose content no
    longer matches its recorded sha256 is always refused.
    """
    out = Path(out).expanduser()
    if out.exists():
        raise BundleError(f"{out} already exists; pick another name or remove it first")
    if not everything and not refs:
        raise BundleError("name what to export: a MODEL, a MODEL:VERSION, or --all")
    models, versions, history, live = _collect(registry, refs, everything, with_parents)
    artifacts, missing = _plan_artifacts(versions, allow_missing)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": now(),
        "created_by": whoami(),
        "models": [m["name"] for m in models],
        "versions": [_ref(v) for v in versions],
        "history": len(history),
        "artifacts": {path: {k: a[k] for k in ("sha256", "kind", "size")} for path, a in artifacts.items()},
        "live": live,
    }
    temporary = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    mode = "w:gz" if out.name.endswith((".gz", ".tgz")) else "w"
    try:
        with tarfile.open(temporary, mode, format=tarfile.PAX_FORMAT) as tar:
            for name, data in (("manifest.json", manifest), ("models.json", models), ("versions.json", versions), ("history.json", history)):
                _add_json(tar, name, data)
            for path, artifact in artifacts.items():
                _add_artifact(tar, path, artifact)
        os.replace(temporary, out)
    except OSError as error:
        raise BundleError(f"could not write {out}: {error.strerror or error}; nothing was exported") from None
    finally:
        temporary.unlink(missing_ok=True)
    return ExportResult(
        path=out,
        models=manifest["models"],
        versions=manifest["versions"],
        history=len(history),
        artifacts=len(artifacts),
        bytes=out.stat().st_size,
        missing=missing,
    )


def _collect(
    registry: Registry, refs: Sequence[str], everything: bool, with_parents: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], dict[str, dict[str, str]]]:
    """Copies of the documents to export, read in one consistent look at the registry."""
    with registry.reading():
        by_ref = {_ref(doc): doc for doc in registry.all_version_docs()}
        if everything:
            chosen = set(by_ref)
        else:
            chosen = set()
            for item in refs:
                model, version = split_ref(item)
                if version is None:
                    chosen.update(f"{model}:{v.version}" for v in registry.versions(model))
                else:
                    chosen.add(registry.resolve(item))
        if with_parents:
            for ref in list(chosen):
                parent = by_ref[ref].get("parent")
                while parent in by_ref and parent not in chosen:
                    chosen.add(parent)
                    parent = by_ref[parent].get("parent")
        versions = _parents_first([copy.deepcopy(by_ref[r]) for r in chosen])
        names = {v["model"] for v in versions}
        models = sorted((copy.deepcopy(d) for d in registry.model_docs() if d["name"] in names), key=lambda d: d["name"])
        history = sorted(
            (copy.deepcopy(d) for d in registry.history_entries() if d.get("model") in names),
            key=lambda d: (d.get("seq", 0), d.get("at", "")),
        )
        live: dict[str, dict[str, str]] = {}
        for doc in registry.live_entries():
            if doc["model"] in names:
                live.setdefault(doc["model"], {})[doc["env"]] = doc["version"]
    return models, versions, history, live


def _parents_first(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Versions ordered so that every parent in the list comes before its children."""
    from store.versions import sort_key

    docs.sort(key=lambda d: (d["model"], sort_key(d["version"])))
    by_ref = {_ref(d): d for d in docs}
    ordered, placed = [], set()
    for doc in docs:
        chain = []
        ref: str | None = _ref(doc)
        while ref in by_ref and ref not in placed and ref not in chain:
            chain.append(ref)
            ref = by_ref[ref].get("parent")
        for ref in reversed(chain):
            placed.add(ref)
            ordered.append(by_ref[ref])
    return ordered


def _plan_artifacts(versions: list[dict[str, Any]], allow_missing: bool) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Hash every artifact and give it an archive path; mark the missing ones."""
    planned: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for doc in versions:
        for record in doc.get("artifacts", ()):
            source = Path(record["path"])
            if not source.exists():
                if not allow_missing:
                    raise BundleError(
                        f"cannot export {_ref(doc)}: its artifact {source} is missing; "
                        "pass --allow-missing to export its metadata only"
                    )
                record["bundled"] = False
                doc["missing"] = True
                if _ref(doc) not in missing:
                    missing.append(_ref(doc))
                continue
            sha = artifact_files.content_hash(source)
            if record.get("sha256") and record["sha256"] != sha:
                raise BundleError(
                    f"cannot export {_ref(doc)}: its artifact {source} changed since it was registered "
                    "(sha256 differs); register the current file as a new version"
                )
            name = source.name if source.name not in ("", ".", "..") else "artifact"
            path = f"artifacts/{sha}/{name}"
            size, _ = artifact_files.fingerprint(source)
            planned[path] = {"source": source, "sha256": sha, "kind": "dir" if source.is_dir() else "file", "size": size}
            record["bundle_path"] = path
    return planned, missing


def _add_json(tar: tarfile.TarFile, name: str, data: Any) -> None:
    payload = json.dumps(data, indent=1, sort_keys=True).encode()
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(payload), int(time.time()), 0o644
    tar.addfile(info, io.BytesIO(payload))


class _HashingReader:
    """A file wrapper that hashes what tarfile reads, so the bytes archived are the bytes hashed."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle, self.digest = handle, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        return data


def _add_file(tar: tarfile.TarFile, name: str, source: Path) -> bytes:
    stat = source.stat()
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = stat.st_size, stat.st_mtime, 0o644
    with open(source, "rb") as handle:
        reader = _HashingReader(handle)
        tar.addfile(info, reader)  # type: ignore[arg-type]
    return reader.digest.digest()


def _add_dir_entry(tar: tarfile.TarFile, name: str, source: Path) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, source.stat().st_mtime
    tar.addfile(info)


def _add_artifact(tar: tarfile.TarFile, path: str, artifact: dict[str, Any]) -> None:
    source: Path = artifact["source"]
    if artifact["kind"] == "file":
        digest = _add_file(tar, path, source).hex()
    else:
        # The same walk and digest as artifacts.content_hash, over the bytes actually archived.
        _add_dir_entry(tar, path, source)
        folders = {path}
        tree = hashlib.sha256()
        for file in sorted(p for p in source.rglob("*") if p.is_file()):
            relative = file.relative_to(source).as_posix()
            for parent in reversed(PurePosixPath(relative).parents[:-1]):
                if f"{path}/{parent}" not in folders:
                    folders.add(f"{path}/{parent}")
                    _add_dir_entry(tar, f"{path}/{parent}", source / parent)
            tree.update(relative.encode() + b"\0")
            tree.update(_add_file(tar, f"{path}/{relative}", file))
        digest = tree.hexdigest()
    if digest != artifact["sha256"]:
        raise BundleError(f"artifact {source} changed while it was being exported; try again when it is not being written")


# -- import: checks and inserts shared by every format ------------------------------------------


def _order(registry: Registry, plan: ImportPlan, skip_existing: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """The versions to insert, parents first, and those skipped as already present.

    Refuses (nothing written) on conflicts, duplicates, missing parents and cycles.
    Call with the registry's lock held and caught up.
    """
    existing: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in registry.all_version_docs():
        existing.setdefault(doc["model"], {})[doc["version"]] = doc
    present = [_ref(d) for d in plan.versions if d["version"] in existing.get(d["model"], {})]
    if present and not skip_existing:
        raise BundleError(
            f"{_refs(present)} already exist in the registry; versions are never overwritten "
            "(remove them first, or pass --skip-existing to import only the others)"
        )
    incoming: dict[str, dict[str, Any]] = {}
    for doc in plan.versions:
        ref = _ref(doc)
        if ref in incoming:
            raise BundleError(f"{ref} appears twice in {plan.source}; fix the file so each version appears once")
        if ref not in present:
            incoming[ref] = doc

    def in_target(ref: str) -> bool:
        model, _, version = ref.partition(":")
        return version in existing.get(model, {})

    for ref, doc in incoming.items():
        parent = doc.get("parent")
        if parent and parent not in incoming and not in_target(parent):
            raise BundleError(
                f"parent {parent} of {ref} is neither in {plan.source} nor in this registry; "
                f"import or register {parent} first, or export again with --with-parents"
            )
    ordered = _parents_first(list(incoming.values()))
    for doc in ordered:
        _check_no_cycle(existing, doc, incoming)
    return ordered, present


def _check_no_cycle(existing: dict[str, dict[str, dict[str, Any]]], doc: dict[str, Any], incoming: dict[str, dict[str, Any]]) -> None:
    ref, seen = doc.get("parent"), {_ref(doc)}
    while ref:
        if ref in seen:
            raise BundleError(f"the parents of {_ref(doc)} form a cycle through {ref}; fix the lineage in the source")
        seen.add(ref)
        if ref in incoming:
            ref = incoming[ref].get("parent")
        else:
            model, _, version = ref.partition(":")
            found = existing.get(model, {}).get(version)
            ref = found.get("parent") if found else None


def check_plan(registry: Registry, plan: ImportPlan, *, skip_existing: bool = False) -> list[dict[str, Any]]:
    """The versions an import would add (parents first); raises if it would be refused."""
    with registry.reading():
        return _order(registry, plan, skip_existing)[0]


def insert_plan(registry: Registry, plan: ImportPlan, *, skip_existing: bool = False, artifacts: int = 0) -> ImportResult:
    """Insert a plan's documents in one transaction, re-checking it under the write lock.

    Documents are written as they are (created_at, registered_by and status kept),
    which is why this goes through ``Registry.add_documents`` and not ``Registry.register``.
    """
    with registry.transaction():
        ordered, skipped = _order(registry, plan, skip_existing)
        names = list(dict.fromkeys(d["model"] for d in ordered))
        model_docs = {m["name"]: m for m in plan.models}
        known = set(registry.model_names())
        new_models = [model_docs.get(name) or {"name": name, "created_at": now()} for name in names if name not in known]
        registry.add_documents(new_models, ordered)
        history = _new_history(registry, plan.history)
        for entry in history:
            # The backend numbers it (seq), after the target's own entries.
            registry.append_history(entry)
    return ImportResult(
        source=plan.source,
        format=plan.format,
        models=names,
        versions=[_ref(d) for d in ordered],
        skipped=skipped,
        history=len(history),
        artifacts=artifacts,
        warnings=list(plan.warnings),
    )


def _new_history(registry: Registry, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The imported history entries not already in the target (an earlier import of the same history)."""

    def key(d: dict[str, Any]) -> tuple[Any, ...]:
        return (d.get("model"), d.get("env"), d.get("action"), d.get("from"), d.get("to"), d.get("at"))

    known = {key(d) for d in registry.history_entries()}
    return [entry for entry in entries if key(entry) not in known]


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
