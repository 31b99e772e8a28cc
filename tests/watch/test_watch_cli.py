"""``modelreg watch`` in a real subprocess, and how the watcher picks polling for network filesystems."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from store.registry import Registry
from store.watch.observers import filesystem_type, needs_polling

ROOT = Path(__file__).resolve().parents[2]


def read_line_with(process: subprocess.Popen[str], text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline()
            if text in line:
                return line
            if not line and process.poll() is not None:
                break
    raise AssertionError(f"no line with {text!r} within {timeout} s")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_watch_command_prints_each_registration_and_stops_cleanly(tmp_path: Path, stop: signal.Signals) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    registry = tmp_path / "registry"
    Registry(registry).close()  # a path named with --registry must already be a registry
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "--registry", str(registry), "watch", str(runs), "--settle", "0.2", "--model", "cli-model"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert "inotify" in read_line_with(process, "watching")
        (runs / "weights-step-10.safetensors").write_bytes(b"w" * 1000)
        line = read_line_with(process, "registered")
        assert "cli-model:v1" in line and "weights-step-10.safetensors" in line
        (runs / "weights-step-10.safetensors.json").write_text(json.dumps({"metrics": {"f1": 0.7}}))
        assert "cli-model:v1" in read_line_with(process, "updated")
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode in (0, 130)
    assert "Traceback" not in stderr
    assert "stopped watching: 1 registered, 1 updated" in stderr
    with Registry(registry) as reg:
        assert reg.get("cli-model:v1").metrics == {"f1": 0.7}


def test_watch_command_names_a_missing_folder_in_one_line(tmp_path: Path) -> None:
    Registry(tmp_path / "registry").close()
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "--registry", str(tmp_path / "registry"), "watch", str(tmp_path / "nope")],
        cwd=ROOT, capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 1
    assert done.stderr.strip() == f"modelreg: error: cannot watch {tmp_path / 'nope'}: no such folder"


def test_network_filesystems_are_found_in_the_mount_table(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/sda1 / ext4 rw 0 0\n"
        "server:/export /mnt/shared nfs4 rw 0 0\n"
        "//nas/models /mnt/nas\\040models cifs rw 0 0\n"
        "me@host:/data /mnt/sshfs fuse.sshfs rw 0 0\n"
        "/dev/sdb1 /mnt/shared/local ext4 rw 0 0\n"
    )
    assert needs_polling("/mnt/shared/runs/a", str(mounts)) == "nfs4"
    assert needs_polling("/mnt/nas models/x", str(mounts)) == "cifs"
    assert needs_polling("/mnt/sshfs", str(mounts)) == "fuse.sshfs"
    assert needs_polling("/mnt/shared/local/runs", str(mounts)) is None  # a local disk mounted inside the share
    assert needs_polling("/home/me/runs", str(mounts)) is None
    assert filesystem_type("/mnt/sharedother", str(mounts)) == "ext4"  # a prefix of the name is not the mount
