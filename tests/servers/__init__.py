"""Real servers for the tests (MLflow, moto's S3, PostgreSQL), started on 127.0.0.1 at free ports.

They live in their own virtual environment, never a dependency of modelreg: ``.ci/run`` builds it
at ``.servers-venv`` (or set ``MODELREG_SERVERS_VENV``). A missing server fails the test; it never skips.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("MODELREG_SERVERS_VENV", ROOT / ".servers-venv"))


def server_program(name: str) -> Path:
    """A program from the servers' venv (``mlflow``, ``moto_server``); fails the test if absent."""
    path = VENV / "bin" / name
    if not path.exists():
        pytest.fail(f"{name} is not installed at {path}: run .ci/run, or build the servers' venv "
                    f"(see .ci/run) and set MODELREG_SERVERS_VENV", pytrace=False)
    return path


def system_program(name: str) -> str:
    """A program from the system (PostgreSQL's ``initdb``, ``pg_ctl``); fails the test if absent."""
    found = shutil.which(name) or next((str(p) for p in Path("/usr/lib/postgresql").glob(f"*/bin/{name}")), None)
    if not found:
        pytest.fail(f"{name} is not installed: .ci/run installs Debian's postgresql", pytrace=False)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 60.0) -> None:
    """Wait until something listens on ``port``; fail with the server's own words if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode} before listening", pytrace=False)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    stop(process)
    pytest.fail(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s", pytrace=False)


def start(argv: Sequence[str | os.PathLike[str]], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A server in its own process group, so that stopping it stops its workers too."""
    out = open(log, "ab")
    return subprocess.Popen([str(a) for a in argv], stdout=out, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass
