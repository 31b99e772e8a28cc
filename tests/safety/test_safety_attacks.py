"""Hostile files against the restricted loader (``store.safety.loader``).

Every payload is a real file on disk, built by hand from pickle opcodes (or, for joblib
framing and compression, by pickling an object whose ``__reduce__`` *names* the target:
pickling never runs it). Each payload would create a marker file, change process state or
corrupt memory if it ran. Each test checks that

- ``load_file`` raises ``UnsafeArtifact`` (``ArtifactError`` for broken files) with a
  one-line message naming the import or call,
- ``scan_file`` never answers "safe",
- the marker does not exist afterwards.

Anything that could corrupt memory runs in a subprocess, so a segfault fails the test
instead of killing pytest. Nothing here imports what the payloads name.
"""

from __future__ import annotations

import bz2
import copyreg
import gzip
import io
import json
import lzma
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression

from store.errors import ArtifactError, UnsafeArtifact
from store.safety import load_file, scan_file
from tests.safety.refusals import REPO, assert_refused, child
from tests.safety.refusals import assert_refused_in_subprocess as refused_in_child
from tests.safety.pickle_opcodes import (
    APPENDS, BUILD, EMPTY_DICT, EMPTY_LIST, MARK, NONE, POP, REDUCE, SETITEMS, STOP, TUPLE, call, g, get, lit, new,
    pkl, put, s, sg, system, touch, tup,
)



# -- what every refusal must look like -------------------------------------------------------------


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def assert_refused_in_subprocess(path: Path, *needles: str, use: str = "repr(obj)") -> str:
    return refused_in_child(path, *needles, use=use, unsafe=True)


# -- gadget chains: helpers in allowed namespaces that import, getattr or call ----------------------


def _gadgets(marker: Path, tmp_path: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (pickle, the import the refusal must name: the first one in the file)."""
    cmd = touch(marker)
    import_os = call(g("importlib", "import_module"), s("os"))
    inner = tmp_path / "inner.pkl"  # a second payload file, written by the test
    code = f"import os; os.system({cmd!r})"
    return {
        "builtins.getattr(import_module)": (
            pkl(call(call(g("builtins", "getattr"), import_os, s("system")), s(cmd))), "builtins.getattr"),
        "importlib.import_module": (pkl(call(g("importlib", "import_module"), s("os"))), "importlib.import_module"),
        "functools.partial": (pkl(call(call(g("functools", "partial"), g("os", "system"), s(cmd)))), "functools.partial"),
        "operator.attrgetter": (
            pkl(call(call(call(g("operator", "attrgetter"), s("system")), import_os), s(cmd))), "operator.attrgetter"),
        "_operator.attrgetter": (
            pkl(call(call(call(g("_operator", "attrgetter"), s("system")), import_os), s(cmd))), "_operator.attrgetter"),
        "operator.methodcaller": (
            pkl(call(call(g("operator", "methodcaller"), s("system"), s(cmd)), import_os)), "operator.methodcaller"),
        "numpy.vectorize": (pkl(call(call(g("numpy", "vectorize"), g("os", "system")), s(cmd))), "numpy.vectorize"),
        "numpy.frompyfunc": (
            pkl(call(call(g("numpy", "frompyfunc"), g("os", "system"), lit(1), lit(1)), s(cmd))), "numpy.frompyfunc"),
        "numpy.load(allow_pickle)": (pkl(call(g("numpy", "load"), s(str(inner)), NONE, lit(True))), "numpy.load"),
        "numpy.lib._npyio_impl.load": (
            pkl(call(g("numpy.lib._npyio_impl", "load"), s(str(inner)), NONE, lit(True))), "numpy.lib._npyio_impl.load"),
        "numpy.memmap(w+) creates a file": (
            pkl(call(g("numpy", "memmap"), s(str(marker)), s("uint8"), s("w+"), lit(0), lit((1,)))), "numpy.memmap"),
        "numpy.testing runstring (exec)": (
            pkl(call(g("numpy.testing._private.utils", "runstring"), s(code), lit({}))),
            "numpy.testing._private.utils.runstring"),
        "numpy.f2py getlincoef (eval)": (
            pkl(call(g("numpy.f2py.crackfortran", "getlincoef"), s(f"__import__('os').system({cmd!r})"), lit({}))),
            "numpy.f2py.crackfortran.getlincoef"),
        "sklearn.utils._testing runs a script": (
            pkl(call(g("sklearn.utils._testing", "assert_run_python_script_without_output"), s(code))),
            "sklearn.utils._testing.assert_run_python_script_without_output"),
        "sklearn.utils.deprecation.deprecated": (
            pkl(call(call(call(g("sklearn.utils.deprecation", "deprecated"), s("x")), g("os", "system")), s(cmd))),
            "sklearn.utils.deprecation.deprecated"),
        "sklearn.utils.fixes alias": (pkl(call(g("sklearn.utils.fixes", "np.load"), s(str(inner)), NONE, lit(True))),
                                      "sklearn.utils.fixes.np.load"),
        "scipy._lib._util._FunctionWrapper": (
            pkl(call(call(g("scipy._lib._util", "_FunctionWrapper"), g("os", "system"), lit(())), s(cmd))),
            "scipy._lib._util._FunctionWrapper"),
        "scipy._lib._util callback": (
            pkl(call(g("scipy._lib._util", "_call_callback_maybe_halt"), g("os", "system"), s(cmd))),
            "scipy._lib._util._call_callback_maybe_halt"),
        "joblib.Memory": (pkl(call(g("joblib", "Memory"), s(str(marker)))), "joblib.Memory"),
        # variants from picklescan / fickling / modelscan advisories
        "pkgutil.resolve_name": (pkl(call(call(g("pkgutil", "resolve_name"), s("os:system")), s(cmd))),
                                 "pkgutil.resolve_name"),
        "marshal.loads": (pkl(call(g("marshal", "loads"), lit(b"\xe3"))), "marshal.loads"),
        "builtins.eval": (pkl(call(g("builtins", "eval"), s(f"__import__('os').system({cmd!r})"))), "builtins.eval"),
        "builtins.exec via __builtin__ (protocol 2 name mapping)": (
            pkl(call(g("__builtin__", "exec"), s(code)), proto=2), "builtins.exec"),
        "timeit.timeit": (pkl(call(g("timeit", "timeit"), s(code), s("pass"), NONE, lit(1))), "timeit.timeit"),
        "cProfile.run": (pkl(call(g("cProfile", "run"), s(code))), "cProfile.run"),
        "pdb.run": (pkl(call(g("pdb", "run"), s(code))), "pdb.run"),
        "code.InteractiveInterpreter.runcode": (
            pkl(call(g("code", "InteractiveInterpreter.runcode"), NONE, s(code))), "code.InteractiveInterpreter.runcode"),
        "pty.spawn": (pkl(call(g("pty", "spawn"), s("touch"))), "pty.spawn"),
        "subprocess.Popen": (pkl(call(g("subprocess", "Popen"), lit(["touch", str(marker)]))), "subprocess.Popen"),
        "_io.FileIO creates a file": (pkl(call(g("_io", "FileIO"), s(str(marker)), s("w"))), "_io.FileIO"),
        "shutil.copyfile": (pkl(call(g("shutil", "copyfile"), s(str(inner)), s(str(marker)))), "shutil.copyfile"),
        "pickle.loads (nested pickle)": (pkl(call(g("pickle", "loads"), lit(pkl(system(cmd))))), "pickle.loads"),
        "_pickle.load": (pkl(call(g("_pickle", "loads"), lit(pkl(system(cmd))))), "_pickle.loads"),
        "ensurepip._run_pip": (pkl(call(g("ensurepip", "_run_pip"), lit(["--version"]))), "ensurepip._run_pip"),
        "_interpreters.run_string": (pkl(call(g("_xxsubinterpreters", "run_string"), lit(0), s(code))),
                                     "_xxsubinterpreters.run_string"),
        "asyncio subprocess transport": (
            pkl(call(g("asyncio.unix_events", "_UnixSubprocessTransport"), NONE, NONE, s(cmd))),
            "asyncio.unix_events._UnixSubprocessTransport"),
        "torch.load inside a pickle": (pkl(call(g("torch", "load"), s(str(inner)))), "torch.load"),
    }


_GADGET_NAMES = list(_gadgets(Path("m"), Path("t")))


@pytest.mark.parametrize("name", _GADGET_NAMES)
def test_gadget_chains_are_refused_at_their_first_import(tmp_path: Path, name: str) -> None:
    # Gadget chains: helpers that import a module by name, act as getattr, or call what they are given.
    marker = tmp_path / "pwned"
    write(tmp_path, "inner.pkl", pkl(system(touch(marker))))
    data, first_import = _gadgets(marker, tmp_path)[name]
    path = write(tmp_path, "gadget.pkl", data)
    message = assert_refused(path, f"imports {first_import}", marker=marker)
    assert "allow-list" in message


def test_functions_a_model_holds_as_values_are_never_called(tmp_path: Path) -> None:
    # Gadget: an allowed value (numpy.mean, a NumPy ufunc) used as a callable through REDUCE.
    marker = tmp_path / "pwned"
    for module, name in (("numpy", "mean"), ("numpy", "log1p"), ("scipy._lib.array_api_compat.numpy._aliases", "asarray")):
        path = write(tmp_path, f"{name}.pkl", pkl(call(g(module, name), lit([1.0, 2.0]))))
        assert_refused(path, f"calls {module}.{name}", "never call", marker=marker)


# -- module aliases and dotted names under allowed packages -----------------------------------------


@pytest.mark.parametrize("module,name", [
    ("sklearn.base", "np"),
    ("sklearn.base", "np.load"),
    ("sklearn.base", "os.system"),
    ("sklearn.utils.fixes", "np"),
    ("sklearn.utils._testing", "importlib.import_module"),
    ("sklearn.utils._testing", "functools.partial"),
    ("sklearn.utils.deprecation", "functools.partial"),
    ("sklearn._config", "threading"),
    ("numpy", "mean.__globals__"),
    ("numpy", "lib.format.pickle.loads"),
    ("builtins", "object.__subclasses__"),
    ("sklearn.linear_model._logistic", "LogisticRegression.__init__.__globals__"),
    ("sklearn.linear_model._logistic", "LogisticRegression.__setstate__"),
    ("collections", "OrderedDict.__class__"),
])
@pytest.mark.parametrize("opcode", ["GLOBAL", "STACK_GLOBAL"])
def test_module_aliases_and_dotted_names_are_refused(tmp_path: Path, module: str, name: str, opcode: str) -> None:
    # Module aliases: an allowed package re-exporting numpy / os / importlib / functools, and
    # dotted names walking from an allowed object to anything it can reach.
    marker = tmp_path / "pwned"
    ref = g(module, name) if opcode == "GLOBAL" else sg(module, name)
    path = write(tmp_path, "alias.pkl", pkl(call(ref, s(touch(marker)))))
    assert_refused(path, f"imports {module}.{name}", marker=marker)


def test_stack_global_operands_from_the_memo_are_resolved_not_guessed(tmp_path: Path) -> None:
    # Module alias through the memo: the module string is stored, overwritten and fetched back.
    marker = tmp_path / "pwned"
    data = pkl(s("numpy"), put(0), POP, s("os"), put(0), POP, get(0), s("system"), pickle.STACK_GLOBAL, tup(s(touch(marker))),
               REDUCE)
    assert_refused(write(tmp_path, "memo.pkl", data), "imports os.system", marker=marker)
    # Non-string operands never name an import.
    data = pkl(lit(1), s("system"), pickle.STACK_GLOBAL)
    assert_refused(write(tmp_path, "nonstr.pkl", data), broken=True)


# -- state: BUILD never plants __setstate__, never sets dunders, never touches classes ------------------

_RBF = g("sklearn.gaussian_process.kernels", "RBF")  # an allowed class with no __setstate__ of its own


def test_build_cannot_plant_a_setstate_for_a_second_build(tmp_path: Path) -> None:
    # __setstate__ planted by BUILD: the first BUILD would put a callable in the instance
    # __dict__, the second BUILD would call it with its state.
    marker = tmp_path / "pwned"
    for callable_ref, needle in ((g("numpy", "mean"), "__setstate__"), (g("os", "system"), "imports os.system")):
        data = pkl(new(_RBF), lit({"length_scale": 1.0}) + BUILD,
                   EMPTY_DICT, s("__setstate__"), callable_ref, pickle.SETITEM, BUILD,
                   s(touch(marker)), BUILD)
        assert_refused(write(tmp_path, "plant.pkl", data), needle, marker=marker)


@pytest.mark.parametrize("attr", ["__setstate__", "__class__", "__dict__", "__reduce_ex__", "__getattr__", "__init__"])
@pytest.mark.parametrize("where", ["dict", "slotstate"])
def test_build_state_never_sets_dunder_attributes(tmp_path: Path, attr: str, where: str) -> None:
    # BUILD state (plain dict or slotstate) that would set a dunder attribute.
    state = {attr: 1} if where == "dict" else (None, {attr: 1})
    data = pkl(new(_RBF), lit(state), BUILD)
    assert_refused(write(tmp_path, "dunder.pkl", data), f"sets the attribute {attr}")


@pytest.mark.parametrize("target", [
    ("sklearn.linear_model._logistic", "LogisticRegression"),  # a class: would set class attributes
    ("sklearn.gaussian_process.kernels", "RBF"),
    ("numpy", "mean"),  # a function: __code__, __globals__ ...
    ("numpy", "ndarray"),
    ("builtins", "object"),
    ("numpy.random._pickle", "__generator_ctor"),
])
def test_build_on_what_find_class_returned_is_refused(tmp_path: Path, target: tuple[str, str]) -> None:
    # BUILD applied to a class (or function) object returned by GLOBAL.
    data = pkl(g(*target), lit((None, {"predict": 1, "fit": 2})), BUILD)
    assert_refused(write(tmp_path, "buildclass.pkl", data), "did not build")
    data = pkl(g(*target), lit({"predict": 1}), BUILD)
    assert_refused(write(tmp_path, "buildclass2.pkl", data), "did not build")


# -- constructors and setstate with side effects ----------------------------------------------------


def test_allowed_classes_are_never_called(tmp_path: Path) -> None:
    # Calling an allowed class via REDUCE instead of rebuilding it by NEWOBJ + state.
    for module, name in (("sklearn.linear_model._logistic", "LogisticRegression"), ("numpy", "ndarray"),
                         ("sklearn.utils._bunch", "Bunch"), ("builtins", "dict"), ("numpy", "float64")):
        path = write(tmp_path, f"{name}.pkl", pkl(call(g(module, name), lit(1))))
        message = assert_refused(path, f"calls {module}.{name}")
        assert "never call" in message or "while loading" in message


@pytest.mark.parametrize("module,name,how", [
    ("scipy.stats._continuous_distns", "norm_gen", "new"),
    ("scipy.stats._continuous_distns", "norm_gen", "call"),
    ("scipy.stats._distn_infrastructure", "rv_continuous_frozen", "new"),
    ("scipy.stats._distn_infrastructure", "rv_frozen", "new"),
    ("scipy.stats", "norm", "global"),
])
def test_scipy_stats_distributions_are_refused_with_their_reason(tmp_path: Path, module: str, name: str, how: str) -> None:
    # scipy.stats distributions run code stored in the file (their __setstate__ re-runs _attach_methods).
    marker = tmp_path / "pwned"
    ref = g(module, name)
    body = {"new": new(ref) + lit({"_ctor_param": {}}) + BUILD, "call": call(ref, s(touch(marker))), "global": ref}[how]
    message = assert_refused(write(tmp_path, "stats.pkl", pkl(body)), f"imports {module}.{name}", "scipy.stats",
                             marker=marker)
    assert "scipy.stats distributions" in message


def test_sklearn_thread_local_config_is_never_reachable(tmp_path: Path) -> None:
    # A function returning scikit-learn's thread-local config dict, then SETITEM on it.
    before = dict(sklearn.get_config())
    data = pkl(call(g("sklearn._config", "_get_threadlocal_config")), s("assume_finite"), lit(not before["assume_finite"]),
               pickle.SETITEM)
    assert_refused(write(tmp_path, "config.pkl", data), "imports sklearn._config._get_threadlocal_config")
    data = pkl(call(g("sklearn._config", "set_config"), lit(not before["assume_finite"])))
    assert_refused(write(tmp_path, "setconfig.pkl", data), "imports sklearn._config.set_config")
    data = pkl(g("sklearn._config", "_global_config"), s("assume_finite"), lit(True), pickle.SETITEM)
    assert_refused(write(tmp_path, "globalconfig.pkl", data), "imports sklearn._config._global_config")
    assert sklearn.get_config() == before
    assert sklearn.get_config()["assume_finite"] is before["assume_finite"]


def test_containers_are_only_filled_when_they_are_containers(tmp_path: Path) -> None:
    # SETITEM / APPEND / ADDITEMS on something that is not a dict / list / set (an allowed class).
    for opcode, what in ((s("k") + lit(1) + pickle.SETITEM, "sets items on"), (lit(1) + pickle.APPEND, "appends to"),
                         (MARK + lit(1) + APPENDS, "appends to"), (MARK + lit(1) + pickle.ADDITEMS, "adds items to")):
        data = pkl(new(_RBF), opcode)
        assert_refused(write(tmp_path, "container.pkl", data), what)


def test_called_classes_and_helpers_take_only_plain_data(tmp_path: Path) -> None:
    # Constructors a real __reduce__ calls (Cython losses, newObj helpers) fed a callable.
    marker = tmp_path / "pwned"
    data = pkl(call(g("sklearn._loss._loss", "CyHalfTweedieLossIdentity"), g("numpy", "mean")))
    assert_refused(write(tmp_path, "called.pkl", data), "not plain data", marker=marker)
    data = pkl(call(g("sklearn.metrics._dist_metrics", "newObj"), g("numpy", "mean")))
    assert_refused(write(tmp_path, "helper.pkl", data), "other than an allowed class")
    data = pkl(new(g("sklearn.linear_model._logistic", "LogisticRegression"), g("numpy", "mean")))
    assert_refused(write(tmp_path, "newobj.pkl", data), "by __new__ with arguments")


# -- NumPy random generator constructors fed a callable -------------------------------------------


@pytest.mark.parametrize("body,needle", [
    (call(g("numpy.random._pickle", "__bit_generator_ctor"), g("sklearn.gaussian_process.kernels", "RBF")),
     "not a NumPy bit generator"),
    (call(g("numpy.random._pickle", "__bit_generator_ctor"), g("builtins", "object")), "not a NumPy bit generator"),
    (call(g("numpy.random._pickle", "__bit_generator_ctor"), g("numpy", "ndarray")), "not a NumPy bit generator"),
    (call(g("numpy.random._pickle", "__generator_ctor"), s("MT19937"), g("numpy", "mean")), "other than NumPy's own"),
    (call(g("numpy.random._pickle", "__generator_ctor"), s("MT19937"), g("numpy", "dtype")), "other than NumPy's own"),
    (call(g("numpy.random._pickle", "__randomstate_ctor"), s("MT19937"), g("builtins", "dict")), "other than NumPy's own"),
    (call(g("numpy.random._pickle", "__generator_ctor"), s("touch pwned"), g("os", "system")), "imports os.system"),
    (call(g("numpy.random._pickle", "__randomstate_ctor"), g("numpy", "mean")), "not a NumPy bit generator"),
])
def test_random_generator_constructors_call_only_bit_generators(tmp_path: Path, body: bytes, needle: str) -> None:
    # __generator_ctor(name, ctor) calls ctor(name); __bit_generator_ctor(cls) calls cls().
    assert_refused(write(tmp_path, "rng.pkl", pkl(body)), needle)


# -- old and odd opcodes ------------------------------------------------------------------------------


def test_inst_and_obj_with_arguments(tmp_path: Path) -> None:
    # INST / OBJ (protocols 0-1) call the class with the marked arguments.
    marker = tmp_path / "pwned"
    inst_os = b"(" + lit(touch(marker)) + b"ios\nsystem\n."
    assert_refused(write(tmp_path, "inst_os.pkl", inst_os), "imports os.system", marker=marker)
    inst_cls = b"(" + lit(1) + b"isklearn.gaussian_process.kernels\nRBF\n."
    assert_refused(write(tmp_path, "inst_cls.pkl", inst_cls), "with arguments (INST/OBJ)")
    obj_cls = pkl(MARK, _RBF, lit(1.0), pickle.OBJ)
    assert_refused(write(tmp_path, "obj_cls.pkl", obj_cls), "with arguments (INST/OBJ)")
    obj_os = pkl(MARK, g("os", "system"), s(touch(marker)), pickle.OBJ)
    assert_refused(write(tmp_path, "obj_os.pkl", obj_os), "imports os.system", marker=marker)


def test_persistent_ids_are_refused(tmp_path: Path) -> None:
    # PERSID / BINPERSID ask the loader for an object outside the file.
    assert_refused(write(tmp_path, "persid.pkl", b"Pos.system\n."), "persistent id")
    assert_refused(write(tmp_path, "binpersid.pkl", pkl(lit(("storage", "os.system")), pickle.BINPERSID)), "persistent id")


def test_ext_opcodes_go_through_the_allow_list(tmp_path: Path) -> None:
    # EXT1/EXT2/EXT4 name a global through copyreg's extension registry.
    marker = tmp_path / "pwned"
    code = 0x7FFFF1
    copyreg.add_extension("os", "system", code)
    try:
        data = pkl(pickle.EXT4 + struct.pack("<i", code), tup(s(touch(marker))), REDUCE)
        assert_refused(write(tmp_path, "ext4.pkl", data), "imports os.system", marker=marker)
    finally:
        copyreg.remove_extension("os", "system", code)
    data = pkl(pickle.EXT1 + bytes([0xEE]), tup(s(touch(marker))), REDUCE)  # unregistered: broken, never safe
    assert_refused(write(tmp_path, "ext1.pkl", data), broken=True, marker=marker)


def test_copyreg_reconstructor_with_a_base_that_is_not_allowed(tmp_path: Path) -> None:
    # copyreg._reconstructor(cls, base, state) calls base.__new__(cls, state) and base.__init__.
    rec = g("copyreg", "_reconstructor")
    cases = [
        (call(rec, _RBF, g("numpy", "ndarray"), NONE), "calls copyreg._reconstructor with"),
        (call(rec, _RBF, g("builtins", "dict"), lit({})), "calls copyreg._reconstructor with"),  # RBF is no dict
        (call(rec, g("builtins", "object"), g("builtins", "object"), NONE), "not an allowed class"),
        (call(rec, g("os", "system"), g("builtins", "object"), NONE), "imports os.system"),
        (call(rec, _RBF, g("builtins", "object"), g("numpy", "mean")), "state for object.__new__"),
        (call(g("copyreg", "__newobj__"), g("numpy", "mean")), "not an allowed class"),
        (call(g("copyreg", "__newobj_ex__"), _RBF, tup(g("numpy", "mean")), lit({})), "not plain data"),
    ]
    for body, needle in cases:
        assert_refused(write(tmp_path, "rec.pkl", pkl(body)), needle)


# -- memory corruption: raw bytes as object pointers (each in a subprocess) -----------------------------

_DTYPE = g("numpy", "dtype")
_RECON = g("numpy._core.multiarray", "_reconstruct")
_FROMBUF = g("numpy._core.numeric", "_frombuffer")
_SCALAR = g("numpy._core.multiarray", "scalar")
_NDARRAY = g("numpy", "ndarray")
_RAW = b"\x41" * 8  # would be read as the PyObject* 0x4141414141414141


def _dtype(code: str) -> bytes:
    return call(_DTYPE, s(code), lit(False), lit(True))


def _object_flagged_as_plain() -> bytes:
    """memo 0: np.dtype('O8') whose pickled flags say 'no objects'."""
    return _dtype("O8") + put(0) + lit((3, "|", None, None, None, -1, -1, 0)) + BUILD + POP


def _void_with_object_field() -> bytes:
    """memo 0: a V8 structured dtype with an object field and flags 0."""
    return (_dtype("V8") + put(0) + MARK + lit(3) + s("|") + NONE + lit(("a",)) + EMPTY_DICT + s("a")
            + tup(_dtype("O8"), lit(0)) + pickle.SETITEM + lit(8) + lit(1) + lit(0) + TUPLE + BUILD + POP)


def _reconstruct_over(dtype_memo: int) -> bytes:
    return (call(_RECON, _NDARRAY, lit((0,)), lit(b"b"))
            + tup(lit(1), lit((1,)), get(dtype_memo), lit(False), lit(_RAW)) + BUILD)


def _wrapper_over(dtype_memo: int) -> bytes:
    """joblib's NumpyArrayWrapper, followed by raw array bytes in the stream (joblib framing)."""
    state = (EMPTY_DICT + MARK + s("subclass") + _NDARRAY + s("shape") + lit((1,)) + s("order") + s("C") + s("dtype")
             + get(dtype_memo) + s("allow_mmap") + lit(False) + s("numpy_array_alignment_bytes") + NONE + SETITEMS)
    return new(g("joblib.numpy_pickle", "NumpyArrayWrapper")) + state + BUILD + _RAW


_MEMORY_ATTACKS: dict[str, tuple[bytes, str]] = {
    "O8 flags 0, _reconstruct + BUILD": (pkl(_object_flagged_as_plain(), _reconstruct_over(0)), "flags"),
    "O8 flags 0, joblib wrapper raw bytes": (pkl(_object_flagged_as_plain(), _wrapper_over(0)), "flags"),
    "O8 flags 0, _frombuffer": (pkl(_object_flagged_as_plain(), call(_FROMBUF, lit(_RAW), get(0), lit((1,)), s("C"))),
                                "flags"),
    "O8 flags 0, scalar": (pkl(_object_flagged_as_plain(), call(_SCALAR, get(0), lit(_RAW))), "flags"),
    "V8 object field flags 0, _reconstruct + BUILD": (pkl(_void_with_object_field(), _reconstruct_over(0)), "flags"),
    "V8 object field flags 0, joblib wrapper raw bytes": (pkl(_void_with_object_field(), _wrapper_over(0)), "flags"),
    "V8 object field flags 0, _frombuffer": (
        pkl(_void_with_object_field(), call(_FROMBUF, lit(_RAW), get(0), lit((1,)), s("C"))), "flags"),
    "V8 object field flags 0, scalar": (pkl(_void_with_object_field(), call(_SCALAR, get(0), lit(_RAW))), "flags"),
    # The dtype is used by an array first, then its state is changed (elsize, then an object field).
    "dtype BUILD after use (elsize)": (
        pkl(_dtype("V8"), put(0), POP, call(_FROMBUF, lit(_RAW), get(0), lit((1,)), s("C")), put(1), POP,
            get(0), lit((3, "|", None, None, None, 4096, 1, 0)), BUILD, POP, get(1)), "already in use"),
    "dtype BUILD after use (object field)": (
        pkl(_dtype("V8"), put(0), POP, call(_FROMBUF, lit(_RAW), get(0), lit((1,)), s("C")), put(1), POP,
            get(0), MARK, lit(3), s("|"), NONE, lit(("a",)), EMPTY_DICT, s("a"), tup(_dtype("O8"), lit(0)), pickle.SETITEM,
            lit(8), lit(1), lit(63), TUPLE, BUILD, POP, get(1)), "already in use"),
}


@pytest.mark.parametrize("name", list(_MEMORY_ATTACKS))
def test_raw_bytes_never_become_object_pointers(tmp_path: Path, name: str) -> None:
    # Memory corruption: a dtype whose flags lie, used over raw bytes (in a subprocess).
    data, needle = _MEMORY_ATTACKS[name]
    path = write(tmp_path, "dtype.joblib", data)
    assert_refused_in_subprocess(path, needle, use="obj.tolist()")


@pytest.mark.parametrize("hidden_key,title", [("b", None), ("T", "T")], ids=["extra-field", "title-key"])
def test_hidden_object_field_not_listed_in_names(tmp_path: Path, hidden_key: str, title: str | None) -> None:
    # Memory corruption: a structured dtype's fields dict holds an object field under a key
    # its names tuple does not list (an extra field, or a title key). Its flags are what
    # NumPy computes for the listed fields alone (an int64 "a"), so a check that rebuilds the
    # dtype from `names` finds nothing wrong; obj[key] then reads raw bytes as a PyObject*.
    flags = np.dtype([("a", "<i8")]).flags
    a_field = tup(_dtype("i8"), lit(0), *([s(title)] if title else []))
    hidden = tup(_dtype("O8"), lit(0), *([s(title)] if title else []))
    state = (MARK + lit(3) + s("|") + NONE + lit(("a",)) + EMPTY_DICT + MARK + s("a") + a_field + s(hidden_key) + hidden
             + SETITEMS + lit(8) + lit(1) + lit(flags) + TUPLE)
    data = pkl(_dtype("V8"), put(0), state, BUILD, POP, call(_FROMBUF, lit(_RAW), get(0), lit((1,)), s("C")))
    assert_refused_in_subprocess(write(tmp_path, "hidden.pkl", data), use=f"obj[{hidden_key!r}].tolist()")


def test_subarray_hidden_behind_fields(tmp_path: Path) -> None:
    # Memory corruption: a dtype state with both fields (int64 "a", flags for that) and a
    # subarray of objects. A check that looks at fields first never sees the subarray, but
    # NumPy builds arrays of it as object arrays over the raw bytes.
    flags = np.dtype([("a", "<i8")]).flags
    state = (MARK + lit(3) + s("|") + tup(_dtype("O8"), lit((1,))) + lit(("a",)) + EMPTY_DICT + s("a")
             + tup(_dtype("i8"), lit(0)) + pickle.SETITEM + lit(8) + lit(1) + lit(flags) + TUPLE)
    data = pkl(_dtype("V8"), put(0), state, BUILD, POP, call(_FROMBUF, lit(_RAW), get(0), lit((1,)), s("C")))
    assert_refused_in_subprocess(write(tmp_path, "subarray.pkl", data), use="obj.tolist()")


@pytest.mark.parametrize("dtype_spec", ["O", "O8", [("a", "O")], [("a", "i8"), ("b", "O")]], ids=str)
def test_ndarray_new_over_a_bytes_buffer_with_object_dtype(tmp_path: Path, dtype_spec: Any) -> None:
    # Memory corruption: NEWOBJ numpy.ndarray(shape, dtype, buffer) is ndarray.__new__, which
    # NumPy lets build an object array over a bytes buffer (all arguments are "plain data").
    data = pkl(new(_NDARRAY, lit((1,)), lit(dtype_spec), lit(_RAW * 2)))
    assert_refused_in_subprocess(write(tmp_path, "ndnew.pkl", data), use="obj.tolist()")


def test_ndarray_new_strides_and_offsets_stay_inside_the_buffer(tmp_path: Path) -> None:
    # Memory corruption: ndarray.__new__ with an offset or strides reaching past the buffer.
    for args in ((lit((4,)), s("i8"), lit(_RAW), lit(0), lit((1 << 30,))),
                 (lit((1,)), s("i8"), lit(_RAW), lit(1 << 20)),
                 (lit((2,)), s("i8"), lit(_RAW), lit(0), lit((-(1 << 30),)))):
        data = pkl(new(_NDARRAY, *args))
        code, out = child(write(tmp_path, "strides.pkl", data), "obj.tolist()")
        assert code == 0, out
        assert "SCAN safe" not in out or "USED" in out


def test_datetime_dtype_state_without_its_metadata(tmp_path: Path) -> None:
    # Memory corruption: a datetime dtype given a version-3 state without the datetime
    # metadata; NumPy's own __setstate__ crashes on it.
    data = pkl(call(_DTYPE, s("M8"), lit(False), lit(True)), lit((3, "<", None, None, None, -1, -1, 0)), BUILD)
    assert_refused_in_subprocess(write(tmp_path, "datetime.pkl", data))


class Edited:
    """Pickles as ``obj`` does (its own __reduce_ex__), with the state passed through ``edit``:
    the names in the file are exactly those a real model has; only the values lie."""

    def __init__(self, obj: Any, edit: Callable[[Any], Any]) -> None:
        self.reduced = obj.__reduce_ex__(4)
        self.edit = edit

    def __reduce__(self) -> tuple[Any, ...]:
        func, args, state, *rest = self.reduced
        return (func, args, self.edit(state), *rest)


def _tree_children_out_of_range(state: dict[str, Any]) -> dict[str, Any]:
    nodes = state["nodes"].copy()
    nodes["left_child"][0] = nodes["right_child"][0] = 10**9
    return {**state, "nodes": nodes}


def _mt19937_pos_out_of_range(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "state": {**state["state"], "pos": 10**9}}


def test_state_that_native_code_trusts_is_checked(tmp_path: Path) -> None:
    # Memory corruption at use time: allowed Cython / C++ classes whose __setstate__ copies
    # indices without bounds checks. Each file names only what a real model names; the
    # child then uses the object as a caller would (predict, draw a number, multiply).
    from scipy import sparse
    from sklearn.tree import DecisionTreeClassifier

    tree = DecisionTreeClassifier(random_state=0).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    tree.tree_ = Edited(tree.tree_, _tree_children_out_of_range)
    cases = {
        "tree.pkl": (pickle.dumps(tree, protocol=4), "obj.predict([[0.0], [3.0]])"),
        "rng.pkl": (pickle.dumps(Edited(np.random.RandomState(0), _mt19937_pos_out_of_range), protocol=4),
                    "obj.random_sample(3)"),
    }
    csr = sparse.csr_matrix(np.eye(2))
    csr.indices = np.array([10**8, 1], dtype=np.int32)  # plain attribute: nothing is validated or used here
    cases["csr.pkl"] = (pickle.dumps(csr, protocol=4), "obj @ __import__('numpy').ones(2)")
    failures = []
    for name, (data, use) in cases.items():
        try:
            assert_refused_in_subprocess(write(tmp_path, name, data), use=use)
        except AssertionError as error:
            failures.append(f"{name}: {str(error).splitlines()[0]}")
    assert not failures, failures


# -- scanner/loader desync -----------------------------------------------------------------------------


class Payload:
    """Pickling this writes REDUCE os.system(cmd): it never runs here."""

    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return os.system, (self.cmd,)


def test_many_items_before_the_malicious_global(tmp_path: Path) -> None:
    # Desync: scanners that stop after N opcodes / items; 10,001 items then the payload.
    marker = tmp_path / "pwned"
    data = pkl(EMPTY_LIST, MARK, NONE * 10_001, APPENDS, POP, system(touch(marker)))
    assert_refused(write(tmp_path, "many.pkl", data), "imports os.system", marker=marker)
    data = pkl(EMPTY_DICT, MARK, b"".join(lit(i) + NONE for i in range(10_001)), SETITEMS, POP, system(touch(marker)))
    assert_refused(write(tmp_path, "manyd.pkl", data), "imports os.system", marker=marker)


def test_joblib_object_array_nests_a_pickle_with_a_payload(tmp_path: Path) -> None:
    # Desync: joblib loads object arrays via a nested pickle right after the wrapper.
    marker = tmp_path / "pwned"
    path = tmp_path / "objarray.joblib"
    joblib.dump({"coef": np.array([Payload(touch(marker))], dtype=object)}, path)
    assert_refused(path, "imports posix.system", marker=marker)
    # by hand: wrapper whose dtype is built from a code starting with "O", then the nested pickle
    state = (EMPTY_DICT + MARK + s("subclass") + _NDARRAY + s("shape") + lit((1,)) + s("order") + s("C") + s("dtype")
             + _dtype("O8") + s("allow_mmap") + lit(False) + SETITEMS)
    data = pkl(new(g("joblib.numpy_pickle", "NumpyArrayWrapper")), state, BUILD, pkl(system(touch(marker))))
    assert_refused(write(tmp_path, "nested.pkl", data), "imports os.system", marker=marker)


@pytest.mark.parametrize("compress", ["zlib", "gzip", "bz2", "lzma", "xz"])
def test_compressed_payloads(tmp_path: Path, compress: str) -> None:
    # Desync: the payload inside joblib compression.
    marker = tmp_path / "pwned"
    path = tmp_path / "model.joblib"
    joblib.dump({"model": Payload(touch(marker))}, path, compress=(compress, 3))
    assert_refused(path, "imports posix.system", marker=marker)


@pytest.mark.parametrize("opener", ["gzip", "bz2", "lzma", "zlib"])
def test_plain_compressed_streams_with_a_payload(tmp_path: Path, opener: str) -> None:
    # Desync: a pickle compressed with the standard tools (not joblib's writer).
    marker = tmp_path / "pwned"
    raw = pkl(system(touch(marker)))
    packed = {"gzip": gzip.compress, "bz2": bz2.compress, "lzma": lzma.compress, "zlib": zlib.compress}[opener](raw)
    path = write(tmp_path, "model.pkl", packed)
    result = scan_file(path)
    assert not result.safe, result
    with pytest.raises((UnsafeArtifact, ArtifactError)) as caught:
        load_file(path)
    assert "\n" not in str(caught.value)
    assert not marker.exists()


def test_truncated_files_are_broken_not_safe(tmp_path: Path) -> None:
    # Desync: a truncated model (and a truncated payload) is an error, never safe.
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    data = path.read_bytes()
    for cut in (len(data) // 3, len(data) // 2, len(data) - 1):
        assert_refused(write(tmp_path, "cut.joblib", data[:cut]), "cannot load", broken=True)
    marker = tmp_path / "pwned"
    payload = pkl(system(touch(marker)))
    assert_refused(write(tmp_path, "cutpayload.pkl", payload[:-1]), "imports os.system", marker=marker)


def test_pickle_with_a_zip_appended_is_judged_by_its_pickle(tmp_path: Path) -> None:
    # Desync: a polyglot. The file starts with a malicious pickle (what pickle.load, joblib.load
    # and torch.load's legacy path run) and ends with a benign zip checkpoint (what
    # zipfile.is_zipfile finds). The verdict must describe what loading runs.
    marker = tmp_path / "pwned"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("archive/data.pkl", pkl(EMPTY_DICT, proto=2))
        zf.writestr("archive/version", "3\n")
    failures = []
    for name in ("model.pkl", "model.joblib", "model.pt"):
        path = write(tmp_path, name, pkl(system(touch(marker)), proto=2) + archive.getvalue())
        result = scan_file(path)
        if result.safe:
            failures.append(f"{name}: {result.reason}")
        if name != "model.pt":  # what loading runs is the pickle, and it is refused
            with pytest.raises(UnsafeArtifact, match="imports (os|posix).system"):
                load_file(path)
    assert not failures, failures
    assert not marker.exists()


# -- time of check vs time of use -----------------------------------------------------------------------


def test_swapping_files_under_the_loader(tmp_path: Path) -> None:
    # TOCTOU: a thread keeps replacing the path with a model or a payload while it is loaded.
    marker = tmp_path / "pwned"
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    safe_src, evil_src = tmp_path / "safe.joblib", tmp_path / "evil.joblib"
    joblib.dump(model, safe_src)
    evil_src.write_bytes(pkl(system(touch(marker))))
    target = tmp_path / "model.joblib"
    target.write_bytes(safe_src.read_bytes())
    stop = threading.Event()

    def swap() -> None:
        blobs = (safe_src.read_bytes(), evil_src.read_bytes())
        i = 0
        while not stop.is_set():
            staging = tmp_path / f"staging{i % 2}"
            staging.write_bytes(blobs[i % 2])
            os.replace(staging, target)
            i += 1

    swapper = threading.Thread(target=swap, daemon=True)
    swapper.start()
    outcomes = {"model": 0, "refused": 0}
    try:
        for _ in range(150):
            try:
                obj = load_file(target)
            except UnsafeArtifact as error:
                assert "imports os.system" in str(error)
                outcomes["refused"] += 1
            else:
                assert isinstance(obj, LogisticRegression)
                outcomes["model"] += 1
            result = scan_file(target)
            assert result.verdict in ("safe", "unsafe"), result
    finally:
        stop.set()
        swapper.join()
    assert not marker.exists()
    assert sum(outcomes.values()) == 150


def test_a_fifo_named_like_a_model_does_not_hang_the_scan(tmp_path: Path) -> None:
    # Not a regular file: opening a FIFO for reading blocks until a writer appears, so the
    # "regular file?" check must come before the blocking open (a watcher scanning a folder
    # would hang forever). Runs in a child with a deadline.
    fifo = tmp_path / "model.pkl"
    os.mkfifo(fifo)
    script = ("import sys\nfrom store.safety.loader import load_file, scan_file\n"
              "print('SCAN', scan_file(sys.argv[1]).verdict, flush=True)\n"
              "try:\n    load_file(sys.argv[1])\nexcept Exception as e:\n    print('LOAD', type(e).__name__, flush=True)\n")
    try:
        proc = subprocess.run([sys.executable, "-c", script, str(fifo)], cwd=REPO, capture_output=True, text=True,
                              timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("scan_file / load_file blocked on a FIFO for 10 s")
    assert "SCAN error" in proc.stdout and "LOAD ArtifactError" in proc.stdout, proc.stdout + proc.stderr


# -- trust -------------------------------------------------------------------------------------------------


def test_trust_loads_a_benign_object_the_allow_list_does_not_know(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # trust=True really loads (with joblib's semantics) what the restricted loader refuses.
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    (helpers / "attack_benign_helper.py").write_text(
        "class Harmless:\n"
        "    def __init__(self, value):\n"
        "        self.value = value\n")
    monkeypatch.syspath_prepend(str(helpers))
    import attack_benign_helper  # type: ignore[import-not-found]

    path = tmp_path / "harmless.joblib"
    joblib.dump({"obj": attack_benign_helper.Harmless(41)}, path)
    assert_refused(path, "imports attack_benign_helper.Harmless")
    loaded = load_file(path, trust=True)
    assert type(loaded["obj"]).__name__ == "Harmless" and loaded["obj"].value == 41
    monkeypatch.delitem(sys.modules, "attack_benign_helper")


# -- PyTorch zip checkpoints and safetensors -----------------------------------------------------------


def _torch_zip(path: Path, data_pkl: bytes, *, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", data_pkl)
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/data/0", b"\x00" * 16)
        zf.writestr("archive/version", "3\n")
        for name, blob in (extra or {}).items():
            zf.writestr(name, blob)
    return path


@pytest.mark.parametrize("name,data_pkl,needle", [
    ("os.system", pkl(system("touch pwned"), proto=2), "imports os.system"),
    ("posix.system", pkl(call(g("posix", "system"), s("touch pwned")), proto=2), "imports posix.system"),
    ("builtins.eval", pkl(call(g("builtins", "eval"), s("1")), proto=2), "imports builtins.eval"),
    ("torch.load", pkl(call(g("torch", "load"), s("other.pt")), proto=2), "imports torch.load"),
    ("stack global", pkl(call(sg("os", "system"), s("touch pwned"))), "imports os.system"),
    ("stack global via memo", pkl(s("torch._utils"), put(0), POP, s("os"), put(0), POP, get(0), s("system"),
                                  pickle.STACK_GLOBAL), "imports os.system"),
    ("stack global from non-strings", pkl(lit(1), put(0), get(0), s("system"), pickle.STACK_GLOBAL),
     "not plain strings"),
    ("stack global from DUP", pkl(s("os"), pickle.DUP, pickle.STACK_GLOBAL), "not plain strings"),
    ("INST", b"(" + lit("x") + b"itorch._utils\n_rebuild_tensor_v2\n.", "INST"),
    ("PERSID", b"P0\n.", "PERSID"),
    ("dotted attr", pkl(g("torch._utils", "_rebuild_tensor_v2.__globals__")), "does not allow"),
    ("payload after an allowed global", pkl(g("torch", "FloatStorage"), POP, system("touch pwned"), proto=2),
     "imports os.system"),
])
def test_torch_checkpoints_with_malicious_globals(tmp_path: Path, name: str, data_pkl: bytes, needle: str) -> None:
    # PyTorch zip checkpoints: anything torch.load(weights_only=True) would not allow is unsafe.
    result = scan_file(_torch_zip(tmp_path / "model.pt", data_pkl))
    assert result.verdict == "unsafe" and not result.safe, result
    assert needle in result.reason, result.reason
    assert "\n" not in result.reason


def test_every_pickle_inside_a_torch_zip_is_checked(tmp_path: Path) -> None:
    # PyTorch zip checkpoints: a benign data.pkl beside a malicious second pickle.
    extra = {"archive/constants.pkl": pkl(system("touch pwned"), proto=2)}
    result = scan_file(_torch_zip(tmp_path / "model.pt", pkl(EMPTY_DICT, proto=2), extra=extra))
    assert result.verdict == "unsafe", result


_FAKE_TORCH_INIT = '''
class FloatStorage:
    """Stands in for torch.FloatStorage: only its qualified name is pickled."""
'''
_FAKE_TORCH_UTILS = '''
def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    return (storage, storage_offset, size, stride)
'''


def test_benign_torch_checkpoint_from_a_fake_torch_is_safe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # PyTorch zip checkpoints: what torch.save writes (a persistent id per storage, tensors
    # rebuilt by torch._utils._rebuild_tensor_v2), made with a FAKE torch package.
    fake = tmp_path / "fake"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text(_FAKE_TORCH_INIT)
    (fake / "torch" / "_utils.py").write_text(_FAKE_TORCH_UTILS)
    monkeypatch.syspath_prepend(str(fake))
    for mod in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
        monkeypatch.delitem(sys.modules, mod)
    import torch  # type: ignore[import-not-found]  # the fake one
    import torch._utils  # type: ignore[import-not-found]

    assert Path(torch.__file__).is_relative_to(fake)

    class Storage:
        def __init__(self, key: str) -> None:
            self.key = key

    class Tensor:
        def __init__(self, storage: Storage, size: tuple[int, ...]) -> None:
            self.storage, self.size = storage, size

        def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
            return torch._utils._rebuild_tensor_v2, (self.storage, 0, self.size, (1,), False, {})

    class TorchLikePickler(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            if isinstance(obj, Storage):
                return ("storage", torch.FloatStorage, obj.key, "cpu", 4)
            return None

    buffer = io.BytesIO()
    TorchLikePickler(buffer, protocol=2).dump({"weight": Tensor(Storage("0"), (4,)), "bias": Tensor(Storage("1"), (4,))})
    result = scan_file(_torch_zip(tmp_path / "model.pt", buffer.getvalue()))
    assert result.verdict == "safe" and result.safe, result
    assert "torch._utils._rebuild_tensor_v2" in result.imports and "torch.FloatStorage" in result.imports
    for mod in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
        del sys.modules[mod]  # not monkeypatch.delitem: its undo would put the fake back for later tests


def test_torch_files_that_are_not_zip_checkpoints(tmp_path: Path) -> None:
    # PyTorch: an empty zip and a legacy (pickle) checkpoint with a payload are never safe.
    empty = tmp_path / "empty.pt"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "hi")
    assert scan_file(empty).verdict == "error"
    marker = tmp_path / "pwned"
    legacy = scan_file(write(tmp_path, "legacy.pt", pkl(system(touch(marker)), proto=2)))
    assert not legacy.safe and legacy.verdict in ("unsafe", "error"), legacy


def test_legacy_checkpoint_the_pure_python_unpickler_cannot_read(tmp_path: Path) -> None:
    # Desync between unpicklers: a FRAME inside a FRAME. The pure-Python unpickler (the
    # restricted loader's base) raises "beginning of a new frame before end of current frame";
    # the C unpickler torch.load's legacy path uses reads on and returns the legacy magic
    # number, then loads the protocol, sys_info and data pickles: the data pickle is a payload.
    marker = tmp_path / "pwned"
    magic = 0x1950A86A20F9469CFC6C
    inner = lit(magic) + STOP
    body = pickle.FRAME + struct.pack("<Q", len(inner)) + inner
    first = pickle.PROTO + b"\x04" + pickle.FRAME + struct.pack("<Q", len(body)) + body
    assert pickle.loads(first) == magic  # the C unpickler reads it (benign: an int)
    with pytest.raises(pickle.UnpicklingError):
        pickle._loads(first)  # type: ignore[attr-defined]  # the pure-Python one does not
    rest = pkl(lit(1001), proto=2) + pkl(lit({"protocol_version": 1001}), proto=2) + pkl(system(touch(marker)), proto=2)
    path = write(tmp_path, "legacy.pt", first + rest)
    result = scan_file(path)
    assert not result.safe and result.verdict in ("unsafe", "error"), result
    assert not marker.exists()


def test_legacy_tar_checkpoint_is_not_safe(tmp_path: Path) -> None:
    # PyTorch legacy .tar format: torch.load(weights_only=False) first tries tarfile and
    # unpickles the "storages", "tensors" and "pickle" members. The first member's name is
    # the file's first byte; "zzz" is not a pickle opcode, so the file does not "start like
    # a pickle", yet the "storages" member is a payload torch would run.
    marker = tmp_path / "pwned"
    path = tmp_path / "legacy_tar.pt"
    with tarfile.open(path, "w:", format=tarfile.PAX_FORMAT) as tar:
        for name, blob in (("zzz", b"x"), ("storages", pkl(system(touch(marker)), proto=2)),
                           ("tensors", pkl(lit(0), proto=2)), ("pickle", pkl(EMPTY_DICT, proto=2))):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    result = scan_file(path)
    assert not result.safe and result.verdict in ("unsafe", "error"), result
    assert not marker.exists()


def test_safetensors_valid_is_safe_and_garbage_is_error(tmp_path: Path) -> None:
    # safetensors: a JSON header and raw bytes; no code by format.
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "__metadata__": {"a": "b"}}).encode()
    valid = write(tmp_path, "model.safetensors", struct.pack("<Q", len(header)) + header + b"\x00" * 8)
    result = scan_file(valid)
    assert result.verdict == "safe" and result.safe, result
    for name, blob in (("garbage", b"\xff" * 64), ("short", b"\x01\x02"), ("list", struct.pack("<Q", 2) + b"[]"),
                       ("huge", struct.pack("<Q", 1 << 40) + b"{}"), ("pickle", pkl(system("touch pwned")))):
        bad = scan_file(write(tmp_path, f"{name}.safetensors", blob))
        assert bad.verdict == "error" and not bad.safe, (name, bad)
