"""How modelreg recognises its own registry.json, so an outside write is never lost.

The README lets anyone read ``registry.json`` with a plain ``TinyDB``; some will
write with it too. Such a write changes the file in place, behind the journal's
back. So every snapshot modelreg writes is sealed:

- the journal's first line records the snapshot's size, CRC-32, mtime and inode
  (the *seal*); a snapshot that no longer matches it was changed by someone else;
- the snapshot's meta document records a CRC-32 of every document as modelreg
  encoded it (the *digests*), so the outside changes can be told apart document by
  document, and taken in (``modelreg doctor --adopt``) without a copy of the old file.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import sys
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store.errors import NotCompactable, OutsideEdit, SnapshotBusy

_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def document_digest(doc: Any) -> str:
    """The CRC-32 of ``doc`` as modelreg encodes it; JSON parsing keeps key order and
    float reprs, so a document read back unchanged gives the same digest."""
    try:
        return f"{zlib.crc32(_encode(doc).encode()):08x}"
    except ValueError:
        return "not-json"  # NaN or Infinity: never what modelreg wrote


def encode_snapshot(meta: dict[str, Any], tables: Mapping[str, Mapping[str, Any]]) -> bytes:
    """TinyDB's JSON for ``tables`` after the meta table, which gains every document's digest.

    Each document is encoded once, for the file and for its digest alike. Raises
    ValueError for NaN/Infinity, as ``json.dumps(allow_nan=False)`` does.
    """
    parts: dict[str, str] = {}
    digests: dict[str, str] = {}
    for name, docs in tables.items():
        encoded = []
        marks = []
        for doc_id, doc in docs.items():
            text = _encode(doc)
            encoded.append(f"{_encode(doc_id)}:{text}")
            marks.append(f"{doc_id}:{zlib.crc32(text.encode()):08x}")
        parts[name] = "{" + ",".join(encoded) + "}"
        digests[name] = ",".join(marks)
    meta = {**meta, "digests": digests}
    body = [f'{_encode(name)}:{text}' for name, text in parts.items()]
    # The meta table goes first so readers can peek at the generation cheaply.
    return ("{" + ",".join([f'"_modelreg":{{"1":{_encode(meta)}}}', *body]) + "}").encode()


def parse_digests(meta: Any) -> dict[str, dict[str, str]] | None:
    """The digests recorded in a snapshot's meta document, or None if it has none."""
    raw = meta.get("digests") if isinstance(meta, dict) else None
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        return None
    tables: dict[str, dict[str, str]] = {}
    for name, marks in raw.items():
        pairs = (mark.rpartition(":") for mark in marks.split(",") if mark)
        tables[name] = {doc_id: digest for doc_id, _, digest in pairs}
    return tables


def file_key(stat: os.stat_result) -> tuple[int, int, int]:
    """(inode, size, mtime): what changes when a file is replaced or written in place."""
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class Seal:
    """What the journal's header says about the snapshot it follows."""

    size: int
    crc: int
    mtime_ns: int
    ino: int

    @classmethod
    def of(cls, payload: bytes, stat: os.stat_result) -> Seal:
        return cls(len(payload), zlib.crc32(payload), stat.st_mtime_ns, stat.st_ino)

    @classmethod
    def from_header(cls, header: Mapping[str, Any]) -> Seal | None:
        value = header.get("snapshot")
        if isinstance(value, list) and len(value) == 4 and all(type(v) is int for v in value):
            return cls(*value)
        return None  # a journal written before seals: nothing to compare with

    def to_header(self) -> list[int]:
        return [self.size, self.crc, self.mtime_ns, self.ino]

    def same_file(self, stat: os.stat_result) -> bool:
        """The cheap test: the very file modelreg wrote, untouched since (no read needed)."""
        return file_key(stat) == (self.ino, self.size, self.mtime_ns)

    def matches(self, raw: bytes, stat: os.stat_result) -> bool:
        """The file holds what modelreg wrote (copied or restored files keep their content)."""
        return self.same_file(stat) or (len(raw) == self.size and zlib.crc32(raw) == self.crc)


def held_open_elsewhere(path: Path) -> bool:
    """Whether another process has ``path`` open, as far as /proc lets us see (Linux).

    A plain TinyDB keeps its file open and writes back into the same handle: if
    modelreg replaced the file under it, that write would go to an unlinked file.
    """
    try:
        target = os.stat(path)
        pids = os.listdir("/proc")
    except OSError:
        return False
    me = str(os.getpid())
    for pid in pids:
        if not pid.isdigit() or pid == me:
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # gone, or another user's: not ours to see
        for fd in fds:
            try:
                found = os.stat(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if found.st_ino == target.st_ino and found.st_dev == target.st_dev:
                return True
    return False


_F_SETSIG, _F_SETLEASE, _F_GETLEASE = 10, 1024, 1025  # Linux's fcntl numbers; Python names only some


def _take_lease(fd: int) -> bool:
    """A read lease on ``fd``'s file: granted only while nobody has it open for writing,
    and broken by anyone who opens it so. Raises NotCompactable if someone has; False
    where leases cannot be had (not Linux, NFS, not the file's owner)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # A broken lease signals its holder, SIGIO by default, which would kill us: SIGURG is ignored.
        fcntl.fcntl(fd, _F_SETSIG, int(signal.SIGURG))
        fcntl.fcntl(fd, _F_SETLEASE, fcntl.F_RDLCK)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EBUSY):
            raise SnapshotBusy("registry.json is open in another program; compaction waits until it is closed") from None
        return False
    return True


def replace_unless_held(temporary: Path, path: Path, *, still_ours: Callable[[os.stat_result], bool]) -> None:
    """Replace the snapshot only if no other program holds it open: a plain TinyDB
    writes back into the handle it opened, which would by then be an unlinked file.

    A read lease says so at no cost (Linux): it is granted only while nobody has the
    file open for writing (readers are fine), and anyone who opens it for writing
    while we hold it breaks it. One who opened it just as it was replaced gets the
    old file back, so that their write lands where the seal sees it. ``still_ours``
    says whether the file, leased, is still the one the caller last checked."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        os.replace(temporary, path)
        return
    previous = path.with_name(f"{path.name}.tmp-previous-{os.getpid()}")
    try:
        if not _take_lease(fd):
            if held_open_elsewhere(path):  # no leases here (NFS, another owner): look in /proc
                raise SnapshotBusy(f"{path} is open in another program; compaction waits until it is closed")
            os.replace(temporary, path)
            return
        if not still_ours(os.fstat(fd)):
            # Written and closed by another program since we last looked: replacing
            # it now would lose that write. The next write looks, and refuses.
            raise OutsideEdit(f"{path} was changed by another program; compaction stopped")
        try:
            os.link(path, previous)
        except OSError:  # a filesystem without hard links
            os.replace(temporary, path)
            return
        os.replace(temporary, path)
        if fcntl.fcntl(fd, _F_GETLEASE) != fcntl.F_RDLCK:  # broken: someone is opening the old file to write
            os.replace(previous, path)
            raise SnapshotBusy(f"{path} was opened by another program mid-compaction; compaction waits")
        previous.unlink()
    except (NotCompactable, OutsideEdit):
        temporary.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)  # ends the lease, if any
