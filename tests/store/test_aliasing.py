"""Copies out, copies in: nothing a caller holds is shared with the live store.

Changing a dict after ``insert()``, or a document that ``get()``/``search()`` or the
``Registry`` handed out, must change neither the live store nor the files on disk,
in this process or in a fresh one after ``close()``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tinydb import Query, TinyDB

from store.backends.local.journal import RegistryDB
from store.registry import Registry

ROOT = Path(__file__).resolve().parents[2]

FRESH_TINYDB = """
import json, sys
from store.backends.local.journal import RegistryDB
db = RegistryDB(sys.argv[1], create=False)
print(json.dumps({name: {str(d.doc_id): d for d in db.table(name).all()} for name in sorted(db.tables())}))
"""

FRESH_REGISTRY = """
import json, sys
from store.registry import Registry
reg = Registry(sys.argv[1], create=False)
print(json.dumps({"v1": reg.get("m:v1").to_dict(), "history": reg.history()}))
"""


def fresh(script: str, path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def plain_tinydb(path: Path) -> dict:
    db = TinyDB(path / "registry.json")
    try:
        return {name: {str(d.doc_id): dict(d) for d in db.table(name).all()} for name in db.tables() if name != "_modelreg"}
    finally:
        db.close()


@pytest.mark.parametrize("compact", [False, True], ids=["journal", "compacted"])
def test_documents_in_and_out_of_the_storage_are_copies(tmp_path: Path, compact: bool) -> None:
    db = RegistryDB(tmp_path / "db")
    table = db.table("t")
    doc = {"name": "a", "opt": {"lr": 0.1}, "tags": ["x"]}
    doc_id = table.insert(doc)
    doc["opt"]["lr"] = 99  # after insert
    doc["tags"].append("leak")
    fields = {"more": {"k": 1}}
    table.update(fields, doc_ids=[doc_id])
    fields["more"]["k"] = 99  # after update
    many = [{"name": "b", "opt": {"lr": 0.2}}]
    table.insert_multiple(many)
    many[0]["opt"]["lr"] = 99

    for got in (table.get(doc_id=doc_id), table.search(Query().name == "a")[0], table.all()[0], next(iter(table)), table.get(Query().name == "a")):
        got["opt"]["lr"] = 99  # every way TinyDB hands a document out
        got["tags"].append("leak")
        got["more"]["k"] = 99
    expected = {
        str(doc_id): {"name": "a", "opt": {"lr": 0.1}, "tags": ["x"], "more": {"k": 1}},
        "2": {"name": "b", "opt": {"lr": 0.2}},
    }
    assert {str(d.doc_id): dict(d) for d in table.all()} == expected
    assert db.journal.table("t") == expected
    if compact:
        db.journal.compact()
    db.close()
    assert fresh(FRESH_TINYDB, tmp_path / "db")["t"] == expected
    if compact:
        assert plain_tinydb(tmp_path / "db")["t"] == expected


@pytest.mark.parametrize("compact", [False, True], ids=["journal", "compacted"])
def test_records_from_the_registry_are_read_only_copies(tmp_path: Path, compact: bool) -> None:
    reg = Registry(tmp_path / "reg")
    params = {"opt": {"lr": 0.1}, "layers": [1, 2]}
    extra = {"run": {"id": "abc"}}
    reg.register("m", params=params, metrics={"acc": 0.5}, run=extra["run"])
    params["opt"]["lr"] = 99  # after register
    params["layers"].append(3)
    extra["run"]["id"] = "leak"

    v = reg.get("m:v1")
    with pytest.raises(TypeError):
        v.params["opt"] = {"lr": 99}  # type: ignore[index]
    with pytest.raises(TypeError):
        v.metrics["acc"] = 1.0  # type: ignore[index]
    v.params["opt"]["lr"] = 99  # the record's own copy
    v.params["layers"].append(3)
    v.extra["run"]["id"] = "leak"
    for other in (reg.versions("m")[0], reg.find("acc>0")[0], reg.best("m"), reg.latest("m") if hasattr(reg, "latest") else reg.get("m:latest")):
        other.params["opt"]["lr"] = 99
    reg.score("m:v1", acc=0.6)  # a write after the mutations: must not carry them to disk

    want = {"opt": {"lr": 0.1}, "layers": [1, 2]}
    assert reg.get("m:v1").params == want and reg.get("m:v1").extra == {"run": {"id": "abc"}}
    assert reg.get("m:v1").to_dict()["params"] == want and type(reg.get("m:v1").to_dict()["params"]) is dict
    json.dumps(reg.get("m:v1").to_dict())
    if compact:
        reg.backend.storage.compact()
    reg.close()
    seen = fresh(FRESH_REGISTRY, tmp_path / "reg")
    assert seen["v1"]["params"] == want and seen["v1"]["extra"] == {"run": {"id": "abc"}}
    assert seen["v1"]["metrics"] == {"acc": 0.6}
    if compact:
        [doc] = plain_tinydb(tmp_path / "reg")["versions"].values()
        assert doc["params"] == want


def test_history_entries_are_copies(tmp_path: Path) -> None:
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(b"w")
    (tmp_path / "reg").mkdir()
    (tmp_path / "reg" / "config.json").write_text(json.dumps({"deploy_hook": "echo ok"}))
    reg = Registry(tmp_path / "reg")
    reg.register("m", [artifact])
    reg.deploy("m:v1", "staging")
    got = reg.history("m")
    got[0]["hook"]["output"] = "leak"  # nested in the entry
    assert reg.history("m")[0]["hook"]["output"] != "leak"
    reg.close()
    assert fresh(FRESH_REGISTRY, tmp_path / "reg")["history"][0]["hook"]["output"] != "leak"
