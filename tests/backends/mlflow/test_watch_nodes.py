"""``modelreg watch`` on several nodes into one MLflow server (PostgreSQL behind it): each finished checkpoint is
one version, also when two nodes watch the same shared folder (tests/watch/nodes.py starts the processes)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from store.registry import Registry
from tests.servers.mlflow import fresh_prefix
from tests.watch.nodes import WatchNode, checkpoints, stop_all, wait_for
from tests.watch.test_watch_nodes import agree_on_one_version_each

NODES, EACH = 16, 40


@pytest.fixture
def prefix(mlflow_on_postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    prefix = fresh_prefix()
    monkeypatch.setenv("MODELREG_MLFLOW_PREFIX", prefix)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "reader"))
    return prefix


def test_sixteen_watchers_register_forty_checkpoints_each_into_one_model(mlflow_on_postgres: str, prefix: str,
                                                                        tmp_path: Path) -> None:
    folders = [tmp_path / f"w{n}" / "runs" for n in range(NODES)]
    files = [checkpoints(folder, EACH // 2, f"w{n}") for n, folder in enumerate(folders)]  # found by the start scan
    started = time.monotonic()
    nodes = [WatchNode(mlflow_on_postgres, folder, tmp_path / f"node{n}", {"MODELREG_MLFLOW_PREFIX": prefix})
             for n, folder in enumerate(folders)]
    try:
        wait_for(lambda: all(n.watching() for n in nodes), 240, "all watching", nodes)
        ready = time.monotonic() - started
        for n, folder in enumerate(folders):  # written while all sixteen register: through events
            files[n] += checkpoints(folder, EACH - EACH // 2, f"w{n}", start=EACH // 2)
        wait_for(lambda: all(len(n.refs()) == EACH for n in nodes), 600, f"{EACH} registrations by each", nodes)
        took = time.monotonic() - started
    finally:
        stop_all(nodes)
    stopped = time.monotonic() - started
    assert all(node.stopped_cleanly() for node in nodes), [node.how_it_ended() for node in nodes if not node.stopped_cleanly()]
    assert all("Traceback" not in node.stderr for node in nodes)
    with Registry(mlflow_on_postgres) as registry:
        versions = registry.versions("m")
        keys = {registry.version_doc(v.ref)["content_key"] for v in versions}
    names = [ref for node in nodes for told in node.refs().values() for ref, how in told if how == "registered"]
    assert len(names) == NODES * EACH and len(set(names)) == NODES * EACH
    assert len(versions) == NODES * EACH and {v.ref for v in versions} == set(names) and len(keys) == NODES * EACH
    for n, node in enumerate(nodes):  # each version holds the file its node said, recorded once
        holding = {a["path"]: v.ref for v in versions for a in v.artifacts if a["path"].startswith(str(folders[n]))}
        assert holding == {path: told[0][0] for path, told in node.refs().items()}
    assert all(len(v.artifacts) == 1 and v.artifacts[0]["sha256"] for v in versions)  # small files: hashed at once
    print(f"\n{NODES} watchers x {EACH} checkpoints: all watching after {ready:.1f} s, all registered after {took:.1f} s, "
          f"all stopped after {stopped:.1f} s, checked after {time.monotonic() - started:.1f} s")


def test_two_watchers_of_one_shared_folder_make_one_version_per_checkpoint(mlflow_on_postgres: str, prefix: str,
                                                                          tmp_path: Path) -> None:
    shared = tmp_path / "share" / "runs"
    files = checkpoints(shared, 20, "early")  # found by both start scans at once
    nodes = [WatchNode(mlflow_on_postgres, shared, tmp_path / f"node{n}", {"MODELREG_MLFLOW_PREFIX": prefix})
             for n in range(2)]
    try:
        wait_for(lambda: all(n.watching() for n in nodes), 120, "both watching", nodes)
        files += checkpoints(shared, 20, "late", start=20)  # seen by both at once, through events
        wait_for(lambda: len(set().union(*(n.refs() for n in nodes))) == 40, 240, "40 checkpoints registered", nodes)
        time.sleep(5)  # more than two polls of the server: a late duplicate would show now
    finally:
        stop_all(nodes)
    assert all(node.stopped_cleanly() for node in nodes), [node.how_it_ended() for node in nodes if not node.stopped_cleanly()]
    with Registry(mlflow_on_postgres) as registry:
        versions = registry.versions("m")
    already = agree_on_one_version_each(nodes, files, versions)
    print(f"\n{already} checkpoints found already registered by the other watcher")
    assert all(len(v.artifacts) == 1 and v.artifacts[0]["path"].startswith(str(shared)) and v.artifacts[0]["sha256"]
               for v in versions)
