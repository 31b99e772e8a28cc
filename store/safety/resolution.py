"""Allow-list resolution: which names a pickle may import, what kind each is, and importing them.

Only names enumerated here or in ``store.safety.pickle_allowlist`` resolve; never a namespace rule.
"""

from __future__ import annotations

import importlib
import re
import types
from typing import Any

from store.safety.pickle_allowlist import CALLED_CLASSES, CLASSES, FUNCTIONS, NEW_HELPERS
from store.safety.verdicts import Refused, _one_line

# -- what may be built --------------------------------------------------------------------------


def _key(module: str, name: str) -> str:
    return f"{module}:{name}"


def _numpy_keys(names: tuple[str, ...], *modules: str) -> set[str]:
    return {_key(m, n) for m in modules for n in names}


_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")
_NUMERIC = ("numpy.core.numeric", "numpy._core.numeric")
_RANDOM = "numpy.random._pickle"
# Reconstructors REDUCE may call, each with a check of its arguments (below).
_RECONSTRUCTORS: dict[str, str] = {
    **{k: "ndarray" for k in _numpy_keys(("_reconstruct",), *_MULTIARRAY)},
    **{k: "scalar" for k in _numpy_keys(("scalar",), *_MULTIARRAY)},
    **{k: "frombuffer" for k in _numpy_keys(("_frombuffer",), *_NUMERIC)},
    "numpy:dtype": "dtype",
    "numpy.ma.core:_mareconstruct": "mareconstruct",
    _key(_RANDOM, "__bit_generator_ctor"): "bitgen",
    _key(_RANDOM, "__generator_ctor"): "generator",
    _key(_RANDOM, "__randomstate_ctor"): "generator",
    "copyreg:_reconstructor": "reconstructor",
    "copyreg:__newobj__": "newobj",
    "copyreg:__newobj_ex__": "newobj_ex",
    "_codecs:encode": "encode",
    "builtins:set": "iterable",
    "builtins:frozenset": "iterable",
    "builtins:slice": "plain",
    "builtins:complex": "plain",
    "builtins:bytearray": "plain",
    "builtins:bytes": "plain",
    "collections:OrderedDict": "ordereddict",
    "collections:defaultdict": "defaultdict",
}
# Array classes the NumPy reconstructors may build.
_ARRAY_CLASSES = {"numpy:ndarray", "numpy:matrix", "numpy.ma.core:MaskedArray",
                  "numpy.ma:MaskedArray", "numpy.matrixlib.defmatrix:matrix"}
_BIT_GENERATORS = {"MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"}
_BIT_GENERATOR_CLASSES = {_key(f"numpy.random._{n.lower().replace('dxsm', '')}", n) for n in _BIT_GENERATORS}
# Plain types a file names as data (``defaultdict(list)``, protocol 0-2 builtins).
_DATA_TYPES = {f"builtins:{n}" for n in ("object", "int", "float", "str", "bool", "list", "dict", "tuple")}
# NumPy scalar types a model keeps as parameter values (``dtype=np.float64``): never called or built.
_NUMPY_TYPES = {f"numpy:{n}" for n in (
    "float16", "float32", "float64", "longdouble", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
    "uint64", "intp", "uintp", "bool_", "bool", "complex64", "complex128", "object_", "str_", "bytes_", "datetime64",
    "timedelta64", "number", "integer", "floating", "signedinteger", "unsignedinteger", "inexact", "generic")}
_SCIPY_STATS = re.compile(r"^scipy\.stats(\.|$)")
_DTYPE_CODE = re.compile(r"^[<>|=]?[A-Za-z]{1,2}\d{0,4}(\[\w{1,8}\])?$")


def _kind_of(key: str) -> str | None:
    if key in _RECONSTRUCTORS:
        return "reconstructor"
    if key in _ARRAY_CLASSES or key in _BIT_GENERATOR_CLASSES:
        return "numpy_class"  # only NumPy's own reconstructors may build these, never NEWOBJ
    if key in CLASSES:
        return "class"
    if key in CALLED_CLASSES:
        return "called"
    if key in NEW_HELPERS:
        return "helper"
    if key in FUNCTIONS:
        return "function"
    if key in _DATA_TYPES:
        return "data_type"
    if key in _NUMPY_TYPES:
        return "value_type"
    return None


_NOT_BUILT_HERE = (type, types.FunctionType, types.BuiltinFunctionType, types.ModuleType, types.MethodType)


def _resolve(module: str, name: str) -> Any:
    """Import an allowed name. Only names on the lists reach here, so only their modules are imported."""
    try:
        obj: Any = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as error:
        raise Refused(f"imports {module}.{name}, which this installation does not have ({_one_line(error)})") from None
    return obj
