"""Several nodes, one MLflow server (PostgreSQL behind it): exactly-once registration by content key,
and deploys that race each other, with real processes (tests/backends/mlflow/workers.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from store.registry import Registry
from tests.servers.mlflow import fresh_prefix

REPO = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("workers.py")


def workers(args: list[list[str]], tmp_path: Path, prefix: str, timeout: float = 900) -> list[list[dict]]:
    """Run one worker per argument list at once, each a node of its own (its own cache folder)."""
    processes = []
    for n, argv in enumerate(args):
        env = {**os.environ, "MODELREG_MLFLOW_PREFIX": prefix, "XDG_CACHE_HOME": str(tmp_path / f"node{n}"),
               "PYTHONPATH": str(REPO)}
        processes.append(subprocess.Popen([sys.executable, str(WORKER), *argv], stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True, env=env, cwd=REPO))
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, err[-3000:]
        outputs.append([json.loads(line) for line in out.splitlines() if line.strip()])
    return outputs


def files(folder: Path, count: int, tag: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"ckpt-{i:03d}.bin").write_bytes(f"{tag}{i}".encode() * 10)
    return folder


@pytest.fixture
def node(mlflow_on_postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    prefix = fresh_prefix()
    monkeypatch.setenv("MODELREG_MLFLOW_PREFIX", prefix)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "reader"))
    return prefix


def test_sixteen_nodes_register_forty_each_into_one_model_exactly_once(mlflow_on_postgres: str, node: str, tmp_path: Path) -> None:
    folders = [files(tmp_path / f"w{n}", 40, tag=f"w{n}-") for n in range(16)]
    # distinct files per node: every key differs, so 640 versions, each with its own number and name
    results = workers([["register", mlflow_on_postgres, "m", str(f), f"w{n}"] for n, f in enumerate(folders)],
                      tmp_path, node)
    names = [r["version"] for out in results for r in out]
    assert len(names) == 640 and len(set(names)) == 640  # 640 registrations, 640 different versions
    with Registry(mlflow_on_postgres) as registry:
        versions = registry.versions("m")
    assert len(versions) == 640 and {v.version for v in versions} == set(names)


def test_the_same_files_watched_from_two_nodes_make_one_version_each(mlflow_on_postgres: str, node: str, tmp_path: Path) -> None:
    shared = files(tmp_path / "shared", 40)
    results = workers([["register", mlflow_on_postgres, "m", str(shared), f"node{n}"] for n in range(4)], tmp_path, node)
    by_key: dict[str, set[str]] = {}
    for out in results:
        assert len(out) == 40
        for r in out:
            by_key.setdefault(r["key"], set()).add(r["version"])
    # every node was told the same version for the same file, and the server holds exactly one each
    assert len(by_key) == 40 and all(len(v) == 1 for v in by_key.values())
    with Registry(mlflow_on_postgres) as registry:
        versions = registry.versions("m")
    assert len(versions) == 40
    assert sorted(v.version for v in versions) == sorted(next(iter(v)) for v in by_key.values())


def test_four_deployers_race_history_complete_alias_matches_races_refused(mlflow_on_postgres: str, node: str, tmp_path: Path) -> None:
    artifacts = files(tmp_path / "artifacts", 4)
    with Registry(mlflow_on_postgres) as registry:
        for path in sorted(artifacts.iterdir()):
            registry.register("m", [path], scan={"verdict": "safe"}, source=False)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    results = workers([["deploy", mlflow_on_postgres, "m", "20", str(seed), str(barrier), "4"] for seed in range(4)], tmp_path, node)
    outcomes = [r for out in results for r in out]
    assert len(outcomes) == 80
    switched = [r for r in outcomes if r.get("ok") and not r["unchanged"]]
    conflicts = [r["conflict"] for r in outcomes if "conflict" in r]
    assert conflicts, "four deployers on stale replicas never raced: the test did not test anything"
    assert all("live first" in c and "history #" in c for c in conflicts)  # names who deployed what
    with Registry(mlflow_on_postgres) as registry:
        history = registry.history("m", "production")
        live = registry.live_map("m")
    # the history is exactly the acknowledged switches: a node's stale deploy link follows what is
    # live without an entry of its own (no "repair" entries on a shared backend)
    acknowledged = {r["seq"] for r in switched}
    assert {e["seq"] for e in history} == acknowledged, (
        json.dumps([e for e in history if e["seq"] not in acknowledged]) + "\n" + "\n".join(json.dumps(o) for o in results))
    assert {e["action"] for e in history} <= {"deploy", "rollback"}
    for earlier, later in zip(history, history[1:]):
        assert later["from"] == earlier["to"]  # one unbroken chain: no race got through
    assert live.get("production") == history[-1]["to"]  # the alias is the history's last word
