"""The script that registered a version: its path and sha256 (``source_file``, ``source_sha256``)."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

_PACKAGES = tuple(str(Path(__file__).resolve().parents[1] / name) + os.sep for name in ("store", "tui"))
# Python's own files and installed packages: never "the user's script". (From sys, not sysconfig,
# whose first call costs milliseconds: registering must stay quick in short-lived processes.)
_NOT_USER_CODE = tuple({str(Path(p).resolve()) + os.sep for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)})
_INSTALLED = (f"{os.sep}site-packages{os.sep}", f"{os.sep}dist-packages{os.sep}")
_user_files: dict[str, str | None] = {}  # code filename -> its resolved path, or None: not the user's
_hashes: dict[tuple[str, int, int], str] = {}  # (path, mtime, size) -> sha256: a script registering in a loop is read once


def calling_script() -> dict[str, str] | None:
    """``{"source_file", "source_sha256"}`` of the user's script that called into the registry:
    the first caller outside modelreg itself. None when that caller is not a file on disk (a
    notebook, the REPL) or is modelreg's own command line, app or watcher thread."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGES[0]):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return None
    filename = frame.f_code.co_filename
    try:
        if filename not in _user_files:  # resolving costs syscalls: once per script, not per call
            resolved = str(Path(filename).resolve())
            user = not (resolved.startswith(_PACKAGES + _NOT_USER_CODE) or any(part in resolved for part in _INSTALLED))
            _user_files[filename] = resolved if user else None
        resolved = _user_files[filename]
        if resolved is None:
            return None
        stat = os.stat(resolved)  # the one syscall per call: an edited script is hashed again
        key = (resolved, stat.st_mtime_ns, stat.st_size)
        if key not in _hashes:
            _hashes.clear()  # one script at a time is the common case: keep the cache tiny
            _hashes[key] = hashlib.sha256(Path(resolved).read_bytes()).hexdigest()
        return {"source_file": resolved, "source_sha256": _hashes[key]}
    except (OSError, ValueError):  # gone, not a file (a directory, "<stdin>"), or an unreadable path
        return None
