"""Registry store targets (issue: store). Run: python -m pytest tests/benchmarks --benchmarks -s -k store

- durable registration, one call at a time: median ≤ 1 ms at 10k versions, ≤ 2 ms at 100k; baselines plain
  TinyDB (JSONStorage, and CachingMiddleware) and MLflow's registry on SQLite, measured in the same run;
- open a 100k registry ≤ 1 s; find with a metric filter ≤ 50 ms; RSS at 100k (goal ≤ 500 MB);
- import time of `store`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tinydb import TinyDB
from tinydb.middlewares import CachingMiddleware
from tinydb.storages import JSONStorage

from store import Registry
from tests.benchmarks.conftest import summarize

pytestmark = pytest.mark.benchmark

ROOT = Path(__file__).resolve().parents[2]
MLFLOW_PYTHON = Path(os.environ.get("MLFLOW_PYTHON", ROOT / ".mlflow-venv" / "bin" / "python"))
MODELS = 100


def version_doc(i: int) -> dict:
    """A realistic version: a few metrics and params, one artifact record, a tag."""
    return {
        "metrics": {"accuracy": (i % 1000) / 1000, "f1": (i % 997) / 997, "val_loss": 1 - (i % 991) / 991},
        "params": {"lr": 0.001 * (1 + i % 7), "max_depth": i % 12, "n_estimators": 100, "criterion": "gini", "seed": i},
        "tags": ["nightly"],
        "training_data": ["train-2026-11"],
        "git_commit": f"{i:040x}"[:12],
    }


def fill(path: Path, count: int) -> Registry:
    registry = Registry(path)
    with registry.backend.storage.transaction():
        for i in range(count):
            registry.register(f"model-{i % MODELS:03d}", **version_doc(i))
    registry.backend.storage.compact()
    return registry


def time_registrations(registry: Registry, n: int) -> list[float]:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        registry.register("model-000", **version_doc(i))
        samples.append(time.perf_counter() - start)
    return samples


@pytest.mark.parametrize("size", [1_000, 10_000, 100_000])
def test_durable_registration(tmp_path: Path, size: int, record) -> None:
    registry = fill(tmp_path / "reg", size)
    samples = time_registrations(registry, 300)
    registry.close()
    record(f"modelreg register at {size}", **summarize(samples))


@pytest.mark.parametrize("size", [1_000, 10_000])
def test_baseline_plain_tinydb(tmp_path: Path, size: int, record) -> None:
    path = tmp_path / "plain.json"
    docs = {str(i + 1): {"model": f"model-{i % MODELS:03d}", "version": f"v{i}", **version_doc(i)} for i in range(size)}
    path.write_text(json.dumps({"versions": docs}))
    db = TinyDB(path)
    samples = []
    for i in range(20 if size <= 10_000 else 3):
        start = time.perf_counter()
        db.table("versions").insert({"model": "model-000", "version": f"x{i}", **version_doc(i)})
        samples.append(time.perf_counter() - start)
    db.close()
    record(f"plain TinyDB insert at {size}", **summarize(samples))

    cached = TinyDB(path, storage=CachingMiddleware(JSONStorage))
    cached.table("versions").all()
    samples = []
    for i in range(200):
        start = time.perf_counter()
        cached.table("versions").insert({"model": "model-000", "version": f"y{i}", **version_doc(i)})
        samples.append(time.perf_counter() - start)
    record(f"TinyDB CachingMiddleware insert (not durable) at {size}", **summarize(samples))


MLFLOW_SCRIPT = r"""
import sys, time, json, statistics, logging
logging.disable(logging.WARNING)
from mlflow.tracking import MlflowClient
uri, prefill, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
client.create_registered_model("m")
for i in range(prefill):
    client.create_model_version("m", source=f"/tmp/a{i}")
plain, tagged = [], []
for i in range(n):
    t = time.perf_counter(); client.create_model_version("m", source=f"/tmp/b{i}"); plain.append(time.perf_counter() - t)
for i in range(n):
    t = time.perf_counter()
    mv = client.create_model_version("m", source=f"/tmp/c{i}")
    client.set_model_version_tag("m", mv.version, "stage", "nightly")
    client.set_registered_model_alias("m", "latest_good", mv.version)
    tagged.append(time.perf_counter() - t)
print(json.dumps({"plain": plain, "tagged": tagged}))
"""


def test_baseline_mlflow_sqlite(tmp_path: Path, record) -> None:
    if not MLFLOW_PYTHON.exists():
        pytest.fail(f"the MLflow baseline needs a venv with mlflow-skinny, sqlalchemy and alembic at {MLFLOW_PYTHON} (or set MLFLOW_PYTHON)")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = subprocess.run([str(MLFLOW_PYTHON), "-c", MLFLOW_SCRIPT, uri, "1000", "100"], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    record("MLflow create_model_version (sqlite, 1k existing)", **summarize(figures["plain"]))
    record("MLflow version + tag + alias (sqlite, 1k existing)", **summarize(figures["tagged"]))


OPEN_SCRIPT = r"""
import resource, sys, time
t0 = time.perf_counter()
from store import Registry
t1 = time.perf_counter()
reg = Registry(sys.argv[1], create=False)
t2 = time.perf_counter()
samples = []
for _ in range(7):
    t = time.perf_counter(); found = reg.find("accuracy>0.99"); samples.append(time.perf_counter() - t)
samples.sort()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{t1 - t0} {t2 - t1} {samples[3]} {len(found)} {rss}")
"""


def test_open_find_and_memory_at_100k(tmp_path: Path, record) -> None:
    fill(tmp_path / "reg", 100_000).close()
    rows = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", OPEN_SCRIPT, str(tmp_path / "reg")], cwd=ROOT, capture_output=True, text=True, check=True)
        rows.append([float(x) for x in out.stdout.split()])
    rows.sort(key=lambda r: r[1])
    import_s, open_s, find_s, matches, rss_mb = rows[len(rows) // 2]
    record("open 100k registry", open_s=open_s, import_store_s=import_s, find_metric_filter_ms=find_s * 1e3, matches=int(matches), rss_mb=rss_mb)
