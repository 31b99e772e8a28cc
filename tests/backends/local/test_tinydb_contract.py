"""TinyDB's semantics on our storage, across processes: ids after truncate and drop,
empty tables, dropped tables, and plain ``TinyDB(dir, storage=JournalStorage)``.

Each answer must be the same in the writing process, in a fresh process replaying
the journal, and in a fresh process after compaction.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tinydb import TinyDB

from store.backends.local.journal import JournalStorage, RegistryDB

ROOT = Path(__file__).resolve().parents[3]

NEXT_INSERT = """
import json, sys
from store.backends.local.journal import RegistryDB
db = RegistryDB(sys.argv[1], create=False)
print(json.dumps({"id": db.table("t").insert({"new": True}), "tables": sorted(db.tables())}))
"""


def in_fresh_process(path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", NEXT_INSERT, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _truncate(db: RegistryDB) -> None:
    db.table("t").truncate()


def _remove_highest(db: RegistryDB) -> None:
    db.table("t").remove(doc_ids=[3])


def _remove_all_one_by_one(db: RegistryDB) -> None:
    for doc_id in (1, 2, 3):
        db.table("t").remove(doc_ids=[doc_id])


def _drop_tables(db: RegistryDB) -> None:
    db.drop_tables()


def _drop_table(db: RegistryDB) -> None:
    db.drop_table("t")


SCENARIOS = {
    "truncate": (_truncate, 1),
    "remove-highest": (_remove_highest, 4),  # ids never go back while the table holds documents
    "remove-all": (_remove_all_one_by_one, 1),
    "drop-tables": (_drop_tables, 1),
    "drop-table": (_drop_table, 1),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("where", ["writer", "replaying", "compacted"])
def test_next_id_agrees_in_every_process(tmp_path: Path, scenario: str, where: str) -> None:
    change, expected = SCENARIOS[scenario]
    db = RegistryDB(tmp_path / "db")
    db.table("t").insert_multiple({"n": n} for n in range(3))
    db.table("other").insert({"keep": 1})
    change(db)
    if where == "writer":
        assert db.table("t").insert({"new": True}) == expected
        db.close()
        return
    if where == "compacted":
        db.journal.compact()
    db.close()
    assert in_fresh_process(tmp_path / "db")["id"] == expected


def test_next_id_outside_a_transaction(tmp_path: Path) -> None:
    db = RegistryDB(tmp_path / "db")
    table = db.table("t")
    table.insert({"a": 1})
    assert [table._get_next_id() for _ in range(3)] == [2, 3, 4]
    assert table.insert({"b": 2}) == 5  # reserved ids are not handed out twice


@pytest.mark.parametrize("compact", [False, True], ids=["journal", "compacted"])
def test_empty_and_dropped_tables_persist(tmp_path: Path, compact: bool) -> None:
    db = RegistryDB(tmp_path / "db")
    db.table("gone").insert({"a": 1})
    db.table("kept-empty", persist_empty=True)
    db.table("not-kept", persist_empty=False)
    db.drop_table("gone")
    assert db.tables() == {"kept-empty"}
    if compact:
        db.journal.compact()
    db.close()
    assert in_fresh_process(tmp_path / "db")["tables"] == ["kept-empty", "t"]
    if compact:
        plain = TinyDB(tmp_path / "db" / "registry.json")
        assert plain.tables() == {"_modelreg", "kept-empty"}
        plain.close()


def test_plain_tinydb_over_journal_storage_persists(tmp_path: Path) -> None:
    db = TinyDB(tmp_path / "db", storage=JournalStorage)
    db.insert_multiple([{"n": 1, "nested": {"k": 1}}, {"n": 2}, {"n": 3}])
    db.update({"nested": {"k": 2}}, doc_ids=[1])
    db.remove(doc_ids=[2])
    db.table("extra").insert({"x": 1})
    db.drop_table("extra")
    db.close()
    again = RegistryDB(tmp_path / "db", create=False)
    assert {d.doc_id: dict(d) for d in again.all()} == {1: {"n": 1, "nested": {"k": 2}}, 3: {"n": 3}}
    assert again.tables() == {"_default"}
    again.close()


def test_the_change_feed_names_what_a_truncate_changed(tmp_path: Path) -> None:
    writer = RegistryDB(tmp_path / "db")
    writer.table("t").insert_multiple({"n": n} for n in range(3))
    reader = JournalStorage(tmp_path / "db", create=False)
    token = reader.token()
    writer.table("t").truncate()
    writer.table("t").insert({"n": "new"})
    changes = reader.changes_since(token)
    assert not changes.reset and changes.changed == {("t", "1"), ("t", "2"), ("t", "3")}
    assert reader.table("t") == {"1": {"n": "new"}}
    writer.close()
    reader.close()
