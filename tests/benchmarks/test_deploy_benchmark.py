"""Deploy targets (issue 3). Run: python -m pytest tests/benchmarks --benchmarks -s -k deploy

- deploy of a 1 GiB artifact on the same filesystem (hard link, no copy): median ≤ 50 ms;
- the same deploy through the copy fallback (os.link made to fail with EXDEV, as across filesystems);
- a rollback (the target is already pinned).
Each deploy pins a new version (distinct content, so nothing is reused), registered beforehand with its sha256.
"""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import pytest

from store import Registry
from tests.benchmarks.conftest import summarize

pytestmark = pytest.mark.benchmark

GIB = 1 << 30
BLOCK = 1 << 20


def write_gib(path: Path, seed: int) -> Path:
    """A 1 GiB safetensors file (one uint8 tensor: a valid header, so the safety scan passes it as a
    deploy's gate requires) whose data differs per seed, so each version has its own sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(BLOCK)
    size = GIB - 8 - 80  # the header, padded to 80 bytes, and its 8-byte length come first
    header = json.dumps({"w": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}}).encode().ljust(80)
    with open(path, "wb") as handle:
        handle.write(len(header).to_bytes(8, "little") + header)
        handle.write(seed.to_bytes(8, "little") + block[8 + 88:])
        for _ in range(GIB // BLOCK - 1):
            handle.write(block)
    return path


def versions(reg: Registry, tmp_path: Path, n: int) -> list[Path]:
    paths = [write_gib(tmp_path / "runs" / f"checkpoint-{k}" / "model.safetensors", k) for k in range(n)]
    for path in paths:
        reg.register("llm", [path])
    return paths


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def test_deploy_1gib_hard_link(tmp_path: Path, record) -> None:
    reg = Registry(tmp_path / "reg")
    paths = versions(reg, tmp_path, 5)
    samples = [timed(lambda k=k: reg.deploy(f"llm:v{k}")) for k in range(1, 6)]
    pinned = reg.path / "deploy" / "production" / "llm" / "model.safetensors"
    assert os.stat(pinned).st_ino == paths[-1].stat().st_ino  # a hard link, not a copy
    rollbacks = [timed(lambda: reg.rollback("llm")) for _ in range(4)]
    reg.close()
    record("deploy 1 GiB, hard link", **summarize(samples))
    record("rollback 1 GiB, already pinned", **summarize(rollbacks))
    for path in paths:
        path.unlink()
    assert summarize(samples)["median_ms"] <= 50


def test_deploy_1gib_copy_fallback(tmp_path: Path, record, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = Registry(tmp_path / "reg")
    paths = versions(reg, tmp_path, 3)

    def cross_device(*args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    samples = [timed(lambda k=k: reg.deploy(f"llm:v{k}")) for k in range(1, 4)]
    pinned = reg.path / "deploy" / "production" / "llm" / "model.safetensors"
    assert os.stat(pinned).st_nlink == 1 and os.path.getsize(pinned) == GIB  # a copy
    reg.close()
    record("deploy 1 GiB, copy fallback (incl. fsync)", **summarize(samples))
    for path in [*paths, *(reg.path / "pinned" / "objects").iterdir()]:
        path.unlink()
