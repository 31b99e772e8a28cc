"""A long-lived worker process that judges and describes checkpoints for the watcher.

The watcher never loads a checkpoint in its own process: one worker, started once, loads
each file with the restricted loader (``store.safety.loader``), describes what it found, and
answers with JSON. It runs under resource limits (address space, open files, CPU time per
file) and a wall-clock timeout; if it dies or hangs it is killed and a new one is started
for the next file. One worker for all files keeps the rate far above one interpreter per file.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]  # the folder holding the ``store`` package
MEMORY_LIMIT = 4 << 30
OPEN_FILES = 64
START_TIMEOUT = 120.0  # a worker's start-up (an interpreter and its imports) is not a file's time


class Inspector:
    """Ask ``inspect(path)``; get ``{"scan": {...}, "estimator": {...} | None}``."""

    def __init__(self, *, timeout: float = 30.0, cpu_seconds: int = 60, memory: int = MEMORY_LIMIT) -> None:
        self.timeout, self.cpu_seconds, self.memory = timeout, cpu_seconds, memory
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.starts = 0  # how many workers were started (a restart after a crash counts)

    def inspect(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        with self._lock:
            try:
                return self._ask(str(Path(path).absolute()))
            except _WorkerLost as lost:
                self._stop()
                return {"scan": {"safe": False, "verdict": "error", "reason": f"{Path(path).name}: {lost}"},
                        "estimator": None}

    def close(self) -> None:
        with self._lock:
            self._stop()

    def __enter__(self) -> Inspector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ask(self, path: str) -> dict[str, Any]:
        process = self._worker()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write((json.dumps({"path": path, "cpu": self.cpu_seconds}) + "\n").encode())
            process.stdin.flush()
        except OSError:
            raise _WorkerLost("the inspecting worker died; not judged, so not trusted") from None
        line = _read_line(process.stdout, self.timeout)
        if line is None:
            raise _WorkerLost(f"inspecting took longer than {self.timeout:g} s; not judged, so not trusted")
        if not line:
            raise _WorkerLost("the inspecting worker died on this file (crash or resource limit); not trusted")
        try:
            answer = json.loads(line)
        except ValueError:
            raise _WorkerLost("the inspecting worker answered nonsense; not trusted") from None
        return answer if isinstance(answer, dict) else {"scan": None, "estimator": None}

    def _worker(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._stop()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])),
               "MODELREG_INSPECTOR_MEMORY": str(self.memory), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "store.safety.inspector"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env, cwd=_ROOT, start_new_session=True)
        self.starts += 1
        # The file's timeout counts from "ready": on a loaded machine start-up alone can take seconds.
        if _read_line(self._process.stdout, START_TIMEOUT) != b"ready\n":
            raise _WorkerLost("the inspecting worker did not start; not judged, so not trusted")
        return self._process

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


class _WorkerLost(Exception):
    pass


def _read_line(stream: Any, timeout: float) -> bytes | None:
    """One line from the worker, b"" if it died, None if it took longer than ``timeout``."""
    deadline = time.monotonic() + timeout
    data = b""
    fd = stream.fileno()
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b""
        data += chunk
    return data


# -- the worker ---------------------------------------------------------------------------------------


def _limit() -> None:
    memory = int(os.environ.get("MODELREG_INSPECTOR_MEMORY", MEMORY_LIMIT))
    for limit, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_NOFILE, OPEN_FILES)):
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):
            pass


def _cpu_budget(seconds: int) -> None:
    """Allow ``seconds`` more CPU time from now: the limit is per process, so it moves per file."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = int(used.ru_utime + used.ru_stime) + 1
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    soft = spent + seconds if hard == resource.RLIM_INFINITY else min(spent + seconds, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def describe_file(path: str | os.PathLike[str], timeout: float = 30.0) -> dict[str, Any] | None:
    """Describe the estimator in a joblib/pickle file, loaded by the restricted loader in a
    separate worker process (this module, run as ``python -m store.safety.inspector``). None when it is refused, fails, or takes
    longer than ``timeout`` seconds once the worker is ready (its start has up to START_TIMEOUT of its own); the caller
    records that as "not described"."""
    with Inspector(timeout=timeout) as inspector:
        info = inspector.inspect(path).get("estimator")
    return info if isinstance(info, dict) else None



def answer(path: str) -> dict[str, Any]:
    from store.safety.estimators import describe
    from store.safety.loader import inspect_file

    result, obj = inspect_file(path)
    info = None
    if result.safe and obj is not None and hasattr(obj, "get_params"):
        try:
            info = json.loads(json.dumps(describe(obj)))
        except Exception:  # a describe that fails leaves the version undescribed, nothing more
            info = None
    return {"scan": result.to_dict(), "estimator": info}


def _serve() -> int:
    _limit()
    import store.safety.loader  # noqa: F401 - import once, before the first file

    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            _cpu_budget(int(request.get("cpu", 60)))
            reply = answer(str(request["path"]))
        except Exception as error:  # never die on one bad request
            reply = {"scan": {"safe": False, "verdict": "error", "reason": f"not judged: {error}"}, "estimator": None}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_serve())
