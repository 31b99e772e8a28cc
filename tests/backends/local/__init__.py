"""Shared by the local backend's multi-process tests."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def wait_started(marks: Sequence[Path], processes: Sequence[subprocess.Popen], what: str, timeout: float = 60.0) -> None:
    """Wait until every mark file exists: the processes that write them have done their first step.

    The test starts the other side only then, so the two overlap even on a loaded machine, where
    the other side could otherwise finish before these begin."""
    deadline = time.monotonic() + timeout
    while not all(mark.exists() for mark in marks):
        assert all(process.poll() is None for process in processes), f"{what} exited before starting"
        assert time.monotonic() < deadline, f"{what} did not start within {timeout:g} s"
        time.sleep(0.01)
