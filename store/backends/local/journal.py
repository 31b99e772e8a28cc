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
"""

from __future__ import annotations

import fcntl
import gc
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Table

from store.durable import fsync_dir
from store.errors import BadDocument, NotCompactable, OutsideEdit, SnapshotBusy, StoreCorrupt, StoreWriteError
from store.records import copy_json
from store.backends.local.seal import Seal, encode_snapshot, file_key, replace_unless_held

SNAPSHOT = "registry.json"
JOURNAL = "journal.jsonl"
LOCK = "lock"
META_TABLE = "_modelreg"
FORMAT = 1
MIN_COMPACT_BYTES = 256 * 1024
COMPACT_RATIO = 0.5  # fold the journal once it outgrows this fraction of the snapshot
TIDY_MAX_SNAPSHOT = 8 * 1024 * 1024
CHANGE_LOG_SIZE = 200_000

Doc = dict[str, Any]
Tables = dict[str, dict[str, Doc]]
Listener = Callable[[str, str, "Doc | None", "Doc | None"], None]

def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


_nonfinite_seen = 0  # NaN/Infinity parsed so far, by any storage: JSON allows neither, hand edits may


def _note_nonfinite(name: str) -> float:
    global _nonfinite_seen
    _nonfinite_seen += 1
    return float(name)  # "NaN", "Infinity", "-Infinity"


def _loads(raw: bytes) -> Any:
    # parse_constant runs only for NaN/Infinity, so noticing them costs nothing otherwise.
    return json.loads(raw, parse_constant=_note_nonfinite)


def _count(value: Any) -> int:
    return value if type(value) is int and value > 0 else 0  # a hand-edited meta document may hold anything


def _nonfinite(value: Any) -> bool:
    kind = type(value)
    if kind is float:
        return value != value or value in (float("inf"), float("-inf"))
    if kind is dict:
        return any(_nonfinite(v) for v in value.values())
    if kind is list:
        return any(_nonfinite(v) for v in value)
    return False


def nonfinite_documents(tables: Tables) -> list[str]:
    """``table/id`` of every document holding NaN or Infinity (a full scan: only when one was seen)."""
    return [f"{name}/{doc_id}" for name, docs in tables.items() for doc_id, doc in docs.items() if _nonfinite(doc)]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Loading a big snapshot creates millions of containers; the cyclic collector
    would otherwise run over and over during the load (it doubles the open time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class Changes:
    """What changed since a token: ``reset`` means "reload everything"."""

    token: tuple[int, int]
    changed: frozenset[tuple[str, str]]
    reset: bool


def _read_settled(path: Path, tries: int = 20) -> tuple[os.stat_result, bytes, Any]:
    """A file's status, bytes and parsed JSON (None when blank), from one handle.

    A plain TinyDB rewrites registry.json in place, so a read can meet it half-written:
    invalid JSON is read again a few times (0.5 s in all) before ValueError says it
    is damaged."""
    for attempt in range(tries):
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            raw = handle.read()
        if not raw.strip():
            return stat, raw, None
        try:
            return stat, raw, _loads(raw)
        except ValueError:
            if attempt == tries - 1:
                raise
            time.sleep(0.025)
    raise AssertionError("unreachable")


def _write_error(path: Path, error: OSError) -> StoreWriteError:
    reason = error.strerror or str(error)
    return StoreWriteError(
        f"could not write to the registry at {path}: {reason}; nothing was changed "
        "(free some space or fix the permissions, then try again)"
    )


class JournalStorage(Storage):
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

    # -- loading and catching up ------------------------------------------------------------

    def _create_layout(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _write_error(self.directory, error) from None

    def _open_lock_file(self) -> int:
        path = self.directory / LOCK
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:
            # A read-only registry can still be read: lock a private handle instead.
            self._shared_lock = False
            return os.open(self.directory, os.O_RDONLY)
        except OSError as error:
            raise _write_error(path, error) from None

    def _recover(self) -> None:
        """If nobody is writing, remove what a crashed writer left behind."""
        if not self._shared_lock:
            return  # our lock excludes nobody, so a live writer's files may be in flight
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # a live writer holds the lock; it cleans up after itself
        try:
            for leftover in self.directory.glob("*.tmp-*"):
                leftover.unlink(missing_ok=True)
        except OSError:
            pass  # read-only registry: nothing we may clean
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _load(self) -> None:
        """Read the snapshot and the journal that follows it, from scratch."""
        seen = _nonfinite_seen
        with _gc_paused():
            self._load_once()
        self.saw_nonfinite = self.saw_nonfinite or _nonfinite_seen != seen

    def _load_once(self) -> None:
        seen: tuple[int | None, int | None] | None = None
        for _ in range(20):
            snapshot, raw, stat = self._read_snapshot()
            meta = snapshot.pop(META_TABLE, {}).get("1", {})
            generation = int(meta.get("generation", 0))
            fd, ino, header, offset = self._open_journal()
            header_gen = None if header is None else int(header["generation"])
            if header_gen is not None and header_gen > generation:
                os.close(fd)
                path = self.directory / SNAPSHOT
                if self._snapshot_ino is None:
                    # Compactions write the snapshot before the journal and never remove it.
                    raise StoreCorrupt(f"{path} is missing but {JOURNAL} is not; run 'modelreg doctor' to see what can be rebuilt")
                if seen == (self._snapshot_ino, ino):
                    # Neither file was replaced since the last look: no compaction is
                    # in flight, the snapshot is simply not the one the journal follows.
                    what = "is empty" if self._snapshot_bytes == 0 else f"is generation {generation}"
                    raise StoreCorrupt(
                        f"{path} {what} but {JOURNAL} follows generation {header_gen}: the snapshot was "
                        "damaged or replaced; run 'modelreg doctor' to see what can be rebuilt"
                    )
                seen = (self._snapshot_ino, ino)
                continue  # a compaction finished between the two reads: look again
            self._close_journal()
            previous = self._tables if self._epoch else None
            self._tables = snapshot
            kept_ids = meta.get("ids") if isinstance(meta.get("ids"), dict) else {}
            self._max_id = {
                name: max(max(map(int, docs), default=0), _count(kept_ids.get(name)) if docs else 0)
                for name, docs in snapshot.items()
            }
            self._reserved = {}
            self._generation = generation
            self._seal = Seal.from_header(header) if header is not None and header_gen == generation else None
            self._verified = None if stat is None else file_key(stat)
            self.outside_edit = bool(self._seal and stat and not self._seal.matches(raw, stat))
            self._journal_fd, self._journal_ino = fd, ino
            # A journal older than the snapshot was already folded into it (-1: stale).
            # No journal at all is a registry nobody has written to yet.
            self._offset = offset if header_gen == generation or fd is None else -1
            self._journal_start = offset
            if previous is None:
                self._epoch += 1
                self._log.clear()
            else:
                self._log_differences(previous, snapshot)
            if self._offset >= 0:
                self._read_tail(locked=False)
            for listener in self._reset_listeners:
                listener()
            return
        raise StoreCorrupt(f"the registry at {self.directory} kept changing while being opened; try again")

    def _log_differences(self, old: Tables, new: Tables) -> None:
        """A reload (this process missed a whole journal) still tells changes_since
        which documents differ, so a long-lived reader need not start over."""
        for name in set(old) | set(new):
            before, after = old.get(name, {}), new.get(name, {})
            for doc_id in before.keys() | after.keys():
                if before.get(doc_id) != after.get(doc_id):
                    self._seq += 1
                    self._log.append((self._seq, name, doc_id))

    def _read_snapshot(self) -> tuple[Tables, bytes, os.stat_result | None]:
        """The snapshot's tables, with its bytes and status (from the same handle)."""
        path = self.directory / SNAPSHOT
        try:
            stat, raw, data = _read_settled(path)
        except FileNotFoundError:
            self._snapshot_ino = None
            return {}, b"", None
        except OSError as error:
            raise StoreCorrupt(f"cannot read {path}: {error.strerror}") from None
        except ValueError:
            raise StoreCorrupt(
                f"{path} is not valid JSON; run 'modelreg doctor': it rebuilds the file when the journal "
                "reaches back to the registry's start, else restore it from a backup"
            ) from None
        self._snapshot_ino = stat.st_ino
        self._snapshot_bytes = len(raw)
        if data is None:
            self._snapshot_bytes = 0  # blank counts as empty, for the messages above
            return {}, raw, stat
        if not isinstance(data, dict):
            raise StoreCorrupt(f"{path} does not hold TinyDB tables; run 'modelreg doctor' (or restore it from a backup)")
        return data, raw, stat

    def _open_journal(self) -> tuple[int | None, int | None, dict[str, Any] | None, int]:
        """Open the journal: (fd, inode, its header line, offset after the header)."""
        path = self.directory / JOURNAL
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None, None, None, 0
        except OSError as error:
            raise StoreCorrupt(f"cannot read {path}: {error.strerror}") from None
        ino = os.fstat(fd).st_ino
        header = os.pread(fd, 4096, 0)
        end = header.find(b"\n")
        if end < 0:
            # Crash while the journal was being created: it holds nothing acknowledged.
            return fd, ino, None, len(header)
        try:
            parsed = _loads(header[:end])
            int(parsed["generation"])
        except (ValueError, KeyError, TypeError):
            os.close(fd)
            raise StoreCorrupt(f"{path} has a damaged first line; run 'modelreg doctor' (or restore it from a backup)") from None
        return fd, ino, parsed, end + 1

    def _close_journal(self) -> None:
        if self._journal_fd is not None:
            os.close(self._journal_fd)
        self._journal_fd = self._journal_ino = None

    def _catch_up(self, *, locked: bool) -> None:
        if self._offset < 0 and self._snapshot_changed():
            self._load()  # our journal was stale and the snapshot moved (or was put back)
            return
        path = self.directory / JOURNAL
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            if self._journal_ino is not None:
                self._load()
            return
        if stat.st_ino != self._journal_ino:
            self._follow_new_journal(locked=locked)
            return
        if self._offset >= 0 and stat.st_size != self._offset:
            self._read_tail(locked=locked)

    def _follow_new_journal(self, *, locked: bool) -> None:
        """Another process replaced the journal: finish the old one, then follow the new one."""
        if self._journal_fd is not None and self._offset >= 0:
            self._read_tail(locked=False)  # the old file is complete: its writer held the lock
        fd, ino, header, offset = self._open_journal()
        header_gen = None if header is None else int(header["generation"])
        meta, snapshot_ino, snapshot_bytes = self._peek_snapshot()
        if header_gen is not None and header_gen == self._generation + 1 == meta and self._offset >= 0:
            self._close_journal()
            self._journal_fd, self._journal_ino, self._offset = fd, ino, offset
            self._journal_start = offset
            self._generation = header_gen
            self._snapshot_ino, self._snapshot_bytes = snapshot_ino, snapshot_bytes
            # Another modelreg wrote this snapshot; trust it without reading it only
            # while it is the very file the journal's header describes.
            self._seal = Seal.from_header(header)
            self._verified = self._seal_key() if self._seal else None
            self.outside_edit = False  # its writer caught up with (or adopted) any outside change first
            self._read_tail(locked=locked)
            return
        if fd is not None:
            os.close(fd)
        self._load()

    def _peek_snapshot(self) -> tuple[int | None, int | None, int]:
        """(generation, inode, size) of the snapshot, from one handle so they agree.

        The generation is written first in every snapshot, so a short read finds it.
        """
        try:
            with open(self.directory / SNAPSHOT, "rb") as handle:
                stat = os.fstat(handle.fileno())
                head = handle.read(256)
        except OSError:
            return None, None, 0
        marker = b'"_modelreg":{"1":{"generation":'
        start = head.find(marker)
        if start < 0:
            return None, stat.st_ino, stat.st_size
        digits = head[start + len(marker) :].split(b",", 1)[0].split(b"}", 1)[0]
        return (int(digits) if digits.isdigit() else None), stat.st_ino, stat.st_size

    def _read_tail(self, *, locked: bool) -> None:
        fd = self._journal_fd
        if fd is None:
            return
        size = os.fstat(fd).st_size
        if size <= self._offset:
            return
        data = os.pread(fd, size - self._offset, self._offset)
        nonfinite_before = _nonfinite_seen
        end = data.rfind(b"\n") + 1
        lines = data[:end].split(b"\n")[:-1]
        for number, line in enumerate(lines):
            try:
                ops = _loads(line)
            except ValueError:
                if number == len(lines) - 1:
                    # Torn by a crash (only after power loss can a torn line end in a
                    # newline): never acknowledged, so the next writer drops it.
                    end -= len(line) + 1
                    break
                raise StoreCorrupt(
                    f"{self.directory / JOURNAL} has a damaged line after byte {self._offset}; "
                    "'modelreg doctor --fix' keeps every good line and moves the damaged bytes to journal.jsonl.damaged"
                ) from None
            for op in ops:
                self._replay(op)
        if _nonfinite_seen != nonfinite_before:
            self.saw_nonfinite = True  # rare: Registry.problems() then looks for them
        self._offset += end
        if locked and size > self._offset:
            # Bytes after the last complete line belong to a writer that died mid-append.
            fd = self._writable_journal()
            try:
                os.ftruncate(fd, self._offset)
            finally:
                os.close(fd)

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

    def _finish_interrupted_compaction(self) -> None:
        """No journal, or one older than the snapshot: a fresh registry, or a compaction
        that stopped halfway. Once caught up, the state in memory is complete and
        current (nobody can append to a stale journal); write it out."""
        if self._journal_fd is None or self._offset < 0:
            self._compact()

    def _writable_journal(self) -> int:
        # The read handle cannot append; open a writer on demand (same inode).
        path = self.directory / JOURNAL
        try:
            return os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as error:
            raise _write_error(path, error) from None

    def _commit(self) -> None:
        if not self._pending:
            return
        try:
            line = _dumps(self._pending) + b"\n"
        except ValueError:  # NaN or Infinity: the transaction is undone, nothing is written
            bad = next((f"{op[1]}/{op[2]}" for op in self._pending if op[0] == "p" and _nonfinite(op[3])), None)
            if bad is None:
                raise
            raise BadDocument(
                f"cannot store {bad}: it holds NaN or Infinity, which JSON cannot hold "
                "(if it was written by hand, 'modelreg doctor' finds such values)"
            ) from None
        fd = self._writable_journal()
        try:
            try:
                if os.fstat(fd).st_size != self._offset:
                    # A torn tail that catching up did not cut (it followed a new
                    # journal, or reloaded): appending after it would glue our line to it.
                    os.ftruncate(fd, self._offset)
                view = memoryview(line)
                while view:  # a short write is followed by one that reports why
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except OSError as error:
                try:
                    os.ftruncate(fd, self._offset)
                except OSError:
                    pass  # the next writer drops a torn tail anyway
                raise _write_error(self.directory / JOURNAL, error) from None
        finally:
            os.close(fd)
        self._offset += len(line)
        # Durable from here on: nothing that follows may undo it in memory.
        self._pending, self._undo = [], []
        if self._offset > max(MIN_COMPACT_BYTES, self._snapshot_bytes * COMPACT_RATIO):
            try:
                self._compact()
            except (StoreWriteError, NotCompactable):
                pass  # the journal still holds everything; compaction is retried next time

    def _rollback(self) -> None:
        for table, doc_id, old in reversed(self._undo):
            if doc_id == "":  # a table this transaction created or dropped
                if table in self._tables:
                    self._tables.pop(table)
                else:
                    self._create(table)
            else:
                self._apply(table, doc_id, old)
        self._max_id, self._reserved = self._saved_ids

    def _compact(self) -> None:
        if self.outside_edit and self._verified != self._adopted:
            # What we hold includes the other program's changes, read from the file but
            # never journaled: other processes follow the journal and would never see
            # them, and the snapshot after theirs would drop them.
            raise OutsideEdit(f"{self.directory / SNAPSHOT} holds changes not yet adopted; compaction stopped")
        generation = self._generation + 1
        ids = {name: self._max_id[name] for name, docs in self._tables.items() if docs and self._max_id.get(name)}
        try:
            payload = encode_snapshot({"generation": generation, "format": FORMAT, "ids": ids}, self._tables)
        except ValueError:
            # Only a hand edit puts NaN/Infinity here (every put refuses them). Keep the
            # journal as it is, and say which documents, instead of failing every write.
            raise NotCompactable(
                f"cannot compact the registry at {self.directory}: {', '.join(nonfinite_documents(self._tables)[:5])} "
                "hold NaN or Infinity, which registry.json cannot hold; run 'modelreg doctor'"
            ) from None
        # A stale journal must be replaced whoever holds the snapshot; otherwise wait
        # until nobody does, or a plain TinyDB's next write would go to an unlinked file.
        check = self._journal_fd is not None and self._offset >= 0
        stat = self._atomic_write(self.directory / SNAPSHOT, payload, refuse_if_held=check)
        seal = Seal.of(payload, stat)
        self._snapshot_ino, self._snapshot_bytes = stat.st_ino, len(payload)
        self._generation = generation
        self._seal, self._verified = seal, (seal.ino, seal.size, seal.mtime_ns)
        self.outside_edit = False
        try:
            self._start_journal(generation)
        except BaseException:
            # The snapshot is in place but the journal is the old one: stale from
            # now on, so the next transaction finishes this compaction first.
            self._offset = -1
            raise

    def _start_journal(self, generation: int) -> None:
        seal = [] if self._seal is None else self._seal.to_header()  # the snapshot just written
        header = _dumps({"modelreg-journal": FORMAT, "generation": generation, "snapshot": seal}) + b"\n"
        path = self.directory / JOURNAL
        ino = self._atomic_write(path, header).st_ino
        self._close_journal()
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as error:
            raise _write_error(path, error) from None
        self._journal_fd, self._journal_ino, self._offset = fd, ino, len(header)
        self._journal_start = len(header)

    def _atomic_write(self, path: Path, payload: bytes, *, refuse_if_held: bool = False) -> os.stat_result:
        """Replace ``path`` with ``payload`` all at once; the new file's status."""
        temporary = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        try:
            with open(temporary, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
                stat = os.fstat(handle.fileno())
            if refuse_if_held:
                replace_unless_held(temporary, path, still_ours=self._unchanged_since_verified)
            else:
                os.replace(temporary, path)
            fsync_dir(self.directory)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise _write_error(path, error) from None
        return stat

    def _replay(self, op: list[Any]) -> None:
        kind = op[0]
        if kind == "p":
            self._apply(op[1], op[2], op[3])
        elif kind == "d":
            self._apply(op[1], op[2], None)
        elif kind == "c":
            self._create(op[1])
        elif kind == "x":
            self._drop(op[1])
        elif kind == "a":
            pass  # marks a line as adopted outside changes (see adopt.py): nothing to apply
        else:
            raise StoreCorrupt(f"{self.directory / JOURNAL} holds an operation this modelreg does not know ({kind!r}); upgrade modelreg")

    def _create(self, table: str) -> None:
        self._tables.setdefault(table, {})

    def _drop(self, table: str) -> None:
        for doc_id in list(self._tables.get(table, ())):
            self._apply(table, doc_id, None)  # each document, so listeners and the change feed hear of it
        self._tables.pop(table, None)
        self._max_id.pop(table, None)
        self._reserved.pop(table, None)

    def _apply(self, table: str, doc_id: str, doc: Doc | None) -> None:
        docs = self._tables.setdefault(table, {})
        old = docs.get(doc_id)
        if doc is None:
            docs.pop(doc_id, None)
            if not docs:  # emptied: ids start again at 1, in every process alike
                self._max_id.pop(table, None)
                self._reserved.pop(table, None)
        else:
            docs[doc_id] = doc
            number = int(doc_id)
            if number > self._max_id.get(table, 0):
                self._max_id[table] = number
        self._seq += 1
        self._log.append((self._seq, table, doc_id))
        for listener in self._listeners:
            listener(table, doc_id, old, doc)


class _CopyOnRead(MutableMapping):  # type: ignore[type-arg]
    """A table view for TinyDB's updaters that records what they change.

    Documents are copied when read, so an updater that fails halfway, or a write
    that fails, never leaves a half-changed document in memory.
    """

    def __init__(self, raw: dict[str, Doc]) -> None:
        self.raw = raw
        self.written: dict[int, Doc] = {}
        self.deleted: set[int] = set()

    def __getitem__(self, doc_id: int) -> Doc:
        if doc_id in self.deleted:
            raise KeyError(doc_id)
        if doc_id not in self.written:
            self.written[doc_id] = copy_json(self.raw[str(doc_id)])
        return self.written[doc_id]

    def __setitem__(self, doc_id: int, doc: Doc) -> None:
        self.deleted.discard(doc_id)
        self.written[doc_id] = doc

    def __delitem__(self, doc_id: int) -> None:
        if doc_id not in self:
            raise KeyError(doc_id)
        self.deleted.add(doc_id)
        self.written.pop(doc_id, None)

    def __contains__(self, doc_id: object) -> bool:
        if doc_id in self.deleted:
            return False
        return doc_id in self.written or str(doc_id) in self.raw

    def __iter__(self) -> Iterator[int]:
        for key in list(self.raw):
            if int(key) not in self.deleted:
                yield int(key)
        for doc_id in list(self.written):
            if str(doc_id) not in self.raw:
                yield doc_id

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _CopyingView(Mapping):  # type: ignore[type-arg]
    """The live table as TinyDB's readers (get, search, all, iteration) see it: each
    document is copied deeply as it is read, so what they hand out can be changed
    without changing the store (TinyDB's own copy is shallow)."""

    def __init__(self, raw: dict[str, Doc]) -> None:
        self.raw = raw

    def __getitem__(self, doc_id: str) -> Doc:
        return copy_json(self.raw[doc_id])

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.raw

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


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
