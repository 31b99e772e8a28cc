"""Second hostile pass against the restricted loader (``store.safety``) and the watcher's worker.

Every payload is a real file on disk, built by hand from pickle opcodes or by pickling a real
model and editing only the values its state holds. Each test checks what the README's "Safe
loading" section guarantees:

- ``load_file`` raises ``UnsafeArtifact`` / ``ArtifactError`` with one line,
- ``scan_file`` never answers "safe",
- no marker file appears (nothing ran),
- memory-corruption candidates run in a child process, which then *uses* the object the way a
  caller would (``predict``, ``@``, ``random``), so a crash fails the test instead of pytest.

Nothing here runs what the payloads name: where a test must show what another unpickler
(the C one torch.load uses) *would* do, it uses an unpickler whose ``find_class`` only records.
"""

from __future__ import annotations

import copyreg
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from store.errors import ArtifactError, UnsafeArtifact
from store.safety import load_file, scan_file, scan_paths

REPO = Path(__file__).resolve().parents[1]

# -- building pickles from opcodes ----------------------------------------------------------------

MARK, STOP, TUPLE, REDUCE, BUILD, NEWOBJ = pickle.MARK, pickle.STOP, pickle.TUPLE, pickle.REDUCE, pickle.BUILD, pickle.NEWOBJ
POP, NONE, EMPTY_LIST, EMPTY_DICT, APPENDS, SETITEMS = pickle.POP, pickle.NONE, pickle.EMPTY_LIST, pickle.EMPTY_DICT, \
    pickle.APPENDS, pickle.SETITEMS


def s(text: str) -> bytes:
    data = text.encode()
    return pickle.BINUNICODE + struct.pack("<I", len(data)) + data


def lit(value: Any) -> bytes:
    """Plain data as opcodes (no memo)."""
    if value is None:
        return NONE
    if value is True or value is False:
        return pickle.NEWTRUE if value else pickle.NEWFALSE
    if type(value) is int:
        if -(1 << 31) <= value < 1 << 31:
            return pickle.BININT + struct.pack("<i", value)
        raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
        return pickle.LONG1 + bytes([len(raw)]) + raw
    if type(value) is float:
        return pickle.BINFLOAT + struct.pack(">d", value)
    if type(value) is str:
        return s(value)
    if type(value) is bytes:
        return pickle.BINBYTES + struct.pack("<I", len(value)) + value
    if type(value) is tuple:
        return MARK + b"".join(lit(v) for v in value) + TUPLE
    if type(value) is list:
        return EMPTY_LIST + (MARK + b"".join(lit(v) for v in value) + APPENDS if value else b"")
    if type(value) is dict:
        return EMPTY_DICT + (MARK + b"".join(lit(k) + lit(v) for k, v in value.items()) + SETITEMS if value else b"")
    raise TypeError(value)


def g(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def tup(*parts: bytes) -> bytes:
    return MARK + b"".join(parts) + TUPLE


def call(func: bytes, *args: bytes) -> bytes:
    return func + tup(*args) + REDUCE


def new(cls: bytes, *args: bytes) -> bytes:
    return cls + tup(*args) + NEWOBJ


def put(n: int) -> bytes:
    return pickle.BINPUT + bytes([n])


def get(n: int) -> bytes:
    return pickle.BINGET + bytes([n])


def pkl(*body: bytes, proto: int = 4) -> bytes:
    return pickle.PROTO + bytes([proto]) + b"".join(body) + STOP


def system(cmd: str) -> bytes:
    return call(g("os", "system"), s(cmd))


def touch(marker: Path) -> str:
    return f"touch {marker}"


_DTYPE = g("numpy", "dtype")
_RECON = g("numpy._core.multiarray", "_reconstruct")
_NDARRAY = g("numpy", "ndarray")


def dtype(code: str) -> bytes:
    return call(_DTYPE, s(code), lit(False), lit(True))


def array(memo: int | None, code: str, values: np.ndarray) -> bytes:
    """An ndarray the way NumPy pickles one: _reconstruct, then BUILD with raw bytes."""
    values = np.ascontiguousarray(values, dtype=code)
    return (call(_RECON, _NDARRAY, lit((0,)), lit(b"b")) + (put(memo) if memo is not None else b"")
            + tup(lit(1), lit(values.shape), dtype(code), lit(False), lit(values.tobytes())) + BUILD)


class Edited:
    """Pickles as ``obj`` does (its own __reduce_ex__), with the state passed through ``edit``."""

    def __init__(self, obj: Any, edit: Callable[[Any], Any]) -> None:
        self.reduced = obj.__reduce_ex__(4)
        self.edit = edit

    def __reduce__(self) -> tuple[Any, ...]:
        func, args, state, *rest = self.reduced
        return (func, args, self.edit(state), *rest)


class Recording(pickle.Unpickler):
    """The C unpickler (what pickle.load and torch.load(weights_only=False) use), with a
    find_class that only records what it would import and hands back an inert stand-in."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.names: list[str] = []

    def find_class(self, module: str, name: str) -> Any:
        self.names.append(f"{module}.{name}")
        return lambda *args, **kwargs: ("called", f"{module}.{name}", args)

    def persistent_load(self, pid: Any) -> Any:
        return ("persistent", pid)


# -- what every refusal must look like ------------------------------------------------------------


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def assert_refused(path: Path, *needles: str, marker: Path | None = None, broken: bool = False) -> str:
    expected: type[Exception] = ArtifactError if broken else UnsafeArtifact
    with pytest.raises((UnsafeArtifact, ArtifactError)) as caught:
        load_file(path)
    message = str(caught.value)
    assert "\n" not in message, message
    assert type(caught.value) is expected, message
    for needle in needles:
        assert needle in message, (needle, message)
    result = scan_file(path)
    assert not result.safe and result.verdict == ("error" if broken else "unsafe"), result
    assert "\n" not in result.reason
    if marker is not None:
        assert not marker.exists(), f"payload ran: {marker} exists"
    return message


_CHILD = r"""
import sys
from store.errors import ArtifactError, UnsafeArtifact
from store.safety import load_file, scan_file
path, use = sys.argv[1], sys.argv[2]
result = scan_file(path)
print("SCAN", result.verdict, result.reason, flush=True)
try:
    obj = load_file(path)
except (UnsafeArtifact, ArtifactError) as error:
    print("REFUSED", type(error).__name__, error, flush=True)
else:
    print("LOADED", type(obj).__name__, flush=True)
    import numpy as np
    print("USED", repr(eval(use, {"obj": obj, "np": np}))[:200], flush=True)
"""


def child(path: Path, use: str = "repr(obj)") -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(path), use], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def assert_refused_in_subprocess(path: Path, *needles: str, use: str = "repr(obj)") -> str:
    code, out = child(path, use)
    assert code == 0, f"child died with {code} (memory corruption) after: {out[-600:]}"
    assert "SCAN safe" not in out, out
    assert "REFUSED" in out, out
    for needle in needles:
        assert needle in out, (needle, out)
    return out


# -- native state: histogram-gradient-boosting predictor nodes -------------------------------------


def _hgb_with(edit: Callable[[np.ndarray, np.ndarray], None]) -> bytes:
    from sklearn.ensemble import HistGradientBoostingRegressor

    X = np.random.RandomState(0).rand(60, 2)
    model = HistGradientBoostingRegressor(max_iter=2).fit(X, X[:, 0])
    predictor = model._predictors[0][0]
    nodes = predictor.nodes.copy()
    edit(nodes, ~nodes["is_leaf"].astype(bool))
    predictor.nodes = nodes
    return pickle.dumps(model, protocol=4)


def _feature_past_the_data(nodes: np.ndarray, inner: np.ndarray) -> None:
    nodes["feature_idx"][inner] = 10**8  # only "< 0" is checked; predict reads X[row, 10**8]


def _bitset_past_the_bitsets(nodes: np.ndarray, inner: np.ndarray) -> None:
    nodes["is_categorical"][inner] = 1  # a numeric model's node turned categorical ...
    nodes["bitset_idx"][inner] = 10**8  # ... reading raw_left_cat_bitsets[10**8]


@pytest.mark.parametrize("edit", [_feature_past_the_data, _bitset_past_the_bitsets], ids=["feature_idx", "bitset_idx"])
def test_hist_gradient_boosting_node_indices_are_bounded(tmp_path: Path, edit: Callable[..., None]) -> None:
    # Memory corruption at use time: TreePredictor.nodes is read by Cython with bounds checks
    # off. The README promises HGB "node links and features" are checked; feature_idx is only
    # checked for being negative, bitset_idx / is_categorical not at all.
    path = write(tmp_path, "hgb.pkl", _hgb_with(edit))
    assert_refused_in_subprocess(path, use="obj.predict(np.random.rand(4, 2))")


# -- native state: an array rebuilt after its owner was checked ------------------------------------


def test_array_state_cannot_change_after_its_owner_was_checked(tmp_path: Path) -> None:
    # TOCTOU inside one pickle: the indices array of a csr_matrix is valid when the matrix's
    # BUILD runs check_format; a second BUILD on the same (memoised) array then rewrites its
    # contents with ndarray.__setstate__. The matrix keeps the array, now pointing 10**8 past
    # its data; "@" reads there.
    i4 = np.int32
    body = (new(g("scipy.sparse._csr", "csr_matrix")) + EMPTY_DICT + MARK
            + s("_shape") + lit((2, 2)) + s("maxprint") + lit(50)
            + s("indices") + array(0, "<i4", np.array([0, 1], i4))
            + s("indptr") + array(1, "<i4", np.array([0, 1, 2], i4))
            + s("data") + array(2, "<f8", np.ones(2))
            + SETITEMS + BUILD
            + get(0) + tup(lit(1), lit((2,)), dtype("<i4"), lit(False), lit(np.array([10**8, 1], i4).tobytes())) + BUILD
            + POP)
    path = write(tmp_path, "csr.pkl", pkl(body))
    assert_refused_in_subprocess(path, use="obj @ np.ones(2)")


def test_array_rebuilt_after_a_tree_predictor_was_checked(tmp_path: Path) -> None:
    # The same TOCTOU on HGB predictor nodes: valid at the predictor's BUILD, rewritten after.
    from sklearn.ensemble import HistGradientBoostingRegressor

    X = np.random.RandomState(0).rand(60, 2)
    model = HistGradientBoostingRegressor(max_iter=1).fit(X, X[:, 0])
    nodes = model._predictors[0][0].nodes
    evil = nodes.copy()
    evil["feature_idx"][~evil["is_leaf"].astype(bool)] = -(10**8)
    dt = nodes.dtype
    fields = EMPTY_DICT + MARK + b"".join(
        s(name) + tup(dtype(dt.fields[name][0].str), lit(dt.fields[name][1])) for name in dt.names) + SETITEMS
    node_dtype = (call(_DTYPE, s("V%d" % dt.itemsize), lit(False), lit(True)) + put(9)
                  + tup(lit(3), s("|"), NONE, lit(tuple(dt.names)), fields, lit(dt.itemsize), lit(dt.alignment),
                        lit(dt.flags)) + BUILD)
    body = (new(g("sklearn.ensemble._hist_gradient_boosting.predictor", "TreePredictor")) + put(1)
            + EMPTY_DICT + MARK
            + s("nodes") + call(_RECON, _NDARRAY, lit((0,)), lit(b"b")) + put(0)
            + tup(lit(1), lit(nodes.shape), node_dtype, lit(False), lit(nodes.tobytes())) + BUILD
            + s("binned_left_cat_bitsets") + array(None, "<u4", np.zeros((0, 8)))
            + s("raw_left_cat_bitsets") + array(None, "<u4", np.zeros((0, 8)))
            + SETITEMS + BUILD
            + get(0) + tup(lit(1), lit(nodes.shape), get(9), lit(False), lit(evil.tobytes())) + BUILD + POP)
    path = write(tmp_path, "predictor.pkl", pkl(body))
    use = ("obj.predict(np.random.rand(4, 2), np.zeros((0, 8), np.uint32), np.zeros(2, np.uint32), 1)")
    assert_refused_in_subprocess(path, use=use)


# -- PyTorch: the symbolic walker against the real unpickler ---------------------------------------


def _torch_zip(path: Path, data_pkl: bytes, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", data_pkl)
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/version", "3\n")
        for name, blob in (extra or {}).items():
            zf.writestr(name, blob)
    return path


def _tuple_hides_strings(cmd: str) -> bytes:
    """The walker reads pickletools' stack effects, but looks for an item named "markobject"
    where pickletools names it "mark": every mark-consuming opcode (TUPLE, LIST, DICT,
    APPENDS, SETITEMS ...) is then taken to pop just two items, whatever the mark says. Four
    strings in a TUPLE leave "torch", "Size" on the walker's stack, while the real stack has
    "os", "system" for STACK_GLOBAL."""
    return pkl(s("os"), s("system"), MARK, s("torch"), s("Size"), s("a"), s("b"), TUPLE, POP,
               pickle.STACK_GLOBAL, tup(s(cmd)), REDUCE, proto=2)


def test_torch_walker_follows_marks(tmp_path: Path) -> None:
    # Desync between the symbolic walker and the real unpickler: a "safe" verdict (and a
    # deploy) for a checkpoint that imports and calls os.system. torch.load(weights_only=True)
    # would refuse it itself, but the verdict claims every import is one it allows, and
    # weights_only=False (torch < 2.6's default, and many tools) runs it.
    marker = tmp_path / "pwned"
    data = _tuple_hides_strings(touch(marker))
    recorder = Recording(data)
    assert recorder.load() == ("called", "os.system", (touch(marker),))
    assert recorder.names == ["os.system"]  # what the C unpickler imports and calls
    result = scan_file(_torch_zip(tmp_path / "model.pt", data))
    assert not result.safe and result.verdict == "unsafe", result
    assert "os.system" in result.reason, result
    assert not marker.exists()


_WALKER_CASES = [
    # the memo holds what PUT saw on the real stack
    ("put after global", pkl(s("torch"), s("Size"), g("torch", "Size"), put(0), POP, POP, POP, s("os"), put(1),
                             get(1), s("system"), pickle.STACK_GLOBAL, proto=2), "os.system"),
    ("pop after mark", pkl(s("os"), s("system"), MARK, s("torch"), s("Size"), s("pad"), MARK, POP, TUPLE, POP,
                           pickle.STACK_GLOBAL, proto=2), "os.system"),
    ("dict", pkl(s("os"), s("system"), MARK, s("torch"), s("Size"), s("k"), s("v"), pickle.DICT, POP,
                 pickle.STACK_GLOBAL, proto=2), "os.system"),
    ("list", pkl(s("os"), s("system"), MARK, s("torch"), s("Size"), s("a"), s("b"), pickle.LIST, POP,
                 pickle.STACK_GLOBAL, proto=2), "os.system"),
    ("pop_mark", pkl(s("os"), MARK, s("torch"), s("Size"), pickle.POP_MARK, s("system"), pickle.STACK_GLOBAL, proto=2),
     "os.system"),
    ("dup of module", pkl(s("os"), pickle.DUP, POP, s("system"), pickle.STACK_GLOBAL, proto=2), "os.system"),
    ("memoize numbering", pkl(s("torch"), pickle.MEMOIZE, s("os"), pickle.BINPUT + b"\x05", s("x"), pickle.MEMOIZE,
                              POP, POP, POP, get(1), s("system"), pickle.STACK_GLOBAL, proto=4), ""),
    ("frame", pkl(pickle.FRAME + struct.pack("<Q", 30) + s("os") + s("system") + pickle.STACK_GLOBAL
                  + tup(s("id")) + REDUCE, proto=4), "os.system"),
]


@pytest.mark.parametrize("name,data,needle", _WALKER_CASES, ids=[c[0] for c in _WALKER_CASES])
def test_torch_walker_stack_and_memo_edge_cases(tmp_path: Path, name: str, data: bytes, needle: str) -> None:
    # Every variant: whatever the C unpickler would import must be what the walker judges.
    recorder = Recording(data)
    try:
        recorder.load()
    except Exception:
        pass
    result = scan_file(_torch_zip(tmp_path / "model.pt", data))
    disallowed = [n for n in recorder.names if not n.startswith("torch.")]
    if disallowed:
        assert not result.safe, (name, recorder.names, result)
        assert needle in result.reason or result.verdict == "unsafe", result


def test_torch_members_torch_reads_that_are_not_named_pkl(tmp_path: Path) -> None:
    # torch.load reads ARCHIVE/data.pkl where ARCHIVE is the first member's folder; a second
    # top folder, upper-case names and names with a trailing NUL/space are still pickles.
    marker = tmp_path / "pwned"
    evil = pkl(system(touch(marker)), proto=2)
    for extra in ({"other/data.pkl": evil}, {"archive/DATA.PKL": evil}, {"archive/x/constants.pkl": evil}):
        path = _torch_zip(tmp_path / "model.pt", pkl(EMPTY_DICT, proto=2), extra)
        result = scan_file(path)
        assert not result.safe, (extra.keys(), result)
    # a data.pkl whose bytes the walker cannot parse is never safe
    result = scan_file(_torch_zip(tmp_path / "model.pt", b"\x80\x02\xff"))
    assert not result.safe, result
    assert not marker.exists()


# -- legacy PyTorch: the magic number that is "not an int" -------------------------------------------

_MAGIC = 0x1950A86A20F9469CFC6C


def test_legacy_checkpoint_whose_magic_is_an_object_array(tmp_path: Path) -> None:
    # torch's legacy loader checks `if magic_number != MAGIC_NUMBER: raise`, then unpickles the
    # protocol version, sys info and the data pickle (weights_only=False runs it). The scan
    # calls a pickle "legacy torch" only when it loads to exactly `int` MAGIC: a one-element
    # object array [MAGIC] passes torch's test (bool(array([False])) is False) and is "safe"
    # for the scan, so the payload after it is never judged. The README says legacy non-zip
    # checkpoints are "error".
    marker = tmp_path / "pwned"
    first = pickle.dumps(np.array([_MAGIC], dtype=object), protocol=2)
    assert not (pickle.loads(first) != _MAGIC)  # torch's check passes
    rest = pkl(lit(1001), proto=2) + pkl(lit({"protocol_version": 1001}), proto=2) + pkl(system(touch(marker)), proto=2)
    for name in ("legacy.pt", "legacy.pth", "pytorch_model.bin", "legacy.ckpt"):
        result = scan_file(write(tmp_path, name, first + rest))
        assert not result.safe and result.verdict in ("unsafe", "error"), (name, result)
    assert not marker.exists()
