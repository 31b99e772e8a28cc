"""Locking: a transaction begins under the write lock, caught up with every other process, and writes
only while registry.json is the sealed snapshot the journal follows (or its outside changes are being adopted).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from store.backends.local.journal_format import META_TABLE, SNAPSHOT, Tables
from store.backends.local.journal_replay import _read_settled
from store.backends.local.seal import file_key
from store.errors import OutsideEdit, StoreCorrupt


class Locking:
    """JournalStorage's write lock, and the seal check that comes with it."""

    # -- writing --------------------------------------------------------------------------

    def _require_transaction(self) -> None:
        if self._depth == 0:
            raise RuntimeError("registry writes must happen inside storage.transaction()")

    def _begin(self) -> None:
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            self._sync_locked()
        except BaseException:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            raise
        self._saved_ids = (dict(self._max_id), dict(self._reserved))

    def _sync_locked(self) -> None:
        """Under the write lock: catch up with every other process, so that what is in
        memory is exactly what is on disk, and the journal is one a write may extend."""
        self._catch_up(locked=True)
        if self._snapshot_changed():
            # Someone replaced the snapshot but not the journal: a compaction stopped
            # between its two renames. Our journal is stale; appending to it would
            # write into a file the next reader ignores. (Or, for a sealed snapshot,
            # someone changed it in place: reloading finds out.)
            self._load()
        if self.outside_edit and not self._adopting:
            raise OutsideEdit(
                f"{self.directory / SNAPSHOT} was changed outside modelreg (by a plain TinyDB or an editor) since "
                "modelreg last wrote it; nothing was written. 'modelreg doctor' shows the changes and "
                "'modelreg doctor --adopt' takes them in"
            )
        self._finish_interrupted_compaction()

    def _snapshot_changed(self) -> bool:
        """Replaced, or (sealed snapshots) changed in place since last checked."""
        try:
            stat = os.stat(self.directory / SNAPSHOT)
        except FileNotFoundError:
            return self._snapshot_ino is not None
        if stat.st_ino != self._snapshot_ino:
            return True
        return self._seal is not None and file_key(stat) != self._verified

    def _unchanged_since_verified(self, stat: os.stat_result) -> bool:
        if file_key(stat) == self._verified:
            return True
        if self._seal is not None:
            return self._seal.same_file(stat)
        return self._verified is None  # an old journal without a seal, not yet looked at: cannot tell

    def snapshot_as_found(self) -> tuple[Tables, Any]:
        """registry.json as it is now, tables and meta document, read under the write lock;
        a compaction then replaces it only if it is still exactly this file (adoption)."""
        self._require_transaction()
        path = self.directory / SNAPSHOT
        stat, _, data = _read_settled(path)
        if not isinstance(data, dict):
            raise StoreCorrupt(f"{path} does not hold TinyDB tables; run 'modelreg doctor'")
        meta = data.pop(META_TABLE, {})
        self._verified = self._adopted = file_key(stat)
        tables = {name: docs for name, docs in data.items() if isinstance(docs, dict)}
        return tables, meta.get("1") if isinstance(meta, dict) else None

    def _seal_key(self) -> tuple[int, int, int] | None:
        """The snapshot's (inode, size, mtime) if it is untouched since it was sealed."""
        try:
            stat = os.stat(self.directory / SNAPSHOT)
        except OSError:
            return None
        return file_key(stat) if self._seal and self._seal.same_file(stat) else None

    @contextmanager
    def adopting(self) -> Iterator[None]:
        """Allow writes while registry.json holds outside changes: for taking them in."""
        self._adopting = True
        try:
            yield
        finally:
            self._adopting = False
