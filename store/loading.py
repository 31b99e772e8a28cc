"""Loading a registered version for inference, with the pickle safety scan in front.

A scikit-learn/joblib/pickle artifact is scanned (``store.safety``) before it is
unpickled; the scan result is stored on the version, and a file that is not verdict
"safe" is refused unless the caller trusts it. Other artifacts are returned as paths.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.errors import ArtifactError, UnsafeArtifact
from store.safety import ScanResult, scan_file

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


def scan_version(registry: Registry, ref: str) -> tuple[Path, ScanResult]:
    """Scan the pickle artifact of ``ref`` and store the result on the version."""
    version = registry.get(ref)
    path = pickle_artifact(version.artifacts)
    if path is None:
        raise ArtifactError(f"{version.ref} has no single .pkl/.joblib/.pickle artifact to scan")
    _require_file(version.ref, path)
    result = scan_file(path)
    registry.update(version.ref, scan=result.to_dict())
    return path, result


def load(registry: Registry, ref: str, trust: bool = False) -> Any:
    """The object in ``ref``'s scikit-learn/joblib/pickle artifact, or its artifact paths.

    The pickle is scanned first and refused (``UnsafeArtifact``) unless the scan says
    "safe" or ``trust`` is True. For any other kind of artifact, the list of artifact
    ``Path`` objects is returned. When the originals are gone (checkpoint rotation) but
    the version was pinned by a deploy, the pinned copies are used. A missing artifact
    raises ``ArtifactError``.
    """
    version = registry.get(ref)
    if not version.artifacts:
        raise ArtifactError(f"{version.ref} has no artifacts to load")
    paths = _readable_paths(registry, version.model, version.version, version.artifacts)
    path = pickle_artifact(version.artifacts)
    if path is None:
        for each in paths:
            _require_file(version.ref, each)
        return paths
    path = paths[0]
    _require_file(version.ref, path)
    result = scan_file(path)
    registry.update(version.ref, scan=result.to_dict())
    if not result.safe and not trust:
        raise UnsafeArtifact(
            f"refusing to load {version.ref}: {result.reason}; pass trust=True / --trust if you trust this file"
        )
    return _unpickle(version.ref, path)


def _readable_paths(registry: Registry, model: str, version: str, artifacts: Any) -> list[Path]:
    """The artifact paths, or the deploy-pinned copies if any original is gone."""
    paths = [Path(a["path"]) for a in artifacts]
    if all(os.path.exists(p) for p in paths):
        return paths
    from store.pinning import entry_names, pinned_root, release_at

    release = release_at(pinned_root(registry.path), model, version)
    if release is None:
        return paths
    pinned = [release.path / name for name in entry_names(list(artifacts))]
    return pinned if all(p.exists() for p in pinned) else paths


def _require_file(ref: str, path: Path) -> None:
    if not path.exists():
        raise ArtifactError(f"{ref}: artifact {path} is missing from disk; archive the version or restore the file")


def _unpickle(ref: str, path: Path) -> Any:
    import joblib  # joblib.load also reads plain pickles; the scan models its reader

    try:
        return joblib.load(path)
    except Exception as error:  # a trusted but broken file is still a one-line user error
        message = " ".join(str(error).split())[:200] or type(error).__name__
        raise ArtifactError(f"cannot load {ref} from {path}: {message}") from None
