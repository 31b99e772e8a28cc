"""The restricted loader on real files: fitted estimators in every format, and payloads that
would run code, plain and hidden inside real models. No payload ever runs: each is refused."""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from store.safety import ScanResult, load_file, scan_file

FORMATS = ["joblib", "joblib-zlib3", "joblib-lzma3", "pickle2", "pickle3", "pickle4", "pickle5"]


def dump(obj: Any, path: Path, fmt: str) -> Path:
    if fmt == "joblib":
        joblib.dump(obj, path)
    elif fmt == "joblib-zlib3":
        joblib.dump(obj, path, compress=3)
    elif fmt == "joblib-lzma3":
        joblib.dump(obj, path, compress=("lzma", 3))
    else:
        with open(path, "wb") as handle:
            pickle.dump(obj, handle, protocol=int(fmt[-1]))
    return path


@pytest.fixture(scope="module")
def fitted() -> dict[str, Any]:
    X, y = load_iris(return_X_y=True)
    named = LogisticRegression(max_iter=500).fit(X, y)
    # What fit() stores for a DataFrame: an object array of names (pandas is not needed to make one).
    named.feature_names_in_ = np.array(["sepal_l", "sepal_w", "petal_l", "petal_w"], dtype=object)
    return {
        "forest": RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y),
        "logistic": LogisticRegression(max_iter=500).fit(X, y),
        "pipeline": Pipeline([("scale", StandardScaler()), ("svc", SVC())]).fit(X, y),
        "boosting": GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, y),
        "kmeans": KMeans(n_clusters=3, n_init=1, random_state=0).fit(X),
        "named": named,
    }


class Payload:
    """Unpickling this calls ``func(arg)``: the classic pickle attack."""

    def __init__(self, func: Any, arg: Any) -> None:
        self.func, self.arg = func, arg

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, (self.arg,)


def payloads(marker: Path) -> dict[str, Payload]:
    return {
        "posix.system": Payload(os.system, f"touch {marker}"),
        "builtins.exec": Payload(builtins.exec, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.call": Payload(subprocess.call, ["touch", str(marker)]),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_ordinary_estimators_scan_safe(fitted: dict[str, Any], tmp_path: Path, fmt: str) -> None:
    for name, model in fitted.items():
        result = scan_file(dump(model, tmp_path / f"{name}.bin", fmt))
        assert result.verdict == "safe", (name, result.reason)
        assert result.safe and any(i.startswith("sklearn.") for i in result.imports)
    assert isinstance(result, ScanResult) and result.to_dict()["imports"] == list(result.imports)


def test_joblib_arrays_of_every_layout_scan_safe(tmp_path: Path) -> None:
    data = {
        "float": np.arange(12.0).reshape(3, 4),
        "fortran": np.asfortranarray(np.ones((5, 3))),
        "text": np.array(["ab", "cde"]),
        "bytes": np.array([b"x", b"yz"]),
        "record": np.zeros(3, dtype=[("a", "f8"), ("b", "i4")]),
        "objects": np.array([1, "x", None], dtype=object),
        "record_objects": np.zeros(2, dtype=[("a", "f8"), ("b", "O")]),
        "empty": np.zeros((0, 7)),
        "scalar": np.array(3.5),
        "dates": np.array(["2026-01-01"], dtype="M8[D]"),
    }
    for protocol in (2, 3, 4, 5):
        for compress in (0, 3, ("bz2", 1), ("gzip", 1), ("xz", 1)):
            path = tmp_path / f"arrays{protocol}.joblib"
            joblib.dump(data, path, protocol=protocol, compress=compress)
            result = scan_file(path)
            assert result.verdict == "safe", (protocol, compress, result.reason)


def test_pickle_hidden_in_array_data_is_only_data(tmp_path: Path) -> None:
    # Raw array bytes are skipped, never parsed as opcodes: an "array" holding a pickle is harmless data.
    evil = pickle.dumps(Payload(os.system, "true"), protocol=2)
    raw = np.frombuffer(evil + b"\0" * (-len(evil) % 8), dtype=np.float64)
    path = joblib.dump({"weights": raw}, tmp_path / "m.joblib")[0]
    assert scan_file(path).verdict == "safe"


@pytest.mark.parametrize("fmt", ["joblib", "joblib-lzma3", "pickle2", "pickle5"])
def test_payloads_plain_and_hidden_in_a_real_model_are_unsafe(fitted: dict[str, Any], tmp_path: Path, fmt: str) -> None:
    marker = tmp_path / "PWNED"
    for expected, payload in payloads(marker).items():
        forest = pickle.loads(pickle.dumps(fitted["forest"]))
        attribute = pickle.loads(pickle.dumps(fitted["forest"]))
        attribute.calibration_ = payload
        in_list = pickle.loads(pickle.dumps(fitted["forest"]))
        in_list.estimators_.append(payload)
        in_array = pickle.loads(pickle.dumps(fitted["pipeline"]))
        in_array.notes_ = np.array([1.0, payload], dtype=object)  # joblib: a nested pickle after the wrapper
        for label, obj in {"plain": payload, "attribute": attribute, "list": in_list, "array": in_array}.items():
            result = scan_file(dump(obj, tmp_path / f"{label}.bin", fmt))
            assert result.verdict == "unsafe" and not result.safe, (expected, label, result.reason)
            assert expected in result.reason and expected in result.imports, result.reason
            assert "\n" not in result.reason
        assert scan_file(dump(forest, tmp_path / "clean.bin", fmt)).safe
    assert not marker.exists()


def test_truncated_files_are_errors_not_safe(fitted: dict[str, Any], tmp_path: Path) -> None:
    for fmt in ("joblib", "joblib-zlib3", "pickle5"):
        path = dump(fitted["forest"], tmp_path / "m.pkl", fmt)
        data = path.read_bytes()
        for cut in (len(data) // 3, len(data) - 20):
            path.write_bytes(data[:cut])
            result = scan_file(path)
            assert result.verdict == "error" and not result.safe, (fmt, cut, result.reason)
            assert "not loadable, so not trusted" in result.reason
    (tmp_path / "empty.pkl").write_bytes(b"")
    assert scan_file(tmp_path / "empty.pkl").verdict == "error"
    assert scan_file(tmp_path / "nope.pkl").verdict == "error"


def test_data_after_the_pickle_is_never_run(fitted: dict[str, Any], tmp_path: Path) -> None:
    # joblib stops at the first STOP; trailing bytes are hashed but never executed.
    marker = tmp_path / "PWNED"
    path = dump(fitted["logistic"], tmp_path / "m.joblib", "joblib")
    clean = path.read_bytes()
    path.write_bytes(clean + pickle.dumps(Payload(os.system, f"touch {marker}")))
    assert scan_file(path).verdict == "safe"
    assert type(load_file(path)).__name__ == "LogisticRegression"
    assert not marker.exists()


def test_stack_global_is_resolved_through_the_memo_or_refused(tmp_path: Path) -> None:
    def short(text: str) -> bytes:
        return b"\x8c" + bytes([len(text)]) + text.encode()

    # 'os' is memoized, popped, and fetched back for STACK_GLOBAL.
    memo = b"\x80\x04" + short("os") + b"\x94" + b"0" + b"h\x00" + short("system") + b"\x93" + short("true") + b"\x85R."
    (tmp_path / "memo.pkl").write_bytes(memo)
    result = scan_file(tmp_path / "memo.pkl")
    assert result.verdict == "unsafe" and result.imports == ("os.system",)
    # The module name is a number: it cannot be known without running the pickle.
    (tmp_path / "odd.pkl").write_bytes(b"\x80\x04K\x01" + short("system") + b"\x93N.")
    result = scan_file(tmp_path / "odd.pkl")
    assert result.verdict == "error" and not result.safe, result.reason


def test_tricks_that_escape_naive_scanners(tmp_path: Path) -> None:
    def scan(data: bytes) -> ScanResult:
        (tmp_path / "t.pkl").write_bytes(data)
        return scan_file(tmp_path / "t.pkl")

    # Calling something built inside the pickle, monkey-patching a class, extension codes.
    assert scan(b"\x80\x02cnumpy\ndtype\n)R)R.").verdict == "unsafe"
    assert "did not build" in scan(b"\x80\x02csklearn.ensemble._forest\nRandomForestClassifier\n}b.").reason
    assert scan(b"\x80\x02\x82\x01.").verdict == "error"
    # Python 2 names are mapped the way the unpickler maps them.
    assert scan(b"\x80\x02c__builtin__\neval\nX\x01\x00\x00\x001\x85R.").imports == ("builtins.eval",)
    # An unknown opcode is an error.
    assert scan(b"\x80\x04\xff.").verdict == "error"


def test_allow_list_boundaries(tmp_path: Path) -> None:
    def scan_global(module: str, name: str) -> ScanResult:
        (tmp_path / "g.pkl").write_bytes(b"\x80\x02" + f"c{module}\n{name}\n.".encode())
        return scan_file(tmp_path / "g.pkl")

    for module, name in [("sklearn.ensemble._forest", "RandomForestClassifier"), ("numpy", "log1p"),
                         ("scipy.sparse._csr", "csr_matrix"), ("numpy.random._pickle", "__randomstate_ctor")]:
        assert scan_global(module, name).safe, (module, name)
    for module, name in [
        ("numpy", "load"), ("numpy", "memmap"), ("numpy.testing", "assert_equal"), ("sklearn.datasets", "fetch_openml"),
        ("sklearn.utils._testing", "assert_run_python_script_without_output"), ("sklearn.base", "np"),
        ("builtins", "getattr"), ("functools", "partial"), ("runpy", "run_path"), ("importlib", "import_module"),
        ("pickle", "loads"), ("nt", "system"), ("sklearn.base", "__builtins__"), ("joblib.numpy_pickle", "NDArrayWrapper"),
        ("sklearn.utils", "all_estimators"), ("numpy", "vectorize"), ("sklearn.base", "np.load"),
    ]:
        result = scan_global(module, name)
        assert result.verdict == "unsafe" and f"{module}.{name}" in result.reason, (module, name, result.reason)


def test_opcodes_hidden_in_a_frame_beside_joblib_array_data(tmp_path: Path) -> None:
    # joblib reads array bytes from the file *after* the current frame, while the unpickler
    # goes on with the opcodes left inside the frame. A file that puts a payload there must
    # not pass as safe (joblib itself always ends the frame right after the wrapper).
    path = Path(joblib.dump(np.arange(4.0), tmp_path / "a.joblib", protocol=4)[0])
    data = path.read_bytes()
    assert data[2:3] == b"\x95"
    size = int.from_bytes(data[3:11], "little")
    body, rest = data[11 : 11 + size], data[11 + size :]
    assert body.endswith(b"b")  # the wrapper's BUILD closes the frame
    injected = b"0cposix\nsystem\n\x8c\x04true\x85R"
    forged = data[:2] + b"\x95" + (size + len(injected)).to_bytes(8, "little") + body + injected + rest
    path.write_bytes(forged)
    result = scan_file(path)
    assert result.verdict == "unsafe" and "posix.system" in result.reason, result.reason
