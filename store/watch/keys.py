"""The content key a watched checkpoint is registered under (``Registry.register(content_key=...)``).

It must be the same on every node that sees one checkpoint on a shared filesystem, whatever path the share is
mounted at, and known the moment the checkpoint is finished (its sha256 may follow much later): so it is the
checkpoint's path below its watched folder, its size and its modification time in nanoseconds. A checkpoint
rewritten in place gets a new time, so a new key and a new version; the same bytes copied to another run folder have
another path, so another key. Two watchers that find the same key in one model share one version.
"""

from __future__ import annotations

import hashlib
import json
import os

from store.watch.settle import content_stats

VERSION = "watch1"  # bumped if the recipe ever changes: an old key then never matches a new one by accident


def content_stamp(path: str) -> tuple[int, int, int] | None:
    """(files, total size, newest mtime in ns) of a file, or of a folder's files without its own sidecars
    (metadata is not content, as in ``settle.content_fingerprint``); None if it cannot be read."""
    stats = content_stats(path)
    if stats is None:
        return None
    return (len(stats), sum(st.st_size for st in stats), max((st.st_mtime_ns for st in stats), default=0))


def below(path: str, root: str) -> str:
    """``path`` relative to ``root``, with ``/`` between its parts (``.`` for the root itself)."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root)) if root else os.path.basename(path)
    return "/".join(rel.split(os.sep))


def checkpoint_key(path: str, root: str) -> str | None:
    """``watch1:`` and the sha256 of [path below ``root``, files, size, mtime_ns]; None if ``path`` cannot be read."""
    stamp = content_stamp(path)
    if stamp is None:
        return None
    text = json.dumps([below(path, root), *stamp], separators=(",", ":"))
    return f"{VERSION}:{hashlib.sha256(text.encode()).hexdigest()}"
