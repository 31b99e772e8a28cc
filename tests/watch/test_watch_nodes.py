"""Two ``modelreg watch`` processes on one shared folder and one local registry: each checkpoint is one version,
registered by one of them; the other says it is already registered, as the same version."""

from __future__ import annotations

import time
from pathlib import Path

from store.registry import Registry
from tests.watch.nodes import WatchNode, checkpoints, stop_all, wait_for


def agree_on_one_version_each(nodes: list[WatchNode], files: list[Path], versions: list) -> int:
    """Exactly one node registered each file; every line any node wrote about a file names the version the
    registry holds it in (a node that finds the other's record of the path, as after a restart, stays quiet);
    the registry holds one version per file. Returns how many "already registered" lines there were."""
    said = [node.refs() for node in nodes]
    holding = {a["path"]: v.ref for v in versions for a in v.artifacts}
    assert len(versions) == len(files) == len(holding)
    already = 0
    for path in map(str, files):
        told = [entry for s in said for entry in s.get(path, ())]
        assert [how for _, how in told].count("registered") == 1, (path, told)
        assert {ref for ref, _ in told} == {holding[path]}, (path, told)
        assert all(len(s.get(path, ())) <= 1 for s in said), (path, told)  # each node said it at most once
        already += len(told) - 1
    return already


def test_two_watchers_of_one_shared_folder_register_each_checkpoint_once(tmp_path: Path) -> None:
    shared = tmp_path / "share" / "runs"
    files = checkpoints(shared, 20, "early")  # found by both scans at start
    Registry(tmp_path / "registry").close()
    nodes = [WatchNode(str(tmp_path / "registry"), shared, tmp_path / f"node{n}") for n in range(2)]
    try:
        wait_for(lambda: all(n.watching() for n in nodes), 60, "both watching", nodes)
        files += checkpoints(shared, 20, "late", start=20)  # seen by both at once, through events
        # each checkpoint registered by one of them; then both idle (the other finds the record and stays quiet)
        wait_for(lambda: sum(len(n.refs()) for n in nodes) >= 40 and len(set().union(*(n.refs() for n in nodes))) == 40,
                 120, "40 checkpoints registered", nodes)
        time.sleep(2)  # a late duplicate would show now
    finally:
        stop_all(nodes)
    assert all(node.stopped_cleanly() for node in nodes), [node.how_it_ended() for node in nodes if not node.stopped_cleanly()]
    with Registry(tmp_path / "registry") as registry:
        versions = registry.versions("m")
        keys = {registry.version_doc(v.ref)["content_key"] for v in versions}
    agree_on_one_version_each(nodes, files, versions)
    assert len(keys) == 40 and all(len(v.artifacts) == 1 and v.artifacts[0]["sha256"] for v in versions)
