"""Writing: a transaction's commit as one fsynced journal line, its rollback, and compaction of the journal
into a fresh snapshot, each file replaced atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

from store.backends.local.journal_format import FORMAT, JOURNAL, SNAPSHOT, _dumps, _nonfinite, _write_error, nonfinite_documents
from store.backends.local.seal import Seal, encode_snapshot, replace_unless_held
from store.durable import fsync_dir
from store.errors import BadDocument, NotCompactable, OutsideEdit, StoreWriteError


class Writes:
    """JournalStorage's writing half: commit, rollback, compaction."""

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
        if self._compaction_due():
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
