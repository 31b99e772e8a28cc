"""The deploy history on an MLflow server: versions of a hidden registered model, and the fold over them.

Every history entry is a model version of ``<prefix>_modelreg.history``: its number, assigned by the
server under the server's own atomicity, is the entry's ``seq``. Measured: registered-model tags
as a history lost 33-39 of 80 entries under 4 concurrent deployers; versions kept 80 of 80.

A switch of what is live is decided by the log alone, the same way by every reader: walking one
(model, environment)'s switch entries in ``seq`` order, an entry is *accepted* if its ``from`` is
what the entries accepted before it left live, and *refused* otherwise. A deployer writes its entry,
then folds: accepted, it points the alias (the environment) at its version, and re-folds until no
newer accepted entry appeared meanwhile, so the alias always ends at the log's last word; refused,
it deletes its entry and raises ``DeployConflict`` naming the entry that got there first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from store.backends.mlflow.mapping import PREFIX, tags_of
from store.backends.protocol import Doc

HISTORY_MODEL = "_modelreg.history"
ENTRY_TAG, TARGET_TAG, KIND_TAG, CAS_TAG = PREFIX + "entry", PREFIX + "target", PREFIX + "kind", PREFIX + "switch"
# A switch entry also carries the statuses it sets, and is marked done once they are set and the alias
# pointed: an accepted entry not done (its writer or the server died first) is finished by the next
# switch, and until then readers take the log's word over the alias it did not move.
STATUSES_TAG, DONE_TAG = PREFIX + "statuses", PREFIX + "done"
SWITCH, NOTE = "switch", "note"


def target(model: str, env: str) -> str:
    return json.dumps([model, env], separators=(",", ":"))


def entry_tags(entry: Mapping[str, Any], kind: str, switch: tuple[str | None, str | None] = (None, None),
               statuses: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """The tags of a history entry; ``switch``: (what it expects live, what it makes live); ``statuses``:
    what a switch sets (its entry is then finished only once marked done)."""
    tags = [{"key": CAS_TAG, "value": json.dumps(list(switch))},
            {"key": ENTRY_TAG, "value": json.dumps(dict(entry), allow_nan=False, separators=(",", ":"))},
            {"key": TARGET_TAG, "value": target(str(entry.get("model")), str(entry.get("env")))},
            {"key": KIND_TAG, "value": kind}]
    if statuses is not None:
        tags.append({"key": STATUSES_TAG, "value": json.dumps(dict(statuses))})
    return tags


@dataclass
class Entry:
    seq: int
    kind: str
    doc: Doc
    expected: str | None = None
    to: str | None = None
    created: float = 0.0  # the server's clock, in seconds
    statuses: dict[str, str] = field(default_factory=dict)
    done: bool = True  # False: a switch whose statuses and alias may not have been set (see DONE_TAG)

    @property
    def key(self) -> tuple[str, str]:
        return (str(self.doc.get("model")), str(self.doc.get("env")))


def parse(answer: Mapping[str, Any], problems: list[str]) -> Entry | None:
    """An entry from a history model version; None (and a problem) for one that is not modelreg's."""
    number = str(answer.get("version", ""))
    tags = tags_of(answer)
    try:
        doc = json.loads(tags[ENTRY_TAG])
        if not isinstance(doc, dict):
            raise ValueError
        seq = int(number)
        expected, to = json.loads(tags.get(CAS_TAG, "[null, null]"))
    except (KeyError, ValueError, TypeError):
        problems.append(f"deploy history entry {number}: not a modelreg history entry; left out")
        return None
    doc["seq"] = seq
    try:
        created = int(answer.get("creation_timestamp") or 0) / 1000
    except (TypeError, ValueError):
        created = 0.0
    try:
        statuses = json.loads(tags[STATUSES_TAG]) if STATUSES_TAG in tags else {}
        statuses = {str(k): str(v) for k, v in statuses.items()}
    except (ValueError, AttributeError):
        statuses = {}
    done = STATUSES_TAG not in tags or DONE_TAG in tags  # entries written before the mark count as done
    return Entry(seq, tags.get(KIND_TAG, NOTE), doc, expected, to, created, statuses, done)


@dataclass
class Fold:
    """What the switch entries of one (model, env) leave live, and which of them were accepted."""

    live: str | None = None
    last: Entry | None = None  # the last accepted entry
    refused: dict[int, Entry] = field(default_factory=dict)  # refused seq -> the accepted entry before it
    upto: int = 0

    def add(self, entry: Entry) -> bool:
        self.upto = max(self.upto, entry.seq)
        if self.last is not None and entry.expected != self.live:
            self.refused[entry.seq] = self.last
            return False
        self.live, self.last = entry.to, entry  # the first entry of a target starts it wherever it says
        return True


class HistoryLog:
    """Every entry seen so far, by seq; the folds per target; what ``history()`` shows."""

    def __init__(self) -> None:
        self.entries: dict[int, Entry] = {}
        self.folds: dict[tuple[str, str], Fold] = {}
        self.visible: dict[str, Doc] = {}

    @property
    def upto(self) -> int:
        return max(self.entries, default=0)

    def add(self, entries: Iterable[Entry]) -> set[str]:
        """Take entries (any order, any repeats); the ids of ``visible`` that changed."""
        changed: set[str] = set()
        for entry in sorted(entries, key=lambda e: e.seq):
            if entry.seq in self.entries:
                self.entries[entry.seq].done |= entry.done  # marked done since we saw it
                continue
            self.entries[entry.seq] = entry
            if entry.kind == SWITCH:
                key = entry.key
                fold = self.folds.setdefault(key, Fold())
                if entry.seq < fold.upto:  # arrived late (a gap filled): fold this target again
                    changed |= self._refold(key)
                    continue
                if not fold.add(entry):
                    continue
            self.visible[str(entry.seq)] = entry.doc
            changed.add(str(entry.seq))
        return changed

    def forget(self, seq: int) -> set[str]:
        """An entry deleted on the server (a refused switch, cleaned up by its writer)."""
        entry = self.entries.pop(seq, None)
        if entry is None:
            return set()
        if entry.kind == SWITCH:
            return self._refold(entry.key) | {str(seq)}
        self.visible.pop(str(seq), None)
        return {str(seq)}

    def fold(self, model: str, env: str) -> Fold:
        return self.folds.get((model, env)) or Fold()

    def _refold(self, key: tuple[str, str]) -> set[str]:
        fold = Fold()
        changed: set[str] = set()
        for seq in sorted(self.entries):
            entry = self.entries[seq]
            if entry.kind != SWITCH or entry.key != key:
                continue
            accepted = fold.add(entry)
            if accepted and str(seq) not in self.visible:
                self.visible[str(seq)] = entry.doc
                changed.add(str(seq))
            elif not accepted and self.visible.pop(str(seq), None) is not None:
                changed.add(str(seq))
        self.folds[key] = fold
        return changed
