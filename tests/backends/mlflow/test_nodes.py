"""Two nodes on one MLflow server, each with its own deploy links: a node's link that disagrees with
what another node made live is stale, and follows what is live with no history entry (real
``modelreg`` processes, each node with its own cache folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from store.registry import Registry
from tests.servers.mlflow import fresh_prefix

REPO = Path(__file__).resolve().parents[3]
SAFE = {"safe": True, "verdict": "safe", "reason": "scanned"}


class Node:
    """One machine: its own cache folder, so its own replica, pins and deploy links."""

    def __init__(self, url: str, prefix: str, cache: Path) -> None:
        self.url, self.cache = url, cache
        self.env = {**os.environ, "MODELREG_MLFLOW_PREFIX": prefix, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(REPO)}

    def run(self, *args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tui.cli", "--registry", self.url, *args], capture_output=True,
                              text=True, cwd=REPO, env={**self.env, **(extra or {})}, timeout=120)

    def linked(self, model: str = "m", env: str = "production") -> str | None:
        homes = list((self.cache / "modelreg" / "mlflow").iterdir())
        assert len(homes) == 1, homes
        link = homes[0] / "deploy" / env / model
        return Path(os.readlink(link)).name if link.is_symlink() else None


@pytest.fixture
def nodes(mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, artifact: Path) -> tuple[Node, Node]:
    prefix = fresh_prefix()
    monkeypatch.setenv("MODELREG_MLFLOW_PREFIX", prefix)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "reader"))
    with Registry(mlflow_server) as registry:
        for n in range(3):
            path = tmp_path / "runs" / f"model-{n}.pkl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(1000))
            registry.register("m", [path], scan=SAFE)
    return Node(mlflow_server, prefix, tmp_path / "a"), Node(mlflow_server, prefix, tmp_path / "b")


def live(url: str) -> str | None:
    with Registry(url) as registry:
        return registry.live_map("m").get("production")


def steps(url: str) -> list[tuple[str, str | None, str | None]]:
    with Registry(url) as registry:
        return [(h["action"], h["from"], h["to"]) for h in registry.history("m")]


def test_two_nodes_deploying_alternately_record_only_their_deploys_and_links_follow_live(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    plan = [(a, ["deploy", "m:v1"]), (b, ["deploy", "m:v2"]), (a, ["deploy", "m:v3"]), (b, ["rollback", "m"]),
            (a, ["deploy", "m:v2"]),  # already live (b rolled back to it): a's stale v3 link must follow anyway
            (b, ["deploy", "m:v1"]), (a, ["rollback", "m"]), (b, ["deploy", "m:v3"]), (a, ["status"])]
    expected: list[tuple[str, str | None, str | None]] = []
    for node, args in plan:
        before = live(a.url)
        done = node.run(*args)
        assert done.returncode == 0, (args, done.stderr)  # nothing refused
        now = live(a.url)
        if now != before:
            expected.append((args[0], before, now))
        if args[0] != "status":  # a command that deploys: this node's link is what is live after it
            assert node.linked() == now, (args, node.linked(), now)
    assert steps(a.url) == expected  # exactly the deploys and rollbacks: no "repair" entry from either node
    assert [s[0] for s in expected] == ["deploy", "deploy", "deploy", "rollback", "deploy", "rollback", "deploy"]
    for (_, _, to), (_, frm, _) in zip(expected, expected[1:]):
        assert frm == to  # one unbroken chain
    assert b.linked() == "v3" and a.linked() == "v2"  # a's link stays until its next deploy command: links are local


def test_a_deploy_interrupted_after_its_switch_is_completed_by_the_nodes_next_command(nodes: tuple[Node, Node]) -> None:
    a, _ = nodes
    assert a.run("deploy", "m:v1").returncode == 0
    crashed = a.run("deploy", "m:v2", extra={"MODELREG_TEST_CRASH_AFTER_SWITCH": "1"})
    assert crashed.returncode == -9 and a.linked() == "v2" and live(a.url) == "v1"  # switched here, not recorded
    assert a.run("status").returncode == 0  # the next open completes it: nobody else deployed meanwhile
    assert live(a.url) == "v2" and a.linked() == "v2"
    history = [(s[1], s[2]) for s in steps(a.url)]
    assert history == [(None, "v1"), ("v1", "v2")]


def test_a_deploy_interrupted_while_another_node_deployed_loses_and_its_link_follows(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    assert a.run("deploy", "m:v1").returncode == 0
    crashed = a.run("deploy", "m:v2", extra={"MODELREG_TEST_CRASH_AFTER_SWITCH": "1"})
    assert crashed.returncode == -9 and a.linked() == "v2"
    assert b.run("deploy", "m:v3").returncode == 0  # b moved on from v1 meanwhile
    done = a.run("deploy", "m:v3")  # a's next command: its interrupted v2 lost the race; v3 is live
    assert done.returncode == 0, done.stderr
    assert a.linked() == "v3" and live(a.url) == "v3"
    assert steps(a.url) == [("deploy", None, "v1"), ("deploy", "v1", "v3")]  # no entry for a's lost deploy, no repair
