"""Every door that loads or trusts an artifact goes through the restricted loader: register,
load, scan, deploy (with --trust recorded), the CLI and a real ``modelreg watch`` process.
Each payload would create a marker file; none ever does."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import joblib
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from store.deploy import loading
from store.errors import DeployError, UnsafeArtifact
from store.safety.inspector import Inspector
from store.registry import Registry
from tests.watch.test_watch import wait_until

ROOT = Path(__file__).resolve().parents[2]


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return os.system, (f"touch {self.marker}",)


def model() -> LogisticRegression:
    X, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=300).fit(X, y)


def hostile(path: Path, marker: Path) -> Path:
    """A real fitted model with a payload hidden in one attribute."""
    poisoned = model()
    poisoned.notes_ = Payload(marker)
    joblib.dump(poisoned, path)
    return path


def cli(*args: str, registry: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui.cli", "--registry", str(registry), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    path = tmp_path / "registry"
    path.mkdir()
    registry = Registry(path)
    yield registry
    registry.close()


def test_register_judges_the_file_and_load_refuses_it_in_one_line(reg: Registry, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    version = reg.register("m", [hostile(tmp_path / "m.joblib", marker)])
    assert version.scan and version.scan["verdict"] == "unsafe" and "posix.system" in version.scan["reason"]
    with pytest.raises(UnsafeArtifact) as refused:
        loading.load(reg, version.ref)
    assert "posix.system" in str(refused.value) and "\n" not in str(refused.value)
    clean = reg.register("m", [joblib.dump(model(), tmp_path / "ok.joblib")[0]])
    assert clean.scan and clean.scan["verdict"] == "safe"
    assert type(loading.load(reg, clean.ref)).__name__ == "LogisticRegression"
    assert not marker.exists()


def test_deploy_refuses_an_unsafe_artifact_unless_trusted_and_history_says_so(reg: Registry, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "weights.pkl"
    path.write_bytes(b"\x80\x04\x95\x11\x00\x00\x00\x00\x00\x00\x00\x8c\x08operator\x8c\x03add\x93K\x01K\x02\x86R.")
    version = reg.register("m", [path])
    assert version.scan["verdict"] == "unsafe"
    with pytest.raises(DeployError, match=r"cannot deploy m:v1: the safety scan says unsafe .*operator\.add.*--trust"):
        reg.deploy(version.ref)
    assert reg.history() == [] and reg.live("m") is None
    entry = reg.deploy(version.ref, trust=True)
    assert entry["trusted"] is True and reg.history()[-1]["trusted"] is True
    assert reg.live("m").version == "v1"
    safe = reg.register("m", [joblib.dump(model(), tmp_path / "ok.joblib")[0]])
    assert "trusted" not in reg.deploy(safe.ref)
    assert not marker.exists()


def test_the_cli_refuses_then_trusts_and_scans_a_file(tmp_path: Path) -> None:
    marker, registry = tmp_path / "PWNED", tmp_path / "registry"
    registry.mkdir()
    Registry(registry).close()
    path = hostile(tmp_path / "m.joblib", marker)
    done = cli("register", "m", str(path), registry=registry)
    assert done.returncode == 0, done.stderr
    for args in (("load", "m:v1"), ("deploy", "m:v1")):
        done = cli(*args, registry=registry)
        assert done.returncode != 0 and "posix.system" in done.stderr + done.stdout, (args, done.stderr)
        assert "Traceback" not in done.stderr and len((done.stderr + done.stdout).strip().splitlines()) == 1
    done = cli("scan", str(path), registry=registry)
    assert done.returncode == 1 and done.stdout.startswith("UNSAFE") and "posix.system" in done.stdout
    done = cli("deploy", "m:v1", "--trust", registry=registry)
    assert done.returncode == 0 and "trusted past the safety scan" in done.stdout, done.stderr
    assert "ok (trusted)" in cli("history", registry=registry).stdout
    assert not marker.exists()


def test_a_real_watch_process_never_runs_a_payload_and_describes_good_models(tmp_path: Path) -> None:
    marker, runs, registry = tmp_path / "PWNED", tmp_path / "runs", tmp_path / "registry"
    runs.mkdir()
    registry.mkdir()
    Registry(registry).close()
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "--registry", str(registry), "watch", str(runs), "--settle", "0.2"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()

    def printed(text: str) -> bool:
        return any(text in line for line in list(lines))

    try:
        assert wait_until(lambda: printed("watching"), timeout=30)
        (runs / "evil").mkdir()
        hostile(runs / "evil" / "model.joblib", marker)
        assert wait_until(lambda: printed("unsafe pickle") and printed("posix.system"), timeout=60), lines
        (runs / "good").mkdir()
        joblib.dump(model(), runs / "good" / "model.joblib")
        assert wait_until(lambda: printed("good:v1"), timeout=60), lines
        with Registry(registry) as reg:  # described by the watcher's worker, with the same restricted loader
            assert wait_until(lambda: (reg.refresh() or True) and bool(reg.get("good:v1").estimator), timeout=60)
        process.terminate()
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    with Registry(registry) as reg:
        evil = reg.get("evil:v1")
        assert evil.scan["verdict"] == "unsafe" and evil.estimator is None
        assert "LogisticRegression" in reg.get("good:v1").estimator["class"]
    assert not marker.exists()


def test_the_inspector_restarts_after_a_death_or_a_timeout(tmp_path: Path) -> None:
    good = joblib.dump(model(), tmp_path / "ok.joblib")[0]
    with Inspector(timeout=30) as inspector:
        first = inspector.inspect(good)
        assert first["scan"]["verdict"] == "safe" and "LogisticRegression" in first["estimator"]["class"]
        assert inspector._process is not None
        inspector._process.kill()  # the worker dies between two files
        inspector._process.wait()
        assert inspector.inspect(good)["scan"]["verdict"] == "safe" and inspector.starts == 2
    with Inspector(timeout=0.01) as slow:
        answer = slow.inspect(good)
        assert answer["scan"]["verdict"] == "error" and "longer than" in answer["scan"]["reason"]
        slow.timeout = 30
        assert slow.inspect(good)["scan"]["verdict"] == "safe" and slow.starts == 2


def test_a_pytorch_checkpoint_is_judged_at_register_and_gates_deploy(reg: Registry, tmp_path: Path) -> None:
    import pickle
    import zipfile

    def torch_zip(path: Path, data_pkl: bytes) -> Path:
        with zipfile.ZipFile(path, "w") as archive:  # the layout torch.save writes
            archive.writestr("archive/data.pkl", data_pkl)
            archive.writestr("archive/data/0", b"\0" * 16)
            archive.writestr("archive/version", "3\n")
        return path

    evil = torch_zip(tmp_path / "evil.pt", pickle.dumps(Payload(tmp_path / "PWNED"), protocol=2))
    # What torch.save writes for a state dict: an OrderedDict of rebuilt tensors (globals named, never run here).
    benign = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x06\x00\x00\x00weightq\x02ctorch._utils\n" \
             b"_rebuild_tensor_v2\nq\x03sb."
    good = torch_zip(tmp_path / "good.pt", benign)
    bad = reg.register("net", [evil])
    assert bad.scan["verdict"] == "unsafe" and "posix.system" in bad.scan["reason"]
    with pytest.raises(DeployError, match="safety scan says unsafe"):
        reg.deploy(bad.ref)
    fine = reg.register("net", [good])
    assert fine.scan["verdict"] == "safe" and "torch._utils._rebuild_tensor_v2" in fine.scan["imports"]
    assert reg.deploy(fine.ref)["to"] == fine.version
    assert reg.load(fine.ref) == [good]  # never unpickled here: torch checkpoints load as paths
    assert not (tmp_path / "PWNED").exists()
