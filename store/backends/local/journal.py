"""A TinyDB storage that survives crashes and several writing processes at once.

TinyDB's own JSONStorage rewrites the whole file on every write and has no
locking, so a crash can leave it unreadable and two writers corrupt it. This
storage keeps TinyDB's JSON format for the snapshot and adds a journal:

    registry.json   a snapshot in TinyDB's JSON format, only ever replaced
                    atomically (temporary file, fsync, rename), so a plain
                    ``TinyDB(path)`` always reads a consistent state
    journal.jsonl   every change since that snapshot: a header line naming the
                    snapshot generation it follows, then one line per
                    transaction, appended and fsynced before a write returns
    lock            ``flock``ed by writers for the length of a transaction

A write costs one appended line, whatever the size of the registry. Other
processes catch up by reading the journal's new tail, so a long-lived reader
sees their changes without reopening. A line cut short by a crash is never
acknowledged, so it is dropped by the next writer. The journal is folded into
a fresh snapshot once it grows past half the snapshot's size.

Here: the storage's interface and TinyDB's classes over it. Its parts: ``journal_format`` (the files,
the encoding), ``journal_replay`` (loading, catching up), ``journal_locking`` (the write lock and the
seal), ``journal_writes`` (commit, rollback, compaction), ``journal_views`` (TinyDB's table views).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Table

from store.backends.local.seal import Seal
from store.errors import NotCompactable, SnapshotBusy, StoreCorrupt, StoreWriteError
from store.records import copy_json
# The format's names are imported from here by adopt, doctor, journal_watch and the backend.
from store.backends.local.journal_format import (  # noqa: F401
    Doc, JOURNAL, Listener, LOCK, META_TABLE, _nonfinite, nonfinite_documents, SNAPSHOT, Tables,
)
from store.backends.local.journal_locking import Locking
from store.backends.local.journal_replay import Replay
from store.backends.local.journal_views import _CopyOnRead, _CopyingView
from store.backends.local.journal_writes import Writes

MIN_COMPACT_BYTES = 256 * 1024
COMPACT_RATIO = 0.5  # fold the journal once it outgrows this fraction of the snapshot
TIDY_MAX_SNAPSHOT = 8 * 1024 * 1024
CHANGE_LOG_SIZE = 200_000


@dataclass(frozen=True)
class Changes:
    """What changed since a token: ``reset`` means "reload everything"."""

    token: tuple[int, int]
    changed: frozenset[tuple[str, str]]
    reset: bool


class JournalStorage(Replay, Locking, Writes, Storage):
    """TinyDB storage over a snapshot plus an append-only journal in ``directory``."""

    def __init__(self, directory: str | os.PathLike[str], *, create: bool = True) -> None:
        self.directory = Path(directory)
        self.lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._reset_listeners: list[Callable[[], None]] = []
        self._tables: Tables = {}
        # Per table: the highest document id used since the table was last empty. Ids
        # never go back while a table holds documents (the change feed names documents
        # by id), and restart at 1 once it is emptied or dropped, as TinyDB's do. Kept in
        # the snapshot's meta document, so every process and every compaction agree.
        self._max_id: dict[str, int] = {}
        self._reserved: dict[str, int] = {}  # ids handed out by _get_next_id(), this process only
        self._saved_ids: tuple[dict[str, int], dict[str, int]] = ({}, {})
        self._generation = 0
        self._snapshot_bytes = 0
        self._snapshot_ino: int | None = None  # the snapshot our journal follows
        self._seal: Seal | None = None  # what the journal's header says that snapshot is
        self._verified: tuple[int, int, int] | None = None  # (inode, size, mtime) of the snapshot as last checked
        self.outside_edit = False  # registry.json was changed by someone else: writes are refused
        self._adopting = False
        self._adopted: tuple[int, int, int] | None = None  # the changed file whose changes were journaled
        self._shared_lock = True  # False: a read-only registry, locking a private handle
        self._journal_fd: int | None = None  # read/append handle on the journal we follow
        self._journal_ino: int | None = None
        self._offset = 0  # bytes of the journal applied so far
        self._journal_start = 0  # where entries begin, after the header
        self._lock_fd: int | None = None
        self._depth = 0
        self._undo: list[tuple[str, str, Doc | None]] = []
        self._pending: list[list[Any]] = []  # this transaction's operations
        self._epoch = 0
        self._seq = 0
        self._log: deque[tuple[int, str, str]] = deque(maxlen=CHANGE_LOG_SIZE)
        self.saw_nonfinite = False  # NaN/Infinity met while reading the files (hand edits)
        if create:
            self._create_layout()
        elif not (self.directory / SNAPSHOT).exists() and not (self.directory / JOURNAL).exists():
            raise StoreCorrupt(f"no registry at {self.directory}: run 'modelreg init' there first")
        self._lock_fd = self._open_lock_file()
        self._recover()
        self._load()
        if create and self._journal_fd is None:
            with self.transaction():
                pass  # a new registry: write its empty snapshot and journal now

    # -- TinyDB's Storage interface -------------------------------------------------

    def read(self) -> Tables:
        """A copy of every table, which the caller may change and hand to :meth:`write`
        (TinyDB's plain ``Table`` does exactly that). ``JournalTable`` reads the live
        tables through :meth:`table` instead, without copying them all."""
        with self.lock:
            self.refresh()
            return {name: {i: copy_json(doc) for i, doc in docs.items()} for name, docs in self._tables.items()}

    def write(self, data: Tables) -> None:
        """Make the tables ``data`` (TinyDB's whole-database write): journaled as the
        tables dropped and created, and the documents put and deleted, that differ."""
        with self.transaction():
            for name in set(self._tables) - set(data):
                self.drop_table(name)
            for name, new in data.items():
                self.create_table(name)
                old = self._tables[name]
                for doc_id in set(old) - {str(i) for i in new}:
                    self.delete(name, doc_id)
                for doc_id, doc in new.items():
                    if old.get(str(doc_id)) != doc:
                        self.put(name, str(doc_id), doc)

    def close(self) -> None:
        with self.lock:
            for fd in (self._journal_fd, self._lock_fd):
                if fd is not None:
                    os.close(fd)
            self._journal_fd = self._lock_fd = None

    # -- the API the registry uses ------------------------------------------------------

    def table(self, name: str) -> dict[str, Doc]:
        return self._tables.get(name, {})

    def subscribe(self, listener: Listener, on_reset: Callable[[], None]) -> None:
        """Call ``listener(table, doc_id, old, new)`` for every change applied, from any process."""
        self._listeners.append(listener)
        self._reset_listeners.append(on_reset)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the registry's write lock, caught up with every other process.

        Changes made inside are written as one journal line when the outermost
        transaction ends, and fsynced before it returns. If the block raises or
        the write fails, the in-memory state is put back as it was.
        """
        with self.lock:
            outermost = self._depth == 0
            if outermost:
                self._begin()
            self._depth += 1
            try:
                yield
                if outermost:
                    self._commit()
            except BaseException:
                if outermost:
                    self._rollback()
                raise
            finally:
                self._depth -= 1
                if outermost:
                    self._undo, self._pending = [], []
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def put(self, table: str, doc_id: str, doc: Doc, *, owned: bool = False) -> None:
        """Store a copy of ``doc``: the caller's dict (and anything nested in it) stays
        the caller's, so changing it later can neither change the store nor reach disk.

        ``owned=True`` skips the copy: for a document built for the store alone (the
        Registry's, from fresh containers), which its builder never changes again.
        """
        self._require_transaction()
        doc_id = str(doc_id)
        # Not _loads(_dumps(doc)): that would give every document its own key strings,
        # half as much memory again for a process holding many documents.
        kept = doc if owned else copy_json(doc)
        self._undo.append((table, doc_id, self._tables.get(table, {}).get(doc_id)))
        self._pending.append(["p", table, doc_id, kept])  # kept is ours alone: safe to encode at commit
        self._apply(table, doc_id, kept)

    def delete(self, table: str, doc_id: str) -> None:
        self._require_transaction()
        doc_id = str(doc_id)
        old = self._tables.get(table, {}).get(doc_id)
        if old is None:
            return
        self._undo.append((table, doc_id, old))
        self._pending.append(["d", table, doc_id])
        self._apply(table, doc_id, None)

    def mark_adopted(self) -> None:
        """Mark this transaction's line as outside changes taken in, not modelreg's own
        writes: a later adoption must not mistake them for a conflicting change."""
        self._require_transaction()
        if not self._pending or self._pending[0] != ["a"]:
            self._pending.insert(0, ["a"])

    def read_names(self) -> list[str]:
        return list(self._tables)

    def create_table(self, table: str) -> None:
        """Make ``table`` exist, even empty (TinyDB's ``persist_empty``)."""
        self._require_transaction()
        if table not in self._tables:
            self._undo.append((table, "", None))
            self._pending.append(["c", table])
            self._create(table)

    def drop_table(self, table: str) -> None:
        """Remove ``table`` and its documents; its ids start again at 1."""
        self._require_transaction()
        if table in self._tables:
            for doc_id, doc in self._tables[table].items():
                self._undo.append((table, doc_id, doc))
            self._undo.append((table, "", None))
            self._pending.append(["x", table])
            self._drop(table)

    def next_id(self, table: str) -> int:
        """The next free document id; only stable inside a transaction."""
        self._require_transaction()
        return max(self._max_id.get(table, 0), self._reserved.get(table, 0)) + 1

    def reserve_id(self, table: str) -> int:
        """A new document id, never handed out again by this process (TinyDB's
        ``_get_next_id``, which callers may use outside any transaction)."""
        with self.transaction():
            number = self.next_id(table)
            self._reserved[table] = number
            return number

    def refresh(self) -> bool:
        """Apply what other processes wrote since the last look; True if anything changed.

        Cheap when nothing changed: one ``stat`` of the journal.
        """
        with self.lock:
            before = (self._epoch, self._seq)
            self._catch_up(locked=False)
            return before != (self._epoch, self._seq)

    def token(self) -> tuple[int, int]:
        return (self._epoch, self._seq)

    def changes_since(self, token: tuple[int, int]) -> Changes:
        """Which documents changed since ``token`` (from :meth:`token` or an earlier call)."""
        with self.lock:
            self._catch_up(locked=False)
            now = (self._epoch, self._seq)
            epoch, seq = token
            if epoch != self._epoch or (self._log and self._log[0][0] > seq + 1):
                return Changes(now, frozenset(), reset=True)  # reloaded, or the log moved on
            changed = set()
            for entry_seq, table, doc_id in reversed(self._log):
                if entry_seq <= seq:
                    break
                changed.add((table, doc_id))
            return Changes(now, frozenset(changed), reset=False)

    def tidy(self) -> None:
        """Fold a small registry's journal into its snapshot, so that plain TinyDB
        readers of registry.json see the newest state. Skipped if another process is
        writing, if the registry is large (compaction then happens as the journal
        grows), or if the registry is read-only."""
        with self.lock:
            if self._depth or self._lock_fd is None or not self._shared_lock or self._snapshot_bytes > TIDY_MAX_SNAPSHOT:
                return
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return
            self._depth += 1
            try:
                self._sync_locked()
                if self._offset != self._journal_start:
                    self._compact()
            except (StoreWriteError, NotCompactable, OSError):
                pass  # an optimisation only: the journal already holds everything
            finally:
                self._depth -= 1
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def compact(self, *, wait: float = 5.0) -> None:
        """Fold the journal into a fresh snapshot now, waiting up to ``wait`` seconds for
        other programs that hold registry.json open for writing to close it."""
        deadline = time.monotonic() + wait
        pause = 0.005
        while True:
            try:
                with self.transaction():
                    self._compact()
                return
            except SnapshotBusy:
                if time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    @property
    def journal_bytes(self) -> int:
        return self._offset

    def _compaction_due(self) -> bool:
        # Read here, where the thresholds live, so tests and workers that lower them reach every commit.
        return self._offset > max(MIN_COMPACT_BYTES, self._snapshot_bytes * COMPACT_RATIO)


class JournalTable(Table):
    """A TinyDB table whose writes become journal entries instead of whole-file rewrites."""

    _storage: JournalStorage

    def insert(self, document: Any) -> int:
        with self._storage.transaction():
            return super().insert(document)

    def insert_multiple(self, documents: Any) -> list[int]:
        # One insert at a time: TinyDB's own version asks for every id before
        # storing any document, and the storage's next id only moves on a put.
        with self._storage.transaction():
            return [self.insert(document) for document in documents]

    def _get_next_id(self) -> int:
        return self._storage.reserve_id(self.name)

    def _read_table(self) -> Mapping[str, Doc]:  # type: ignore[override]
        return _CopyingView(self._storage.table(self.name))

    def _update_table(self, updater: Callable[[dict[int, Any]], None]) -> None:
        storage = self._storage
        with storage.transaction():
            storage.create_table(self.name)  # as TinyDB: any write, even an empty one, makes the table
            view = _CopyOnRead(storage.table(self.name))
            updater(view)  # type: ignore[arg-type]
            for doc_id in view.deleted:
                storage.delete(self.name, str(doc_id))
            for doc_id, doc in view.written.items():
                if view.raw.get(str(doc_id)) != doc:
                    storage.put(self.name, str(doc_id), doc)
        self.clear_cache()


class RegistryDB(TinyDB):
    """TinyDB over a :class:`JournalStorage`; use it like any TinyDB."""

    table_class = JournalTable

    def __init__(self, directory: str | os.PathLike[str], *, create: bool = True) -> None:
        super().__init__(directory, storage=JournalStorage, create=create)

    def tables(self) -> set[str]:
        with self.journal.lock:
            self.journal.refresh()
            return set(self.journal.read_names())

    def drop_table(self, name: str) -> None:
        self._tables.pop(name, None)
        with self.journal.transaction():
            self.journal.drop_table(name)

    @property
    def journal(self) -> JournalStorage:
        return self.storage  # type: ignore[return-value]
