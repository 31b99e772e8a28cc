"""Where the registry lives: the rules ``modelreg`` and ``Registry()`` follow to find it."""

from __future__ import annotations

import os
from pathlib import Path

DOT_DIR = ".modelreg"


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


def init_registry(directory: str | os.PathLike[str] | None = None) -> Path:
    """The path of a new ``.modelreg/`` inside ``directory`` (default: the current one)."""
    return Path(directory or Path.cwd()).expanduser() / DOT_DIR
