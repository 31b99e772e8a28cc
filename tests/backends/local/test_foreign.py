"""Documents modelreg did not write: a non-version document in ``versions`` (from a
plain TinyDB user) and NaN/Infinity typed into the files by hand. Each is reported in
one line; no command prints a traceback, and the rest of the registry keeps working.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from tinydb import TinyDB

from store.errors import NotCompactable
from store.registry import Registry

ROOT = Path(__file__).resolve().parents[3]


def cli(registry: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "--registry", str(registry), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def registry_path(tmp_path: Path) -> Path:
    reg = Registry(tmp_path / "reg")
    reg.register("m", metrics={"acc": 0.5})
    reg.close()  # a small registry is compacted on close: registry.json holds it all
    return tmp_path / "reg"


READING = [("list",), ("versions", "m"), ("info", "m:v1"), ("find", "acc>0"), ("summary",)]
WRITING = [("register", "m"), ("tag", "m:v1", "x")]


def test_a_foreign_document_in_versions_is_reported_not_a_traceback(registry_path: Path, tmp_path: Path) -> None:
    plain = TinyDB(registry_path / "registry.json")
    plain.table("versions").insert({"note": "fix the lr by hand"})
    plain.table("models").insert({"owner": "nobody knows"})
    plain.close()
    for args in [*READING, ("export", "--all", str(tmp_path / "all.tar"))]:
        done = cli(registry_path, *args)
        assert done.returncode == 0, (args, done.stderr)
        assert "Traceback" not in done.stderr
        warnings = done.stderr.splitlines()
        assert len(warnings) == 3, (args, done.stderr)  # changed outside; foreign models; foreign versions
        assert any("1 document(s) in 'versions' are not versions (id 2); they are ignored" in w for w in warnings)
        assert any("changed outside modelreg" in w and "doctor --adopt" in w for w in warnings)
    before = {p.name: p.read_bytes() for p in registry_path.iterdir()}
    for args in WRITING:  # the outside write is neither overwritten nor ignored: writes wait for --adopt
        done = cli(registry_path, *args)
        assert done.returncode == 1 and "Traceback" not in done.stderr, (args, done.stderr)
        assert done.stderr.splitlines()[-1].startswith("modelreg: error: ") and "doctor --adopt" in done.stderr
    assert {p.name: p.read_bytes() for p in registry_path.iterdir()} == before

    adopted = cli(registry_path, "doctor", "--adopt")
    assert adopted.returncode == 1 and "Traceback" not in adopted.stderr  # something was left out: look
    assert "left out: added versions/2: it is not a version" in adopted.stdout
    assert "left out: added models/2: it is not a model" in adopted.stdout
    kept = [json.loads(line) for line in (registry_path / "registry.json.rejected").read_text().splitlines()]
    assert [(k["table"], k["document"]) for k in kept] == [
        ("models", {"owner": "nobody knows"}), ("versions", {"note": "fix the lr by hand"}),
    ]
    for args in [*READING, *WRITING]:
        done = cli(registry_path, *args)
        assert done.returncode == 0 and done.stderr == "", (args, done.stderr)
    with Registry(registry_path) as reg:
        assert [v.version for v in reg.versions("m")] == ["v1", "v2"]
        assert reg.get("m:v1").tags == ("x",) or list(reg.get("m:v1").tags) == ["x"]


def test_nan_written_into_registry_json_by_hand_is_left_out_on_adoption_and_kept(registry_path: Path) -> None:
    snapshot = registry_path / "registry.json"
    raw = snapshot.read_bytes()
    assert b'"acc":0.5' in raw
    snapshot.write_bytes(raw.replace(b'"acc":0.5', b'"acc":NaN'))

    refused = cli(registry_path, "register", "m", "--metric", "acc=0.7")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "changed outside modelreg" in refused.stderr.splitlines()[-1]
    checked = cli(registry_path, "doctor")
    assert checked.returncode == 1 and "1 edited (versions/1 (m:v1))" in checked.stdout
    assert "NaN or Infinity" in checked.stdout and "doctor --adopt" in checked.stdout

    adopted = cli(registry_path, "doctor", "--adopt")
    assert "left out: edited versions/1 (m:v1): it holds NaN or Infinity" in adopted.stdout
    [kept] = [json.loads(line, parse_constant=float) for line in (registry_path / "registry.json.rejected").read_text().splitlines()]
    assert kept["document"]["model"] == "m" and math.isnan(kept["document"]["metrics"]["acc"])

    done = cli(registry_path, "register", "m", "--metric", "acc=0.7")
    assert done.returncode == 0 and "Registered m:v" in done.stdout and done.stderr == ""
    reg = Registry(registry_path)
    reg.backend.storage.compact()
    reg.close()
    assert cli(registry_path, "doctor").stdout.startswith("ok: no problems found")


def test_nan_written_into_the_journal_by_hand_never_breaks_a_write_or_a_compaction(registry_path: Path) -> None:
    reg = Registry(registry_path)
    reg.score("m:v1", acc=0.25)
    reg.backend.storage.close()  # not reg.close(), which would fold the journal into registry.json
    path = registry_path / "journal.jsonl"
    raw = path.read_bytes()
    assert b'"acc":0.25' in raw
    path.write_bytes(raw.replace(b'"acc":0.25', b'"acc":NaN'))

    done = cli(registry_path, "register", "m", "--metric", "acc=0.7")
    assert done.returncode == 0 and "Registered m:v2" in done.stdout
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert "versions/1" in line and "NaN or Infinity" in line

    changed = cli(registry_path, "tag", "m:v1", "x")  # a write of the NaN document itself
    assert changed.returncode == 1 and "Traceback" not in changed.stderr
    assert "cannot store versions/1: it holds NaN or Infinity" in changed.stderr.splitlines()[-1]

    reg = Registry(registry_path)
    with pytest.raises(NotCompactable, match="versions/1 hold NaN or Infinity"):
        reg.backend.storage.compact()
    assert [v.version for v in reg.versions("m")] == ["v1", "v2"]
    reg.close()
    with Registry(registry_path) as again:
        assert again.get("m:v2").metrics == {"acc": 0.7}


def test_the_app_catalog_skips_a_foreign_document_that_arrives_live(registry_path: Path) -> None:
    from store.backends.local.journal import RegistryDB
    from tui.catalog import Catalog

    reg = Registry(registry_path)
    catalog = Catalog(reg)
    catalog.model_names()
    other = RegistryDB(registry_path)
    other.table("versions").insert({"note": "by hand"})
    other.table("models").insert({"owner": "?"})
    other.close()
    catalog.poll("m")  # no KeyError
    reg.register("m")
    update = catalog.poll("m")  # the new version arrives as a patch of the rows that changed
    assert update is not None and update.patch is not None and [row.version for row in update.patch.rows] == ["v2"]
    assert [row.version for row in catalog.view("m").rows] == ["v1", "v2"]
    reg.close()
