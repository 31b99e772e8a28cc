"""Deciding when a checkpoint is finished.

A file counts as finished on a close-after-write or a rename into place. Where those events
cannot be relied on (polling, files in folders that were created a moment ago, folder
checkpoints), it counts as finished once its size and modification time, and those of its
sidecar, have been stable for the settle period and no event touched it meanwhile.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from store.watch.sidecar import FOLDER_SIDECARS

Fingerprint = tuple[int, int, int]  # (file count, total size, newest mtime in ns)


def quick_fingerprint(path: str) -> Fingerprint | None:
    """A cheap "has it changed" value for a file or a folder (all files below it); None if gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isdir(path):
        return (1, st.st_size, st.st_mtime_ns)
    count, size, newest = 0, 0, st.st_mtime_ns
    stack = [path]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                            continue
                        info = entry.stat()
                    except OSError:
                        continue
                    count, size, newest = count + 1, size + info.st_size, max(newest, info.st_mtime_ns)
        except OSError:
            continue
    return (count, size, newest)


def content_stats(path: str) -> list[os.stat_result] | None:
    """The status of a file, or of a folder's files without its own sidecars (metadata is not
    content); symlinked folders are not followed. None if something cannot be read."""
    try:
        if not os.path.isdir(path):
            return [os.stat(path)]
        found = []
        for folder, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
            found += [os.stat(os.path.join(folder, name)) for name in files
                      if not (folder == path and name in FOLDER_SIDECARS)]
        return found
    except OSError:
        return None


def content_fingerprint(path: str) -> list[float] | None:
    """[size, mtime] of a file, or of a folder's files without its sidecars (metadata is not content).

    Stored with each watched artifact so a restart can tell an unchanged checkpoint from a new one.
    """
    stats = content_stats(path)
    if stats is None:
        return None
    return [sum(st.st_size for st in stats), max((st.st_mtime for st in stats), default=0.0)]


@dataclass
class Pending:
    """A checkpoint seen changing and not yet handed over for registration."""

    path: str
    root: str
    artifact_done: bool = False  # closed after writing or renamed into place
    sidecar_dirty: bool = False  # its sidecar changed and has not been closed or settled yet
    close_expected: bool = False  # inotify watched its folder before it appeared: wait for the close
    last_event: float = field(default_factory=time.monotonic)
    fingerprint: Fingerprint | None = None
    stable_since: float = field(default_factory=time.monotonic)


class SettleTable:
    """Checkpoints waiting to be finished, keyed by path. Thread-safe.

    ``touch`` records an event; ``due`` returns (and forgets) the checkpoints that are finished.
    ``close_timeout`` bounds the wait for a close that never comes (a hard link, say).
    """

    def __init__(self, settle: float, close_timeout: float, fingerprint: Callable[[str], Fingerprint | None] = quick_fingerprint) -> None:
        self.settle = settle
        self.close_timeout = close_timeout
        self._fingerprint = fingerprint
        self._pending: dict[str, Pending] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pending)

    def touch(
        self,
        path: str,
        root: str,
        *,
        artifact: bool | None = None,
        sidecar: bool | None = None,
        close_expected: bool = False,
    ) -> Pending | None:
        """Record an event on a checkpoint: ``artifact``/``sidecar`` True = finished (closed or
        renamed), False = being written, None = not concerned.

        Returns the entry when the artifact is finished, so the caller can hand it over at once;
        the entry stays while its sidecar is still being written.
        """
        now = time.monotonic()
        with self._lock:
            entry = self._pending.get(path)
            if entry is None:
                entry = self._pending[path] = Pending(path, root, close_expected=close_expected)
            entry.last_event = now
            if artifact is not None:
                entry.artifact_done = artifact
                if not artifact:
                    entry.close_expected = close_expected
            if sidecar is not None:
                entry.sidecar_dirty = not sidecar
            if entry.artifact_done:
                if not entry.sidecar_dirty:
                    del self._pending[path]
                return entry
            return None

    def forget_below(self, path: str) -> None:
        """Drop the entries at or below a path that was deleted or moved away."""
        prefix = path.rstrip(os.sep) + os.sep
        with self._lock:
            for key in [k for k in self._pending if k == path or k.startswith(prefix)]:
                del self._pending[key]

    def due(self) -> list[Pending]:
        """The entries finished by now, removed from the table; vanished ones are dropped."""
        now = time.monotonic()
        with self._lock:
            entries = list(self._pending.values())
        ready: list[Pending] = []
        for entry in entries:
            current = self._fingerprint(entry.path)
            if current != entry.fingerprint:
                entry.fingerprint, entry.stable_since = current, now
            quiet = now - max(entry.stable_since, entry.last_event)
            if current is None:
                if quiet >= self.settle:
                    self._drop(entry)
                continue
            wait = self.close_timeout if entry.close_expected and not entry.artifact_done else self.settle
            if quiet >= wait and (entry.artifact_done or quiet >= self.settle):
                if self._drop(entry):
                    ready.append(entry)
        return ready

    def _drop(self, entry: Pending) -> bool:
        with self._lock:
            if self._pending.get(entry.path) is entry:
                del self._pending[entry.path]
                return True
            return False

    def next_check(self) -> float | None:
        """Seconds until the next entry could be finished (None when nothing waits)."""
        with self._lock:
            if not self._pending:
                return None
        return min(0.1, max(0.01, self.settle / 4))
