"""TinyDB's own test suite, run on our storage beside JSONStorage.

The installed tinydb's sdist is fetched from the package index at test time (never
kept in this repository), its ``tests/`` extracted, and run in a pytest subprocess
with a generated conftest that wires the ``db`` fixture three ways: TinyDB's
JSONStorage, our ``RegistryDB``, and plain ``TinyDB(dir, storage=JournalStorage)``.
Only the fixture wiring is ours; the test bodies are TinyDB's. Every test that passes
on JSONStorage must pass on both of ours.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# TinyDB tests that check which class the storage is, not what it does: no other
# storage can pass them. Each is still run, and must fail only for that reason.
NOT_ABOUT_BEHAVIOUR = {"tests.test_tables.test_table_repr[]": "storages\\\\.(MemoryStorage|JSONStorage) object at"}

CONFTEST = '''
import pytest
from tinydb import TinyDB, JSONStorage
from tinydb.middlewares import CachingMiddleware
from tinydb.storages import MemoryStorage

from store.backends.local.journal import JournalStorage, RegistryDB


@pytest.fixture(params=["json", "registrydb", "journalstorage"])
def db(request, tmp_path):
    if request.param == "json":
        db_ = TinyDB(tmp_path / "test.db", storage=JSONStorage)
    elif request.param == "registrydb":
        db_ = RegistryDB(tmp_path / "registry")
    else:
        db_ = TinyDB(tmp_path / "registry", storage=JournalStorage)
    db_.drop_tables()
    db_.insert_multiple({"int": 1, "char": c} for c in "abc")
    yield db_
    db_.close()


@pytest.fixture
def storage():
    return CachingMiddleware(MemoryStorage)()
'''


def _fetch_tests(into: Path) -> Path:
    pinned = version("tinydb")
    download = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", f"tinydb=={pinned}", "-d", str(into)],
        capture_output=True, text=True, timeout=300,
    )
    assert download.returncode == 0, f"cannot download the tinydb {pinned} sdist: {download.stderr[-2000:]}"
    [sdist] = into.glob("tinydb-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.isfile() and m.name.split("/")[1:2] == ["tests"]]
        assert members, f"{sdist.name} has no tests/"
        archive.extractall(into / "src", members=members, filter="data")
    tests = next((into / "src").iterdir()) / "tests"
    (tests / "conftest.py").write_text(CONFTEST)  # the fixture wiring: the only thing we change
    return tests


def test_tinydb_suite_passes_on_our_storage_wherever_it_passes_on_json(tmp_path: Path) -> None:
    tests = _fetch_tests(tmp_path)
    report = tmp_path / "report.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", str(tests), "-q", "-p", "no:cacheprovider", "-p", "no:randomly", f"--junitxml={report}",
         "--rootdir", str(tests.parent), "-c", "/dev/null"],
        cwd=tests.parent, capture_output=True, text=True, timeout=600, env=_env(),
    )
    outcome: dict[str, dict[str, str]] = defaultdict(dict)
    for case in ElementTree.parse(report).iter("testcase"):
        name = f"{case.get('classname')}.{case.get('name')}"
        base, _, param = name.partition("[")
        parts = param.rstrip("]").split("-") if param else []
        wirings = [p for p in parts if p in ("json", "registrydb", "journalstorage")]
        if len(wirings) != 1:
            continue  # a test without the db fixture: nothing to compare
        key = base + "[" + "-".join(p for p in parts if p != wirings[0]) + "]"
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        detail = case.find("failure") if case.find("failure") is not None else case.find("error")
        outcome[key][wirings[0]] = "skipped" if skipped else ("failed: " + (detail.get("message") or "")[:200]) if failed else "passed"
    assert len(outcome) > 60, f"too few TinyDB tests ran ({len(outcome)}): is the sdist's layout new?"
    broken = {
        name: {k: v for k, v in results.items() if k != "json" and v != "passed"}
        for name, results in outcome.items()
        if results.get("json") == "passed" and any(results.get(k) != "passed" for k in ("registrydb", "journalstorage"))
    }
    for name, why in NOT_ABOUT_BEHAVIOUR.items():
        if name in broken and all(why in result for result in broken[name].values()):
            del broken[name]
    assert not broken, f"{len(broken)} TinyDB tests pass on JSONStorage but not on ours: {broken}"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
