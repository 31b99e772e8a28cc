"""Downloaded artifacts, kept by sha256 in the user's cache so each is fetched once per machine.

Layout, under ``$MODELREG_CACHE``, else ``$XDG_CACHE_HOME/modelreg/artifacts``, else
``~/.cache/modelreg/artifacts``::

    objects/<sha256>/<name>     the artifact (a file, or a folder), named as registered so that
                                its suffix still says what it is (model.joblib, adapter/)
    tmp/<random>/<name>         a download in progress: checked, then renamed to objects/<sha256>

A download enters ``objects/`` only after its sha256 matched, by one rename, so a reader never sees a
half-written or unverified entry; the same bytes registered under two names share one ``<sha256>``
folder. An entry that is a symlink, holds one, or has the wrong size is removed and fetched again;
``verify`` re-hashes an entry before it is used.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from store.artifacts import content_hash
from store.errors import ArtifactError


def cache_root() -> Path:
    """Where downloads are kept (see the module docstring)."""
    if explicit := os.environ.get("MODELREG_CACHE"):
        return Path(explicit).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base).absolute() / "modelreg" / "artifacts"


class ArtifactCache:
    """Verified downloads by sha256 (see the module docstring)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or cache_root()

    def _folder(self, name: str) -> Path:
        folder = self.root / name
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as error:
            raise ArtifactError(f"cannot use the artifact cache {self.root}: {error.strerror or error}; "
                                "set MODELREG_CACHE to a writable folder") from None
        if folder.is_symlink() or not folder.is_dir():
            raise ArtifactError(f"the artifact cache folder {folder} is a symlink or not a folder; remove it "
                                "(modelreg keeps verified downloads only in a folder of its own)")
        return folder

    def lookup(self, sha256: str, name: str, kind: str, size: int | None, *, verify: bool = False) -> Path | None:
        """The cached artifact if it is intact, else None (anything damaged is removed first)."""
        entry = self._folder("objects") / sha256
        if not os.path.lexists(entry):
            return None
        if entry.is_symlink() or not entry.is_dir():
            _remove(entry)
            return None
        target = entry / name
        if not os.path.lexists(target):
            return None
        if not _intact(entry, target, kind, size) or (verify and content_hash(target) != sha256):
            _remove(target)
            return None
        return target

    def fill(self, sha256: str | None, name: str, write: Callable[[Path], str]) -> tuple[str, Path]:
        """Run ``write(path)`` (it writes the artifact and returns its sha256) in a fresh temporary
        folder; keep the result under its sha256 if it matches ``sha256`` (when given). Returns the
        sha256 and the cached path; a mismatch is refused and nothing is kept."""
        temporary = Path(tempfile.mkdtemp(dir=self._folder("tmp")))
        try:
            got = write(temporary / name)
            if sha256 is not None and got != sha256:
                raise ArtifactError(f"sha256 {got[:16]}… instead of the registered {sha256[:16]}…")
            entry = self._folder("objects") / got
            if os.path.lexists(entry) and (entry.is_symlink() or not entry.is_dir()):
                _remove(entry)
            if _rename(temporary, entry):
                return got, entry / name
            # The entry is there already (another process, or the same bytes under another name): add ours.
            target = entry / name
            kind = "dir" if (temporary / name).is_dir() else "file"
            if os.path.lexists(target) and not _intact(entry, target, kind, None):
                _remove(target)
            _rename(temporary / name, target)
            return got, target
        finally:
            _remove(temporary)


def _rename(source: Path, target: Path) -> bool:
    """Rename unless ``target`` exists (someone else's, with the same bytes): True if renamed."""
    try:
        os.rename(source, target)
        return True
    except OSError:
        if not os.path.lexists(target):
            raise
        return False


def _intact(entry: Path, target: Path, kind: str, size: int | None) -> bool:
    """A real folder holding the artifact: no symlink anywhere, and the recorded size."""
    if entry.is_symlink() or not entry.is_dir() or target.is_symlink():
        return False
    if kind == "dir":
        if not target.is_dir():
            return False
        total = 0
        for folder, dirs, files in os.walk(target):
            for name in dirs + files:
                path = os.path.join(folder, name)
                if os.path.islink(path):
                    return False
                if name in files:
                    total += os.lstat(path).st_size
        return size is None or total == size
    return target.is_file() and (size is None or target.stat().st_size == size)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        path.unlink(missing_ok=True)
