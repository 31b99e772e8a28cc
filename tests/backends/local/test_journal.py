"""The journaled storage on its own: compaction, catching up, changes_since, what a
plain TinyDB reader sees, and recovery from what crashes leave behind.

Several JournalStorage objects on one directory stand in for several processes:
each has its own file descriptors, so their flocks exclude each other as between
processes. Real processes are in tests/backends/local/test_reliability.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tinydb import TinyDB

from store.backends.local import journal
from store.errors import StoreCorrupt, StoreWriteError
from store.backends.local.journal import JournalStorage, RegistryDB
from store.registry import Registry


def put(storage: JournalStorage, doc: dict[str, Any], table: str = "t") -> str:
    with storage.transaction():
        doc_id = str(storage.next_id(table))
        storage.put(table, doc_id, doc)
    return doc_id


def fresh(path: Path) -> dict[str, dict[str, Any]]:
    """What a process opening the registry now would see."""
    storage = JournalStorage(path, create=False)
    try:
        return {name: dict(docs) for name, docs in storage.read().items() if docs}
    finally:
        storage.close()


def journal_lines(path: Path) -> list[bytes]:
    return (path / "journal.jsonl").read_bytes().splitlines()


def snapshot(path: Path) -> dict[str, Any]:
    return json.loads((path / "registry.json").read_bytes())


def test_a_new_registry_has_a_snapshot_and_an_empty_journal(tmp_path: Path) -> None:
    JournalStorage(tmp_path / "r").close()
    assert snapshot(tmp_path / "r")["_modelreg"]["1"]["generation"] == 1
    assert len(journal_lines(tmp_path / "r")) == 1  # the header only


def test_a_write_appends_one_line_and_leaves_the_snapshot_alone(tmp_path: Path) -> None:
    storage = JournalStorage(tmp_path)
    before = (tmp_path / "registry.json").read_bytes()
    put(storage, {"a": 1})
    put(storage, {"a": 2})
    assert len(journal_lines(tmp_path)) == 3
    assert (tmp_path / "registry.json").read_bytes() == before
    assert fresh(tmp_path) == {"t": {"1": {"a": 1}, "2": {"a": 2}}}


def test_compaction_folds_the_journal_into_the_snapshot(tmp_path: Path) -> None:
    storage = JournalStorage(tmp_path)
    for i in range(5):
        put(storage, {"i": i})
    storage.compact()
    assert len(journal_lines(tmp_path)) == 1
    assert json.loads(journal_lines(tmp_path)[0])["generation"] == 2
    data = snapshot(tmp_path)
    assert data["_modelreg"]["1"]["generation"] == 2
    assert data["t"] == {str(i + 1): {"i": i} for i in range(5)}
    assert fresh(tmp_path)["t"] == data["t"]
    assert not list(tmp_path.glob("*.tmp-*"))


def test_compaction_happens_by_itself_once_the_journal_outgrows_the_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal, "MIN_COMPACT_BYTES", 1000)
    storage = JournalStorage(tmp_path)
    for i in range(30):
        put(storage, {"text": "x" * 100})
    assert snapshot(tmp_path)["_modelreg"]["1"]["generation"] > 1
    assert storage.journal_bytes < 1500
    assert len(fresh(tmp_path)["t"]) == 30


def test_another_process_catches_up_from_the_journal_tail(tmp_path: Path) -> None:
    writer, reader = JournalStorage(tmp_path), JournalStorage(tmp_path)
    put(writer, {"a": 1})
    assert reader.table("t") == {}  # nothing read until asked
    assert reader.refresh() is True
    assert reader.table("t") == {"1": {"a": 1}}
    assert reader.refresh() is False
    writer.compact()
    put(writer, {"a": 2})
    assert reader.refresh() is True
    assert reader.table("t") == {"1": {"a": 1}, "2": {"a": 2}}


def test_a_writer_catches_up_before_choosing_an_id(tmp_path: Path) -> None:
    first, second = JournalStorage(tmp_path), JournalStorage(tmp_path)
    assert put(first, {"by": "first"}) == "1"
    assert put(second, {"by": "second"}) == "2"  # never a duplicate id from a stale cache
    assert fresh(tmp_path)["t"] == {"1": {"by": "first"}, "2": {"by": "second"}}


def test_changes_since_reports_exactly_the_changed_documents(tmp_path: Path) -> None:
    writer, reader = JournalStorage(tmp_path), JournalStorage(tmp_path)
    put(writer, {"a": 1})
    put(writer, {"a": 2})
    token = reader.changes_since(reader.token()).token
    put(writer, {"a": 3})
    with writer.transaction():
        writer.put("t", "1", {"a": 10})
        writer.delete("t", "2")
        writer.put("u", "1", {"b": 1})
    changes = reader.changes_since(token)
    assert not changes.reset
    assert changes.changed == {("t", "1"), ("t", "2"), ("t", "3"), ("u", "1")}
    assert reader.table("t") == {"1": {"a": 10}, "3": {"a": 3}}
    assert reader.changes_since(changes.token).changed == frozenset()

    writer.compact()  # one compaction is followed, so the reader keeps its token
    put(writer, {"a": 4})
    again = reader.changes_since(changes.token)
    assert not again.reset and again.changed == {("t", "4")}

    writer.compact()
    with writer.transaction():
        writer.put("t", "1", {"a": 11})
    writer.compact()  # the reader missed a whole journal: it reloads, and still knows what differs
    put(writer, {"a": 5})
    last = reader.changes_since(again.token)
    assert not last.reset and last.changed == {("t", "1"), ("t", "5")}
    assert reader.table("t") == fresh(tmp_path)["t"]


def test_plain_tinydb_reads_a_consistent_state(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "r")
    reg.register("m", metrics={"acc": 0.5})
    compacted = TinyDB(tmp_path / "r" / "registry.json", access_mode="r").table("versions").all()
    reg.register("m", metrics={"acc": 0.6})
    reg.tag("m:v1", "x")
    # Before compaction a plain reader sees an earlier state, whole, never a part-written one.
    before = TinyDB(tmp_path / "r" / "registry.json", access_mode="r").table("versions").all()
    assert before == compacted
    reg.close()  # a small registry folds its journal on close
    docs = TinyDB(tmp_path / "r" / "registry.json", access_mode="r").table("versions").all()
    assert sorted((d["version"], d.get("tags", [])) for d in docs) == [("v1", ["x"]), ("v2", [])]


def test_leftover_temporary_files_are_removed_on_open(tmp_path: Path) -> None:
    JournalStorage(tmp_path).close()
    for name in ("registry.json.tmp-4242", "journal.jsonl.tmp-99"):
        (tmp_path / name).write_bytes(b'{"half')
    JournalStorage(tmp_path).close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.jsonl", "lock", "registry.json"]


def test_temporary_files_of_a_live_writer_are_left_alone(tmp_path: Path) -> None:
    writer = JournalStorage(tmp_path)
    leftover = tmp_path / "registry.json.tmp-4242"
    with writer.transaction():  # holding the lock, as a writer mid-compaction would
        leftover.write_bytes(b'{"half')
        JournalStorage(tmp_path).close()
        assert leftover.exists()
    JournalStorage(tmp_path).close()
    assert not leftover.exists()


@pytest.mark.parametrize("torn", [b'[["p","t","9",{"a":', b'[["p","t","9",{"a":\n'], ids=["no-newline", "newline"])
def test_a_torn_last_line_is_ignored_and_cut_by_the_next_writer(tmp_path: Path, torn: bytes) -> None:
    storage = JournalStorage(tmp_path)
    put(storage, {"a": 1})
    storage.close()
    with open(tmp_path / "journal.jsonl", "ab") as handle:
        handle.write(torn)
    assert fresh(tmp_path) == {"t": {"1": {"a": 1}}}
    storage = JournalStorage(tmp_path)
    put(storage, {"a": 2})
    assert fresh(tmp_path) == {"t": {"1": {"a": 1}, "2": {"a": 2}}}
    assert all(json.loads(line) for line in journal_lines(tmp_path))


def test_a_damaged_line_before_the_end_is_a_one_line_error(tmp_path: Path) -> None:
    storage = JournalStorage(tmp_path)
    put(storage, {"a": 1})
    put(storage, {"a": 2})
    storage.close()
    lines = journal_lines(tmp_path)
    lines[1] = lines[1][:-5] + b"#####"
    (tmp_path / "journal.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(StoreCorrupt) as error:
        JournalStorage(tmp_path)
    assert "\n" not in str(error.value) and "journal.jsonl" in str(error.value)


def test_a_corrupt_snapshot_is_a_one_line_error_and_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "r"
    reg = Registry(path)
    reg.register("m")
    reg.close()
    damaged = (path / "registry.json").read_bytes()[:-20]
    (path / "registry.json").write_bytes(damaged)
    journal_before = (path / "journal.jsonl").read_bytes()
    for attempt in (lambda: Registry(path), lambda: Registry(path, create=False), lambda: JournalStorage(path)):
        with pytest.raises(StoreCorrupt) as error:
            attempt()
        message = str(error.value)
        assert "\n" not in message and "registry.json" in message and "backup" in message
    assert (path / "registry.json").read_bytes() == damaged
    assert (path / "journal.jsonl").read_bytes() == journal_before


def test_a_missing_snapshot_beside_a_journal_is_a_one_line_error(tmp_path: Path) -> None:
    storage = JournalStorage(tmp_path)
    put(storage, {"a": 1})
    storage.close()
    (tmp_path / "registry.json").unlink()
    with pytest.raises(StoreCorrupt, match="registry.json is missing"):
        JournalStorage(tmp_path)
    assert not (tmp_path / "registry.json").exists()


def _dies_between_renames(storage: JournalStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``storage`` stop a compaction after replacing the snapshot, before the
    journal: where a SIGKILL between the two renames leaves the files."""

    def killed(generation: int) -> None:
        raise StoreWriteError("killed between the renames")

    monkeypatch.setattr(storage, "_start_journal", killed)


def test_a_compaction_stopped_between_its_renames_loses_no_later_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Found by the SIGKILL test: a process following the old journal kept appending
    # to it after the snapshot moved on, and readers then ignored those writes.
    follower = JournalStorage(tmp_path)
    dying = JournalStorage(tmp_path)
    put(dying, {"a": 1})
    follower.refresh()
    _dies_between_renames(dying, monkeypatch)
    with pytest.raises(StoreWriteError):
        dying.compact()
    dying.close()
    assert put(follower, {"a": 2}) == "2"
    assert fresh(tmp_path) == {"t": {"1": {"a": 1}, "2": {"a": 2}}}
    assert json.loads(journal_lines(tmp_path)[0])["generation"] == snapshot(tmp_path)["_modelreg"]["1"]["generation"]


def test_a_process_opening_after_a_stopped_compaction_finishes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dying = JournalStorage(tmp_path)
    put(dying, {"a": 1})
    _dies_between_renames(dying, monkeypatch)
    with pytest.raises(StoreWriteError):
        dying.compact()
    dying.close()
    opened = JournalStorage(tmp_path)
    assert opened.table("t") == {"1": {"a": 1}}
    put(opened, {"a": 2})
    assert fresh(tmp_path) == {"t": {"1": {"a": 1}, "2": {"a": 2}}}


def test_a_failed_automatic_compaction_is_finished_by_the_next_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = JournalStorage(tmp_path)
    monkeypatch.setattr(journal, "MIN_COMPACT_BYTES", 0)
    monkeypatch.setattr(journal, "COMPACT_RATIO", 0)
    real = storage._start_journal
    _dies_between_renames(storage, monkeypatch)
    assert put(storage, {"a": 1}) == "1"  # durable before the compaction failed: it returns
    monkeypatch.setattr(storage, "_start_journal", real)
    monkeypatch.setattr(journal, "MIN_COMPACT_BYTES", 1 << 30)  # this write must not compact by itself
    assert put(storage, {"a": 2}) == "2"
    assert fresh(tmp_path) == {"t": {"1": {"a": 1}, "2": {"a": 2}}}


def test_a_torn_tail_in_a_journal_just_followed_is_cut_before_appending(tmp_path: Path) -> None:
    follower, other = JournalStorage(tmp_path), JournalStorage(tmp_path)
    put(other, {"a": 1})
    other.compact()
    with open(tmp_path / "journal.jsonl", "ab") as handle:
        handle.write(b'[["p","t","7",{"half')  # a writer died mid-append in the new journal
    other.close()
    assert put(follower, {"a": 2}) == "2"
    assert fresh(tmp_path) == {"t": {"1": {"a": 1}, "2": {"a": 2}}}


def test_an_error_inside_a_transaction_undoes_it_in_memory_and_writes_nothing(tmp_path: Path) -> None:
    storage = JournalStorage(tmp_path)
    put(storage, {"a": 1})
    size = (tmp_path / "journal.jsonl").stat().st_size
    with pytest.raises(ValueError):
        with storage.transaction():
            storage.put("t", "1", {"a": 99})
            storage.put("t", "2", {"a": 2})
            raise ValueError("the caller changed its mind")
    assert storage.table("t") == {"1": {"a": 1}}
    assert (tmp_path / "journal.jsonl").stat().st_size == size


def test_tinydb_queries_and_updates_go_through_the_journal(tmp_path: Path) -> None:
    from tinydb import Query

    db = RegistryDB(tmp_path)
    table = db.table("items")
    table.insert_multiple([{"n": i} for i in range(5)])
    table.update({"big": True}, Query().n >= 3)
    table.remove(Query().n == 0)
    assert sorted(d["n"] for d in table.search(Query().big == True)) == [3, 4]  # noqa: E712
    assert {doc_id: doc.get("big", False) for doc_id, doc in fresh(tmp_path)["items"].items()} == {
        "2": False, "3": False, "4": True, "5": True,
    }
