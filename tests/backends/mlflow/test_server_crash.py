"""An MLflow server killed (SIGKILL, its whole process group) under writers that are registering,
deploying and updating; restarted on the same sqlite file, the registry must be consistent.

Each round starts a writer process (tests/backends/mlflow/crash_worker.py), waits until it has
acknowledged a write, kills the server after a random delay, checks that the writer failed with one
line naming the server and what to do, restarts the server and checks what the next open sees.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from store.backends.mlflow.backend import MlflowBackend
from store.registry import Registry
from tests.servers import stop
from tests.servers.mlflow import fresh_prefix, start_mlflow

REPO = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("crash_worker.py")
SAFE = {"safe": True, "verdict": "safe", "reason": "scanned"}
FILES = 300
ROUNDS = 2


class Server:
    """A private MLflow server on one sqlite file, killed and restarted on the same port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.url, self.process = start_mlflow(directory)
        self.port = int(self.url.rsplit(":", 1)[1])

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)  # type: ignore[attr-defined]
        self.process.wait()  # type: ignore[attr-defined]

    def restart(self) -> None:
        self.url, self.process = start_mlflow(self.directory, port=self.port)


@contextmanager
def fresh(url: str) -> Iterator[Registry]:
    """The registry as a machine that never opened it sees it: everything fetched from the server."""
    before = os.environ["XDG_CACHE_HOME"]  # set for every test (tests/conftest.py)
    os.environ["XDG_CACHE_HOME"] = f"{before}-fresh-{uuid.uuid4().hex[:8]}"
    try:
        with Registry(url) as registry:
            yield registry
    finally:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture
def server(tmp_path: Path) -> Any:
    made = Server(tmp_path / "server")
    try:
        yield made
    finally:
        stop(made.process)  # type: ignore[arg-type]


def kill_during(server: Server, writers: dict[str, str], env: dict[str, str], chance: random.Random) -> dict[str, list[dict]]:
    """Run the writers at once (kind -> argument), kill the server once each has acknowledged a write;
    what each acknowledged. Each must fail with one line naming the server and what to do."""
    running = {kind: subprocess.Popen([sys.executable, str(WORKER), kind, server.url, arg], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
               for kind, arg in writers.items()}
    lines: dict[str, list[dict]] = {kind: [] for kind in writers}
    readers = [threading.Thread(target=lambda k=k, p=p: lines[k].extend(json.loads(line) for line in p.stdout), daemon=True)
               for k, p in running.items()]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(sum("ready" not in line for line in lines[k]) < 1 and p.poll() is None
                                              for k, p in running.items()):
        time.sleep(0.01)
    time.sleep(chance.uniform(0.0, 0.5))  # somewhere in the middle of a write, or between two
    server.kill()
    for kind, writer in running.items():
        writer.wait(timeout=60)
        stderr = writer.stderr.read()  # type: ignore[union-attr]
        assert "Traceback" not in stderr, stderr[-3000:]
        assert writer.returncode == 3, (kind, writer.returncode, lines[kind][-3:], stderr[-2000:])
    for reader in readers:
        reader.join(timeout=10)
    for kind in writers:
        error = lines[kind][-1]["error"]
        # one line, naming the server and what to do
        assert "\n" not in error and server.url in error and "check that it runs" in error, error
    return {kind: [line for line in got[:-1] if "ready" not in line] for kind, got in lines.items()}


def test_a_server_killed_mid_write_leaves_a_consistent_registry(server: Server, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seed = int(os.environ.get("MODELREG_TEST_SEED", time.time_ns() % 10_000))
    chance = random.Random(seed)
    node = tmp_path / "node"  # one machine: the writers and the next opens share its cache folder
    monkeypatch.setenv("XDG_CACHE_HOME", str(node))
    env = {**os.environ, "XDG_CACHE_HOME": str(node), "PYTHONPATH": str(REPO)}
    folder = tmp_path / "files"
    folder.mkdir()
    for n in range(FILES):
        (folder / f"f{n:03d}.bin").write_bytes(f"file {n}".encode())
    with Registry(server.url) as registry:
        for model in ("m", "u"):
            for n in range(3):
                registry.register(model, [folder / f"f{n:03d}.bin"], scan=SAFE)
    updates: list[dict] = []
    for _ in range(ROUNDS):  # each round: a register, a deploy and an update writer, one kill, one restart
        acked = kill_during(server, {"register": str(folder), "deploy": str(chance.randrange(1000)),
                                     "update": str(chance.randrange(1000))}, env, chance)
        server.restart()
        check_registered(server.url, folder, {a["key"]: a["version"] for a in acked["register"]}, seed)
        check_deployed(server.url, [a["seq"] for a in acked["deploy"] if a.get("seq") is not None], node, seed)
        updates += acked["update"]
        check_updated(server.url, updates, seed)


def check_registered(url: str, folder: Path, acked: dict[str, str], seed: int) -> None:
    with fresh(url) as registry:
        assert registry.problems() == [], seed  # no version without its modelreg tags, none broken
        docs = registry.version_docs("r")
        keys = [d["content_key"] for d in docs]
        assert len(keys) == len(set(keys)), seed  # one version per content key
        by_key = {d["content_key"]: d["version"] for d in docs}
        assert all(by_key[f"file:{k}"] == v for k, v in acked.items()), seed
    with Registry(url) as registry:  # the writer's machine opens it again
        retried = sorted(folder.iterdir())[:len(acked) + 2]  # what it did, the one it was doing, one more
        for path in retried:  # the writer's retry: the same content keys again
            version = registry.register("r", [path], content_key=f"file:{path.name}", hash_artifacts=False,
                                        scan={"verdict": "safe"}, source=False)
            if path.name in acked:
                assert version.version == acked[path.name], seed
        assert len(registry.version_docs("r")) == len(retried), seed  # exactly one version each
    raw = MlflowBackend(url)
    try:  # on the server itself: every version of r carries its modelreg fields
        answers = list(raw.client.pages("model-versions/search", "model_versions", filter="name='r'", max_results=1000))
    finally:
        raw.close()
    assert len(answers) == len(acked) + 2 and all(any(t["key"] == "modelreg.status" for t in a.get("tags", ())) for a in answers)


def check_deployed(url: str, acked: list[int], node: Path, seed: int) -> None:
    with Registry(url) as registry:
        history = registry.history("m", "production")
        assert set(acked) <= {e["seq"] for e in history}, seed  # every acknowledged switch is kept
        for earlier, later in zip(history, history[1:]):
            assert later["from"] == earlier["to"], (seed, history)  # one unbroken chain
        live = registry.live_map("m").get("production")
        assert live == history[-1]["to"], (seed, live, history[-3:])  # what is live is the log's last word
        target = next(v.version for v in registry.versions("m") if v.version != live)
        entry = registry.deploy(f"m:{target}", trust=True)  # the next deploy from this node is not refused
        assert (entry["from"], entry["to"]) == (live, target), seed
        link = next((node / "modelreg" / "mlflow").iterdir()) / "deploy" / "production" / "m"
        assert Path(os.readlink(link)).name == target, seed
    with fresh(url) as registry:
        assert registry.live_map("m") == {"production": target}, seed
        assert registry.history("m", "production")[-1]["seq"] == entry["seq"], seed
        deployed = {v.version for v in registry.versions("m") if v.status == "deployed"}
        steps = [(h["seq"], h["action"], h["from"], h["to"]) for h in registry.history("m")]
        assert deployed == {target}, (seed, deployed, steps[-4:])
    raw = MlflowBackend(url)  # no saved replica: what the server itself says
    try:
        answer = raw.client.get("registered-models/get", name="m")["registered_model"]
        aliases = {a["alias"]: str(a["version"]) for a in answer.get("aliases", ())}
        assert aliases == {"production": str(raw.versions()[raw.index.by_model["m"][target]]["mlflow"]["number"])}, seed
    finally:
        raw.close()


def check_updated(url: str, acked: list[dict], seed: int) -> None:
    with fresh(url) as registry:
        assert registry.problems() == [], seed
        for version in registry.versions("u"):
            for metric in ("step", "loss"):  # one update writes a metric and its history: both or neither
                points = (version.metric_history or {}).get(metric)
                if points:
                    assert version.metrics[metric] == points[-1]["value"], (seed, version.ref, metric)
        versions = {v.ref: v for v in registry.versions("u")}
        for write in acked:
            ref, step = write["ref"], write["step"]
            assert f"t{step}" in versions[ref].tags, (seed, write)
            assert step in [p["value"] for p in versions[ref].metric_history["step"]], (seed, write)


# -- the two mechanisms, each on a state a death leaves behind, made by hand ------------------------


@pytest.fixture
def on_server(mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    prefix = fresh_prefix()
    monkeypatch.setenv("MODELREG_MLFLOW_PREFIX", prefix)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return mlflow_server, prefix


def test_an_edit_left_half_written_reads_whole_and_the_next_edit_finishes_it(on_server: tuple[str, str], artifact: Path) -> None:
    url, prefix = on_server
    with Registry(url) as registry:
        registry.register("m", [artifact], metrics={"acc": 0.5})
    raw = MlflowBackend(url, prefix=prefix)
    try:  # a score that died after its intent and its first field: metric_history written, metrics not
        ref = {"name": prefix + "m", "version": "1"}
        history = {"acc": [{"value": 0.5, "at": "", "by": ""}, {"value": 0.9, "at": "now", "by": "x"}]}
        intent = {"set": {"metric_history": history, "metrics": {"acc": 0.9}}, "unset": []}
        raw.client.post("model-versions/set-tag", {**ref, "key": "modelreg:pending", "value": json.dumps(intent)})
        raw.client.post("model-versions/set-tag", {**ref, "key": "modelreg.metric_history", "value": json.dumps(history)})
    finally:
        raw.close()
    with fresh(url) as registry:
        version = registry.get("m:v1")
        assert version.metrics == {"acc": 0.9} and version.metric_history == history  # whole: the intent's word
        assert registry.problems() == []
        registry.tag("m:v1", "checked")  # the next edit writes the rest, then drops the intent
    raw = MlflowBackend(url, prefix=prefix)
    try:
        tags = {t["key"]: t["value"] for t in raw.client.get("model-versions/get", **ref)["model_version"]["tags"]}
    finally:
        raw.close()
    assert "modelreg:pending" not in tags and json.loads(tags["modelreg.metrics"]) == {"acc": 0.9}
    assert json.loads(tags["modelreg.tags"]) == ["checked"]


def test_a_switch_whose_alias_never_moved_reads_live_and_the_next_deploy_finishes_it(on_server: tuple[str, str], tmp_path: Path) -> None:
    url, prefix = on_server
    with Registry(url) as registry:
        for n in range(3):
            path = tmp_path / f"model-{n}.pkl"
            path.write_bytes(os.urandom(100))
            registry.register("m", [path], scan=SAFE)
        registry.deploy("m:v1")
        entry = registry.deploy("m:v2")
    raw = MlflowBackend(url, prefix=prefix)
    try:  # the deployer of v2 died after its entry: the alias still at v1, statuses not set, not done
        raw.client.post("registered-models/alias", {"name": prefix + "m", "alias": "production", "version": "1"})
        for number, status in (("1", "deployed"), ("2", "completed")):
            raw.client.post("model-versions/set-tag", {"name": prefix + "m", "version": number, "key": "modelreg.status",
                                                       "value": json.dumps(status)})
        raw.client.delete("model-versions/delete-tag", {"name": raw.replica.history_model, "version": str(entry["seq"]),
                                                        "key": "modelreg.done"})
    finally:
        raw.close()
    with fresh(url) as registry:
        assert registry.live_map("m") == {"production": "v2"}  # the log's word, not the alias it did not move
        done = registry.deploy("m:v3")  # judged from v2: not refused, and v2's switch is finished first
        assert (done["from"], done["to"]) == ("v2", "v3")
        assert [(h["action"], h["to"]) for h in registry.history("m")] == [("deploy", "v1"), ("deploy", "v2"), ("deploy", "v3")]
    with fresh(url) as registry:
        assert registry.live_map("m") == {"production": "v3"}
        assert {v.version: v.status for v in registry.versions("m")} == {"v1": "completed", "v2": "completed", "v3": "deployed"}
