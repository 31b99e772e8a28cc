"""``modelreg follow`` as a real process on a serving folder, while the registry deploys and rolls back.

The follower only ever reads the registry; these tests write it from this process (the "registry
host") and watch the follower's links, hook and one-line messages.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from store.deploy.follow import Follower
from store.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534


class FollowProcess:
    """``modelreg follow`` in its own process group; its output lines gathered as they come."""

    def __init__(self, registry: Path, directory: Path, *extra: str, env: dict[str, str] | None = None,
                 as_nobody: bool = False) -> None:
        argv = ["--registry", str(registry), "follow", "--env", "production", "--dir", str(directory),
                "--interval", "0.2", *extra]
        # As nobody: imported as root first (this Python lives under /root, closed to nobody).
        start = [str(ROOT / "tests" / "backends" / "local" / "reliability_worker.py"), "cli-as-nobody"] if as_nobody else ["-m", "tui.cli"]
        self.lines: list[str] = []
        self.process = subprocess.Popen([sys.executable, *start, *argv], cwd=ROOT, env={**os.environ, **(env or {})},
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def said(self, words: str) -> list[str]:
        return [line for line in self.lines if words in line]

    def stop(self, how: int = signal.SIGINT) -> int:
        """Ctrl-C, as a person would (or SIGTERM, as a service manager would); the exit code."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, how)
        try:
            code = self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise
        self._reader.join(5)
        return code


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def linked(directory: Path, model: str = "m") -> str | None:
    try:
        return Path(os.readlink(directory / "deploy" / "production" / model)).name
    except OSError:
        return None


def _versions(registry: Registry, folder: Path, count: int) -> dict[str, bytes]:
    """Register ``count`` versions of m, one file each; {version: bytes}."""
    made = {}
    for i in range(count):
        path = folder / f"run{i}" / "model.gguf"
        path.parent.mkdir(parents=True)
        path.write_bytes(f"weights of run {i}\n".encode() * 100)
        made[registry.register("m", path).version] = path.read_bytes()
    return made


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder user nobody can reach (pytest's tmp_path lives under a 0700 directory)."""
    directory = Path(tempfile.mkdtemp(prefix="modelreg-follow-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_the_link_follows_deploys_and_rollbacks_and_runs_the_hook(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "registry")
    made = _versions(reg, tmp_path, 3)
    serving = tmp_path / "serving"
    follower = FollowProcess(reg.path, serving, "--hook", 'echo "$MODELREG_ACTION $MODELREG_VERSION $MODELREG_PREVIOUS" >> hook.log')
    try:
        steps = [lambda: reg.deploy("m:v1"), lambda: reg.deploy("m:v2"), lambda: reg.deploy("m:v3"),
                 lambda: reg.rollback("m"), lambda: reg.rollback("m"), lambda: reg.deploy("m:v3")]
        for step in steps:
            live = step()["to"]
            wait_until(lambda: linked(serving) == live, f"the link to reach {live}")
            assert (serving / "deploy" / "production" / "m" / "model.gguf").read_bytes() == made[live]
    finally:
        code = follower.stop()
    assert code == 0 and follower.said("stopped; the links stay as they are")
    hooks = (serving / "hook.log").read_text().splitlines()
    assert hooks == ["follow v1 ", "follow v2 v1", "follow v3 v2", "follow v2 v3", "follow v1 v2", "follow v3 v1"]
    assert len(follower.said("production")) >= 6 and not follower.said("cannot")
    reg.close()


def test_a_restarted_follower_picks_up_what_changed_while_it_was_down(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "registry")
    made = _versions(reg, tmp_path, 2)
    serving = tmp_path / "serving"
    reg.deploy("m:v1")
    first = FollowProcess(reg.path, serving)
    wait_until(lambda: linked(serving) == "v1", "the first follower to link v1")
    os.killpg(first.process.pid, signal.SIGKILL)  # a crash, not a clean stop
    first.process.wait()
    reg.deploy("m:v2")
    assert linked(serving) == "v1"  # nobody followed meanwhile
    once = subprocess.run([sys.executable, "-m", "tui.cli", "--registry", str(reg.path), "follow", "--dir", str(serving),
                           "--once"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert once.returncode == 0, once.stdout + once.stderr
    assert linked(serving) == "v2" and "m: production v1 → v2" in once.stdout
    assert (serving / "deploy" / "production" / "m" / "model.gguf").read_bytes() == made["v2"]
    again = subprocess.run([sys.executable, "-m", "tui.cli", "--registry", str(reg.path), "follow", "--dir", str(serving),
                            "--once"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout == ""  # already live: nothing to do, nothing said
    reg.close()


def test_an_unreadable_registry_keeps_the_last_good_link_says_so_once_and_recovers(shared_dir: Path) -> None:
    reg = Registry(shared_dir / "registry")
    made = _versions(reg, shared_dir, 2)
    serving, cache = shared_dir / "serving", shared_dir / "cache"
    for folder in (serving, cache):
        folder.mkdir()
        os.chown(folder, NOBODY, NOBODY)
    reg.deploy("m:v1")
    follower = FollowProcess(reg.path, serving, env={"XDG_CACHE_HOME": str(cache), "HOME": str(cache)}, as_nobody=True)
    try:
        wait_until(lambda: linked(serving) == "v1", "the follower to link v1")
        reg.path.chmod(0o000)  # the registry goes away for this host (root, deploying, still can)
        wait_until(lambda: follower.said("cannot read the registry"), "the follower to say it cannot read")
        reg.deploy("m:v2")
        time.sleep(1.0)  # several passes while it cannot read
        assert linked(serving) == "v1"
        assert (serving / "deploy" / "production" / "m" / "model.gguf").read_bytes() == made["v1"]
        (line,) = follower.said("cannot read the registry")  # said once, not once per pass
        assert "keeping the links as they are (m v1)" in line
        reg.path.chmod(0o755)
        wait_until(lambda: linked(serving) == "v2", "the follower to link v2 once it can read again")
        assert follower.said("the registry is readable again")
        assert (serving / "deploy" / "production" / "m" / "model.gguf").read_bytes() == made["v2"]
    finally:
        reg.path.chmod(0o755)
        assert follower.stop(signal.SIGTERM) == 0
    assert follower.said("stopped; the links stay as they are")
    reg.close()


def test_a_failing_hook_leaves_the_previous_version_linked(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "registry")
    _versions(reg, tmp_path, 2)
    reg.deploy("m:v1")
    lines: list[str] = []
    serving = tmp_path / "serving"
    follower = Follower(lambda: Registry(reg.path, create=False), serving, "production",
                        hook='test "$MODELREG_VERSION" = v1 || { echo "not today"; exit 3; }', say=lines.append)
    assert follower.step() == ["m"] and linked(serving) == "v1"
    reg.deploy("m:v2")
    assert follower.step() == [] and follower.step() == []
    assert linked(serving) == "v1" and follower.failing == ["m"]
    assert lines[1:] == ["m: cannot follow v2 (the hook exited with 3 (not today)); v1 stays linked"]
    follower.close()
    reg.close()


def test_an_unknown_environment_is_one_line(tmp_path: Path) -> None:
    Registry(tmp_path / "registry").close()
    run = subprocess.run([sys.executable, "-m", "tui.cli", "--registry", str(tmp_path / "registry"), "follow",
                          "--env", "prod", "--dir", str(tmp_path / "serving"), "--once"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and run.stderr.count("\n") == 1 and "unknown environment 'prod'" in run.stderr


@pytest.mark.slow
def test_a_100_mb_checkpoint_on_s3_is_followed_while_a_reader_never_fails(tmp_path: Path, s3) -> None:
    """The acceptance test: uploaded to S3 (moto), verified, followed onto a serving folder while a
    reader loop reads through the link across every switch."""
    import hashlib
    import json

    reg = Registry(tmp_path / "registry")
    (reg.path / "config.json").write_text(json.dumps({"artifact_store": s3.url("team/models")}))
    reg.close()
    reg = Registry(tmp_path / "registry")
    sums = {}
    for i in (1, 2):
        checkpoint = tmp_path / f"run{i}" / "model.gguf"
        checkpoint.parent.mkdir()
        checkpoint.write_bytes(os.urandom(100 << 20))
        version = reg.register("m", checkpoint)
        assert not version.uploading and version.artifacts[0]["url"].startswith(s3.url("team/models/sha256/"))
        sums[version.version] = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
        shutil.rmtree(checkpoint.parent)  # the training host rotated it: only the bucket has it now
    reg.deploy("m:v1")
    serving = tmp_path / "serving"
    follower = FollowProcess(reg.path, serving, env={"XDG_CACHE_HOME": str(tmp_path / "serving-cache")})
    reader = None
    stop = tmp_path / "stop-reading"
    try:
        wait_until(lambda: linked(serving) == "v1", "the follower to fetch and link v1", timeout=180)
        reader = subprocess.Popen([sys.executable, str(ROOT / "tests" / "deploy" / "link_reader.py"),
                                   str(serving / "deploy" / "production" / "m" / "model.gguf"), str(stop)],
                                  stdout=subprocess.PIPE, text=True)
        for step in [lambda: reg.deploy("m:v2"), lambda: reg.rollback("m"), lambda: reg.deploy("m:v2"), lambda: reg.rollback("m")]:
            live = step()["to"]
            wait_until(lambda: linked(serving) == live, f"the follower to link {live}", timeout=180)
            time.sleep(0.5)  # reads on each side of the switch
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    finally:
        stop.touch()
        if reader is not None and reader.poll() is None:
            reader.kill()
        assert follower.stop() == 0
    seen = json.loads(out)
    assert seen["failures"] == [] and seen["reads"] >= 4
    assert set(seen["hashes"]) == set(sums.values())  # both versions read whole, nothing else ever
    cached = sorted(p.name for p in (tmp_path / "serving-cache" / "modelreg" / "artifacts" / "objects").iterdir())
    assert cached == sorted(sums.values())  # each fetched once, kept under its verified sha256
    reg.close()


def test_a_tampered_object_is_not_followed_until_the_right_bytes_are_back(tmp_path: Path, s3,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fs = s3.server.filesystem()
    good = {i: f"checkpoint {i}\n".encode() * 1000 for i in (1, 2)}
    for i, data in good.items():
        fs.pipe_file(f"{s3.name}/v{i}.gguf", data)
    reg = Registry(tmp_path / "registry")
    for i in good:
        reg.register("m", s3.url(f"v{i}.gguf"))
    reg.deploy("m:v1")
    monkeypatch.setenv("MODELREG_CACHE", str(tmp_path / "serving-cache"))  # the serving host's own cache
    lines: list[str] = []
    serving = tmp_path / "serving"
    follower = Follower(lambda: Registry(reg.path, create=False), serving, "production", say=lines.append)
    assert follower.step() == ["m"]
    fs.pipe_file(f"{s3.name}/v2.gguf", b"x" * len(good[2]))  # tampered after registration
    reg.deploy("m:v2")  # the registry host pinned the bytes it had verified
    assert follower.step() == [] and follower.step() == []
    assert linked(serving) == "v1" and follower.failing == ["m"]
    assert len(lines) == 2 and lines[1].startswith(f"m: cannot follow v2 (refusing {s3.url('v2.gguf')}: it holds sha256")
    assert lines[1].endswith("nothing was cached); v1 stays linked")
    fs.pipe_file(f"{s3.name}/v2.gguf", good[2])
    assert follower.step() == ["m"] and linked(serving) == "v2"
    assert (serving / "deploy" / "production" / "m" / "v2.gguf").read_bytes() == good[2]
    follower.close()
    reg.close()


def test_once_exits_non_zero_when_the_live_version_cannot_be_fetched(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "registry")
    _versions(reg, tmp_path, 1)
    reg.deploy("m:v1")
    shutil.rmtree(tmp_path / "run0")  # this host cannot reach the file (and has no copy of the registry's pins)
    run = subprocess.run([sys.executable, "-m", "tui.cli", "--registry", str(reg.path), "follow", "--dir",
                          str(tmp_path / "serving"), "--once"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and linked(tmp_path / "serving") is None
    assert run.stdout.count("\n") == 1 and "m: cannot follow v1 (cannot read artifact" in run.stdout
    assert run.stdout.rstrip().endswith("nothing stays linked")
    reg.close()


def test_a_release_is_rebuilt_when_the_versions_bytes_are_not_the_ones_it_was_built_from(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "registry")
    made = _versions(reg, tmp_path, 2)
    serving = tmp_path / "serving"
    follower = Follower(lambda: Registry(reg.path, create=False), serving, "production", say=lambda line: None)
    reg.deploy("m:v1")
    follower.step()
    reg.deploy("m:v2")
    follower.step()
    # This host's v1 release was built from other bytes (a registry recreated under the same names).
    stale = serving / "releases" / "m" / "v1" / "model.gguf"
    stale.unlink()
    stale.write_bytes(b"something else")
    (serving / "releases" / "m" / ".v1.json").write_text('[["model.gguf", "0000"]]')
    reg.rollback("m")
    assert follower.step() == ["m"] and linked(serving) == "v1"
    assert (serving / "deploy" / "production" / "m" / "model.gguf").read_bytes() == made["v1"]
    follower.close()
    reg.close()
