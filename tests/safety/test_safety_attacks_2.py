"""Second hostile pass against the restricted loader (``store.safety.loader``) and the watcher's worker.

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
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from store.errors import ArtifactError, UnsafeArtifact
from store.safety import load_file, scan_file, scan_paths

from tests.safety.refusals import REPO, assert_refused, assert_refused_in_subprocess, child
from tests.safety.pickle_opcodes import (
    BUILD, EMPTY_DICT, EMPTY_LIST, MARK, NONE, POP, REDUCE, SETITEMS, STOP, TUPLE, call, g, get, lit, new, pkl, put, s,
    system, touch, tup,
)


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


# -- sparse matrices without a format check ----------------------------------------------------------


def _lil_column_past_the_shape() -> bytes:
    from scipy import sparse

    lil = sparse.lil_matrix((2, 2))
    lil[0, 0] = 1.0
    lil.rows[0] = [10**8]  # lil has neither check_format nor _check: nothing looks at rows
    return pickle.dumps(lil, protocol=4)


def _dia_offsets_shorter_than_data() -> bytes:
    from scipy import sparse

    dia = sparse.dia_matrix((np.ones((50, 4)), np.arange(50)), shape=(4, 4))
    dia.offsets = np.array([0], dtype=np.int32)  # 50 diagonals of data, one offset: C++ reads offsets[1..49]
    return pickle.dumps(dia, protocol=4)


@pytest.mark.parametrize("make,use", [(_lil_column_past_the_shape, "obj @ np.ones(2)"),
                                      (_dia_offsets_shorter_than_data, "obj.toarray()")], ids=["lil", "dia"])
def test_sparse_formats_other_than_compressed_and_coo_are_checked(tmp_path: Path, make: Callable[[], bytes],
                                                                   use: str) -> None:
    # Memory corruption at use time: the README promises sparse-matrix indices are checked;
    # the check runs check_format (csr/csc/bsr) or _check (coo) and nothing for lil and dia.
    assert_refused_in_subprocess(write(tmp_path, "sparse.pkl", make()), use=use)


def test_coo_and_csr_with_lying_shapes_are_refused(tmp_path: Path) -> None:
    # The formats that are checked, with the lies that matter (for contrast with lil / dia).
    from scipy import sparse

    coo = sparse.coo_matrix(np.eye(2))
    coo.row = np.array([0, 10**8], dtype=np.int32)
    csr = sparse.csr_matrix(np.eye(2))
    csr.indptr = np.array([0, 1, 10**6], dtype=np.int32)
    for name, obj, use in (("coo.pkl", coo, "obj.toarray()"), ("csr.pkl", csr, "obj @ np.ones(2)")):
        assert_refused_in_subprocess(write(tmp_path, name, pickle.dumps(obj, protocol=4)), use=use)


# -- reconstructors with odd arguments ---------------------------------------------------------------


_RECONSTRUCTOR_CASES = [
    ("defaultdict(os.system)", call(g("collections", "defaultdict"), g("os", "system")), "imports os.system"),
    ("defaultdict(numpy.mean)", call(g("collections", "defaultdict"), g("numpy", "mean")), "default factory"),
    ("defaultdict(RBF)", call(g("collections", "defaultdict"), g("sklearn.gaussian_process.kernels", "RBF")),
     "default factory"),
    ("OrderedDict(dict)", call(g("collections", "OrderedDict"), lit({"a": 1})), "OrderedDict"),
    ("set(dict)", call(g("builtins", "set"), lit({"a": 1})), "builtins.set"),
    ("frozenset(two args)", call(g("builtins", "frozenset"), lit([1]), lit([2])), "builtins.frozenset"),
    ("slice(numpy.mean)", call(g("builtins", "slice"), g("numpy", "mean")), "not plain data"),
    ("complex(4 args)", call(g("builtins", "complex"), lit(1), lit(2), lit(3), lit(4)), "builtins.complex"),
    ("bytearray(ndarray of objects)", call(g("builtins", "bytearray"), g("numpy", "mean")), "not plain data"),
    ("_codecs.encode(utf-16)", call(g("_codecs", "encode"), s("x"), s("utf-16")), "_codecs.encode"),
    ("_reconstructor(Bunch, dict, callable)",
     call(g("copyreg", "_reconstructor"), g("sklearn.utils._bunch", "Bunch"), g("builtins", "dict"), g("numpy", "mean")),
     "not plain data"),
    ("_reconstructor(RBF, list, [])",
     call(g("copyreg", "_reconstructor"), g("sklearn.gaussian_process.kernels", "RBF"), g("builtins", "list"), lit([])),
     "copyreg._reconstructor"),
    ("__newobj_ex__ kwargs callable",
     call(g("copyreg", "__newobj_ex__"), g("sklearn.utils._bunch", "Bunch"), lit(()), EMPTY_DICT + s("a")
          + g("numpy", "mean") + pickle.SETITEM), "not plain data"),
    ("_reconstruct(MaskedArray subclass arg is a function)",
     call(_RECON, g("numpy", "mean"), lit((0,)), lit(b"b")), "not a NumPy array class"),
    ("_mareconstruct(ndarray, RBF)",
     call(g("numpy.ma.core", "_mareconstruct"), _NDARRAY, g("sklearn.gaussian_process.kernels", "RBF"), lit((0,)),
          lit(b"b")), "not a NumPy array class"),
    ("scalar(object dtype, callable)", call(g("numpy._core.multiarray", "scalar"), dtype("O8"), g("numpy", "mean")), ""),
    ("NEWOBJ dict subclass with args", new(g("sklearn.utils._bunch", "Bunch"), lit({"a": 1})), "by __new__"),
    ("NEWOBJ_EX int with kwargs", g("builtins", "int") + lit(("7",)) + lit({"base": 8}) + pickle.NEWOBJ_EX, ""),
]


@pytest.mark.parametrize("name,body,needle", _RECONSTRUCTOR_CASES, ids=[c[0] for c in _RECONSTRUCTOR_CASES])
def test_reconstructor_arguments_are_checked(tmp_path: Path, name: str, body: bytes, needle: str) -> None:
    # Reconstructors REDUCE may call, each fed what its check must refuse (argument checks
    # only: nothing here reaches compiled code with a lie, so it runs in-process).
    path = write(tmp_path, "rec.pkl", pkl(body))
    try:
        obj = load_file(path)
    except (UnsafeArtifact, ArtifactError) as error:
        assert "\n" not in str(error) and needle in str(error), (name, str(error))
        assert not scan_file(path).safe
        return
    # only harmless values may load: never a callable that was not merely held
    assert scan_file(path).safe
    assert not callable(obj) or isinstance(obj, type) and obj in (int,), (name, obj)


def test_bunch_setitems_and_defaultdict_of_a_list_load_as_data(tmp_path: Path) -> None:
    # A dict subclass from the allow-list filled by SETITEMS calls its __setitem__: only data.
    body = (call(g("copyreg", "_reconstructor"), g("sklearn.utils._bunch", "Bunch"), g("builtins", "dict"), lit({"a": 1}))
            + MARK + s("b") + lit(2) + SETITEMS)
    obj = load_file(write(tmp_path, "bunch.pkl", pkl(body)))
    assert dict(obj) == {"a": 1, "b": 2} and type(obj).__name__ == "Bunch"
    obj = load_file(write(tmp_path, "dd.pkl", pkl(call(g("collections", "defaultdict"), g("builtins", "list")))))
    assert obj["x"] == []


# -- pickle-machine tricks ------------------------------------------------------------------------------


def test_found_objects_reached_through_the_memo_or_dup_stay_unbuildable(tmp_path: Path) -> None:
    # BUILD / APPEND / SETITEM targets that are what find_class returned, fetched from the
    # memo or duplicated, never become state targets.
    rbf = g("sklearn.gaussian_process.kernels", "RBF")
    for body in (rbf + put(0) + POP + get(0) + lit({"predict": 1}) + BUILD,
                 rbf + pickle.DUP + lit({"predict": 1}) + BUILD + POP,
                 g("collections", "OrderedDict") + put(0) + POP + get(0) + s("k") + lit(1) + pickle.SETITEM,
                 g("builtins", "dict") + put(0) + POP + get(0) + lit((None, {"fromkeys": 1})) + BUILD):
        assert_refused(write(tmp_path, "memo.pkl", pkl(body)))


def test_out_of_band_buffers_and_ext_codes(tmp_path: Path) -> None:
    # Protocol 5 NEXT_BUFFER without buffers, READONLY_BUFFER, EXT codes nobody registered.
    assert_refused(write(tmp_path, "buf.pkl", pkl(pickle.NEXT_BUFFER, proto=5)), broken=True)
    ro = write(tmp_path, "ro.pkl", pkl(lit(b"x"), pickle.READONLY_BUFFER, proto=5))
    assert load_file(ro) == b"x"  # a read-only view of plain bytes is plain bytes
    assert_refused(write(tmp_path, "rob.pkl", pkl(lit([1]), pickle.READONLY_BUFFER, proto=5)), broken=True)
    for code in (1, 0xFF, 0x1234):  # whatever an imported module may have registered, it goes through the allow-list
        op = pickle.EXT1 + bytes([code]) if code < 256 else pickle.EXT2 + struct.pack("<H", code)
        path = write(tmp_path, "ext.pkl", pkl(op, tup(s("x")), REDUCE))
        with pytest.raises((UnsafeArtifact, ArtifactError)):
            load_file(path)
        assert not scan_file(path).safe
    registered = dict(copyreg._extension_registry)  # type: ignore[attr-defined]
    for (module, name), code in registered.items():
        path = write(tmp_path, "ext.pkl", pkl(pickle.EXT4 + struct.pack("<i", code), tup(s("x")), REDUCE))
        assert not scan_file(path).safe, (module, name)


def test_huge_lengths_and_deep_nesting_are_errors_not_crashes(tmp_path: Path) -> None:
    # BINBYTES8 / BINUNICODE8 / LONG4 claiming terabytes, FRAME lengths past the file, and
    # 200,000 nested lists or tuples: one-line errors (no hang, no recursion crash).
    cases = {
        "bytes8.pkl": pkl(pickle.BINBYTES8 + struct.pack("<Q", 1 << 40) + b"xx"),
        "unicode8.pkl": pkl(pickle.BINUNICODE8 + struct.pack("<Q", 1 << 40) + b"xx"),
        "long4.pkl": pkl(pickle.LONG4 + struct.pack("<i", 1 << 30) + b"xx"),
        "frame.pkl": pickle.PROTO + b"\x04" + pickle.FRAME + struct.pack("<Q", 1 << 40) + NONE + STOP,
        "nested.pkl": pkl(EMPTY_LIST + (EMPTY_LIST + pickle.APPEND) * 0 + (MARK * 200_000) + (pickle.LIST * 200_000)),
        "nested_tuple.pkl": pkl(NONE + pickle.TUPLE1 * 200_000),
    }
    for name, data in cases.items():
        path = write(tmp_path, name, data)
        code, out = child(path, "type(obj).__name__")
        assert code == 0, (name, out[-500:])
        if "SCAN safe" in out:
            assert "USED" in out, (name, out[-500:])


# -- files that are not what they are named ------------------------------------------------------------


def test_paths_that_are_not_regular_files(tmp_path: Path) -> None:
    # A directory named like a model, a symlink to a device, /proc files, a dangling symlink:
    # errors, never safe, never a hang.
    (tmp_path / "dir.pkl").mkdir()
    (tmp_path / "zero.pkl").symlink_to("/dev/zero")
    (tmp_path / "urandom.joblib").symlink_to("/dev/urandom")
    (tmp_path / "dangling.pkl").symlink_to(tmp_path / "nowhere")
    (tmp_path / "environ.pkl").symlink_to("/proc/self/environ")
    (tmp_path / "stdin.pt").symlink_to("/proc/self/fd/0")
    script = ("import sys\nfrom store.safety.loader import load_file, scan_file\n"
              "for p in sys.argv[1:]:\n"
              "    r = scan_file(p)\n"
              "    try:\n        load_file(p); l = 'LOADED'\n    except Exception as e:\n        l = type(e).__name__\n"
              "    print(p.rsplit('/', 1)[-1], r.verdict, l, flush=True)\n")
    names = ["dir.pkl", "zero.pkl", "urandom.joblib", "dangling.pkl", "environ.pkl", "stdin.pt"]
    proc = subprocess.run([sys.executable, "-c", script, *(str(tmp_path / n) for n in names)], cwd=REPO,
                          capture_output=True, text=True, timeout=30, stdin=subprocess.PIPE)
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert set(lines) == set(names), proc.stdout + proc.stderr
    for name, outcome in lines.items():
        verdict, loaded = outcome.split()
        assert verdict in ("error", "unsafe") and loaded in ("ArtifactError", "UnsafeArtifact"), (name, outcome)


def test_hard_link_to_a_payload_is_judged_by_its_bytes(tmp_path: Path) -> None:
    # A hard link (or a symlink) named like a safetensors file or a text file next to a pickle:
    # what is loaded as a pickle is judged as one.
    marker = tmp_path / "pwned"
    payload = write(tmp_path, "evil.pkl", pkl(system(touch(marker))))
    os.link(payload, tmp_path / "model.joblib")
    assert_refused(tmp_path / "model.joblib", "imports os.system", marker=marker)
    (tmp_path / "link.pkl").symlink_to(payload)
    assert_refused(tmp_path / "link.pkl", "imports os.system", marker=marker)
    result = scan_paths([str(tmp_path)])
    assert not result.safe, result


# -- the watcher's worker ------------------------------------------------------------------------------


def test_a_files_timeout_does_not_count_the_workers_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # On a loaded machine an interpreter and its imports can take longer than a file's whole
    # budget: that must not turn a good file into "not judged", nor a bad one into anything else.
    from store.safety.inspector import Inspector

    slow_start = tmp_path / "slow-start"
    slow_start.mkdir()
    (slow_start / "sitecustomize.py").write_text("import time\ntime.sleep(1.5)\n")
    monkeypatch.setenv("PYTHONPATH", str(slow_start))
    good = write(tmp_path, "good.pkl", pickle.dumps({"a": [1, 2, 3]}, protocol=4))
    evil = write(tmp_path, "evil.pkl", pkl(system(touch(tmp_path / "pwned"))))
    with Inspector(timeout=1.0) as inspector:
        assert inspector.inspect(good)["scan"]["verdict"] == "safe"
        assert inspector.inspect(evil)["scan"]["verdict"] == "unsafe"
        assert inspector.starts == 1
    assert not (tmp_path / "pwned").exists()


def test_worker_survives_crashes_stalls_and_memory_and_attributes_verdicts(tmp_path: Path) -> None:
    # A file that stalls the worker past its wall clock, one that asks for more memory than
    # its limit (bytes(n) is a called class: an int is plain data), then a payload and a model:
    # each verdict belongs to its own file, and nothing after a bad file is "safe" by mistake.
    from store.safety.inspector import Inspector

    marker = tmp_path / "pwned"
    slow = write(tmp_path, "slow.pkl", pkl(NONE + (NONE + POP) * 6_000_000))  # seconds of pure-Python unpickling
    hog = write(tmp_path, "hog.pkl", pkl(call(g("builtins", "bytes"), lit(3 << 30))))
    evil = write(tmp_path, "evil.pkl", pkl(system(touch(marker))))
    good = write(tmp_path, "good.pkl", pickle.dumps({"a": [1, 2, 3]}, protocol=4))
    with Inspector(timeout=1.0, memory=1 << 30) as inspector:
        order = (slow, good, hog, evil, good, slow, evil)
        replies = [(p.name, inspector.inspect(p)["scan"]) for p in order]
        started = inspector.starts
    for name, reply in replies:  # every answer is about its own file
        assert name in reply["reason"], (name, reply)
    answers = dict(replies)
    assert answers["slow.pkl"]["verdict"] == "error" and "slow.pkl" in answers["slow.pkl"]["reason"], answers
    assert answers["hog.pkl"]["verdict"] == "error" and not answers["hog.pkl"]["safe"], answers
    assert answers["evil.pkl"]["verdict"] == "unsafe" and "evil.pkl" in answers["evil.pkl"]["reason"], answers
    assert answers["good.pkl"]["safe"] and "good.pkl" in answers["good.pkl"]["reason"], answers
    assert started >= 2
    assert not marker.exists()


# -- checked state that grows after the check -----------------------------------------------------------


def test_lists_in_checked_state_cannot_grow_after_the_check(tmp_path: Path) -> None:
    # TOCTOU inside one pickle, through a container instead of an array: the model's
    # _predictors list is checked (features inside the input width) when the model's BUILD
    # runs; the file then fetches the same list from the memo and APPENDs a row whose
    # predictor splits on feature 10**8 (a predictor alone is only checked for negative
    # features: its width is the model's). predict iterates the list and reads X[row, 10**8].
    import copy

    from sklearn.ensemble import HistGradientBoostingRegressor

    X = np.random.RandomState(0).rand(60, 2)
    model = HistGradientBoostingRegressor(max_iter=2).fit(X, X[:, 0])
    rows = model._predictors
    evil = copy.deepcopy(rows[0][0])
    nodes = evil.nodes.copy()
    nodes["feature_idx"][~nodes["is_leaf"].astype(bool)] = 10**8
    evil.nodes = nodes
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=2)
    pickler.dump(model)
    memo_of_rows = pickler.memo.copy()[id(rows)][0]
    extra_row = pickle.dumps([evil], protocol=2)[2:-1]  # its memo indices overwrite old ones: rows is on the stack
    data = (buffer.getvalue()[:-1] + pickle.LONG_BINGET + struct.pack("<I", memo_of_rows) + extra_row + pickle.APPEND
            + POP + STOP)
    assert_refused_in_subprocess(write(tmp_path, "hgb_append.pkl", data), use="obj.predict(np.random.rand(4, 2))")


def test_lil_row_lists_cannot_grow_after_the_check(tmp_path: Path) -> None:
    # The same TOCTOU on a lil_matrix: its rows are an object array of Python lists, checked
    # when the matrix's BUILD runs; the file then fetches row 0's list (and its data list)
    # from the memo and APPENDs column 10**8. "@" reads x[10**8].
    from scipy import sparse

    lil = sparse.lil_matrix((2, 2))
    lil[0, 0] = 1.0
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=2)
    pickler.dump(lil)
    memo = pickler.memo.copy()
    grow = b""
    for items, value in ((lil.rows[0], 10**8), (lil.data[0], 1.0)):
        grow += (pickle.LONG_BINGET + struct.pack("<I", memo[id(items)][0]) + pickle.dumps(value, protocol=2)[2:-1]
                 + pickle.APPEND + POP)
    data = buffer.getvalue()[:-1] + grow + STOP
    assert_refused_in_subprocess(write(tmp_path, "lil_append.pkl", data), use="obj @ np.ones(2)")


def test_checkpoint_folder_verdict_sees_every_pickle_in_it(tmp_path: Path) -> None:
    # A version's artifact folder is judged file by file. os.walk does not descend into a
    # symlinked subfolder (it is listed among the folders, never the files), and
    # "model_best.pth.tar" (PyTorch's own examples' name; torch.load reads it as a legacy
    # pickle) matches no judged suffix: the folder was "safe: nothing that unpickles".
    marker = tmp_path / "pwned"
    payload = pkl(system(touch(marker)), proto=2)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write(elsewhere, "model.pt", payload)
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "sub").symlink_to(elsewhere, target_is_directory=True)
    tarred = tmp_path / "tarred"
    tarred.mkdir()
    write(tarred, "model_best.pth.tar", payload)
    failures = [f"{folder.name}: {result.reason}" for folder in (linked, tarred)
                if (result := scan_paths([str(folder)])).safe]
    assert not failures, failures
    assert not marker.exists()


@pytest.mark.parametrize("part", ["node_data", "node_bounds"])
def test_kd_tree_node_arrays_match_its_node_count(tmp_path: Path, part: str) -> None:
    # Out-of-bounds reads at use time: query walks node i's children 2i+1, 2i+2 in node_data
    # and reads node_bounds[0/1, i, j] for every feature j, trusting both hold n_nodes nodes
    # of data.shape[1] features. The check covers idx_array and the idx_start/idx_end of the
    # nodes that are there, not how many there are: a one-node node_data marked "not a leaf"
    # sends the query into heap memory past the array (wrong answers or a crash).
    from sklearn.neighbors import KDTree

    tree = KDTree(np.random.RandomState(0).rand(2000, 3), leaf_size=2)

    def edit(state: tuple[Any, ...]) -> tuple[Any, ...]:
        state = list(state)
        if part == "node_data":
            nodes = state[2][:1].copy()
            nodes["is_leaf"] = 0
            state[2] = nodes
        else:
            state[3] = state[3][:, :1, :1].copy()
        return tuple(state)

    path = write(tmp_path, "kd.pkl", pickle.dumps(Edited(tree, edit), protocol=4))
    assert_refused_in_subprocess(path, use="obj.query(np.random.rand(5, 3), k=3)")
