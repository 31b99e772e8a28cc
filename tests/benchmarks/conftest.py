"""Benchmarks print their figures and append them to tests/benchmarks/results/*.jsonl.

They are skipped unless pytest is run with ``--benchmarks``; run them with ``-s`` to see the figures.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

RESULTS = Path(__file__).parent / "results"


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """Median and p99 of timings in seconds, reported in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {"median_ms": statistics.median(ordered) * 1e3, "p99_ms": p99 * 1e3, "n": len(ordered)}


@pytest.fixture
def record(request: pytest.FixtureRequest):
    """record(name, **figures): print one line and keep it in results/<module>.jsonl."""

    def write(name: str, **figures: object) -> None:
        RESULTS.mkdir(exist_ok=True)
        line = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%S"), **figures}
        with open(RESULTS / f"{request.module.__name__.rsplit('.', 1)[-1]}.jsonl", "a") as handle:
            handle.write(json.dumps(line) + "\n")
        print(f"\n[benchmark] {name}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()))

    return write
