"""Loading and catching up: reading the snapshot and replaying the journal that follows it, from
scratch or from where this process left off (lines other processes appended).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from store.backends.bulk_load import gc_paused
from store.backends.local.journal_format import Doc, JOURNAL, LOCK, META_TABLE, SNAPSHOT, Tables, _count, _write_error
from store.backends.local.seal import Seal, file_key
from store.errors import StoreCorrupt

_nonfinite_seen = 0  # NaN/Infinity parsed so far, by any storage: JSON allows neither, hand edits may


def _note_nonfinite(name: str) -> float:
    global _nonfinite_seen
    _nonfinite_seen += 1
    return float(name)  # "NaN", "Infinity", "-Infinity"


def _loads(raw: bytes) -> Any:
    # parse_constant runs only for NaN/Infinity, so noticing them costs nothing otherwise.
    return json.loads(raw, parse_constant=_note_nonfinite)


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


class Replay:
    """JournalStorage's reading half: open the files, load them, follow the journal's tail."""

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
        with gc_paused():
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
