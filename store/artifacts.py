"""What the registry records about an artifact on disk: size, content hash, framework."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from store.errors import ArtifactError

_FRAMEWORKS = {
    ".pkl": "sklearn",
    ".joblib": "sklearn",
    ".pt": "pytorch",
    ".pth": "pytorch",
    ".ckpt": "pytorch",
    ".bin": "pytorch",
    ".safetensors": "safetensors",
    ".h5": "keras",
    ".keras": "keras",
    ".onnx": "onnx",
    ".gguf": "gguf",
    ".npz": "numpy",
    ".msgpack": "flax",
}
_FOLDER_MARKERS = {
    "config.json": "transformers",
    "trainer_state.json": "transformers",
    "adapter_config.json": "peft",
    "saved_model.pb": "tensorflow",
}
CHUNK = 1 << 20
_ROLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def guess_framework(path: Path) -> str | None:
    """The framework a file or checkpoint folder most likely belongs to."""
    if path.is_dir():
        names = {entry.name for entry in os.scandir(path)}
        for marker, framework in _FOLDER_MARKERS.items():
            if marker in names:
                return framework
        for name in sorted(names):
            if framework := _FRAMEWORKS.get(Path(name).suffix.lower()):
                return framework
        return None
    return _FRAMEWORKS.get(path.suffix.lower())


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def fingerprint(path: Path) -> tuple[int, float]:
    """(size in bytes, newest modification time): the quick "has it changed" check."""
    try:
        if path.is_dir():
            stats = [p.stat() for p in _files(path)]
            return sum(s.st_size for s in stats), max((s.st_mtime for s in stats), default=path.stat().st_mtime)
        stat = path.stat()
    except OSError as error:
        raise ArtifactError(f"cannot read artifact {path}: {error.strerror}") from None
    return stat.st_size, stat.st_mtime


def content_hash(path: Path) -> str:
    """sha256 of a file, or of a folder's relative paths and file contents."""
    try:
        if not path.is_dir():
            return _hash_file(path).hexdigest()
        digest = hashlib.sha256()
        for file in _files(path):
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            digest.update(_hash_file(file).digest())
        return digest.hexdigest()
    except OSError as error:
        raise ArtifactError(f"cannot read artifact {path}: {error.strerror}") from None


def _hash_file(path: Path) -> Any:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256") if hasattr(hashlib, "file_digest") else _digest(handle)


def _digest(handle: Any) -> Any:  # Python 3.10 has no hashlib.file_digest
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    return digest


def describe(path: str | os.PathLike[str], *, with_hash: bool = True) -> dict[str, Any]:
    """The artifact record stored on a version; ``sha256`` is None until hashed."""
    resolved = Path(path).expanduser().absolute()
    if not resolved.exists():
        raise ArtifactError(f"artifact {path} does not exist; check the path")
    size, mtime = fingerprint(resolved)
    return {
        "path": str(resolved),
        "kind": "dir" if resolved.is_dir() else "file",
        "size": size,
        "sha256": content_hash(resolved) if with_hash else None,
        "framework": guess_framework(resolved),
        "mtime": mtime,
    }


def describe_entry(entry: Any, *, with_hash: bool = True) -> dict[str, Any]:
    """``describe`` for a path, or for a ``(ROLE, PATH)`` pair: the record then says its role
    (``lora``, ``gguf``, ``config``, ``weights``...), which ``find role:gguf`` searches."""
    if isinstance(entry, tuple) and len(entry) == 2:
        role, path = entry
        return {**describe(path, with_hash=with_hash), "role": check_role(role)}
    return describe(entry, with_hash=with_hash)


def check_role(role: Any) -> str:
    """An artifact's role as given, or a one-line ArtifactError."""
    if not isinstance(role, str) or not _ROLE.match(role):
        raise ArtifactError(f"bad artifact role {role!r}: use letters, digits, '.', '_' or '-', e.g. gguf or lora")
    return role


def check_unchanged(artifact: dict[str, Any], *, verify: bool = False) -> str | None:
    """Why an artifact no longer matches its record, or None if it still does."""
    path = Path(artifact["path"])
    if not path.exists():
        return f"artifact {path} is missing"
    size, mtime = fingerprint(path)
    if size != artifact.get("size") or abs(mtime - artifact.get("mtime", mtime)) > 1e-6:
        return f"artifact {path} changed since it was registered (size or modification time differ)"
    if verify and artifact.get("sha256") and content_hash(path) != artifact["sha256"]:
        return f"artifact {path} changed since it was registered (its sha256 differs)"
    return None
