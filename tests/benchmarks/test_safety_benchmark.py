"""Safe loading benchmarks (issue: loading is safe by construction). Figures are same-run ratios.

- Loading a ~200 MB fitted forest through the restricted loader: <= 1.3x the time of plain
  ``joblib.load`` of the same file, uncompressed and compressed with zlib 3.
- The watcher's inspecting worker judges and describes small checkpoints at >= 20 per second,
  reported against one interpreter start per file in the same run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import joblib
import pytest

from store.safety.inspector import Inspector
from store.safety import load_file
from tests.benchmarks.conftest import summarize

pytestmark = pytest.mark.benchmark
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def forest_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    X, y = make_classification(n_samples=60_000, n_features=20, n_informative=12, n_classes=4, random_state=0)
    forest = RandomForestClassifier(n_estimators=140, random_state=0, n_jobs=2).fit(X, y)
    folder = tmp_path_factory.mktemp("forest")
    files = {"plain": folder / "forest.joblib", "zlib3": folder / "forest-zlib3.joblib"}
    joblib.dump(forest, files["plain"])
    joblib.dump(forest, files["zlib3"], compress=("zlib", 3))
    return files


@pytest.mark.parametrize("kind", ["plain", "zlib3"])
def test_restricted_load_of_a_200mb_forest_against_joblib_load(forest_files: dict[str, Path], kind: str, record) -> None:
    path = forest_files[kind]
    size_mb = path.stat().st_size / 1e6
    ours, theirs = [], []
    for _ in range(7):  # interleaved, so drift in the machine hits both alike
        started = time.perf_counter()
        joblib.load(path)
        theirs.append(time.perf_counter() - started)
        started = time.perf_counter()
        load_file(path)
        ours.append(time.perf_counter() - started)
    mine, base = summarize(ours), summarize(theirs)
    ratio = mine["median_ms"] / base["median_ms"]
    record(f"restricted load vs joblib.load, {kind} ({size_mb:.0f} MB on disk)", restricted_median_ms=mine["median_ms"],
           restricted_p99_ms=mine["p99_ms"], joblib_median_ms=base["median_ms"], joblib_p99_ms=base["p99_ms"], ratio=ratio)
    assert ratio <= 1.3


def test_worker_describes_small_checkpoints_against_one_interpreter_per_file(tmp_path: Path, record) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    files = []
    for i in range(48):
        path = tmp_path / f"step-{i:04d}.joblib"
        joblib.dump(LogisticRegression(max_iter=200 + i).fit(X, y), path)
        files.append(path)
    with Inspector() as inspector:
        inspector.inspect(files[0])  # the worker's start is paid once, as in the watcher
        started = time.perf_counter()
        for path in files:
            assert inspector.inspect(path)["estimator"] is not None
        worker_rate = len(files) / (time.perf_counter() - started)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    for path in files[:12]:
        subprocess.run([sys.executable, "-m", "store.safety.estimators", str(path)], check=True, capture_output=True, env=env, cwd=ROOT)
    one_each_rate = 12 / (time.perf_counter() - started)
    record("judge + describe small checkpoints", worker_per_s=worker_rate, interpreter_per_file_per_s=one_each_rate,
           ratio=worker_rate / one_each_rate)
    assert worker_rate >= 20
