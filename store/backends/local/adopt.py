"""Outside changes to registry.json: what they are, and taking them in as journaled writes.

A plain ``TinyDB("registry.json")`` that writes rewrites the snapshot behind the
journal's back. The seal (``seal.py``) notices; the per-document digests say
which documents the other program edited, added or removed. ``adopt`` then writes
each of those changes through the journal, as any modelreg write, after checking it:
a document that is not a valid version or model, that holds NaN or Infinity, or
that modelreg changed too since the snapshot it was made on, is reported and left
out, and kept in ``registry.json.rejected`` so nothing is lost.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store.errors import OutsideEdit, SnapshotBusy, StoreCorrupt, StoreWriteError
from store.backends.index import is_model, is_version
from store.backends.local.journal import JOURNAL, META_TABLE, SNAPSHOT, JournalStorage, _nonfinite
from store.records import Version
from store.backends.local.seal import document_digest, held_open_elsewhere, parse_digests

Tables = dict[str, dict[str, Any]]
REJECTED = SNAPSHOT + ".rejected"


@dataclass(frozen=True)
class OutsideChange:
    table: str
    doc_id: str
    kind: str  # "edited", "added" or "removed"
    doc: Any  # the document as the other program left it (None when removed)

    @property
    def where(self) -> str:
        name = describe(self.table, self.doc)
        return f"{self.table}/{self.doc_id}" + (f" ({name})" if name else "")


def describe(table: str, doc: Any) -> str:
    if table == "versions" and isinstance(doc, dict) and isinstance(doc.get("model"), str):
        return f"{doc['model']}:{doc.get('version')}"
    if table == "models" and isinstance(doc, dict) and isinstance(doc.get("name"), str):
        return doc["name"]
    return ""


def outside_changes(tables: Tables, digests: dict[str, dict[str, str]]) -> list[OutsideChange]:
    """Every document that differs from what modelreg wrote (``digests``), table by table."""
    changes = []
    for name in sorted(set(tables) | set(digests)):
        now, before = tables.get(name, {}), digests.get(name, {})
        for doc_id, doc in now.items():
            recorded = before.get(doc_id)
            if recorded is None:
                changes.append(OutsideChange(name, doc_id, "added", doc))
            elif recorded != document_digest(doc):
                changes.append(OutsideChange(name, doc_id, "edited", doc))
        changes.extend(OutsideChange(name, i, "removed", None) for i in before if i not in now)
    return changes


def summarise(changes: list[OutsideChange]) -> str:
    """``2 edited (versions/3 (m:v3), ...), 1 added (...)``: for one line."""
    parts = []
    for kind in ("edited", "added", "removed"):
        found = [c.where for c in changes if c.kind == kind]
        if found:
            shown = ", ".join(found[:3]) + (", …" if len(found) > 3 else "")
            parts.append(f"{len(found)} {kind} ({shown})")
    return "; ".join(parts) or "no document differs (only the file's layout changed)"


def invalid_reason(table: str, doc: Any) -> str | None:
    """Why ``doc`` may not go into ``table``, or None if it may."""
    if _nonfinite(doc):
        return "it holds NaN or Infinity, which JSON cannot hold"
    if not isinstance(doc, dict):
        return "it is not a JSON object"
    if table == "versions":
        if not is_version(doc):
            return "it is not a version (a version has 'model' and 'version' strings)"
        try:
            Version.from_doc(doc)
        except Exception as error:  # any shape Version cannot read is refused, never a traceback
            return f"it is not a version ({type(error).__name__}: {error})"
    if table == "models" and not is_model(doc):
        return "it is not a model (a model has a 'name' string)"
    return None


@dataclass
class Adoption:
    adopted: list[str]  # one line per change taken in
    rejected: list[str]  # one line per change left out, and why
    kept_in: Path | None = None  # where the rejected documents were written
    resealed: bool = False  # there were outside changes (maybe only to the file's layout), now sealed


def _journal_touched(directory: Path) -> tuple[set[tuple[str, str]], set[str]]:
    """What modelreg wrote since the snapshot: (documents, tables created or dropped)."""
    docs: set[tuple[str, str]] = set()
    tables: set[str] = set()
    lines = (directory / JOURNAL).read_bytes().split(b"\n")[1:]
    for line in lines:
        try:
            ops = json.loads(line, parse_constant=float)
        except ValueError:
            continue  # a torn tail: the storage already refused to load anything worse
        if ops and ops[0] == ["a"]:
            continue  # an earlier adoption's line: the other program's changes, not modelreg's
        for op in ops:
            if op[0] in ("p", "d"):
                docs.add((op[1], op[2]))
            else:
                tables.add(op[1])
    return docs, tables


def adopt(directory: str | os.PathLike[str], *, attempts: int = 20) -> Adoption:
    """Take the outside changes to ``directory``'s registry.json in as journaled writes,
    then seal a fresh snapshot. Raises ``ModelregError`` subclasses with one line.

    If the other program writes again meanwhile, the file is looked at again: the
    snapshot is only replaced once everything in it was taken in."""
    directory = Path(directory)
    storage = JournalStorage(directory, create=False)
    result = Adoption([], [])
    touched: tuple[set[tuple[str, str]], set[str]] | None = None
    try:
        with storage.adopting():
            for _ in range(attempts):
                with storage.transaction():
                    pass  # catch up: the other program may have written since we opened
                if not storage.outside_edit:
                    break
                if held_open_elsewhere(directory / SNAPSHOT):
                    raise SnapshotBusy(
                        f"{directory / SNAPSHOT} is open in another program; close it (a TinyDB: db.close()), then "
                        "run 'modelreg doctor --adopt' again"
                    )
                with storage.transaction():
                    try:
                        tables, meta = storage.snapshot_as_found()
                    except ValueError:
                        raise StoreCorrupt(f"{directory / SNAPSHOT} is no longer valid JSON; run 'modelreg doctor'") from None
                    digests = parse_digests(meta)
                    if digests is None:
                        raise StoreCorrupt(
                            f"cannot tell what changed in {directory / SNAPSHOT}: its '{META_TABLE}' table was removed "
                            "or edited; restore the file from a backup, or put that table back as it was"
                        )
                    if touched is None:
                        # modelreg's own writes since the seal; later rounds add only ours, and other
                        # modelreg writers are refused until the file is sealed again.
                        touched = _journal_touched(directory)
                    found = _apply(storage, outside_changes(tables, digests), *touched)
                result.adopted += found.adopted
                result.rejected += found.rejected
                result.resealed = True
                try:
                    storage.compact()  # seals the new snapshot: writes are allowed again
                except OutsideEdit:
                    continue  # written again meanwhile: take that in too
                break
            else:
                raise StoreWriteError(f"{directory / SNAPSHOT} kept changing while being adopted; stop the program writing it")
    finally:
        storage.close()
    result.adopted = list(dict.fromkeys(result.adopted))  # a change seen again in a later round is one line
    result.rejected = list(dict.fromkeys(result.rejected))
    if result.rejected:
        result.kept_in = directory / REJECTED
    return result


def _apply(
    storage: JournalStorage, changes: list[OutsideChange], touched: set[tuple[str, str]], touched_tables: set[str]
) -> Adoption:
    result = Adoption([], [])
    rejected: list[dict[str, Any]] = []
    storage.mark_adopted()

    def reject(change: OutsideChange, reason: str) -> None:
        result.rejected.append(f"{change.kind} {change.where}: {reason}; not adopted")
        rejected.append({"table": change.table, "id": change.doc_id, "kind": change.kind, "reason": reason, "document": change.doc})

    for change in changes:
        table, doc_id, doc = change.table, change.doc_id, change.doc
        current = storage.table(table).get(doc_id)
        also_ours = (table, doc_id) in touched or table in touched_tables
        if change.kind == "removed":
            if also_ours and current is not None:
                reject(change, "modelreg changed it after the snapshot the removal was made on, so it stays")
                continue
            storage.delete(table, doc_id)
            result.adopted.append(f"removed {change.where}")
            continue
        if also_ours and change.kind == "added" and any(kept == doc for kept in storage.table(table).values()):
            result.adopted.append(f"added {change.where} (already taken in)")  # by an earlier round of adoption
            continue
        if change.kind == "edited" and also_ours:
            if current == doc:
                result.adopted.append(f"edited {change.where} (already taken in)")
                continue
            reject(change, "modelreg changed it too after the snapshot the edit was made on; modelreg's copy stays")
            continue
        reason = invalid_reason(table, doc)
        if reason is None and table == "versions":
            reason = _duplicate(storage, doc, doc_id if not also_ours else None)
        if reason is not None:
            reject(change, reason)
            if not also_ours and current is not None:
                storage.delete(table, doc_id)  # the merged state holds it; it must not stay half-adopted
            continue
        if change.kind == "added" and also_ours and current != doc:
            # The other program took an id that modelreg's journal had already used.
            new_id = str(storage.next_id(table))
            storage.put(table, new_id, doc)
            result.adopted.append(f"added {table}/{new_id}{_named(table, doc)} (its id {doc_id} was taken, so it got a new one)")
            continue
        storage.put(table, doc_id, doc)
        result.adopted.append(f"{change.kind} {change.where}")
    if rejected:
        _keep_rejected(storage.directory / REJECTED, rejected)
    return result


def _named(table: str, doc: Any) -> str:
    name = describe(table, doc)
    return f" ({name})" if name else ""


def _duplicate(storage: JournalStorage, doc: dict[str, Any], own_id: str | None) -> str | None:
    key = (doc["model"], doc["version"])
    for other_id, other in _versions(storage):
        if other_id != own_id and (other.get("model"), other.get("version")) == key:
            return f"{key[0]}:{key[1]} already exists (versions/{other_id})"
    return None


def _versions(storage: JournalStorage) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc_id, doc in storage.table("versions").items():
        if isinstance(doc, dict):
            yield doc_id, doc


def _keep_rejected(path: Path, rejected: list[dict[str, Any]]) -> None:
    """Append what was left out to ``path``, one JSON line each (NaN kept readable)."""
    with open(path, "a", encoding="utf-8") as handle:
        for entry in rejected:
            handle.write(json.dumps(entry, allow_nan=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
