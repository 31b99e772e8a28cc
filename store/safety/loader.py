"""Safe loading: one restricted unpickler that *is* the loader, and the scan that runs it.

Unpickling calls whatever the file names, so modelreg never scans a file and then hands it
to ``joblib.load``. It loads with a subclass of joblib's own unpickler (the pure-Python
``pickle._Unpickler``) that checks every import and every call while it loads, and reads
joblib's array framing with joblib's own code, so what is checked is what is executed:

- **Imports** resolve only names enumerated in ``store.safety.pickle_allowlist`` (generated from
  scikit-learn itself) or in the small table of reconstructors below. Never a namespace rule.
- **Classes** are rebuilt as pickling rebuilds them: ``__new__`` (``NEWOBJ``,
  ``copyreg.__newobj__``, ``copyreg._reconstructor``) and then their state. A class is
  called only where its own ``__reduce__`` calls it (the Cython ``Tree``, loss objects),
  with plain data as arguments.
- **REDUCE** calls only the enumerated reconstructors, each with its arguments checked
  (NumPy's random-generator constructors call whatever they are handed: only the real
  bit-generator names and classes pass).
- **State** never sets a dunder attribute; a ``__setstate__`` is looked up on the class,
  never on the instance (a first ``BUILD`` cannot plant one for a second to call), and state
  is only ever applied to objects this file built.
- **dtypes** are checked when rebuilt (flags must be what NumPy computes for the fields; no
  object fields in structured dtypes) and are frozen once used, so raw bytes never become
  object pointers.
- **scipy.stats** distributions run code stored in the file while unpickling: refused, with
  that reason.

The file is opened once; the sha256 check and the load read the same bytes.
"""

from __future__ import annotations

import _compat_pickle
import hashlib
import importlib
import io
import json
import os
import pickle
import re
import stat
import struct
import types
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from store.errors import ArtifactError, UnsafeArtifact
from store.safety.pickle_allowlist import CALLED_CLASSES, CLASSES, FUNCTIONS, NEW_HELPERS

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
TORCH_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")
SAFETENSORS_SUFFIX = ".safetensors"
_TORCH_TAR_SUFFIXES = (".pth.tar", ".pt.tar", ".ckpt.tar")  # model_best.pth.tar: torch.load reads these too
_CHUNK = 1 << 20
_MAX_DEPTH = 12  # how deep argument checks look into nested tuples and lists


@dataclass(frozen=True)
class ScanResult:
    """What the restricted loader made of a file. ``safe`` is True only for verdict "safe"."""

    safe: bool
    verdict: str  # "safe" | "unsafe" | "error"
    reason: str  # one line
    imports: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"safe": self.safe, "verdict": self.verdict, "reason": self.reason, "imports": list(self.imports)}


class Refused(Exception):
    """The file asked for an import, call or state the loader does not allow (one line)."""


# -- public entry points -----------------------------------------------------------------------


def load_file(path: str | os.PathLike[str], *, trust: bool = False, sha256: str | None = None,
              imports: list[str] | None = None) -> Any:
    """The object in a joblib/pickle file, loaded by the restricted unpickler.

    Raises ``UnsafeArtifact`` (one line naming the import or call) for what it refuses,
    ``ArtifactError`` for a file it cannot read or whose bytes do not match ``sha256``.
    ``trust=True`` loads with plain ``joblib.load`` semantics: for the user's own files.
    ``imports``, when given, is filled with every name the file imported.
    """
    path = Path(path)
    try:
        with _open_once(path) as raw:
            reader = _HashingReader(raw) if sha256 else None  # hashing costs a pass; only when asked
            stream = io.BufferedReader(reader, _CHUNK) if reader else raw
            obj = _load_stream(stream, path, trust=trust, imports=imports)  # type: ignore[arg-type]
            digest = reader.finish() if reader else None
    except Refused as error:
        raise UnsafeArtifact(f"refusing to load {path.name}: {error}; pass --trust / trust=True only if you trust this file") from None
    except (ArtifactError, UnsafeArtifact):
        raise
    except OSError as error:
        raise ArtifactError(f"cannot read {path}: {error.strerror or error}") from None
    except Exception as error:  # a broken file is a one-line user error, never a traceback
        raise ArtifactError(f"cannot load {path}: {_one_line(error)}") from None
    if sha256 and digest != sha256:
        raise ArtifactError(f"{path} has changed since it was registered (sha256 differs); re-register it or restore the file")
    return obj


def scan_file(path: str | os.PathLike[str]) -> ScanResult:
    """What loading ``path`` would do: run the restricted loader and report, executing nothing
    outside the allow-list. PyTorch zip checkpoints are checked against what
    ``torch.load(weights_only=True)`` allows, without importing torch; ``.safetensors``
    files are safe by format."""
    return inspect_file(path)[0]


def inspect_file(path: str | os.PathLike[str]) -> tuple[ScanResult, Any]:
    """``(verdict, loaded object or None)``: the scan and the load are one and the same.

    The format is decided from the opened file's first bytes (never from a second open, never
    from the end of the file, where a zip directory could hide behind a pickle)."""
    path = Path(path)
    name = path.name.lower()
    imports: list[str] = []
    try:
        with _open_once(path) as raw:
            head = raw.read(8)
            raw.seek(0)
            kind = _format(path, head, raw)
            if kind == "safetensors":
                return _scan_safetensors(path, raw), None
            if kind == "zip":
                return _scan_torch(path, raw), None
            if kind == "tar":
                return ScanResult(False, "error", f"{path.name}: a tar archive (the oldest PyTorch format), whose "
                                                  "pickles are not judged; not trusted"), None
            if kind == "blob":
                return ScanResult(True, "safe", f"{path.name}: neither a pickle nor an archive (its first byte is no "
                                                "pickle opcode): nothing in it unpickles"), None
            obj = _load_stream(raw, path, trust=False, imports=imports)  # type: ignore[arg-type]
            # torch.load reads on past the first pickle (its legacy layout) where joblib stops: bytes
            # after it in a PyTorch-named file are pickles nobody judged.
            trailing = kind == "pickle" and name.endswith(TORCH_SUFFIXES) and bool(raw.read(1))
    except Refused as error:
        return ScanResult(False, "unsafe", f"{path.name}: {error}", tuple(imports)), None
    except ArtifactError as error:
        return ScanResult(False, "error", f"{path.name}: {error}", tuple(imports)), None
    except OSError as error:
        return ScanResult(False, "error", f"{path.name}: cannot read it: {error.strerror or error}", tuple(imports)), None
    except Exception as error:
        return ScanResult(False, "error", f"{path.name}: not loadable, so not trusted: {_one_line(error)}", tuple(imports)), None
    if trailing or type(obj) is int and obj == _TORCH_LEGACY_MAGIC:  # more pickles follow that torch.load would run
        return ScanResult(False, "error", f"{path.name}: legacy (non-zip) PyTorch format; not judged, so not trusted; "
                                          "re-save it with a current torch.save", tuple(imports)), None
    reason = f"{path.name}: loads with the restricted loader ({len(imports)} imports, all allowed)"
    return ScanResult(True, "safe", reason, tuple(imports)), obj


_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _format(path: Path, head: bytes, raw: BinaryIO) -> str:
    """"safetensors", "zip", "tar", "blob" (cannot unpickle at all) or "pickle" (joblib included)."""
    import pickletools
    import tarfile

    from joblib.compressor import _COMPRESSORS

    name = path.name.lower()
    if name.endswith(SAFETENSORS_SUFFIX):
        return "safetensors"
    if head.startswith(b"PK\x03\x04"):  # where torch.load looks: the start, not the end
        return "zip"
    if name.endswith(PICKLE_SUFFIXES):
        return "pickle"
    try:
        is_tar = tarfile.is_tarfile(raw)
    finally:
        raw.seek(0)
    if is_tar:
        return "tar"
    if head and head[:1].decode("latin-1") not in pickletools.code2op and \
            not any(head.startswith(c.prefix) for c in _COMPRESSORS.values()):
        return "blob"
    return "pickle"


def scan_paths(paths: list[str]) -> ScanResult:
    """One verdict for a version's artifacts (files, or folders holding checkpoints): the first
    that is not safe, else safe. Files modelreg cannot judge (text, images) do not count."""
    results = []
    for root in paths:
        for file in scannable_files(root):
            result = scan_file(file)
            if file != root:  # name the file by its place in the folder
                name = os.path.basename(file)
                reason = result.reason[len(name):] if result.reason.startswith(name + ":") else f": {result.reason}"
                result = ScanResult(result.safe, result.verdict, os.path.relpath(file, root) + reason, result.imports)
            results.append(result)
    unsafe = [r for r in results if not r.safe]
    if unsafe:
        return unsafe[0]
    if not results:
        return ScanResult(True, "safe", "no pickle, PyTorch or safetensors files: nothing that unpickles")
    return results[0] if len(results) == 1 else ScanResult(True, "safe", f"{len(results)} files, all safe",
                                                           tuple(i for r in results for i in r.imports))


def scannable_files(path: str) -> list[str]:
    """The files of a checkpoint modelreg judges: itself, or those inside its folder."""
    if not os.path.isdir(path):
        return [path] if is_scannable(path) else []
    found, seen = [], set()
    for folder, subfolders, files in os.walk(path, followlinks=True):  # a linked subfolder is part of it too
        real = os.path.realpath(folder)
        if real in seen:  # a link back up the tree: walked already
            subfolders[:] = []
            continue
        seen.add(real)
        found.extend(os.path.join(folder, name) for name in sorted(files) if is_scannable(name))
    return found


def is_scannable(path: str | os.PathLike[str]) -> bool:
    """Does modelreg know how to judge this file (pickle, joblib, PyTorch or safetensors)?"""
    return str(path).lower().endswith(PICKLE_SUFFIXES + TORCH_SUFFIXES + _TORCH_TAR_SUFFIXES + (SAFETENSORS_SUFFIX,))


# -- one open, one read ------------------------------------------------------------------------


class _open_once:
    """Open ``path`` once for reading; refuse what is not a regular file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        # Non-blocking, so a FIFO planted under a model's name cannot hang the open.
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ArtifactError(f"{self.path} is not a regular file")
        os.set_blocking(fd, True)
        self.handle = os.fdopen(fd, "rb")
        return self.handle

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()


class _HashingReader(io.RawIOBase):
    """Reads the open file and hashes every byte on the way, so the hash is of what was loaded."""

    def __init__(self, raw: BinaryIO, *, enabled: bool = True) -> None:
        self._raw, self._sha = raw, hashlib.sha256() if enabled else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        if n and self._sha is not None:
            self._sha.update(memoryview(buffer)[:n])
        return n or 0

    def finish(self) -> str | None:
        """Hash the bytes the loader did not need (trailing data), then the digest."""
        if self._sha is None:
            return None
        while chunk := self._raw.read(_CHUNK):
            self._sha.update(chunk)
        return self._sha.hexdigest()


def _load_stream(stream: io.BufferedReader, path: Path, *, trust: bool, imports: list[str] | None = None) -> Any:
    from joblib.numpy_pickle import _unpickle
    from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with _validate_fileobject_and_memmap(stream, str(path), None) as (fobj, _):
            if isinstance(fobj, str):  # joblib < 0.10 kept arrays in companion files it reads by name
                if trust:
                    from joblib.numpy_pickle_compat import load_compatibility

                    return load_compatibility(str(path))
                raise Refused("written by joblib older than 0.10, whose format reads other files by name")
            if trust:
                return _unpickle(fobj, ensure_native_byte_order=True, filename=str(path))
            unpickler = _restricted()(fobj, imports=imports)
            return unpickler.load()


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__


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


def _make_unpickler() -> type:
    import numpy as np
    from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler
    from joblib.numpy_pickle_utils import _ensure_native_byte_order

    class Restricted(NumpyUnpickler):
        dispatch = NumpyUnpickler.dispatch.copy()

        def __init__(self, file_handle: Any, *, imports: list[str] | None = None, parent: Any = None) -> None:
            super().__init__("", file_handle, True)
            self.imports = imports if imports is not None else []
            # Objects find_class handed out (by id; they are module globals, alive throughout).
            self.found: dict[int, tuple[str, str, Any]] = parent.found if parent else {}
            self.unbuilt: dict[int, Any] = parent.unbuilt if parent else {}  # dtypes whose state may still be set
            self.sealed: dict[int, Any] = parent.sealed if parent else {}
            self.used: dict[int, Any] = parent.used if parent else {}  # arrays other objects hold
            self.built: dict[int, Any] = parent.built if parent else {}  # objects whose state was set

        # -- imports --

        def find_class(self, module: str, name: str) -> Any:
            if self.proto < 3 and self.fix_imports:
                if (module, name) in _compat_pickle.NAME_MAPPING:
                    module, name = _compat_pickle.NAME_MAPPING[(module, name)]
                elif module in _compat_pickle.IMPORT_MAPPING:
                    module = _compat_pickle.IMPORT_MAPPING[module]
            key = _key(module, name)
            if f"{module}.{name}" not in self.imports:
                self.imports.append(f"{module}.{name}")
            kind = _kind_of(key)
            if kind is None and module == "numpy" and isinstance(getattr(np, name, None), np.ufunc):
                kind = "function"  # a ufunc kept as a value (FunctionTransformer(func=np.log1p)), never called
            if kind is None:
                if _SCIPY_STATS.match(module):
                    raise Refused(f"imports {module}.{name}: scipy.stats distributions run code stored in the file while "
                                  "unpickling, so they are never loaded without trust")
                raise Refused(f"imports {module}.{name}, which is not on the allow-list of what a model may contain")
            obj = _resolve(module, name)
            if kind in ("class", "numpy_class", "called", "value_type") and not isinstance(obj, type):
                raise Refused(f"imports {module}.{name}, which is listed as a class but is not one here")
            if kind in ("reconstructor", "helper", "function") and (isinstance(obj, type) and kind != "reconstructor"
                                                                   or not callable(obj)):
                raise Refused(f"imports {module}.{name}, which is listed as a function but is not one here")
            self.found[id(obj)] = (key, kind, obj)
            return obj

        def _name(self, obj: Any) -> tuple[str, str]:
            entry = self.found.get(id(obj))
            if entry is None or entry[2] is not obj:
                raise Refused(f"calls a {type(obj).__name__} object that is not a listed reconstructor")
            return entry[0], entry[1]

        # -- calls --

        def load_reduce(self) -> None:
            args = self.stack.pop()
            func = self.stack[-1]
            if type(args) is not tuple:
                raise Refused("calls with arguments that are not a tuple")
            key, kind = self._name(func)
            self._seal_within(args)  # what a call is handed is in use from now on
            self.stack[-1] = self._call(key, kind, func, args)

        def _call(self, key: str, kind: str, func: Any, args: tuple[Any, ...]) -> Any:
            name = key.replace(":", ".")
            if kind == "class":
                raise Refused(f"calls {name}, a class that may only be rebuilt from its state, never called")
            if kind == "function":
                raise Refused(f"calls {name}, which a model may hold as a value but never call while loading")
            if kind in ("data_type", "value_type", "numpy_class"):
                raise Refused(f"calls {name} while loading")
            if kind == "called":
                self._plain(args, name)
                return func(*args)
            if kind == "helper":
                if not args or not isinstance(args[0], type) or self.found.get(id(args[0]), ("", ""))[1] != "class":
                    raise Refused(f"calls {name} with something other than an allowed class")
                self._plain(args[1:], name)
                return func(*args)
            return self._reconstruct(_RECONSTRUCTORS[key], name, func, args)

        def _reconstruct(self, how: str, name: str, func: Any, args: tuple[Any, ...]) -> Any:
            if how == "dtype":
                if not (1 <= len(args) <= 3 and isinstance(args[0], str) and _DTYPE_CODE.match(args[0])
                        and all(isinstance(a, bool) for a in args[1:])):
                    raise Refused(f"calls {name} with {_short(args)}, not a dtype code")
                made = func(*args)  # a new dtype object: its state may follow, once, before any use
                self.unbuilt[id(made)] = made
                return made
            if how == "ndarray":
                self._array_class(args[0] if args else None, name)
                if len(args) != 3 or not _ints(args[1]) or not isinstance(args[2], (bytes, str)) or len(args[2]) > 2:
                    raise Refused(f"calls {name} with {_short(args)}")
                return func(*args)
            if how == "mareconstruct":
                if len(args) != 4:
                    raise Refused(f"calls {name} with {_short(args)}")
                self._array_class(args[0], name)
                self._array_class(args[1], name)
                if not _ints(args[2]) or not (isinstance(args[3], (bytes, str)) and len(args[3]) <= 2
                                              or isinstance(args[3], np.dtype)):
                    raise Refused(f"calls {name} with {_short(args)}")
                if isinstance(args[3], np.dtype):
                    self._seal(args[3])
                return func(*args)
            if how == "scalar":
                if not 1 <= len(args) <= 2 or not isinstance(args[0], np.dtype):
                    raise Refused(f"calls {name} with {_short(args)}")
                dtype = self._seal(args[0])
                if not dtype.hasobject:
                    if len(args) != 2 or not isinstance(args[1], bytes) or len(args[1]) != dtype.itemsize:
                        raise Refused(f"calls {name} with bytes that do not fit {dtype}")
                return func(*args)
            if how == "frombuffer":
                if len(args) not in (4, 5) or not isinstance(args[0], (bytes, bytearray)) or not isinstance(args[1], np.dtype):
                    raise Refused(f"calls {name} with {_short(args)}")
                dtype = self._seal(args[1])
                axes_ok = len(args) == 4 or _ints(args[4])  # NumPy 2 adds the axes order for order "K"
                if dtype.hasobject or not _ints(args[2]) or args[3] not in ("C", "F", "K") or not axes_ok:
                    raise Refused(f"calls {name} to make objects from raw bytes")
                return func(*args)
            if how == "bitgen":
                if len(args) > 1 or args and not (isinstance(args[0], str) and args[0] in _BIT_GENERATORS
                                                   or self._is(args[0], _BIT_GENERATOR_CLASSES)):
                    raise Refused(f"calls {name} with {_short(args)}, not a NumPy bit generator")
                return func(*args)
            if how == "generator":
                if len(args) > 2 or args and not (isinstance(args[0], np.random.BitGenerator)
                                                   or isinstance(args[0], str) and args[0] in _BIT_GENERATORS):
                    raise Refused(f"calls {name} with {_short(args)}, not a NumPy bit generator")
                if len(args) == 2 and not self._is(args[1], {_key(_RANDOM, "__bit_generator_ctor")}):
                    raise Refused(f"calls {name} with a constructor other than NumPy's own")
                return func(*args)
            if how in ("reconstructor", "newobj", "newobj_ex"):
                cls = args[0] if args else None
                if not isinstance(cls, type) or self.found.get(id(cls), ("", ""))[1] != "class":
                    raise Refused(f"calls {name} to build {_short(cls)}, which is not an allowed class")
                if how == "reconstructor":
                    if len(args) != 3 or args[1] not in _RECONSTRUCTOR_BASES or not issubclass(cls, args[1]):
                        raise Refused(f"calls {name} with {_short(args)}")
                    if args[1] is object and args[2] is not None:
                        raise Refused(f"calls {name} with state for object.__new__")
                self._plain(args[1:] if how != "reconstructor" else args[2:], name)
                return func(*args)
            if how == "encode":
                if len(args) != 2 or not isinstance(args[0], str) or args[1] not in ("latin1", "latin-1"):
                    raise Refused(f"calls {name} with {_short(args)}")
                return func(*args)
            if how == "iterable":
                if len(args) > 1 or args and type(args[0]) not in (list, tuple):
                    raise Refused(f"calls {name} with {_short(args)}")
                return func(*args)
            if how == "plain":
                if len(args) > 3:
                    raise Refused(f"calls {name} with {_short(args)}")
                self._plain(args, name)
                return func(*args)
            if how == "ordereddict":
                if len(args) > 1 or args and type(args[0]) not in (list, tuple):
                    raise Refused(f"calls {name} with {_short(args)}")
                return func(*args)
            if how == "defaultdict":
                if len(args) > 1 or args and args[0] is not None and args[0] not in _DEFAULT_FACTORIES:
                    raise Refused(f"calls {name} with a default factory other than a plain container type")
                return func(*args)
            raise Refused(f"calls {name}")  # pragma: no cover - every table entry has a branch above

        def _is(self, obj: Any, keys: set[str]) -> bool:
            entry = self.found.get(id(obj))
            return entry is not None and entry[2] is obj and entry[0] in keys

        def _array_class(self, cls: Any, name: str) -> None:
            if not (isinstance(cls, type) and self._is(cls, _ARRAY_CLASSES) or cls is np.ndarray):
                raise Refused(f"calls {name} to build {_short(cls)}, which is not a NumPy array class")

        def _plain(self, value: Any, name: str, depth: int = 0) -> None:
            """Arguments a class is called with must be plain data: never a callable."""
            if depth > _MAX_DEPTH:
                raise Refused(f"calls {name} with arguments nested too deeply")
            if value is None or type(value) in _PLAIN_SCALARS:
                return
            if type(value) in (tuple, list):
                for item in value:
                    self._plain(item, name, depth + 1)
                return
            if type(value) is dict:
                for k, v in value.items():
                    self._plain(k, name, depth + 1)
                    self._plain(v, name, depth + 1)
                return
            if isinstance(value, np.dtype):
                self._seal(value)
                return
            if isinstance(value, np.ndarray):
                if self._seal(value.dtype).hasobject:
                    raise Refused(f"calls {name} with an array of Python objects")
                return
            if isinstance(value, np.generic) and not isinstance(value, np.object_):
                return
            raise Refused(f"calls {name} with a {type(value).__module__}.{type(value).__qualname__}, not plain data")

        # -- dtypes --

        def _seal(self, dtype: Any) -> Any:
            """A dtype about to be used: check it and forbid any later change of its state."""
            if id(dtype) in self.sealed:
                return dtype
            self.unbuilt.pop(id(dtype), None)
            _check_dtype(np, dtype)
            self.sealed[id(dtype)] = dtype
            return dtype

        def _seal_within(self, value: Any) -> None:
            """Everything ``value`` holds is now in use: its dtypes are sealed and its arrays may
            never be rebuilt (compiled code checked, or will trust, what they hold now)."""
            seen: set[int] = set()
            todo = [value]
            while todo:
                item = todo.pop()
                if type(item) in _LEAVES or id(item) in seen:
                    continue
                seen.add(id(item))
                if isinstance(item, np.dtype):
                    self._seal(item)
                elif isinstance(item, np.ndarray):
                    self.used[id(item)] = item
                    self._seal(item.dtype)
                    if item.dtype.hasobject:
                        todo.extend(item.flat)
                elif isinstance(item, (tuple, list, set, frozenset)):
                    if not isinstance(item, (tuple, frozenset)):
                        self.used[id(item)] = item  # a container others hold may not grow after their checks
                    todo.extend(item)
                elif isinstance(item, dict):
                    self.used[id(item)] = item
                    todo.extend(item.keys())
                    todo.extend(item.values())

        def _build_dtype(self, dtype: Any, state: Any) -> None:
            if id(dtype) not in self.unbuilt:
                raise Refused("sets the state of a dtype already in use")
            if type(state) is not tuple or len(state) not in (8, 9) or state[0] not in (3, 4):
                raise Refused(f"sets a dtype's state to {_short(state)}")
            _check_dtype_state(np, dtype, state)
            subarray, fields = state[2], state[4]
            for part in ([subarray[0]] if isinstance(subarray, tuple) and subarray else []) + \
                    [f[0] for f in (fields or {}).values() if isinstance(f, tuple) and f]:
                if not isinstance(part, np.dtype):
                    raise Refused(f"builds a dtype from a field that is a {_short(part)}, not a dtype")
                self._seal(part)
            self.unbuilt.pop(id(dtype))
            dtype.__setstate__(state)
            self._seal(dtype)

        # -- state --

        def load_build(self) -> None:
            state = self.stack.pop()
            inst = self.stack[-1]
            if id(inst) in self.found or isinstance(inst, _NOT_BUILT_HERE) or isinstance(inst, np.ufunc):
                raise Refused(f"sets state on {_short(inst)}, which this file did not build")
            if isinstance(inst, np.dtype):
                self._build_dtype(inst, state)
                return
            _refuse_dunders(state)
            if id(inst) in self.built:  # pickling sets an object's state once; a second time rewrites checked state
                raise Refused(f"sets the state of a {_short(inst)} twice")
            if id(inst) in self.used:
                raise Refused("sets the state of an array after another object took it in")
            self.built[id(inst)] = inst
            self._seal_within(state)
            if type(inst) is NumpyArrayWrapper:
                self.stack[-1] = self._read_array(inst, state)
                return
            setstate = getattr(type(inst), "__setstate__", None)  # the class's own, never the instance's
            if setstate is not None:
                setstate(inst, state)
                _check_native_state(np, inst)
                return
            slotstate = None
            if type(state) is tuple and len(state) == 2:
                state, slotstate = state
            if state:
                if type(state) is not dict:
                    raise Refused(f"sets state {_short(state)} on {_short(inst)}")
                inst.__dict__.update(state)
            if slotstate:
                if type(slotstate) is not dict:
                    raise Refused(f"sets slot state {_short(slotstate)} on {_short(inst)}")
                for k, v in slotstate.items():
                    setattr(inst, k, v)
            _check_native_state(np, inst)

        def _read_array(self, wrapper: Any, state: Any) -> Any:
            if type(state) is not dict or not set(state) <= _WRAPPER_FIELDS or not {"subclass", "shape", "order", "dtype"} <= set(state):
                raise Refused(f"builds a joblib array from {_short(state)}")
            self._array_class(state["subclass"], "joblib's array reader")
            dtype = state["dtype"]
            if not isinstance(dtype, np.dtype) or not _ints(state["shape"]) or state["order"] not in ("C", "F"):
                raise Refused(f"builds a joblib array from {_short(state)}")
            if not isinstance(state.get("allow_mmap", False), bool) or not (
                    state.get("numpy_array_alignment_bytes") is None or type(state["numpy_array_alignment_bytes"]) is int):
                raise Refused(f"builds a joblib array from {_short(state)}")
            self._seal(dtype)
            wrapper.__dict__.update(state)
            if dtype.hasobject:  # joblib nests a pickle here; it is loaded by this same restricted loader
                array = type(self)(self.file_handle, imports=self.imports, parent=self).load()
                if not isinstance(array, np.ndarray):
                    raise Refused("puts something other than an array where joblib expects one")
                return _ensure_native_byte_order(array)
            return wrapper.read(self, self.ensure_native_byte_order)  # joblib's own framing

        # -- containers: only the kinds pickling fills --

        def _fill(self, target: Any, kind: type, verb: str) -> None:
            if not isinstance(target, kind):
                raise Refused(f"{verb} {_short(target)}, which is not a {kind.__name__}")
            if id(target) in self.used:
                raise Refused(f"{verb} a {kind.__name__} after another object took it in (and was checked)")

        def load_append(self) -> None:
            self._fill(self.stack[-2], list, "appends to")
            super().load_append()

        def load_appends(self) -> None:
            items = self.pop_mark()
            target = self.stack[-1]
            self._fill(target, list, "appends to")
            target.extend(items)

        def load_setitem(self) -> None:
            self._fill(self.stack[-3], dict, "sets items on")
            super().load_setitem()

        def load_setitems(self) -> None:
            items = self.pop_mark()
            target = self.stack[-1]
            self._fill(target, dict, "sets items on")
            for i in range(0, len(items), 2):
                target[items[i]] = items[i + 1]

        def load_additems(self) -> None:
            items = self.pop_mark()
            target = self.stack[-1]
            self._fill(target, set, "adds items to")
            target.update(items)

        def load_newobj(self) -> None:
            args = self.stack.pop()
            cls = self.stack.pop()
            self.append(self._new(cls, args, {}))

        def load_newobj_ex(self) -> None:
            kwargs = self.stack.pop()
            args = self.stack.pop()
            cls = self.stack.pop()
            self.append(self._new(cls, args, kwargs))

        def _new(self, cls: Any, args: Any, kwargs: Any) -> Any:
            if not isinstance(cls, type):
                raise Refused(f"builds an instance of {_short(cls)}, which is not a class")
            key, kind = self._name(cls)
            if kind not in ("class", "data_type"):
                raise Refused(f"builds {key.replace(':', '.')} by __new__, which is not allowed for it")
            if type(args) is not tuple or type(kwargs) is not dict:
                raise Refused(f"builds {key.replace(':', '.')} from {_short(args)}")
            if (args or kwargs) and not issubclass(cls, _IMMUTABLE_BASES):  # __new__ of others takes no state
                raise Refused(f"builds {key.replace(':', '.')} by __new__ with arguments {_short(args)}")
            self._plain(args, key.replace(":", "."))
            self._plain(kwargs, key.replace(":", "."))
            return cls.__new__(cls, *args, **kwargs)

        def _instantiate(self, klass: Any, args: list[Any]) -> None:  # INST and OBJ (protocols 0 and 1)
            if args:
                raise Refused(f"calls {_short(klass)} with arguments (INST/OBJ)")
            self.append(self._new(klass, (), {}))

        def persistent_load(self, pid: Any) -> Any:
            raise Refused("asks for an object outside the file (persistent id)")

        dispatch[pickle.REDUCE[0]] = load_reduce
        dispatch[pickle.BUILD[0]] = load_build
        dispatch[pickle.APPEND[0]] = load_append
        dispatch[pickle.APPENDS[0]] = load_appends
        dispatch[pickle.SETITEM[0]] = load_setitem
        dispatch[pickle.SETITEMS[0]] = load_setitems
        dispatch[pickle.ADDITEMS[0]] = load_additems
        dispatch[pickle.NEWOBJ[0]] = load_newobj
        dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    return Restricted


_PLAIN_SCALARS = (bool, int, float, complex, str, bytes, bytearray)
_LEAVES = frozenset({bool, int, float, complex, str, bytes, type(None)})  # hold nothing: not walked
_IMMUTABLE_BASES = (int, float, complex, str, bytes, tuple, frozenset)
_WRAPPER_FIELDS = {"subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes"}
_RECONSTRUCTOR_BASES: tuple[type, ...] = (object, int, float, complex, str, bytes, tuple, list, dict, set, frozenset)
_DEFAULT_FACTORIES: tuple[type, ...] = (list, dict, set, int, float, tuple, str)
_DUNDER = re.compile(r"^__.*__$")


def _refuse_dunders(state: Any) -> None:
    for part in (state if type(state) is tuple and len(state) == 2 else (state,)):
        if type(part) is dict:
            for k in part:
                if not isinstance(k, str):
                    raise Refused(f"sets an attribute named {_short(k)}, not a string")
                if _DUNDER.match(k):
                    raise Refused(f"sets the attribute {k}, and state may never set dunder attributes")


def _check_native_state(np: Any, obj: Any) -> None:
    """Compiled code trusts the indices some objects carry (tree links, sparse indices, a
    generator's position): a file that lies about them corrupts memory when the model is used.
    Checked here for the classes known to carry them."""
    kind = f"{type(obj).__module__}:{type(obj).__qualname__}"
    try:
        problem = _native_problem(np, kind, obj)
    except Refused:
        raise
    except Exception as error:
        problem = f"cannot be checked ({_one_line(error)})"
    if problem:
        raise Refused(f"builds a {kind.replace(':', '.')} whose {problem}")


def _native_problem(np: Any, kind: str, obj: Any) -> str | None:
    def links(left: Any, right: Any, inner: Any) -> str | None:
        n = len(left)
        for child in (left[inner], right[inner]):  # children come after their parent, inside the tree
            if child.size and ((child - inner).min() <= 0 or child.max() >= n):
                return "tree links point outside the tree or backwards"
        return None

    if kind == "sklearn.tree._tree:Tree":
        nodes = obj.__getstate__()["nodes"]  # a view of the node array: no copy
        left, right, feature = nodes["left_child"], nodes["right_child"], nodes["feature"]
        inner = np.flatnonzero(left != -1)
        if np.count_nonzero(right != -1) != inner.size or inner.size and np.any(right[inner] == -1):
            return "tree has nodes with one child"
        if inner.size and (feature[inner].min() < 0 or feature[inner].max() >= obj.n_features):
            return "tree splits on features it does not have"
        return links(left, right, inner)
    if kind == "sklearn.ensemble._hist_gradient_boosting.predictor:TreePredictor":
        nodes = obj.nodes
        inner = np.flatnonzero(~nodes["is_leaf"].astype(bool))
        if inner.size and nodes["feature_idx"][inner].min() < 0:
            return "tree splits on negative features"
        categorical = inner[nodes["is_categorical"][inner].astype(bool)]
        if categorical.size and nodes["bitset_idx"][categorical].max() >= len(obj.raw_left_cat_bitsets):
            return "tree points past its category bitsets"
        return links(nodes["left"].astype(np.int64), nodes["right"].astype(np.int64), inner)
    if kind.startswith("sklearn.ensemble._hist_gradient_boosting.gradient_boosting:HistGradientBoosting"):
        return _hist_gradient_boosting_problem(np, obj)
    if kind.startswith("scipy.sparse") and getattr(obj, "format", None) in ("lil", "dia", "dok"):
        return _sparse_problem(np, obj)
    if hasattr(obj, "check_format") and kind.startswith("scipy.sparse"):
        obj.check_format(full_check=True)
        return None
    if kind.startswith("scipy.sparse") and hasattr(obj, "_check"):
        obj._check()
        if obj.nnz and (obj.row.min() < 0 or obj.col.min() < 0 or obj.row.max() >= obj.shape[0] or obj.col.max() >= obj.shape[1]):
            return "indices are outside its shape"
        return None
    if isinstance(obj, (np.random.BitGenerator, np.random.RandomState)):
        state = obj.state if isinstance(obj, np.random.BitGenerator) else obj.get_state(legacy=False)
        inner = state.get("state", {})
        if state.get("bit_generator") == "MT19937" and not (0 <= int(inner.get("pos", -1)) <= 624
                                                           and len(inner.get("key", ())) == 624):
            return "Mersenne Twister position is outside its key"
        if state.get("bit_generator") == "Philox" and not 0 <= int(state.get("buffer_pos", -1)) <= 4:
            return "Philox buffer position is outside its buffer"
        return None
    if kind.endswith(("_kd_tree:KDTree", "_ball_tree:BallTree")):
        return _binary_tree_problem(np, obj)
    return None


def _binary_tree_problem(np: Any, tree: Any) -> str | None:
    """KD and ball trees walk an implicit binary tree (children of i at 2i+1, 2i+2) over their arrays."""
    state = tree.__getstate__()
    data, idx, nodes, bounds = state[:4]
    n_levels, n_nodes, weights = state[5], state[6], state[12]
    n = len(data)
    if data.ndim != 2 or len(idx) != n or (n and (idx.min() < 0 or idx.max() >= n)):
        return "index array points outside its data"
    if not 0 < n_levels < 64 or n_nodes != 2 ** n_levels - 1 or len(nodes) != n_nodes or bounds.ndim != 3 \
            or bounds.shape[1] != n_nodes or bounds.shape[2] != data.shape[1]:
        return "node arrays do not hold its node count"
    if np.any((nodes["idx_start"] < 0) | (nodes["idx_end"] > n) | (nodes["idx_start"] > nodes["idx_end"])):
        return "nodes point outside its data"
    inner = np.flatnonzero(nodes["is_leaf"] == 0)
    if inner.size and 2 * inner.max() + 2 >= n_nodes:
        return "inner nodes have children past the node arrays"
    if weights is not None and np.shape(weights) != (n,):
        return "sample weights do not match its data"
    return None


def _sparse_problem(np: Any, matrix: Any) -> str | None:
    """The sparse formats without a format check of their own: their indices must fit the shape."""
    rows, cols = (int(n) for n in matrix.shape)
    if matrix.format == "lil":
        if len(matrix.rows) != rows or len(matrix.data) != rows:
            return "rows do not match its shape"
        for index, values in zip(matrix.rows, matrix.data):
            if type(index) is not list or type(values) is not list or len(index) != len(values) or \
                    any(type(c) is not int or not 0 <= c < cols for c in index):
                return "column indices are outside its shape"
    elif matrix.format == "dia":
        data, offsets = np.asarray(matrix.data), np.asarray(matrix.offsets)
        if data.ndim != 2 or offsets.ndim != 1 or len(offsets) != data.shape[0] or offsets.dtype.kind not in "iu":
            return "diagonals and offsets do not match"
    else:  # dok
        for key in matrix.keys():
            if not (type(key) is tuple and len(key) == 2 and 0 <= key[0] < rows and 0 <= key[1] < cols):
                return "keys are outside its shape"
    return None


def _hist_gradient_boosting_problem(np: Any, model: Any) -> str | None:
    """Its predictors index the input's columns and the known-category bitsets without bounds checks."""
    predictors = getattr(model, "_predictors", None)
    if predictors is None:
        return None  # not fitted
    width = int(model.n_features_in_)
    categorical = getattr(model, "is_categorical_", None)
    for row in predictors:
        for predictor in row:
            nodes = predictor.nodes
            inner = ~nodes["is_leaf"].astype(bool)
            features = nodes["feature_idx"][inner]
            if features.size and features.max() >= width:
                return "trees split on features past the model's input width"
            on_categories = features[nodes["is_categorical"][inner].astype(bool)]
            if on_categories.size and (categorical is None or not np.all(np.asarray(categorical)[on_categories])):
                return "trees treat features as categorical that the model does not"
    return None


def _check_dtype_state(np: Any, dtype: Any, state: tuple[Any, ...]) -> None:
    """What ``dtype.__setstate__`` may be handed: NumPy trusts it, and a wrong one crashes it."""
    _, order, subarray, names, fields, elsize, alignment, flags = state[:8]
    metadata = state[8] if len(state) == 9 else None
    if order not in ("<", ">", "|", "=") or type(elsize) is not int or type(alignment) is not int or type(flags) is not int:
        raise Refused(f"sets a dtype's state to {_short(state)}")
    if dtype.kind != "V":  # a builtin kind: only byte order and a datetime's unit may come from the file
        if subarray is not None or names is not None or fields is not None:
            raise Refused("gives fields to a dtype that cannot have them")
        if dtype.kind in "mM":
            unit = metadata[1] if type(metadata) is tuple and len(metadata) == 2 else None
            if not (type(unit) is tuple and len(unit) == 4 and type(unit[0]) is bytes and len(unit[0]) <= 3
                    and all(type(u) is int and 0 <= u < 1 << 31 for u in unit[1:])):
                raise Refused("sets a datetime dtype's state without a valid unit")
        elif metadata is not None:
            raise Refused("sets metadata on a dtype that has none")
        return
    if not 0 < elsize < 1 << 31 or (subarray is not None) == (fields is not None) and subarray is not None:
        raise Refused(f"sets a dtype's state to {_short(state)}")
    if fields is not None:
        if type(names) is not tuple or type(fields) is not dict or not all(type(n) is str for n in names):
            raise Refused("sets a structured dtype's state with malformed names or fields")
        titles = {f[2] for f in fields.values() if type(f) is tuple and len(f) == 3}
        if set(fields) != set(names) | titles:  # a field outside names would be invisible to the checks
            raise Refused("sets a structured dtype with fields that are not among its names")
        for name in names:  # a title key must be the very same field as its name
            entry = fields[name]
            if type(entry) is not tuple or len(entry) == 3 and fields.get(entry[2]) != entry:
                raise Refused("sets a structured dtype whose title names a different field")
    elif subarray is not None and not (type(subarray) is tuple and len(subarray) == 2 and _ints(subarray[1])):
        raise Refused("sets a subarray dtype's state with a malformed shape")


def _check_dtype(np: Any, dtype: Any) -> None:
    """A dtype's flags and size must be what NumPy computes for its fields: an object field
    must be flagged as one, or raw bytes would turn into object pointers."""
    try:
        if dtype.fields is not None:
            if dtype.subdtype is not None:
                raise Refused("uses a dtype that is both structured and a subarray")
            names = list(dtype.names)
            titles = {f[2] for f in dtype.fields.values() if len(f) > 2 and f[2] is not None}
            if set(dtype.fields) != set(names) | titles:
                raise Refused("uses a structured dtype with fields that are not among its names")
            fields = [dtype.fields[n] for n in names]
            reference = np.dtype({"names": names, "formats": [f[0] for f in fields], "offsets": [f[1] for f in fields],
                                  "titles": [f[2] if len(f) > 2 else None for f in fields], "itemsize": dtype.itemsize})
        elif dtype.subdtype is not None:
            reference = np.dtype(dtype.subdtype)
        else:
            reference = np.dtype(dtype.str)
    except Refused:
        raise
    except Exception as error:
        raise Refused(f"uses a dtype NumPy cannot rebuild ({_one_line(error)})") from None
    plain = dtype.fields is None and dtype.subdtype is None
    if not plain and dtype.fields is not None and dict(dtype.fields) != dict(reference.fields):
        raise Refused("uses a structured dtype whose fields are not what its names and titles say")
    if dtype.flags != reference.flags or dtype.itemsize != reference.itemsize or dtype != reference or \
            plain and dtype.hasobject != (dtype.kind == "O"):
        raise Refused(f"uses a dtype whose flags ({dtype.flags}) are not what NumPy computes for {reference} "
                      f"({reference.flags})")


def _ints(value: Any) -> bool:
    return type(value) is tuple and all(type(v) is int and 0 <= v < 1 << 48 for v in value) or \
        type(value) is int and 0 <= value < 1 << 48


def _short(value: Any) -> str:
    try:
        text = repr(value) if isinstance(value, (str, bytes, int, float, tuple, type(None))) else (
            f"{type(value).__module__}.{type(value).__qualname__}" if not isinstance(value, type)
            else f"{value.__module__}.{value.__qualname__}")
    except Exception:
        text = type(value).__name__
    return text if len(text) <= 80 else text[:79] + "…"


def _resolve(module: str, name: str) -> Any:
    """Import an allowed name. Only names on the lists reach here, so only their modules are imported."""
    try:
        obj: Any = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as error:
        raise Refused(f"imports {module}.{name}, which this installation does not have ({_one_line(error)})") from None
    return obj


_RESTRICTED: type | None = None


def __getattr__(name: str) -> Any:  # RestrictedUnpickler is built on first use: joblib and NumPy load lazily
    if name == "RestrictedUnpickler":
        return _restricted()
    raise AttributeError(name)


def _restricted() -> type:
    global _RESTRICTED
    if _RESTRICTED is None:
        _RESTRICTED = _make_unpickler()
    return _RESTRICTED


# -- PyTorch and safetensors ------------------------------------------------------------------------

# What torch.load(weights_only=True) allows: tensor and storage rebuilders, dtypes, plain containers.
_TORCH_STORAGES = ("Double", "Float", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool",
                   "ComplexDouble", "ComplexFloat", "QUInt8", "QInt8", "QInt32", "QUInt4x2", "QUInt2x4", "Untyped")
_TORCH_ALLOWED = {
    *(f"torch._utils.{n}" for n in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
                                    "_rebuild_parameter_with_state", "_rebuild_qtensor", "_rebuild_sparse_tensor",
                                    "_rebuild_nested_tensor", "_rebuild_meta_tensor_no_storage",
                                    "_rebuild_wrapper_subclass", "_rebuild_device_tensor_from_cpu_tensor",
                                    "_rebuild_device_tensor_from_numpy")),
    *(f"torch.{n}Storage" for n in _TORCH_STORAGES), "torch.storage.UntypedStorage", "torch.storage.TypedStorage",
    "torch._tensor._rebuild_from_type_v2", "torch.Size", "torch.Tensor", "torch.nn.parameter.Parameter",
    "torch.device", "torch.per_tensor_affine", "torch.per_channel_affine", "torch.per_tensor_symmetric",
    "torch.per_channel_symmetric", "torch.per_channel_affine_float_qparams", "torch.strided", "torch.sparse_coo",
    "torch.sparse_csr", "torch.sparse_csc", "torch.sparse_bsr", "torch.sparse_bsc",
    *(f"torch.{n}" for n in ("float32", "float", "float64", "double", "float16", "half", "bfloat16", "uint8", "int8",
                             "int16", "short", "int32", "int", "int64", "long", "bool", "complex64", "complex128",
                             "cfloat", "cdouble", "qint8", "quint8", "qint32", "float8_e4m3fn", "float8_e5m2",
                             "uint16", "uint32", "uint64")),
    "collections.OrderedDict", "collections.Counter", "builtins.set", "builtins.frozenset", "builtins.slice",
    "builtins.complex", "builtins.bytearray", "_codecs.encode",
}


def _scan_torch(path: Path, raw: BinaryIO) -> ScanResult:
    try:
        with zipfile.ZipFile(raw) as archive:
            members = archive.infolist()
            names = [m.filename.lower() for m in members]
            if any("/code/" in f"/{n}" for n in names):
                return ScanResult(False, "error", f"{path.name}: a TorchScript archive (torch.load hands it to torch.jit.load, "
                                                  "which runs its code); not judged, so not trusted")
            if len(set(names)) != len(names):  # readers disagree on which duplicate they read
                return ScanResult(False, "unsafe", f"{path.name}: the archive holds two members with the same name")
            pickles = [m for m in members if m.filename.lower().endswith(".pkl")]
            if not pickles:
                return ScanResult(False, "error", f"{path.name}: a zip archive with no pickle inside; not a PyTorch checkpoint")
            imports: list[str] = []
            for member in pickles:
                problem = _symbolic_torch_check(archive.read(member), imports)
                if problem:
                    return ScanResult(False, "unsafe", f"{path.name}: {member.filename}: {problem}", tuple(imports))
    # zipfile raises RuntimeError for an encrypted member and NotImplementedError for an unknown compression:
    # each is a file that cannot be judged, so a one-line "error", never a traceback.
    except (OSError, zipfile.BadZipFile, ValueError, RuntimeError, NotImplementedError) as error:
        return ScanResult(False, "error", f"{path.name}: cannot read it: {_one_line(error)}")
    return ScanResult(True, "safe", f"{path.name}: PyTorch checkpoint whose {len(imports)} imports are all ones "
                                    "torch.load(weights_only=True) allows", tuple(imports))


def _symbolic_torch_check(data: bytes, imports: list[str]) -> str | None:
    """Walk the pickle's opcodes without running them; every global must be one weights_only allows.

    A small symbolic stack (strings kept, everything else a placeholder) is enough to know what
    ``STACK_GLOBAL`` names."""
    import pickletools

    stack: list[Any] = []
    memo: dict[int, Any] = {}
    marks: list[int] = []
    try:
        for op, arg, _ in pickletools.genops(data):
            name = op.name
            if name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                problem = _torch_global(module, attr, imports)
                if problem or name == "INST":
                    return problem or f"uses INST on {module}.{attr}, which weights_only loading refuses"
            elif name == "STACK_GLOBAL":
                attr = stack.pop() if stack else None
                module = stack.pop() if stack else None
                if not isinstance(module, str) or not isinstance(attr, str):
                    return "names an import with values that are not plain strings"
                problem = _torch_global(module, attr, imports)
                if problem:
                    return problem
                stack.append(None)
                continue
            elif name in ("OBJ", "PERSID"):
                return f"uses {name}, which PyTorch's weights_only loading refuses"
            if name == "MEMOIZE":
                memo[len(memo)] = stack[-1] if stack else None
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg)] = stack[-1] if stack else None
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(int(arg)))
            elif name == "MARK":
                marks.append(len(stack))
            elif name == "POP" and marks and marks[-1] == len(stack):
                marks.pop()  # as the unpicklers do: POP right after a MARK pops the mark
            else:
                before = op.stack_before
                if pickletools.markobject in before:  # pops everything since the mark, then what lies under it
                    below = before.index(pickletools.markobject)
                    if not marks:
                        return "pops to a mark that was never set"
                    del stack[marks.pop():]
                    del stack[len(stack) - below:]
                elif before:
                    del stack[len(stack) - len(before):]
                keeps = isinstance(arg, str) and ("UNICODE" in name or "STRING" in name)
                stack.extend(arg if keeps else None for _ in op.stack_after)
    except Exception as error:  # a malformed pickle is not trusted
        return f"malformed pickle: {_one_line(error)}"
    return None


def _torch_global(module: str, attr: str, imports: list[str]) -> str | None:
    name = f"{module}.{attr}"
    if name not in imports:
        imports.append(name)
    if name not in _TORCH_ALLOWED:
        return f"imports {name}, which torch.load(weights_only=True) does not allow"
    return None


def _scan_safetensors(path: Path, handle: BinaryIO) -> ScanResult:
    """safetensors files hold a JSON header and raw tensor bytes: no code by format."""
    try:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(8)
        if len(head) < 8:
            raise ValueError("shorter than its 8-byte header length")
        (length,) = struct.unpack("<Q", head)
        if length > min(size - 8, 100 << 20):
            raise ValueError("header length past the end of the file")
        header = json.loads(handle.read(length))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (OSError, ValueError) as error:
        return ScanResult(False, "error", f"{path.name}: not a valid safetensors file: {_one_line(error)}")
    tensors = len([k for k in header if k != "__metadata__"])
    return ScanResult(True, "safe", f"{path.name}: safetensors ({tensors} tensors) holds no code by format")
