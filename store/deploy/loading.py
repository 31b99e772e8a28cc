"""Loading a registered version for inference, through the restricted loader.

A scikit-learn/joblib/pickle artifact is loaded by ``store.safety.loader``'s restricted
unpickler, which refuses any import or call off its allow-list while it loads; the file
is opened once and its sha256 (when recorded) is checked on the bytes that were loaded.
The verdict is stored on the version. ``trust=True`` loads the user's own files with
plain joblib. Other artifacts are returned as paths.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.backends.artifacts import is_remote
from store.errors import ArtifactError, ModelregError, UnsafeArtifact
from store.objects import object_artifact
from store.signatures import check_input, from_estimator
from store.safety.loader import ScanResult, load_file, scan_paths

if TYPE_CHECKING:
    from store.registry import Registry

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")


def is_pickle_file(path: str | os.PathLike[str]) -> bool:
    """Does this artifact unpickle when loaded (and so need a scan first)?"""
    return Path(path).suffix.lower() in PICKLE_SUFFIXES


def pickle_artifact(artifacts: Any) -> Path | None:
    """The single pickle/joblib file of a version, or None if it has anything else."""
    if len(artifacts) == 1 and artifacts[0].get("kind", "file") == "file" and is_pickle_file(artifacts[0]["path"]):
        return Path(artifacts[0]["path"])
    return None


def scan_version(registry: Registry, ref: str, *, store: bool = True) -> tuple[Path, ScanResult]:
    """Judge every artifact of ``ref`` (pickles, PyTorch checkpoints, safetensors, folders of
    them) and store the verdict on the version; on a registry that cannot be written the
    verdict is only returned."""
    version = registry.get(ref)
    if not version.artifacts:
        raise ArtifactError(f"{version.ref} has no artifacts to scan")
    paths = _readable_paths(registry, version.model, version.version, version.artifacts)
    for path in paths:
        _require_file(version.ref, path)
    result = scan_paths([str(p) for p in paths])
    if store:
        _record(registry, version.ref, result)
    return paths[0], result


def _record(registry: Registry, ref: str, result: ScanResult) -> None:
    if (registry.get(ref).scan or {}) == result.to_dict():
        return
    try:
        registry.update(ref, scan=result.to_dict())
    except (ModelregError, OSError):  # a registry we may only read: the verdict is still reported
        pass


def load(registry: Registry, ref: str, trust: bool = False, name: str | None = None, check: Any = None) -> Any:
    """The object in ``ref``'s scikit-learn/joblib/pickle artifact, or its artifact paths.

    ``name`` picks one of several objects saved in the version (``estimators={name: obj}``)
    or an artifact by file name; a version holding files and one saved object loads the object.

    The pickle is loaded by the restricted loader and refused (``UnsafeArtifact``, one line
    naming the import or call) unless everything it does is on the allow-list, or ``trust``
    is True. For any other kind of artifact, the list of artifact ``Path`` objects is
    returned. When the originals are gone (checkpoint rotation) but the version was pinned
    by a deploy, the pinned copies are used. A missing or changed artifact raises
    ``ArtifactError``.
    """
    version = registry.get(ref)
    if not version.artifacts:
        raise ArtifactError(f"{version.ref} has no artifacts to load")
    paths = _readable_paths(registry, version.model, version.version, version.artifacts)
    chosen = object_artifact(version, name)
    if check is not None:  # refused before anything is loaded; a named object by its own signature
        own = from_estimator(version.artifacts[chosen].get("estimator")) if chosen is not None else None
        check_input(own or version.signature, check, version.ref if chosen is None else f"{version.ref} {version.artifacts[chosen].get('name')}")
    if chosen is not None:
        return _load_one(registry, version.ref, paths[chosen], version.artifacts[chosen], trust, whole=False)
    if pickle_artifact(version.artifacts) is None:
        for each in paths:
            _require_file(version.ref, each)
        return paths
    return _load_one(registry, version.ref, paths[0], version.artifacts[0], trust, whole=True)


def _load_one(registry: Registry, ref: str, path: Path, record: Any, trust: bool, *, whole: bool) -> Any:
    """Load one pickle artifact; ``whole``: it is the version's only artifact, so a safe load
    is the version's verdict (one of several files is never taken for all of them)."""
    if not is_pickle_file(path):
        raise ArtifactError(f"{ref}: {path.name} is not a pickle or joblib file; load returns such artifacts as paths")
    _require_file(ref, path)
    imports: list[str] = []
    try:
        loaded = load_file(path, trust=trust, sha256=record.get("sha256"), imports=imports)
    except UnsafeArtifact as error:
        reason = str(error).removeprefix("refusing to load ").split("; pass --trust")[0]
        _record(registry, ref, ScanResult(False, "unsafe", reason))
        raise UnsafeArtifact(f"refusing to load {ref}: {reason}; pass trust=True / --trust if you trust this file") from None
    except ArtifactError as error:
        if not trust:  # not loadable by the restricted loader: never "safe"
            _record(registry, ref, ScanResult(False, "error", f"{path.name}: {error}", tuple(imports)))
        raise ArtifactError(f"{ref}: {error}") from None
    if not trust and whole:
        reason = f"{path.name}: loads with the restricted loader ({len(imports)} imports, all allowed)"
        _record(registry, ref, ScanResult(True, "safe", reason, tuple(imports)))
    return loaded


def _readable_paths(registry: Registry, model: str, version: str, artifacts: Any) -> list[Path]:
    """The artifact paths, else the deploy-pinned copies if any original is gone, else copies fetched
    by the registry's artifact store (a URL's bytes downloaded and checked by sha256)."""
    if not any(is_remote(a) for a in artifacts):
        paths = [Path(a["path"]) for a in artifacts]
        if all(os.path.exists(p) for p in paths):
            return paths
    from store.deploy.pinning import entry_names, pinned_root, release_at

    release = release_at(pinned_root(registry.path), model, version)
    if release is not None:
        pinned = [release.path / name for name in entry_names(list(artifacts))]
        if all(p.exists() for p in pinned):
            return pinned
    return [registry.artifacts.materialize(a) for a in artifacts]


def _require_file(ref: str, path: Path) -> None:
    if not path.exists():
        raise ArtifactError(f"{ref}: artifact {path} is missing from disk; archive the version or restore the file")
