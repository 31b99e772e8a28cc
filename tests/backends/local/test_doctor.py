"""``modelreg doctor``: each kind of damage, made with byte-level edits of real files.

Without ``--fix`` nothing changes, byte for byte; ``--fix`` repairs without losing data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from store.registry import Registry
from tui.cli import main


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def doctor(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[str]]:
    code = main(["--registry", str(path), "doctor", *extra])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out.splitlines()


def unfolded(tmp_path: Path, count: int = 3) -> Path:
    """A registry whose versions are all still in the journal (no compaction on close)."""
    reg = Registry(tmp_path / "reg")
    for k in range(count):
        reg.register("m", metrics={"acc": k / 10})
    reg.backend.storage.close()  # not close(): that would fold the journal into registry.json
    return tmp_path / "reg"


def check_only_changes_nothing(path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    before = files(path)
    code, lines = doctor(path, capsys)
    assert code == 1 and lines[-1].startswith("run 'modelreg doctor --fix'")
    assert files(path) == before
    return lines


def versions(path: Path) -> list[str]:
    with Registry(path, create=False) as reg:
        return [v.version for v in reg.versions("m")]


def test_a_healthy_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = unfolded(tmp_path)
    assert doctor(path, capsys) == (0, ["ok: no problems found"])


def test_a_damaged_line_in_the_middle_keeps_every_good_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = unfolded(tmp_path)
    journal = path / "journal.jsonl"
    lines = journal.read_bytes().split(b"\n")
    bad = lines[2][:-7] + b"\x00#garbl"  # line 2 of 3 writes (line 0 is the header)
    journal.write_bytes(b"\n".join(lines[:2] + [bad] + lines[3:]))
    with pytest.raises(Exception, match="modelreg doctor --fix"):
        Registry(path, create=False)
    report = check_only_changes_nothing(path, capsys)
    assert any("1 damaged line(s)" in line and "good lines before and after" in line for line in report)
    code, lines_out = doctor(path, capsys, "--fix")
    assert code == 0 and any(line.startswith("fixed:") and "journal.jsonl.damaged" in line for line in lines_out)
    assert (path / "journal.jsonl.damaged").read_bytes() == bad + b"\n"
    assert versions(path) == ["v1", "v3"]  # before and after the damaged line
    assert doctor(path, capsys) == (0, ["ok: no problems found"])


def test_a_torn_last_line_is_cut_and_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = unfolded(tmp_path)
    with open(path / "journal.jsonl", "ab") as handle:
        handle.write(b'[["p","versions","4",{"model":"m"')
    report = check_only_changes_nothing(path, capsys)
    assert any("torn line" in line for line in report)
    assert doctor(path, capsys, "--fix")[0] == 0
    assert (path / "journal.jsonl.damaged").read_bytes() == b'[["p","versions","4",{"model":"m"\n'
    assert versions(path) == ["v1", "v2", "v3"]


@pytest.mark.parametrize("damage", ["empty", "missing", "garbage"])
def test_a_lost_snapshot_is_rebuilt_from_a_journal_that_starts_at_the_beginning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    path = unfolded(tmp_path)
    snapshot = path / "registry.json"
    if damage == "empty":
        snapshot.write_bytes(b"")
    elif damage == "missing":
        snapshot.unlink()
    else:
        snapshot.write_bytes(b'{"versions": {"1": ')
    report = check_only_changes_nothing(path, capsys)
    assert any("can be rebuilt from journal.jsonl" in line for line in report)
    assert doctor(path, capsys, "--fix")[0] == 0
    assert versions(path) == ["v1", "v2", "v3"]
    if damage == "garbage":
        assert (path / "registry.json.damaged").read_bytes() == b'{"versions": {"1": \n'


def test_a_lost_snapshot_after_a_compaction_cannot_be_rebuilt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = unfolded(tmp_path)
    with Registry(path) as reg:
        reg.backend.storage.compact()
    (path / "registry.json").write_bytes(b"")
    report = check_only_changes_nothing(path, capsys)
    assert any("restore registry.json from a backup" in line for line in report)
    before = files(path)
    assert doctor(path, capsys, "--fix")[0] == 1
    assert files(path) == before  # nothing it could do without losing data


def test_stray_temporary_files_are_removed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = unfolded(tmp_path)
    (path / "registry.json.tmp-4242").write_bytes(b'{"half a snap')
    report = check_only_changes_nothing(path, capsys)
    assert any("registry.json.tmp-4242 is a temporary file" in line for line in report)
    assert doctor(path, capsys, "--fix")[0] == 0
    assert not (path / "registry.json.tmp-4242").exists()


def test_foreign_documents_and_nan_are_reported_and_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = unfolded(tmp_path)
    with open(path / "journal.jsonl", "ab") as handle:
        handle.write(b'[["p","versions","9",{"note":"by hand"}]]\n')
        handle.write(b'[["p","versions","2",{"model":"m","version":"v2","status":"completed","metrics":{"acc":NaN}}]]\n')
    report = check_only_changes_nothing(path, capsys)
    assert any("1 document(s) in 'versions' are not a version (id 9)" in line for line in report)
    assert any("versions/2 hold NaN or Infinity" in line for line in report)
    before = files(path)
    assert doctor(path, capsys, "--fix")[0] == 1
    assert files(path) == before
