"""Watcher targets (issue: watch). Run: python -m pytest tests/benchmarks --benchmarks -s -k watch

- latency from a checkpoint's close (or rename) to its version being durable: median ≤ 20 ms,
  p99 ≤ 100 ms with inotify;
- a burst of 10,000 checkpoints, all registered exactly once: ≤ 30 s;
- start-up scan of a tree with 50,000 files and 10,000 known checkpoints: ≤ 5 s;
- idle CPU with inotify: ≈ 0%.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from pathlib import Path

import pytest

from store.registry import Registry
from store.watch import Watcher, WatchEvent
from tests.benchmarks.conftest import summarize

pytestmark = pytest.mark.benchmark


class Arrivals:
    """perf_counter time of each "registered" event, by path."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.count = 0
        self.changed = threading.Condition()

    def __call__(self, event: WatchEvent) -> None:
        if event.kind == "registered":
            with self.changed:
                self.at[event.path] = time.perf_counter()
                self.count += 1
                self.changed.notify_all()

    def wait_for(self, path: str, timeout: float = 10.0) -> float:
        with self.changed:
            assert self.changed.wait_for(lambda: path in self.at, timeout), f"{path} was not registered"
            return self.at[path]

    def wait_count(self, count: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.count >= count, timeout)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def test_latency_from_close_or_rename_to_durable_version(tmp_path: Path, record) -> None:
    root = tmp_path / "runs"
    root.mkdir()
    arrivals = Arrivals()
    with Registry(tmp_path / "registry") as registry:
        watcher = Watcher(registry, [root], on_event=arrivals)
        watcher.start()
        assert watcher.idle(30)
        payload = os.urandom(64_000)
        closes, renames = [], []
        for i in range(300):
            path = root / f"model-{i}.pt"
            with open(path, "wb") as handle:
                handle.write(payload)
            closed = time.perf_counter()
            closes.append(arrivals.wait_for(str(path)) - closed)
        for i in range(300):
            temporary, final = root / f"renamed-{i}.pt.tmp", root / f"renamed-{i}.pt"
            temporary.write_bytes(payload)
            moved = time.perf_counter()
            os.rename(temporary, final)
            renames.append(arrivals.wait_for(str(final)) - moved)
        watcher.idle(60)
        watcher.stop()
        assert len(registry.find()) == 600
    close_figures, rename_figures = summarize(closes), summarize(renames)
    record("watch latency close -> durable version (inotify)", **close_figures)
    record("watch latency rename -> durable version (inotify)", **rename_figures)
    for figures in (close_figures, rename_figures):
        assert figures["median_ms"] <= 20 and figures["p99_ms"] <= 100


def test_baseline_raw_inotify_event_latency(tmp_path: Path, record) -> None:
    """The floor under the latency above: a bare watchdog observer's close event, same files."""
    from watchdog.events import FileClosedEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    arrived: dict[str, float] = {}
    seen = threading.Condition()

    class Handler(FileSystemEventHandler):
        def on_closed(self, event: FileClosedEvent) -> None:
            with seen:
                arrived[str(event.src_path)] = time.perf_counter()
                seen.notify_all()

    root = tmp_path / "runs"
    root.mkdir()
    observer = Observer()
    observer.schedule(Handler(), str(root), recursive=True)
    observer.start()
    payload = os.urandom(64_000)
    samples = []
    try:
        for i in range(300):
            path = root / f"model-{i}.pt"
            with open(path, "wb") as handle:
                handle.write(payload)
            closed = time.perf_counter()
            with seen:
                assert seen.wait_for(lambda: str(path) in arrived, 10)
            samples.append(arrived[str(path)] - closed)
    finally:
        observer.stop()
        observer.join()
    record("baseline: bare watchdog close event (inotify)", **summarize(samples))


def test_burst_of_10000_checkpoints_registered_exactly_once(tmp_path: Path, record) -> None:
    root = tmp_path / "runs"
    root.mkdir()
    arrivals = Arrivals()
    with Registry(tmp_path / "registry") as registry:
        watcher = Watcher(registry, [root], on_event=arrivals)
        watcher.start()
        assert watcher.idle(30)
        start = time.perf_counter()
        for i in range(10_000):
            with open(root / f"burst-{i:05d}.pt", "wb") as handle:
                handle.write(i.to_bytes(4, "big") * 256)
        written = time.perf_counter() - start
        assert arrivals.wait_count(10_000, 120)
        registered = time.perf_counter() - start
        assert watcher.idle(120)
        hashed = time.perf_counter() - start
        time.sleep(1.5)  # anything late would show up as an 10,001st version
        watcher.stop()
        found = registry.find()
        paths = [v.artifacts[0]["path"] for v in found]
        assert len(found) == 10_000 and len(set(paths)) == 10_000
        assert all(v.artifacts[0]["sha256"] for v in found)
    record("watch burst of 10,000 checkpoints", written_s=written, registered_s=registered, hashed_s=hashed, versions=len(found))
    assert registered <= 30


def make_tree(root: Path, runs: int = 1000) -> int:
    """runs x (10 checkpoints + 40 other files) = 50,000 files."""
    for r in range(runs):
        run = root / f"project-{r % 20}" / f"run-{r}"
        (run / "logs").mkdir(parents=True)
        for c in range(10):
            (run / f"model_step_{c * 100}.pt").write_bytes(b"c" * 64)
        for o in range(20):
            (run / f"metrics-{o}.csv").write_bytes(b"m")
            (run / "logs" / f"events-{o}.log").write_bytes(b"l")
    return runs * 10


def test_startup_scan_of_50000_files_with_10000_known_checkpoints_and_idle_cpu(tmp_path: Path, record) -> None:
    root = tmp_path / "runs"
    checkpoints = make_tree(root)
    time.sleep(1.1)  # older than the settle period: the first scan registers them without waiting
    with Registry(tmp_path / "registry") as registry:
        first = Watcher(registry, [root])
        begin = time.perf_counter()
        first.start()
        assert first.idle(300)
        first_s = time.perf_counter() - begin
        first.stop()
        assert len(registry.find()) == checkpoints

        arrivals = Arrivals()
        second = Watcher(registry, [root], on_event=arrivals)
        begin = time.perf_counter()
        second.start()
        assert second.idle(60)
        scan_s = time.perf_counter() - begin
        assert arrivals.count == 0

        time.sleep(1.0)
        cpu_before, wall_before = cpu_seconds(), time.perf_counter()
        time.sleep(5.0)
        idle_cpu = (cpu_seconds() - cpu_before) / (time.perf_counter() - wall_before) * 100
        second.stop()
    record(
        "watch start-up scan, 50,000 files / 10,000 known checkpoints",
        scan_s=scan_s, first_registration_s=first_s, idle_cpu_percent=idle_cpu, watched_dirs=2020,
    )
    assert scan_s <= 5
    assert idle_cpu <= 1.0
