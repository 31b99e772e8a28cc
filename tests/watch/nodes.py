"""``modelreg watch`` processes as "nodes" (each its own cache folder, so its own replica), for the tests of
several watchers registering into one registry: start them, collect what each says, stop them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAID = re.compile(r"^(?:registered|info) +(\S+:\S+)  (?:from|replaces the earlier content of|already registered from) (\S+)")


class WatchNode:
    """One ``modelreg watch FOLDER --registry REGISTRY`` process; its stdout read by a thread."""

    def __init__(self, registry: str, folder: Path, cache: Path, env: dict[str, str] | None = None,
                 model: str = "m") -> None:
        environment = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(cache), **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "--registry", registry, "watch", str(folder), "--settle", "0.3",
             "--model", model],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
        self.lines: list[str] = []
        self.killed = self.interrupted = False
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.readers = [threading.Thread(target=self._read, args=(stream, into), daemon=True)
                        for stream, into in ((self.process.stdout, self.lines), (self.process.stderr, self.errors))]
        for reader in self.readers:
            reader.start()

    def _read(self, stream, into: list[str]) -> None:
        for line in stream:
            with self.lock:
                into.append(line.rstrip("\n"))

    @property
    def stderr(self) -> str:
        with self.lock:
            return "\n".join(self.errors)

    def said(self) -> list[str]:
        with self.lock:
            return list(self.lines)

    def watching(self) -> bool:
        return any(line.startswith("info") and " watching " in line for line in self.said())

    def refs(self) -> dict[str, list[tuple[str, str]]]:
        """path -> [(ref, "registered" | "already")], from each line naming a checkpoint's version."""
        found: dict[str, list[tuple[str, str]]] = {}
        for line in self.said():
            if (match := SAID.match(line)) is not None:
                how = "already" if "already registered" in line else "registered"
                found.setdefault(match[2], []).append((match[1], how))
        return found

    def interrupt(self) -> None:
        """One Ctrl-C (a second one while it stops would be a second, impatient, Ctrl-C)."""
        if not self.interrupted and self.process.poll() is None:
            self.interrupted = True
            self.process.send_signal(signal.SIGINT)

    def stop(self, timeout: float = 120) -> None:
        """Ctrl-C, as a user stops it; killed (and ``killed`` set) if it does not stop within ``timeout``."""
        self.interrupt()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.killed = True
            self.process.kill()
            self.process.wait()
        for reader in self.readers:
            reader.join(10)

    def stopped_cleanly(self) -> bool:
        return not self.killed and self.process.returncode in (0, 130) and "Traceback" not in self.stderr


    def how_it_ended(self) -> str:
        return f"exit {self.process.returncode}{' (killed: did not stop)' if self.killed else ''}: {self.stderr[-1500:]}"


def stop_all(nodes: list[WatchNode]) -> None:
    """Ctrl-C to every node at once, then wait for each."""
    for node in nodes:
        node.interrupt()
    for node in nodes:
        node.stop()


def wait_for(condition, timeout: float, what: str, nodes: list[WatchNode]) -> None:
    """Wait until ``condition()``; on timeout fail naming ``what`` and the last words of every node."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if any(node.process.poll() is not None for node in nodes):
            break
        time.sleep(0.2)
    if condition():
        return
    stop_all(nodes)
    tails = "\n".join(f"node {n}: {node.said()[-3:]} {node.stderr[-1500:]}" for n, node in enumerate(nodes))
    raise AssertionError(f"{what} not within {timeout} s\n{tails}")


def checkpoints(folder: Path, count: int, tag: str, start: int = 0) -> list[Path]:
    """``count`` small checkpoints (ONNX-named bytes: registered without a safety scan), each different."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(start, start + count):
        path = folder / f"ckpt-{i:03d}.onnx"
        path.write_bytes(f"{tag}-{i}|".encode() * 40)
        made.append(path)
    return made
