"""Exporting a bundle: the chosen versions with their parents, documents and history, and each artifact
streamed into the tar archive once, named by its sha256.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import IO, Any

from store import artifacts as artifact_files
from store.errors import BundleError
from store.references import split_ref
from store.registry import Registry
from store.stamps import now, whoami
from store.transfer.bundle_format import ExportResult, FORMAT, FORMAT_VERSION, _ref

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
