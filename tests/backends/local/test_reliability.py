"""The store under real use: several writing processes, SIGKILL at random points,
readers during writes, and writes that fail (disk full, permission denied).

Every test runs real processes (tests/backends/local/reliability_worker.py) on real files.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tinydb import TinyDB

from store.registry import Registry
from tests.backends.local import wait_started

ROOT = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("reliability_worker.py")
NOBODY = 65534


def spawn(*args: str, env: dict[str, str] | None = None, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 90) -> list[dict[str, Any]]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0 and err == "", f"worker failed ({proc.returncode}): {err[-2000:]}"
    return [json.loads(line) for line in out.splitlines()]


def table_dump(path: Path) -> dict[str, dict[str, Any]]:
    """Every table of the registry as a fresh process sees it."""
    reg = Registry(path, create=False)
    try:
        return {name: dict(reg.backend.storage.table(name)) for name in ("models", "versions", "live", "history")}
    finally:
        reg.backend.storage.close()


def file_bytes(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}


# -- 1. concurrency ---------------------------------------------------------------------------


def test_eight_processes_register_2000_versions_into_one_model(tmp_path: Path) -> None:
    path = tmp_path / "registry"  # created by the workers themselves, all at once
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(b"weights")
    workers = [spawn("register", str(path), "m", "250", str(artifact)) for _ in range(8)]
    given = [line["version"] for proc in workers for line in finish(proc, timeout=110)]

    expected = {f"v{i}" for i in range(1, 2001)}
    assert len(given) == 2000 and set(given) == expected  # each returned version unique, none missing

    reg = Registry(path)
    assert [v.version for v in reg.versions("m")] == [f"v{i}" for i in range(1, 2001)]
    assert len(reg.models()) == 1
    reg.backend.storage.compact()
    reg.close()
    docs = TinyDB(path / "registry.json", access_mode="r").table("versions").all()
    assert sorted(d["version"] for d in docs) == sorted(expected)
    assert len({d.doc_id for d in docs}) == 2000


# -- 2. crash safety ---------------------------------------------------------------------------

Expected = dict[str, dict[str, Any]]  # version -> {"acc": float, "tags": set}


def _replay(log: list[dict[str, Any]], state: Expected) -> tuple[Expected, dict[str, Any] | None]:
    """Apply the acknowledged operations; return the state and the one in flight (if any)."""
    state = {v: {"acc": d["acc"], "tags": set(d["tags"])} for v, d in state.items()}
    intents: dict[int, dict[str, Any]] = {}
    for entry in log:
        if "op" in entry:
            intents[entry["n"]] = entry
            continue
        op = intents.pop(entry["n"])
        if op["op"] == "register":
            state[entry["version"]] = {"acc": op["acc"], "tags": set()}
        elif op["op"] == "score":
            state[op["version"]]["acc"] = op["acc"]
        elif op["op"] == "tag":
            state[op["version"]]["tags"].add(op["tag"])
        elif op["op"] == "remove":
            del state[op["version"]]
    assert len(intents) <= 1, f"more than one call in flight: {intents}"
    return state, next(iter(intents.values()), None)


def _check(model: str, expected: Expected, inflight: dict[str, Any] | None, seen: Expected) -> None:
    """``seen`` must be ``expected``, or ``expected`` with the in-flight call applied."""
    op = inflight["op"] if inflight else None
    for version, doc in expected.items():
        if version not in seen:
            assert op == "remove" and inflight["version"] == version, f"acknowledged {model}:{version} is lost"
            continue
        got = seen[version]
        if got["acc"] != doc["acc"]:
            assert op == "score" and inflight["version"] == version and got["acc"] == inflight["acc"], (
                f"{model}:{version} has acc={got['acc']}, acknowledged {doc['acc']}"
            )
        extra_tags = got["tags"] - doc["tags"]
        assert doc["tags"] <= got["tags"], f"{model}:{version} lost acknowledged tags {doc['tags'] - got['tags']}"
        assert not extra_tags or (op == "tag" and inflight["version"] == version and extra_tags == {inflight["tag"]})
    unexpected = set(seen) - set(expected)
    if unexpected:
        # Only a registration in flight may have added a version: exactly one, with its metric.
        assert op == "register" and len(unexpected) == 1, f"{model} has unexpected versions {unexpected}"
        assert seen[unexpected.pop()] == {"acc": inflight["acc"], "tags": set()}


def _observe(reg: Registry, model: str) -> Expected:
    if model not in {m.name for m in reg.models()}:
        return {}
    return {v.version: {"acc": v.metrics.get("acc"), "tags": set(v.tags)} for v in reg.versions(model)}


def test_writers_killed_at_random_points_lose_no_acknowledged_write(tmp_path: Path) -> None:
    path = tmp_path / "registry"
    Registry(path).close()
    lanes, rounds = 4, 52  # 208 kills, four writers at once on one registry
    env = {"MODELREG_TEST_COMPACT_BYTES": "0", "MODELREG_TEST_COMPACT_RATIO": "0.05"}  # compact every few writes
    rng = random.Random(2)
    state: dict[str, Expected] = {f"w{i}": {} for i in range(lanes)}
    kills = acknowledged = leftovers = stale = 0
    started = time.monotonic()
    round_ = 0
    # Rounds past the planned ones only while no kill has yet landed inside a compaction, or a slow machine
    # has not yet acknowledged enough writes for the kills to prove much: the test's strength, not its speed.
    while round_ < rounds or (round_ < 4 * rounds and not (leftovers and stale and acknowledged > 2000)):
        round_ += 1
        acks = [tmp_path / f"ack-{round_}-{i}.jsonl" for i in range(lanes)]
        procs = [spawn("chaos", str(path), f"w{i}", str(acks[i]), str(rng.randrange(1 << 30)), env=env) for i in range(lanes)]
        deadlines = []
        for proc in procs:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line.strip() == '{"ready": true}', f"worker did not start: {line!r} {proc.stderr.read()}"  # type: ignore[union-attr]
            deadlines.append((time.monotonic() + rng.uniform(0.005, 0.060), proc))
        for deadline, proc in sorted(deadlines, key=lambda pair: pair[0]):
            time.sleep(max(0.0, deadline - time.monotonic()))
            proc.send_signal(signal.SIGKILL)
        for proc in procs:
            _, err = proc.communicate()
            assert proc.returncode == -signal.SIGKILL, f"worker died on its own: {err[-2000:]}"
            kills += 1

        # What the killed writers left behind, before anyone opens the registry again.
        leftovers += bool(list(path.glob("*.tmp-*")))
        journal_head = (path / "journal.jsonl").read_bytes().split(b"\n", 1)[0]
        snapshot_gen = json.loads((path / "registry.json").read_bytes())["_modelreg"]["1"]["generation"]
        stale += json.loads(journal_head)["generation"] != snapshot_gen

        reg = Registry(path)  # must always open
        assert not list(path.glob("*.tmp-*")), "temporary files were not cleaned up on open"
        for i in range(lanes):
            model = f"w{i}"
            text = acks[i].read_text() if acks[i].exists() else ""
            log = [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]
            acknowledged += sum(1 for entry in log if entry.get("ok"))
            expected, inflight = _replay(log, state[model])
            seen = _observe(reg, model)
            _check(model, expected, inflight, seen)
            state[model] = seen
        reg.backend.storage.close()
    elapsed = time.monotonic() - started
    print(f"{kills} kills, {acknowledged} acknowledged writes, {leftovers} rounds left temporary files, "
          f"{stale} left a half-done compaction, {elapsed:.1f}s")
    assert kills >= 200
    assert acknowledged > 2000
    assert leftovers > 0 and stale > 0, "no kill landed inside a compaction: the test would prove little"


# -- 3. readers ----------------------------------------------------------------------------------


def test_readers_during_writes_see_consistent_growing_states(tmp_path: Path) -> None:
    path = tmp_path / "registry"
    with Registry(path) as reg:
        reg.register("seed")
    follower = Registry(path)  # a long-lived reader in this process too
    token = follower.token()
    stop = tmp_path / "stop"
    env = {"MODELREG_TEST_COMPACT_BYTES": "0"}
    readers = [spawn("read", str(path), kind, str(stop), env=env) for kind in ("open", "tinydb", "live")]
    wait_started([Path(f"{stop}.{kind}") for kind in ("open", "tinydb", "live")], readers, "a reader")
    writers = [spawn("writer", str(path), model, "300", env=env) for model in ("a", "b")]
    for proc in writers:
        finish(proc)
    stop.touch()
    results = dict(zip(("open", "tinydb", "live"), (finish(proc)[-1] for proc in readers)))
    print({kind: (len(r["counts"]), r["counts"][-1], r["resets"], r["exact_checks"]) for kind, r in results.items()})

    total = len(table_dump(path)["versions"])
    for kind, result in results.items():
        assert result["errors"] == [], f"{kind} reader: {result['errors'][:3]}"
        counts = result["counts"]
        assert len(counts) > 3, f"{kind} reader hardly ran"
        assert counts == sorted(counts), f"{kind} reader saw the count go down"
    assert results["open"]["counts"][-1] == total
    assert results["live"]["counts"][-1] == total
    assert results["tinydb"]["generations"] == sorted(results["tinydb"]["generations"])
    # Never "reload everything": even after missing a whole journal it names what changed.
    assert results["live"]["resets"] == 0 and results["live"]["exact_checks"] == len(results["live"]["counts"])

    # The long-lived reader here never reopened, yet sees everything, and is told what changed.
    changes = follower.changes_since(token)
    versions = follower.backend.storage.table("versions")
    assert len(versions) == total and not changes.reset
    assert set(changes.versions) == set(versions) - {"1"}
    assert {d["model"] for d in versions.values()} == {"seed", "a", "b"}
    follower.close()


# -- 4. write failures -----------------------------------------------------------------------------


def _fail(path: Path, op: str, *args: str, limit: int = 0, nobody: bool = False, env: dict[str, str] | None = None) -> dict[str, Any]:
    return finish(spawn("fail", str(path), str(limit), "1" if nobody else "0", op, *args, env=env))[-1]


@pytest.fixture
def small_registry(tmp_path: Path) -> Path:
    """Three versions of m; the last changes still in the journal, not yet compacted."""
    path = tmp_path / "registry"
    reg = Registry(path)
    for i in range(3):
        reg.register("m", metrics={"acc": i / 10}, notes="n" * 100)
    reg.backend.storage.close()
    return path


@pytest.mark.parametrize(
    "op, args",
    [("register", ("m",)), ("register", ("new",)), ("score", ("m:v2",)), ("remove", ("m:v3",))],
)
def test_disk_full_leaves_the_registry_as_it_was(small_registry: Path, op: str, args: tuple[str, ...]) -> None:
    before_files, before = file_bytes(small_registry), table_dump(small_registry)
    limit = (small_registry / "journal.jsonl").stat().st_size + 10  # room for part of a line only
    result = _fail(small_registry, op, *args, limit=limit)
    assert result["type"] == "StoreWriteError", result
    assert "\n" not in result["error"] and "File too large" in result["error"] and "journal.jsonl" in result["error"]
    assert file_bytes(small_registry) == before_files  # the partial line was cut off again
    assert table_dump(small_registry) == before


def test_disk_full_during_compaction_leaves_the_registry_as_it_was(small_registry: Path) -> None:
    before_files, before = file_bytes(small_registry), table_dump(small_registry)
    limit = (small_registry / "registry.json").stat().st_size  # the new snapshot is bigger
    result = _fail(small_registry, "compact", limit=limit)
    assert result["type"] == "StoreWriteError" and "\n" not in result["error"] and "registry.json" in result["error"]
    assert file_bytes(small_registry) == before_files  # no temporary file left, nothing replaced
    assert table_dump(small_registry) == before


def test_a_write_whose_compaction_fails_still_holds(tmp_path: Path) -> None:
    path = tmp_path / "registry"
    with Registry(path) as reg:
        for i in range(30):
            reg.register("m", notes="n" * 200)
        reg.backend.storage.compact()
    before = table_dump(path)
    limit = (path / "journal.jsonl").stat().st_size + 2000  # the line fits, the snapshot does not
    assert (path / "registry.json").stat().st_size > limit
    env = {"MODELREG_TEST_COMPACT_BYTES": "0", "MODELREG_TEST_COMPACT_RATIO": "0"}
    assert _fail(path, "register", "m", limit=limit, env=env) == {"ok": "v31"}
    after = table_dump(path)
    assert not list(path.glob("*.tmp-*"))
    assert {k: v for k, v in after["versions"].items() if k not in before["versions"]}.popitem()[1]["version"] == "v31"
    assert len(after["versions"]) == 31


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory user nobody can reach (pytest's tmp_path lives under a 0700 directory)."""
    directory = Path(tempfile.mkdtemp(prefix="modelreg-perm-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory)


def _read_only_registry(shared_dir: Path) -> Path:
    path = shared_dir / "registry"
    reg = Registry(path)
    reg.register("m", metrics={"acc": 0.5})
    reg.backend.storage.close()
    return path  # owned by root: nobody may read it, not write it


@pytest.mark.parametrize("op, args", [("register", ("m",)), ("register", ("new",)), ("score", ("m:v1",)), ("remove", ("m:v1",))])
def test_permission_denied_leaves_the_registry_as_it_was(shared_dir: Path, op: str, args: tuple[str, ...]) -> None:
    path = _read_only_registry(shared_dir)
    before_files, before = file_bytes(path), table_dump(path)
    result = _fail(path, op, *args, nobody=True)
    assert result["type"] == "StoreWriteError", result
    assert "\n" not in result["error"] and "Permission denied" in result["error"]
    assert file_bytes(path) == before_files
    assert table_dump(path) == before


def test_a_read_only_journal_in_a_writable_directory(shared_dir: Path) -> None:
    path = _read_only_registry(shared_dir)
    for item in (path, path / "lock", path / "registry.json"):
        os.chown(item, NOBODY, NOBODY)
    (path / "journal.jsonl").chmod(0o444)  # still root's
    before_files, before = file_bytes(path), table_dump(path)
    result = _fail(path, "register", "m", nobody=True)
    assert result["type"] == "StoreWriteError" and "journal.jsonl" in result["error"] and "Permission denied" in result["error"]
    assert file_bytes(path) == before_files
    assert table_dump(path) == before


def _cli_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_cli_reports_a_write_failure_in_one_line(shared_dir: Path) -> None:
    path = _read_only_registry(shared_dir)
    artifact = shared_dir / "model.pkl"
    artifact.write_bytes(b"weights")
    artifact.chmod(0o644)
    before = table_dump(path)

    as_nobody = subprocess.run(
        [sys.executable, str(WORKER), "cli-as-nobody", "--registry", str(path), "register", "m", str(artifact)],
        capture_output=True, text=True, timeout=60,
    )
    line = _cli_error(as_nobody)
    assert line.startswith("modelreg: error: could not write to the registry") and "Permission denied" in line

    def disk_full() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        size = (path / "journal.jsonl").stat().st_size + 10
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    full = subprocess.run(
        [sys.executable, "-m", "tui.cli", "--registry", str(path), "register", "m", str(artifact)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, preexec_fn=disk_full,
    )
    assert "File too large" in _cli_error(full)
    assert table_dump(path) == before
    assert not list(path.glob("*.tmp-*"))

