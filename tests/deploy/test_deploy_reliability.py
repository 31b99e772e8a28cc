"""Deploys under concurrent readers, concurrent deployers, checkpoint rotation and crashes (real processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from store.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
WORKERS = Path(__file__).with_name("deploy_workers.py")

pytestmark = pytest.mark.slow


def make_versions(reg: Registry, tmp_path: Path, n: int, model: str = "m") -> list[Path]:
    paths = []
    for k in range(1, n + 1):
        path = tmp_path / "runs" / f"checkpoint-{k}" / "model.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"weights-{k};".encode() * 200)
        reg.register(model, [path])
        paths.append(path)
    return paths


def served(reg: Registry, model: str = "m") -> bytes:
    return (reg.path / "deploy" / "production" / model / "model.bin").read_bytes()


def cli(registry: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "--registry", str(registry), *args],
        cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=60,
    )


def test_readers_never_fail_during_2000_switches(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "reg")
    make_versions(reg, tmp_path, 4)
    reg.deploy("m:v1")
    stop = tmp_path / "stop"
    readers = []
    for i in range(3):
        ready = tmp_path / f"ready-{i}"
        readers.append((ready, subprocess.Popen(
            [sys.executable, str(WORKERS), "read", str(reg.path), "m", str(ready), str(stop)], stdout=subprocess.PIPE, text=True)))
    deadline = time.monotonic() + 30
    while not all(ready.exists() for ready, _ in readers):
        assert time.monotonic() < deadline, "readers did not start"
        time.sleep(0.01)
    switches = 0
    for i in range(1000):
        target = f"m:v{(i % 3) + 2}"  # v2, v3, v4 in turn, each followed by a rollback
        switches += reg.deploy(target)["to"] == target.split(":")[1]
        reg.rollback("m")
        switches += 1
    stop.touch()
    results = [json.loads(process.communicate(timeout=30)[0]) for _, process in readers]
    assert switches == 2000
    assert [r["failures"] for r in results] == [0, 0, 0], results
    assert all(r["reads"] > 100 for r in results), results
    ok = [e for e in reg.history("m") if e["ok"]]
    assert len(ok) == 2001 and all(a["to"] == b["from"] for a, b in zip(ok, ok[1:]))
    reg.close()


def test_concurrent_deploys_keep_history_live_and_link_in_agreement(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "reg")
    make_versions(reg, tmp_path, 6)
    reg.close()
    workers = [
        subprocess.Popen([sys.executable, str(WORKERS), "switch", str(reg.path), "m", "50", str(seed), "6"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for seed in range(4)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        results.append(json.loads(out))
    assert [r["problems"] for r in results] == [[], [], [], []], results
    assert sum(r["done"] + r["refused"] for r in results) == 200
    with Registry(reg.path) as reg:
        ok = [e for e in reg.history("m", "production") if e["ok"]]
        assert ok[0]["from"] is None and all(a["to"] == b["from"] for a, b in zip(ok, ok[1:])), "chain broken"
        assert len({e["seq"] for e in reg.history()}) == len(reg.history())
        live = reg.live("m").version
        assert ok[-1]["to"] == live == Path(os.readlink(reg.path / "deploy" / "production" / "m")).name
        assert [v.version for v in reg.versions("m") if v.status == "deployed"] == [live]
        assert served(reg).startswith(f"weights-{live[1:]};".encode())
        assert not (reg.path / "pinned" / "pending.json").exists()


def test_roll_back_nine_times_after_the_checkpoints_are_gone(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "reg")
    paths = make_versions(reg, tmp_path, 10)
    for k, path in enumerate(paths, start=1):
        reg.deploy(f"m:v{k}")
        if k > 2:
            paths[k - 3].unlink()  # like save_total_limit=2: only the two newest checkpoints remain
    reg.close()
    for path in paths[-2:]:
        path.unlink()
    live = []
    for step in range(9):
        result = cli(reg.path, "rollback", "m")
        assert result.returncode == 0, result.stderr
        with Registry(reg.path) as now:
            version = now.live("m").version
            assert served(now) == f"weights-{version[1:]};".encode() * 200
            assert now.get(f"m:v{10 - step}").status == "deprecated"
        live.append(version)
    assert live == [f"v{k}" for k in range(9, 0, -1)]
    result = cli(reg.path, "rollback", "m")
    assert result.returncode == 1 and "no earlier version was live there before v1" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("action", ["deploy", "rollback"])
def test_crash_between_switch_and_history_is_repaired_on_open(tmp_path: Path, action: str) -> None:
    reg = Registry(tmp_path / "reg")
    make_versions(reg, tmp_path, 3)
    marker = tmp_path / "hook-ran"
    (reg.path / "config.json").write_text(json.dumps({"deploy_hook": f"touch {marker}"}))
    for ref in ("m:v1", "m:v2"):
        reg.deploy(ref)
    args = ("deploy", "m:v3") if action == "deploy" else ("rollback", "m")
    expected = "v3" if action == "deploy" else "v1"
    result = cli(reg.path, *args, env={"MODELREG_TEST_CRASH_AFTER_SWITCH": "1"})
    assert result.returncode == -signal.SIGKILL
    # Killed after the switch: serving sees the new version, the registry does not know yet.
    assert served(reg) == f"weights-{expected[1:]};".encode() * 200
    reg.refresh()
    assert reg.live("m").version == "v2" and len(reg.history()) == 2 and not marker.exists()
    assert (reg.path / "pinned" / "pending.json").exists()
    reg.close()
    doctor = cli(reg.path, "doctor")  # says so, and changes nothing
    assert doctor.returncode == 1 and "problem: a deploy was interrupted after switching its link" in doctor.stdout
    assert (reg.path / "pinned" / "pending.json").exists()
    with Registry(reg.path) as reopened:  # the next open repairs it
        last = reopened.history("m")[-1]
        assert (last["action"], last["from"], last["to"], last["ok"]) == (action, "v2", expected, True)
        assert "stopped after switching the link" in last["reason"] and last["hook"] is None
        assert reopened.live("m").version == expected
        statuses = {v.version: v.status for v in reopened.versions("m")}
        assert statuses[expected] == "deployed" and statuses["v2"] == ("deprecated" if action == "rollback" else "completed")
        assert not (reopened.path / "pinned" / "pending.json").exists()
        # The walk continues correctly from the repaired entry.
        if action == "deploy":
            assert reopened.rollback("m")["to"] == "v2"
    if action == "rollback":
        result = cli(reg.path, "rollback", "m")
        assert result.returncode == 1 and "no earlier version" in result.stderr
