"""How the watcher words an error in a WatchEvent: one line, the user's words, never a traceback."""

from __future__ import annotations

from store.errors import ModelregError


def _describe(error: BaseException) -> str:
    if isinstance(error, ModelregError):
        return str(error)
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror.lower()}"
    return f"{type(error).__name__}: {error}"
