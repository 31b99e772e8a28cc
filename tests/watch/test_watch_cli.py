"""``modelreg watch`` in a real subprocess, and how the watcher picks polling for network filesystems."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.registry import Registry
from store.watch.observers import filesystem_type, needs_polling

ROOT = Path(__file__).resolve().parents[2]


_unread: weakref.WeakKeyDictionary[subprocess.Popen[str], bytearray] = weakref.WeakKeyDictionary()


def read_line_with(process: subprocess.Popen[str], text: str, timeout: float = 20.0) -> str:
    """The next line of the process's output that holds ``text``; the lines before it are passed over.

    Reads the pipe itself and keeps what follows the line for the next call: with readline, a
    second line that came in the same read would sit in a buffer that select cannot see."""
    assert process.stdout is not None
    fd, unread = process.stdout.fileno(), _unread.setdefault(process, bytearray())
    deadline = time.monotonic() + timeout
    while True:
        while (end := unread.find(b"\n")) >= 0:
            line = unread[:end + 1].decode()
            del unread[:end + 1]
            if text in line:
                return line
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if select.select([fd], [], [], min(left, 0.1))[0]:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break  # the process closed its output
            unread += chunk
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


@pytest.fixture
def open_to_nobody() -> Iterator[Path]:
    """A folder user nobody may use (pytest's own tmp folders are closed to other users)."""
    folder = Path(tempfile.mkdtemp(prefix="modelreg-nobody-"))
    folder.chmod(0o777)
    yield folder
    for inner in folder.rglob("*"):
        if inner.is_dir():
            inner.chmod(0o755)
    shutil.rmtree(folder)


def _registry_for_anyone(folder: Path) -> Path:
    registry = folder / "registry"
    Registry(registry).close()
    for inner in (registry, *registry.iterdir()):
        inner.chmod(0o777 if inner.is_dir() else 0o666)
    return registry


def _closed(folder: Path) -> Path:
    """Mode 000: closed to every user but root, and the tests below never run the watcher as root."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0)
    return folder


def _watch_unprivileged(registry: Path, *dirs: Path) -> subprocess.Popen[str]:
    """``modelreg watch`` as a user permissions apply to: nobody when the tests run as root (as in
    CI; imported as root first, since this Python lives under /root), else this user."""
    argv = ["--registry", str(registry), "watch", *map(str, dirs), "--settle", "0.2", "--model", "m"]
    worker = ROOT / "tests" / "backends" / "local" / "reliability_worker.py"
    start = [str(worker), "cli-as-nobody"] if os.geteuid() == 0 else ["-m", "tui.cli"]
    return subprocess.Popen([sys.executable, *start, *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_a_folder_the_watcher_may_not_read_is_named_not_skipped_in_silence(open_to_nobody: Path) -> None:
    registry, runs = _registry_for_anyone(open_to_nobody), open_to_nobody / "runs"
    for name in ("readable", "closed"):
        (runs / name).mkdir(parents=True)
        (runs / name / "model.onnx").write_bytes(b"o" * 1000)  # not a pickle: no inspector process needed
    runs.chmod(0o777)
    (runs / "readable").chmod(0o777)
    _closed(runs / "closed")
    _closed(runs / "lost+found")  # as at a mount point: root's, and never training output

    process = _watch_unprivileged(registry, runs)
    try:
        lines: list[str] = []
        while not all(any(line.startswith(kind) for line in lines) for kind in ("registered", "problem")):
            lines.append(read_line_with(process, " "))  # in either order: the scan and the writer run apart
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in stderr and "stopped watching: 1 registered, 1 problem" in stderr
    [problem] = [line.strip() for line in lines if line.startswith("problem")]
    assert problem == (f"problem    cannot read {runs / 'closed'}: permission denied; "
                       "checkpoints in it are not registered until this user may read it")
    [registered] = [line for line in lines if line.startswith("registered")]
    assert "m:v1" in registered and "readable/model.onnx" in registered


@pytest.mark.parametrize("below", ["", "runs"], ids=["closed", "inside-closed"])
def test_watching_a_folder_the_user_may_not_read_is_refused_in_one_line(open_to_nobody: Path, below: str) -> None:
    registry, closed = _registry_for_anyone(open_to_nobody), open_to_nobody / "closed"
    if below:  # a folder that exists, on a path closed to this user: not "no such folder"
        (closed / below).mkdir(parents=True)
    _closed(closed)
    target = closed / below if below else closed
    process = _watch_unprivileged(registry, target)
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1
    assert stderr == f"modelreg: error: cannot watch {target}: permission denied; give this user read access to it\n"


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


WATCH_UNPRIVILEGED = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from tests.backends.local.reliability_worker import become_nobody
from store.registry import Registry
from store.watch import Watcher
if os.geteuid() == 0:
    become_nobody()  # root may read anything
events = []
with Registry(sys.argv[2]) as registry:
    watcher = Watcher(registry, sys.argv[3:], settle=0.2, model="m", on_event=events.append)
    watcher.start()
    for _ in range(3):
        assert watcher.idle(60)
        watcher.rescan("missed events")
    assert watcher.idle(60)
    watcher.stop()
print(json.dumps([e.message for e in events if e.kind == "problem"]))
"""


def test_an_unreadable_folder_is_named_once_not_at_every_rescan(open_to_nobody: Path) -> None:
    registry, runs = _registry_for_anyone(open_to_nobody), open_to_nobody / "runs"
    _closed(runs / "closed")
    runs.chmod(0o777)
    done = subprocess.run([sys.executable, "-c", WATCH_UNPRIVILEGED, str(ROOT), str(registry), str(runs), str(open_to_nobody)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # Three rescans, and the folder under two watched roots (runs/ and its parent): one line.
    assert json.loads(done.stdout.splitlines()[-1]) == [
        f"cannot read {runs / 'closed'}: permission denied; checkpoints in it are not registered until this user may read it"]
