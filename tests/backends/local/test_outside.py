"""Writes to registry.json by another program (a plain TinyDB, an editor) are never lost.

modelreg seals every snapshot it writes; a changed snapshot makes every write refuse
with one line, and ``modelreg doctor --adopt`` takes the changes in as journaled
writes. Each case from the issue is here, then four rounds of a plain TinyDB process
writing while modelreg processes write, compact and adopt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tinydb import TinyDB

from store.backends.local import journal
from store.backends.local.adopt import adopt
from store.errors import OutsideEdit, SnapshotBusy
from store.registry import Registry
from tests.backends.local import wait_started

ROOT = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("outside_worker.py")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    reg = Registry(tmp_path / "reg")
    reg.register("m", metrics={"acc": 0.5}, tags=["seed"])
    reg.close()  # small: folded into registry.json on close, which a plain TinyDB then reads
    return tmp_path / "reg"


def files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def cli(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui.cli", "--registry", str(path), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_a_table_added_with_plain_tinydb_is_adopted_not_dropped(path: Path) -> None:
    with TinyDB(path / "registry.json") as db:
        db.table("notes").insert({"text": "ask about the lr"})
    reg = Registry(path)
    with pytest.raises(OutsideEdit, match="doctor --adopt"):
        reg.register("m")
    reg.close()  # closing compacts a small registry: not this one, it would drop the table
    assert TinyDB(path / "registry.json").table("notes").all() == [{"text": "ask about the lr"}]

    result = adopt(path)
    assert result.adopted == ["added notes/1"] and not result.rejected
    with Registry(path) as reg:
        reg.register("m")
        reg.backend.storage.compact()
    with TinyDB(path / "registry.json") as db:
        assert db.table("notes").all() == [{"text": "ask about the lr"}]
        assert len(db.table("versions")) == 2


def test_an_edited_version_is_not_reverted_by_the_next_tag(path: Path) -> None:
    with TinyDB(path / "registry.json") as db:
        db.table("versions").update({"notes": "trained on the fixed split"}, doc_ids=[1])
    done = cli(path, "tag", "m:v1", "checked")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "was changed outside modelreg" in done.stderr.splitlines()[-1]

    adopted = cli(path, "doctor", "--adopt")
    assert adopted.returncode == 0 and "adopted: edited versions/1 (m:v1)" in adopted.stdout
    assert cli(path, "tag", "m:v1", "checked").returncode == 0
    with Registry(path) as reg:
        v1 = reg.get("m:v1")
        assert v1.notes == "trained on the fixed split" and set(v1.tags) == {"seed", "checked"}


def test_an_inserted_document_never_takes_an_id_the_journal_used(path: Path) -> None:
    reg = Registry(path)
    reg.register("m", metrics={"acc": 0.6})  # versions/2, in the journal only
    reg.backend.storage.close()  # not reg.close(): that would fold it into registry.json
    with TinyDB(path / "registry.json") as db:
        versions = db.table("versions")
        doc = dict(versions.get(doc_id=1))
        doc.update(version="v9", metrics={"acc": 0.9}, tags=[])
        assert versions.insert(doc) == 2  # TinyDB sees only registry.json: the journal's id 2 looks free

    result = adopt(path)
    assert result.adopted == ["added versions/3 (m:v9) (its id 2 was taken, so it got a new one)"]
    with Registry(path) as reg:
        assert [(v.version, v.metrics["acc"]) for v in reg.versions("m")] == [("v1", 0.5), ("v2", 0.6), ("v9", 0.9)]


def test_a_tinydb_opened_before_a_compaction_writes_into_the_live_file(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal, "MIN_COMPACT_BYTES", 0)
    monkeypatch.setattr(journal, "COMPACT_RATIO", 0)
    before = os.stat(path / "registry.json").st_ino
    db = TinyDB(path / "registry.json")  # holds the file open, as a notebook would
    reg = Registry(path)
    for _ in range(5):
        reg.register("m")  # each would compact; all wait while the file is open for writing
    with pytest.raises(SnapshotBusy, match="open in another program"):
        reg.backend.storage.compact(wait=0.2)
    assert os.stat(path / "registry.json").st_ino == before
    db.table("notes").insert({"text": "written through the old handle"})
    db.close()
    with pytest.raises(OutsideEdit):
        reg.register("m")
    reg.close()

    result = adopt(path)
    assert result.adopted == ["added notes/1"]
    with Registry(path) as reg:
        assert len(reg.versions("m")) == 6
        assert reg.backend.storage.table("notes") == {"1": {"text": "written through the old handle"}}


def test_a_tinydb_opening_the_file_mid_compaction_gets_the_old_file_back(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The window between "nobody has it open" and the rename: an opener there is caught
    by the lease it breaks, and the old file is put back for it to write into."""
    reg = Registry(path)
    reg.register("m")
    opener: list[subprocess.Popen[str]] = []
    real_link = os.link

    def link_then_someone_opens(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        real_link(src, dst)
        code = ("import sys; from tinydb import TinyDB; print('opening', flush=True); db = TinyDB(sys.argv[1]); "
                "db.table('notes').insert({'text': 'opened mid-compaction'}); db.close(); print('done', flush=True)")
        child = subprocess.Popen([sys.executable, "-c", code, str(path / "registry.json")], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None and child.stdout.readline() == "opening\n"
        for _ in range(500):  # until the kernel holds its open() on our lease (5 s at most)
            if _blocked_on_lease(child.pid):
                break
            time.sleep(0.01)
        opener.append(child)

    monkeypatch.setattr(os, "link", link_then_someone_opens)
    with pytest.raises(SnapshotBusy, match="mid-compaction"):
        reg.backend.storage.compact(wait=0)
    monkeypatch.setattr(os, "link", real_link)
    child = opener[0]
    assert child.stdout is not None and child.stdout.readline() == "done\n"
    child.wait(timeout=30)
    reg.backend.storage.close()
    result = adopt(path)
    assert result.adopted == ["added notes/1"]
    with Registry(path) as again:
        assert [v.version for v in again.versions("m")] == ["v1", "v2"]
        assert again.backend.storage.table("notes") == {"1": {"text": "opened mid-compaction"}}


def _blocked_on_lease(pid: int) -> bool:
    try:
        return "lease" in Path(f"/proc/{pid}/wchan").read_text() or "lease" in Path(f"/proc/{pid}/stack").read_text()
    except OSError:
        return False


def test_removed_and_conflicting_documents_are_reported_and_nothing_is_lost(path: Path) -> None:
    reg = Registry(path)
    reg.register("m", metrics={"acc": 0.6})
    reg.close()
    reg = Registry(path)
    reg.tag("m:v1", "later")  # modelreg changes v1 after the snapshot...
    reg.backend.storage.close()
    with TinyDB(path / "registry.json") as db:  # ...which another program also edits, and it removes v2
        db.table("versions").update({"notes": "by hand"}, doc_ids=[1])
        db.table("versions").remove(doc_ids=[2])
    checked = cli(path, "doctor")
    assert "1 edited (versions/1 (m:v1)); 1 removed (versions/2)" in checked.stdout
    unchanged = files(path)
    assert cli(path, "doctor").returncode == 1 and files(path) == unchanged  # a check changes nothing

    result = adopt(path)
    assert result.adopted == ["removed versions/2"]
    assert result.rejected == ["edited versions/1 (m:v1): modelreg changed it too after the snapshot the edit was made on; "
                               "modelreg's copy stays; not adopted"]
    [kept] = [json.loads(line) for line in (path / "registry.json.rejected").read_text().splitlines()]
    assert kept["document"]["notes"] == "by hand"
    with Registry(path) as reg:
        assert [v.version for v in reg.versions("m")] == ["v1"]
        assert set(reg.get("m:v1").tags) == {"seed", "later"}


def test_adoption_waits_for_the_other_program_to_close_the_file(path: Path) -> None:
    with TinyDB(path / "registry.json") as db:
        db.table("notes").insert({"text": "x"})
        done = cli(path, "doctor", "--adopt")
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert "is open in another program; close it" in done.stderr.splitlines()[-1]
    assert "adopted: added notes/1" in cli(path, "doctor", "--adopt").stdout


def test_a_registry_sealed_by_nothing_older_journal_still_works(path: Path) -> None:
    """A journal written before seals existed has no record of the snapshot: it is
    trusted as before, and sealed by the next compaction."""
    header, _, rest = (path / "journal.jsonl").read_bytes().partition(b"\n")
    old = json.loads(header)
    del old["snapshot"]
    (path / "journal.jsonl").write_bytes(json.dumps(old).encode() + b"\n" + rest)
    with Registry(path) as reg:
        reg.register("m")
    assert "snapshot" in json.loads((path / "journal.jsonl").read_bytes().partition(b"\n")[0])
    assert cli(path, "doctor").stdout.startswith("ok: no problems found")


def test_a_copied_registry_is_still_its_own(path: Path, tmp_path: Path) -> None:
    """A copy (new inode, new mtime, same bytes) is not an outside edit."""
    copy = tmp_path / "copy"
    copy.mkdir()
    for name, raw in files(path).items():
        (copy / name).write_bytes(raw)
    with Registry(copy) as reg:
        assert not reg.backend.storage.outside_edit
        reg.register("m")


@pytest.mark.slow
def test_a_plain_tinydb_writing_while_modelreg_writes_and_compacts_loses_nothing(path: Path, tmp_path: Path) -> None:
    """Four rounds: two modelreg writers (compacting every few writes), a plain TinyDB
    writer and an adopter at once. Every outside write is adopted (or refused loudly
    into registry.json.rejected), none is lost, and every modelreg write is kept."""
    all_notes: list[tuple[int, int]] = []
    for round_ in range(4):
        stop = tmp_path / f"stop-{round_}"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}

        def spawn(*args: str) -> subprocess.Popen[str]:
            return subprocess.Popen([sys.executable, str(WORKER), *args], cwd=ROOT, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        plain = spawn("plain", str(path), str(round_), str(stop))
        adopter = spawn("adopter", str(path), str(stop))
        wait_started([Path(f"{stop}.started")], [plain], "the plain writer")
        writers = [spawn("modelreg", str(path), f"w{round_}{i}", "40") for i in range(2)]
        outcomes = [_finish(w) for w in writers]
        stop.touch()
        wrote, _ = _finish(plain), _finish(adopter)
        last = adopt(path)  # what the plain writer wrote after the adopter's last look
        rejected = path / "registry.json.rejected"
        assert not last.rejected and not rejected.exists(), rejected.read_text()[:3000]
        all_notes += [(round_, i) for i in wrote["notes"]]

        with Registry(path) as reg:
            assert not reg.backend.storage.outside_edit
            for i, outcome in enumerate(outcomes):
                assert outcome["acknowledged"] == list(range(40))
                kept = [v.metrics["acc"] for v in reg.versions(f"w{round_}{i}")]
                assert kept == [n / 1000 for n in range(40)], f"round {round_}: modelreg lost writes"
            notes = {(d["round"], d["i"]) for d in reg.backend.storage.table("notes").values()}
            assert notes == set(all_notes), f"round {round_}: lost {set(all_notes) - notes}"
            if wrote["edits"]:
                assert reg.get("m:v1").notes == f"round {round_} edit {wrote['edits'][-1]}"
        assert wrote["notes"], "the plain writer never wrote"


def _finish(proc: subprocess.Popen[str]) -> dict:
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0 and "Traceback" not in err, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])
