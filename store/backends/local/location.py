"""Where the registry lives: the rules ``modelreg`` and ``Registry()`` follow to find it."""

from __future__ import annotations

import os
from pathlib import Path

from store.errors import RegistryNotFound

DOT_DIR = ".modelreg"
SNAPSHOT, JOURNAL = "registry.json", "journal.jsonl"  # as in store.backends.local.journal, which imports far more


def find_registry(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path:
    """The registry directory, first match wins.

    1. ``explicit`` (``--registry PATH`` or ``Registry(path)``);
    2. the ``MODELREG_HOME`` environment variable;
    3. the nearest ``.modelreg/`` in the current directory or a parent, as git finds ``.git``;
    4. ``$XDG_DATA_HOME/modelreg``, by default ``~/.local/share/modelreg``.
    """
    if explicit is not None:
        return Path(explicit).expanduser()
    home = os.environ.get("MODELREG_HOME")
    if home:
        return Path(home).expanduser()
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / DOT_DIR
        if candidate.is_dir():
            return candidate
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "modelreg"


def remote_url(explicit: str | os.PathLike[str] | None = None) -> str | None:
    """The MLflow server named outright (``--registry http://HOST:PORT`` or ``MODELREG_HOME``), else None."""
    value = os.fspath(explicit) if explicit is not None else os.environ.get("MODELREG_HOME")
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return value
    return None


def init_registry(directory: str | os.PathLike[str] | None = None) -> Path:
    """The path of a new ``.modelreg/`` inside ``directory`` (default: the current one)."""
    return Path(directory or Path.cwd()).expanduser() / DOT_DIR


def explicit_location(explicit: str | os.PathLike[str] | None = None) -> Path | str | None:
    """The registry named outright (``--registry`` or ``MODELREG_HOME``), else None; a server's URL stays text."""
    if (url := remote_url(explicit)) is not None:
        return url
    if explicit is not None:
        return Path(explicit).expanduser()
    home = os.environ.get("MODELREG_HOME")
    return Path(home).expanduser() if home else None


def is_registry(path: Path) -> bool:
    """A directory holding a snapshot or a journal; raises OSError if it cannot be looked at."""
    if not path.is_dir():
        return False
    for name in (SNAPSHOT, JOURNAL):
        try:
            os.lstat(path / name)  # not os.path.lexists: it hides "permission denied"
            return True
        except FileNotFoundError:
            pass
    return False


def require_registry(path: Path | str) -> Path | str:
    """``path`` if it is a registry, else RegistryNotFound with the exact fix in one line.

    Used for a location named outright: creating a registry there would put the
    user's writes where nothing else looks (only the implicit default is created). A server's URL
    is checked when it is opened.
    """
    if isinstance(path, str):
        return path
    try:
        if is_registry(path):
            return path
        inner = path / DOT_DIR
        if path.is_dir() and is_registry(inner):
            raise RegistryNotFound(f"{path} is a folder, not a registry; did you mean --registry {inner}?")
        exists = path.exists()
    except OSError as error:
        raise RegistryNotFound(f"cannot open the registry at {path}: {error.strerror or error}") from None
    what = "is an ordinary folder, not a registry" if exists and path.is_dir() else "is not a registry" if exists else "does not exist"
    if path.name == DOT_DIR:
        fix = f"'modelreg init {path.parent}' creates it"
    else:
        fix = f"'modelreg init {path}' creates {inner}; then pass --registry {inner}"
    raise RegistryNotFound(f"{path} {what}: {fix}")
