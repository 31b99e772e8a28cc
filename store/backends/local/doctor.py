"""``modelreg doctor``: check a registry's files and say in plain words what is wrong.

It reads the files itself instead of opening a ``Registry`` (opening tidies up, and
a check must change nothing). ``fix=True`` repairs what can be repaired without
losing data: bytes it takes out of a file are kept beside it in ``<file>.damaged``.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store.durable import fsync_dir
from store.backends.index import is_model, is_version
from store.backends.local.adopt import outside_changes, summarise
from store.backends.local.journal import JOURNAL, LOCK, META_TABLE, SNAPSHOT, JournalStorage, nonfinite_documents
from store.backends.local.seal import Seal, encode_snapshot, parse_digests
from store.errors import ModelregError

Tables = dict[str, dict[str, Any]]


@dataclass
class Finding:
    message: str  # one line, plain words
    fixed: bool = False


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    rebuilt: bool = False  # registry.json was rebuilt: compact once the lock is free
    outside_edit: bool = False  # another program changed registry.json: --adopt, not --fix

    def add(self, message: str) -> Finding:
        finding = Finding(message)
        self.findings.append(finding)
        return finding

    @property
    def healthy(self) -> bool:
        return all(f.fixed for f in self.findings)


def _loads(raw: bytes) -> Any:
    return json.loads(raw, parse_constant=float)  # NaN/Infinity are reported below, not refused here


def _keep_damaged(path: Path, chunks: list[bytes]) -> Path:
    """Append bytes taken out of ``path`` to ``path.damaged`` (fsynced), never losing them."""
    kept = path.with_name(path.name + ".damaged")
    with open(kept, "ab") as handle:
        for chunk in chunks:
            handle.write(chunk if chunk.endswith(b"\n") else chunk + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    return kept


def _replace(path: Path, payload: bytes) -> None:
    temporary = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    with open(temporary, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_dir(path.parent)


def _read_snapshot(path: Path, report: Report) -> tuple[Tables | None, Any, bytes | None]:
    """(tables, meta document, raw bytes); tables None when missing, empty or unreadable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        report.add(f"{path.name} is missing")
        return None, None, None
    if not raw.strip():
        report.add(f"{path.name} is empty ({len(raw)} bytes)")
        return None, None, raw
    try:
        data = _loads(raw)
    except ValueError as error:
        report.add(f"{path.name} is not valid JSON ({error.msg} at byte {error.pos})")
        return None, None, raw
    if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
        report.add(f"{path.name} does not hold TinyDB tables")
        return None, None, raw
    meta = data.pop(META_TABLE, {}).get("1", {})
    return data, meta if isinstance(meta, dict) else {}, raw


def _replay(tables: Tables, ops: list[Any]) -> None:
    for op in ops:
        kind, name = op[0], op[1]
        if kind == "p":
            tables.setdefault(name, {})[op[2]] = op[3]
        elif kind == "d":
            tables.setdefault(name, {}).pop(op[2], None)
        elif kind == "c":
            tables.setdefault(name, {})
        elif kind == "x":
            tables.pop(name, None)


def examine(directory: str | os.PathLike[str], *, fix: bool = False) -> Report:
    """Check the registry in ``directory``; with ``fix``, repair what can be repaired."""
    directory = Path(directory)
    report = Report()
    lock_fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644) if fix else None
    try:
        if lock_fd is not None:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)  # no modelreg process writes while we repair
        _examine(directory, report, fix)
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
    if report.rebuilt:
        try:
            storage = JournalStorage(directory, create=False)
            try:
                storage.compact()
            finally:
                storage.close()
        except ModelregError:
            pass  # the journal holds everything; the next write compacts
    if not report.findings:
        report.findings.append(Finding("no problems found", fixed=True))
    return report


def _examine(directory: Path, report: Report, fix: bool) -> None:
    snapshot_path, journal_path = directory / SNAPSHOT, directory / JOURNAL
    for leftover in sorted(directory.glob("*.tmp-*")):
        finding = report.add(f"{leftover.name} is a temporary file left by a process that stopped mid-write")
        if fix:
            leftover.unlink(missing_ok=True)
            finding.fixed = True
            finding.message += "; removed"

    tables, meta, snapshot_raw = _read_snapshot(snapshot_path, report)
    generation = int(meta.get("generation", 0)) if tables is not None else None
    snapshot_finding = report.findings[-1] if tables is None else None

    try:
        raw = journal_path.read_bytes()
    except FileNotFoundError:
        raw = None
        if tables is not None:
            return _check_documents(tables, report)
        report.add(f"{JOURNAL} is missing too: nothing to rebuild from; restore {SNAPSHOT} from a backup")
        return
    header_end = raw.find(b"\n")
    try:
        header = _loads(raw[:header_end]) if header_end >= 0 else None
        header_gen = int(header["generation"]) if header is not None else None
    except (ValueError, KeyError, TypeError):
        report.add(f"{JOURNAL}'s first line (which snapshot it follows) is damaged; restore it from a backup")
        return
    body_start = header_end + 1 if header_end >= 0 else len(raw)

    good: list[bytes] = []
    damaged: list[tuple[int, bytes]] = []  # (byte offset, the line) of lines that do not parse
    ops: list[Any] = []
    offset = body_start
    lines = raw[body_start:].split(b"\n")
    torn = lines.pop()  # after the last newline: a line a crash cut short (usually empty)
    for line in lines:
        try:
            parsed = _loads(line)
            if not isinstance(parsed, list) or not all(isinstance(op, list) and len(op) >= 2 for op in parsed):
                raise ValueError
        except ValueError:
            damaged.append((offset, line))
        else:
            good.append(line)
            ops.extend(parsed)
        offset += len(line) + 1
    journal_findings = []
    if damaged:
        where = ", ".join(f"byte {at}" for at, _ in damaged[:5])
        journal_findings.append(report.add(
            f"{JOURNAL} has {len(damaged)} damaged line(s) (at {where}); the {len(good)} good lines before and after can be kept"
        ))
    if torn:
        journal_findings.append(report.add(
            f"{JOURNAL} ends in a torn line ({len(torn)} bytes) left by a crash mid-write; it was never acknowledged"
        ))
    if journal_findings and fix:
        kept = _keep_damaged(journal_path, [line for _, line in damaged] + ([torn] if torn else []))
        _replace(journal_path, raw[:body_start] + b"".join(line + b"\n" for line in good))
        for finding in journal_findings:
            finding.fixed = True
            finding.message += f"; its bytes were moved to {kept.name}"

    if tables is None:
        if header_gen is None or header_gen <= 1:
            # The journal follows the registry's first snapshot, which modelreg writes empty:
            # replaying it alone gives everything.
            tables = {}
            _replay(tables, ops)
            if fix and snapshot_finding is not None:
                if snapshot_raw:
                    _keep_damaged(snapshot_path, [snapshot_raw])
                # Exactly the registry's first, empty snapshot, which the journal's seal
                # describes; the journal replays everything onto it, and the next
                # compaction (run by examine) writes the full state for TinyDB readers.
                _replace(snapshot_path, encode_snapshot({"generation": header_gen or 1, "format": 1, "ids": {}}, {}))
                report.rebuilt = True
                snapshot_finding.fixed = True
                snapshot_finding.message += "; rebuilt from the journal, which starts at the registry's beginning"
            elif snapshot_finding is not None:
                snapshot_finding.message += f"; it can be rebuilt from {JOURNAL}, which starts at the registry's beginning (--fix)"
        else:
            if snapshot_finding is not None:
                snapshot_finding.message += (
                    f"; {JOURNAL} holds only the changes since snapshot {header_gen}, so restore {SNAPSHOT} from a backup"
                )
            return
    elif header_gen is not None and generation is not None and header_gen > generation:
        report.add(f"{SNAPSHOT} is snapshot {generation} but {JOURNAL} follows snapshot {header_gen}: {SNAPSHOT} was replaced by another program; restore it from a backup")
        return
    elif header_gen is not None and generation is not None and header_gen == generation:
        _check_outside_edit(snapshot_path, snapshot_raw or b"", tables, meta, header, report)
        _replay(tables, ops)
    _check_documents(tables, report)


def _check_outside_edit(path: Path, raw: bytes, tables: Tables, meta: Any, header: Any, report: Report) -> None:
    """Whether another program changed registry.json since modelreg sealed it, and how."""
    seal = Seal.from_header(header) if isinstance(header, dict) else None
    if seal is None or seal.matches(raw, os.stat(path)):
        return
    digests = parse_digests(meta)
    what = summarise(outside_changes(tables, digests)) if digests is not None else (
        f"its '{META_TABLE}' table was removed or edited, so which documents changed cannot be told"
    )
    report.outside_edit = True
    report.add(
        f"{SNAPSHOT} was changed outside modelreg since modelreg wrote it: {what}; modelreg refuses to write until "
        "'modelreg doctor --adopt' takes the changes in"
    )


def _check_documents(tables: Tables, report: Report) -> None:
    for name, test, what in (("versions", is_version, "a version"), ("models", is_model, "a model")):
        odd = sorted((i for i, doc in tables.get(name, {}).items() if not test(doc)), key=lambda i: int(i) if i.isdigit() else 0)
        if odd:
            report.add(f"{len(odd)} document(s) in '{name}' are not {what} (id {', '.join(odd[:5])}); modelreg ignores them; remove or correct them by hand")
    found = nonfinite_documents(tables)
    if found:
        report.add(f"{', '.join(found[:5])} hold NaN or Infinity, which JSON cannot hold; correct them by hand (compaction is skipped until then)")
