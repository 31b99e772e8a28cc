"""The table views TinyDB's readers and updaters get: documents copied as they are read, and the
writes an updater made recorded, so a failure never leaves a half-changed document in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping

from store.backends.local.journal_format import Doc
from store.records import copy_json


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
