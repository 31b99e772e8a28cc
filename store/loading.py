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
    ``Path`` objects is returned. A missing artifact raises ``ArtifactError``.
    """
    version = registry.get(ref)
    if not version.artifacts:
        raise ArtifactError(f"{version.ref} has no artifacts to load")
    path = pickle_artifact(version.artifacts)
    if path is None:
        paths = [Path(a["path"]) for a in version.artifacts]
        for each in paths:
            _require_file(version.ref, each)
        return paths
    path, result = scan_version(registry, version.ref)
    if not result.safe and not trust:
        raise UnsafeArtifact(
            f"refusing to load {version.ref}: {result.reason}; pass trust=True / --trust if you trust this file"
        )
    return _unpickle(version.ref, path)


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
