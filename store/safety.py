"""Scan pickle and joblib files for the imports they would perform, without running them.

Unpickling a file can call any function it names, so before modelreg loads one it walks
the pickle opcodes here, the way the unpickler would, but with symbolic values only: it
records every global the file would import (``GLOBAL``, ``STACK_GLOBAL``, ``INST``) and
checks each against an allow-list of scikit-learn, NumPy, SciPy and joblib types.

joblib files are not plain pickles: after each ``NumpyArrayWrapper`` is built, joblib
reads the array's raw bytes straight from the stream (``NumpyArrayWrapper.read_array``).
The scanner follows the wrapper's recorded shape and dtype to skip exactly those bytes,
and scans the nested pickle that follows an object-dtype wrapper. The verdict therefore
describes loading with ``joblib.load`` (what modelreg does), which also reads plain pickles.

Anything the scanner cannot follow - a truncated file, an unknown opcode, a
``STACK_GLOBAL`` whose names are not plain strings, an array it cannot size - is
verdict "error", never "safe".
"""

from __future__ import annotations

import _compat_pickle
import bz2
import gzip
import io
import lzma
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

# Decompressed bytes scanned at most (compressed files) and opcodes walked at most: past
# these the file is "error" rather than a scanner that runs for hours.
MAX_DECOMPRESSED = 8 << 30
MAX_OPCODES = 50_000_000
_KEEP = 64 << 10  # longer strings and bytes are skipped, not held: names are short
_CONTAINER_CAP = 10_000  # items remembered per list/dict; only small ones matter to the scan
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ScanResult:
    """What a scan found. ``safe`` is True only for verdict "safe"."""

    safe: bool
    verdict: str  # "safe" | "unsafe" | "error"
    reason: str  # one line
    imports: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"safe": self.safe, "verdict": self.verdict, "reason": self.reason, "imports": list(self.imports)}


def scan_file(path: str | os.PathLike[str], *, max_bytes: int = MAX_DECOMPRESSED) -> ScanResult:
    """Scan a pickle or joblib file (plain or compressed with zlib, gzip, bz2, lzma or xz).

    Never imports or runs anything named by the file. ``max_bytes`` caps how much
    decompressed data is read.
    """
    path = Path(path)
    scanner = _Scanner()
    try:
        with open(path, "rb") as raw:
            kind, stream = _open_stream(raw, path)
            with stream:
                scanner.run(_Source(stream, max_bytes if kind != "plain" else None), path.name)
        kind_text = "joblib/pickle" if kind == "plain" else f"{kind}-compressed joblib/pickle"
    except _Unsupported as error:
        return _error(path, str(error), scanner)
    except OSError as error:
        return _error(path, f"cannot read it: {error.strerror or error}", scanner)
    except (_Truncated, EOFError):
        return _error(path, "the file ends in the middle of a pickle (truncated?)", scanner)
    except _ParseError as error:
        return _error(path, str(error), scanner)
    except (ValueError, struct.error, zlib.error, lzma.LZMAError, UnicodeDecodeError, OverflowError, MemoryError) as error:
        return _error(path, f"cannot parse it: {_one_line(error)}", scanner)
    imports = tuple(scanner.imports)
    if scanner.problem:
        return ScanResult(False, "unsafe", f"{path.name}: {scanner.problem}", imports)
    return ScanResult(True, "safe", f"{path.name}: {kind_text} with {len(imports)} imports, all on the allow-list", imports)


def _error(path: Path, message: str, scanner: _Scanner) -> ScanResult:
    imports = tuple(scanner.imports)
    if scanner.problem:  # a bad import found before the parse failed is the more useful news
        return ScanResult(False, "unsafe", f"{path.name}: {scanner.problem}", imports)
    return ScanResult(False, "error", f"{path.name}: scan failed, so it is not trusted: {message}", imports)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__


# -- the allow-list ------------------------------------------------------------------------

_BUILTIN_TYPES = ("object", "int", "float", "complex", "bool", "str", "bytes", "bytearray", "dict", "list", "set",
                  "frozenset", "tuple", "slice", "range")
_EXACT = {
    *(("builtins", name) for name in _BUILTIN_TYPES),
    ("copyreg", "_reconstructor"), ("copyreg", "__newobj__"), ("copyreg", "__newobj_ex__"),
    # Protocol 2 writes bytes as _codecs.encode(text, "latin1"); codecs only look up encodings.*.
    ("_codecs", "encode"),
    ("collections", "OrderedDict"), ("collections", "defaultdict"), ("collections", "Counter"), ("collections", "deque"),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("numpy.ma.core", "_mareconstruct"), ("numpy.ma.core", "MaskedArray"),
    *((core, name) for core in ("numpy.core.multiarray", "numpy._core.multiarray") for name in ("_reconstruct", "scalar")),
    *((core, "_frombuffer") for core in ("numpy.core.numeric", "numpy._core.numeric")),
    *(("numpy.random._pickle", f"__{kind}_ctor") for kind in ("bit_generator", "generator", "randomstate")),
}
# ufuncs may pickle as _ufunc_reconstruct(module, name), an importer: its arguments are checked as an import.
_UFUNC_RECONSTRUCT = {("numpy.core", "_ufunc_reconstruct"), ("numpy._core", "_ufunc_reconstruct")}
_NUMPY_DENIED = {
    "load", "save", "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt", "fromfile", "fromregex",
    "memmap", "DataSource", "show_config", "show_runtime", "info", "test", "get_include", "seterr", "seterrcall",
    "setbufsize", "set_printoptions", "printoptions", "frompyfunc", "vectorize", "lib", "testing", "f2py",
    "ctypeslib", "distutils", "typing", "core", "linalg", "fft", "random", "ma", "polynomial", "char", "rec",
    "emath", "strings", "dtypes", "exceptions", "version", "matlib", "compat", "os", "sys",
}
_NUMPY_RANDOM = {"MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64", "SeedSequence", "Generator", "RandomState",
                 "BitGenerator"}
# Parts of scikit-learn that download, read or write files, run processes or exist for tests.
_SKLEARN_DENIED_PARTS = {"tests", "datasets", "externals", "_build_utils", "__check_build", "conftest", "_testing",
                         "_show_versions", "estimator_checks", "_joblib", "discovery", "_min_dependencies"}
# Names never allowed whatever module they come from: they run code, touch files or processes,
# or are module aliases (``sklearn.base.np``) that would hand out a whole module.
_DANGEROUS_NAMES = {
    "system", "popen", "exec", "eval", "compile", "execfile", "open", "getattr", "setattr", "delattr", "__import__",
    "import_module", "run", "call", "check_call", "check_output", "Popen", "load", "loads", "dump", "dumps",
    "urlopen", "urlretrieve", "rmtree", "remove", "unlink", "rename", "reload", "input", "breakpoint", "exit", "quit",
    "globals", "locals", "vars", "partial", "attrgetter", "methodcaller", "memmap", "DataSource", "Memory",
    "np", "sp", "os", "sys", "subprocess", "shutil", "pickle", "joblib", "importlib", "builtins", "inspect", "io",
    "platform", "warnings", "functools", "operator", "itertools", "tempfile", "pathlib", "ctypes", "threadpoolctl",
    "scipy", "numpy", "sklearn", "types", "runpy", "socket", "urllib", "requests",
}
_SYSTEM_MODULES = {"os", "posix", "nt", "subprocess", "sys", "builtins", "runpy", "importlib", "pickle", "_pickle",
                   "marshal", "shutil", "socket", "ctypes", "code", "pty", "webbrowser", "multiprocessing", "pdb",
                   "commands", "platform", "functools", "operator", "types", "asyncio", "tempfile", "io", "_io"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SPARSE_NAME = re.compile(r"^(?:[a-z]{3}_(?:matrix|array)|_?[A-Z][A-Za-z0-9_]*)$")


def check_import(module: str, name: str) -> str | None:
    """None if importing ``module.name`` is on the allow-list, else why not (one phrase)."""
    if (module, name) in _EXACT or (module, name) in _UFUNC_RECONSTRUCT:
        return None
    top = module.split(".")[0]
    if _IDENTIFIER.match(name) and name not in _DANGEROUS_NAMES and _allowed_in_package(top, module, name):
        return None
    if top in _SYSTEM_MODULES:
        return f"imports {module}.{name}, which can run code or reach the system"
    return f"imports {module}.{name}, which is not on the allow-list of scikit-learn, NumPy, SciPy and joblib types"


def _allowed_in_package(top: str, module: str, name: str) -> bool:
    dunder = name.startswith("__")
    parts = module.split(".")
    if top == "sklearn":
        if dunder and not name.startswith("__pyx_unpickle_"):
            return False
        return not _SKLEARN_DENIED_PARTS & set(parts)
    if module == "numpy":
        return not name.startswith("_") and name not in _NUMPY_DENIED
    if module.startswith("numpy.random."):
        return name in _NUMPY_RANDOM or name.startswith("__pyx_unpickle_")
    if module.startswith("scipy.sparse") and "linalg" not in parts and "csgraph" not in parts and "tests" not in parts:
        return not dunder and bool(_SPARSE_NAME.match(name))
    if module in ("scipy.stats._continuous_distns", "scipy.stats._discrete_distns", "scipy.stats._distn_infrastructure"):
        return not name.startswith("_") and name.endswith(("_gen", "_frozen")) or name.startswith("rv_")
    return False


# -- reading the stream --------------------------------------------------------------------

_PREFIXES = [  # the magic numbers joblib's own loader checks, in its order
    (b"ZF", "zfile"), (b"\x78", "zlib"), (b"\x1f\x8b", "gzip"), (b"BZ", "bz2"),
    (b"\xfd\x37\x7a\x58\x5a", "xz"), (b"\x5d\x00", "lzma"), (b"\x04\x22\x4d\x18", "lz4"),
]


class _Truncated(Exception):
    pass


class _ParseError(Exception):
    pass


class _Unsupported(Exception):
    pass


def _open_stream(raw: BinaryIO, path: Path) -> tuple[str, BinaryIO]:
    head = raw.read(8)
    raw.seek(0)
    kind = next((name for prefix, name in _PREFIXES if head.startswith(prefix)), "plain")
    if kind == "plain":
        return kind, io.BufferedReader(_Borrowed(raw), _CHUNK)  # type: ignore[arg-type]
    if kind == "zlib":
        return kind, io.BufferedReader(_ZlibReader(raw), _CHUNK)  # type: ignore[arg-type]
    if kind == "gzip":
        return kind, gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if kind == "bz2":
        return kind, bz2.BZ2File(raw, "rb")  # type: ignore[return-value]
    if kind in ("xz", "lzma"):
        return kind, lzma.LZMAFile(raw, "rb")  # type: ignore[return-value]
    if kind == "lz4":
        raise _Unsupported("lz4-compressed files are not supported by the scanner")
    raise _Unsupported("written by joblib older than 0.10, a format the scanner does not read")


class _Borrowed(io.RawIOBase):
    """The open file, read through a buffer that must not close it twice."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._raw.readinto(buffer)  # type: ignore[attr-defined,no-any-return]


class _ZlibReader(io.RawIOBase):
    """A streaming zlib reader (joblib's ``compress=('zlib', n)`` format)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw, self._z = raw, zlib.decompressobj(zlib.MAX_WBITS)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._z.eof:
            if self._z.unconsumed_tail:
                data = self._z.decompress(self._z.unconsumed_tail, len(buffer))
            else:
                chunk = self._raw.read(_CHUNK)
                if not chunk:
                    raise _Truncated()
                data = self._z.decompress(chunk, len(buffer))
            if data:
                buffer[: len(data)] = data
                return len(data)
        return 0


class _Source:
    """Exact reads from the (decompressed) stream, with a byte budget and an offset."""

    def __init__(self, stream: BinaryIO, limit: int | None) -> None:
        self.stream, self.limit, self.pos = stream, limit, 0

    def _spend(self, n: int) -> None:
        self.pos += n
        if self.limit is not None and self.pos > self.limit:
            raise _Unsupported(f"more than {self.limit >> 20} MiB once decompressed, over the scanner's limit")

    def read(self, n: int) -> bytes:
        if n < 0:
            raise _ParseError(f"negative length at byte {self.pos}")
        if n > _KEEP:
            raise _ParseError(f"unexpected {n}-byte read at byte {self.pos}")
        data = self.stream.read(n)
        if len(data) < n:
            raise _Truncated()
        self._spend(n)
        return data

    def readline(self) -> bytes:
        line = self.stream.readline(_KEEP)
        if not line.endswith(b"\n"):
            raise _Truncated() if len(line) < _KEEP else _ParseError(f"a text argument over {_KEEP} bytes at byte {self.pos}")
        self._spend(len(line))
        return line

    def skip(self, n: int) -> None:
        if n < 0:
            raise _ParseError(f"negative length at byte {self.pos}")
        left = n
        while left:
            data = self.stream.read(min(left, _CHUNK))
            if not data:
                raise _Truncated()
            left -= len(data)
        self._spend(n)

    def at_end(self) -> bool:
        peek = getattr(self.stream, "peek", None)
        if peek is not None:
            return not peek(1)
        raise _ParseError("cannot look ahead in this stream")


# -- the symbolic pickle machine -----------------------------------------------------------


@dataclass(frozen=True)
class _Global:
    module: str
    name: str


class _Obj:
    """Something the unpickler would build: what made it, its arguments and its state."""

    def __init__(self, cls: _Global | None, args: Any = ()) -> None:
        self.cls, self.args, self.state, self.attrs = cls, args, None, _Dict()


class _Blob:
    """A string or bytes value too long to keep; never a name."""


class _List(list):  # type: ignore[type-arg]
    def add(self, items: Any) -> None:
        self.extend(list(items)[: max(0, _CONTAINER_CAP - len(self))])


class _Dict:
    def __init__(self) -> None:
        self.items: list[tuple[Any, Any]] = []

    def set(self, key: Any, value: Any) -> None:
        if len(self.items) < _CONTAINER_CAP:
            self.items.append((key, value))

    def get(self, key: str, default: Any = None) -> Any:
        for k, v in reversed(self.items):
            if isinstance(k, str) and k == key:
                return v
        return default

    def has(self, key: str) -> bool:
        return any(isinstance(k, str) and k == key for k, _ in self.items)


_MARK = object()
_WRAPPER = _Global("joblib.numpy_pickle", "NumpyArrayWrapper")
_DTYPE = _Global("numpy", "dtype")
_ARRAY = _Global("numpy", "ndarray")
_LENGTHS = {  # opcode -> (length bytes, struct format, kind) for length-prefixed arguments
    b"T": (4, "<i", "str8"), b"U": (1, "<B", "str8"), b"B": (4, "<I", "bytes"), b"C": (1, "<B", "bytes"),
    b"\x8e": (8, "<Q", "bytes"), b"\x96": (8, "<Q", "bytes"), b"X": (4, "<I", "text"), b"\x8c": (1, "<B", "text"),
    b"\x8d": (8, "<Q", "text"),
}


class _Scanner:
    def __init__(self) -> None:
        self.imports: list[str] = []
        self._seen: set[str] = set()
        self.problem: str | None = None
        self.opcodes = 0

    def flag(self, problem: str) -> None:
        if self.problem is None:
            self.problem = problem

    def note_import(self, module: str, name: str) -> _Global:
        ref = f"{module}.{name}"
        if ref not in self._seen:
            self._seen.add(ref)
            self.imports.append(ref)
        reason = check_import(module, name)
        if reason:
            self.flag(reason)
        return _Global(module, name)

    def run(self, source: _Source, filename: str) -> None:
        """Scan every pickle in the stream: joblib reads one, but nothing may hide after it."""
        self.pickle(source, joblib_arrays=True)
        while not source.at_end():
            start = source.pos
            try:
                self.pickle(source, joblib_arrays=True)
            except (_Truncated, _ParseError, ValueError) as error:
                raise _ParseError(f"unreadable data after the pickle at byte {start}: {_one_line(error) or 'truncated'}") from None

    def pickle(self, src: _Source, *, joblib_arrays: bool) -> None:
        """Walk one pickle up to its STOP. ``joblib_arrays``: follow joblib's inline array data."""
        stack: list[Any] = []
        metastack: list[list[Any]] = []
        memo: dict[int, Any] = {}
        proto = 0
        frame_end: int | None = None  # the unpickler reads a whole frame at once; joblib reads past it

        def pop() -> Any:
            if not stack:
                raise _ParseError(f"stack underflow at byte {src.pos}")
            return stack.pop()

        def pop_mark() -> list[Any]:
            nonlocal stack
            if not metastack:
                raise _ParseError(f"no MARK for the opcode at byte {src.pos}")
            items, stack = stack, metastack.pop()
            return items

        def top() -> Any:
            if not stack:
                raise _ParseError(f"stack underflow at byte {src.pos}")
            return stack[-1]

        while True:
            self.opcodes += 1
            if self.opcodes > MAX_OPCODES:
                raise _Unsupported(f"more than {MAX_OPCODES} pickle opcodes, over the scanner's limit")
            at = src.pos
            code = src.read(1)
            if code in _LENGTHS:
                stack.append(self._sized(src, code))
            elif code in b"IL":  # INT, LONG: decimal text
                text = src.readline().strip().rstrip(b"L")
                stack.append(True if text == b"01" and code == b"I" else False if text == b"00" and code == b"I" else int(text))
            elif code == b"J":
                stack.append(struct.unpack("<i", src.read(4))[0])
            elif code == b"K":
                stack.append(src.read(1)[0])
            elif code == b"M":
                stack.append(struct.unpack("<H", src.read(2))[0])
            elif code in (b"\x8a", b"\x8b"):  # LONG1, LONG4
                n = src.read(1)[0] if code == b"\x8a" else struct.unpack("<i", src.read(4))[0]
                if n > _KEEP:
                    raise _ParseError(f"a {n}-byte integer at byte {at}")
                stack.append(int.from_bytes(src.read(n), "little", signed=True))
            elif code == b"S":  # STRING: a quoted repr
                stack.append(_Blob())
                src.readline()
            elif code == b"V":  # UNICODE: raw-unicode-escape text
                stack.append(src.readline()[:-1].decode("raw-unicode-escape"))
            elif code == b"F":
                stack.append(float(src.readline()))
            elif code == b"G":
                stack.append(struct.unpack(">d", src.read(8))[0])
            elif code == b"N":
                stack.append(None)
            elif code in (b"\x88", b"\x89"):
                stack.append(code == b"\x88")
            elif code == b"]":
                stack.append(_List())
            elif code == b")":
                stack.append(())
            elif code == b"}":
                stack.append(_Dict())
            elif code == b"\x8f":
                stack.append(_Obj(_Global("builtins", "set")))
            elif code == b"(":
                metastack.append(stack)
                stack = []
            elif code == b"a":
                value = pop()
                if isinstance(top(), _List):
                    top().add([value])
            elif code == b"e":
                items = pop_mark()
                if isinstance(top(), _List):
                    top().add(items)
            elif code == b"l":
                items = pop_mark()  # before touching ``stack``: pop_mark rebinds it
                stack.append(_List(items[:_CONTAINER_CAP]))
            elif code == b"t":
                items = pop_mark()
                stack.append(tuple(items))
            elif code in (b"\x85", b"\x86", b"\x87"):
                n = code[0] - 0x84
                if len(stack) < n:
                    raise _ParseError(f"stack underflow at byte {at}")
                items = tuple(stack[-n:])
                del stack[-n:]
                stack.append(items)
            elif code == b"d":
                items, made = pop_mark(), _Dict()
                for i in range(0, len(items) - 1, 2):
                    made.set(items[i], items[i + 1])
                stack.append(made)
            elif code == b"s":
                value, key = pop(), pop()
                if isinstance(top(), _Dict):
                    top().set(key, value)
            elif code == b"u":
                items = pop_mark()
                if isinstance(top(), _Dict):
                    for i in range(0, len(items) - 1, 2):
                        top().set(items[i], items[i + 1])
            elif code == b"\x90":  # ADDITEMS
                pop_mark()
                top()
            elif code == b"\x91":  # FROZENSET
                pop_mark()
                stack.append(_Obj(_Global("builtins", "frozenset")))
            elif code == b"0":
                if stack:
                    stack.pop()
                else:
                    pop_mark()
            elif code == b"1":
                pop_mark()
            elif code == b"2":
                stack.append(top())
            elif code in (b"g", b"h", b"j"):
                key = int(src.readline()) if code == b"g" else src.read(1)[0] if code == b"h" else struct.unpack("<I", src.read(4))[0]
                if key not in memo:
                    raise _ParseError(f"memo entry {key} read before it was written (byte {at})")
                stack.append(memo[key])
            elif code in (b"p", b"q", b"r"):
                key = int(src.readline()) if code == b"p" else src.read(1)[0] if code == b"q" else struct.unpack("<I", src.read(4))[0]
                if key < 0:
                    raise _ParseError(f"negative memo key at byte {at}")
                memo[key] = top()
            elif code == b"\x94":
                memo[len(memo)] = top()
            elif code in (b"c", b"i"):  # GLOBAL, INST: "module\nname\n"
                module = src.readline()[:-1].decode("utf-8")
                name = src.readline()[:-1].decode("utf-8")
                found = self._import(module, name, proto)
                if code == b"i":
                    found = _Obj(found, tuple(pop_mark()))
                stack.append(found)
            elif code == b"\x93":  # STACK_GLOBAL
                name, module = pop(), pop()
                if not (isinstance(module, str) and isinstance(name, str)):
                    self.flag(f"STACK_GLOBAL at byte {at} takes its module or name from a value that cannot be read statically")
                    stack.append(_Global("?", "?"))
                else:
                    stack.append(self._import(module, name, proto))
            elif code in (b"\x82", b"\x83", b"\x84"):
                src.read({b"\x82": 1, b"\x83": 2, b"\x84": 4}[code])
                self.flag(f"uses the copyreg extension registry (EXT opcode at byte {at}), which cannot be checked statically")
                stack.append(_Global("?", "?"))
            elif code in (b"P", b"Q"):
                if code == b"P":
                    src.readline()
                else:
                    pop()
                self.flag(f"uses a persistent id (byte {at}), which joblib cannot load and the scanner cannot check")
                stack.append(_Obj(None))
            elif code == b"R":  # REDUCE
                args, func = pop(), pop()
                stack.append(self._call(func, args, at))
            elif code == b"\x81":  # NEWOBJ
                args, cls = pop(), pop()
                stack.append(self._new(cls, args, at))
            elif code == b"\x92":  # NEWOBJ_EX
                pop()
                args, cls = pop(), pop()
                stack.append(self._new(cls, args, at))
            elif code == b"o":  # OBJ
                items = pop_mark()
                if not items:
                    raise _ParseError(f"OBJ without a class at byte {at}")
                stack.append(self._new(items[0], tuple(items[1:]), at))
            elif code == b"b":  # BUILD
                state = pop()
                target = top()
                self._build(target, state, at)
                if joblib_arrays and isinstance(target, _Obj) and target.cls == _WRAPPER:
                    if frame_end is not None and src.pos < frame_end:
                        # joblib would read the array from after the frame while the opcodes go on inside it
                        raise _ParseError(f"a joblib array starts inside a pickle frame at byte {at}; joblib never writes that")
                    stack[-1] = self._skip_array(src, target, at)
            elif code == b"\x80":
                proto = src.read(1)[0]
                if proto > 5:
                    raise _ParseError(f"unsupported pickle protocol {proto}")
            elif code == b"\x95":  # FRAME: the opcodes follow inline, but the frame is read as a whole
                if frame_end is not None and src.pos < frame_end:
                    raise _ParseError(f"a new frame at byte {at} before the end of the current one")
                size = struct.unpack("<Q", src.read(8))[0]
                frame_end = src.pos + size
            elif code == b"\x97":
                raise _Unsupported("it expects out-of-band buffers (NEXT_BUFFER), which joblib never supplies")
            elif code == b"\x98":
                top()
            elif code == b".":
                if frame_end is not None and src.pos < frame_end:
                    src.skip(frame_end - src.pos)  # the unpickler already consumed the rest of the frame
                return
            elif not code:
                raise _Truncated()
            else:
                raise _ParseError(f"unknown opcode {code!r} at byte {at}")

    def _sized(self, src: _Source, code: bytes) -> Any:
        width, fmt, kind = _LENGTHS[code]
        n = struct.unpack(fmt, src.read(width))[0]
        if n < 0:
            raise _ParseError(f"negative length at byte {src.pos}")
        if n > _KEEP or kind == "str8":
            src.skip(n)
            return _Blob()
        data = src.read(n)
        return data.decode("utf-8", "surrogatepass") if kind == "text" else data

    def _import(self, module: str, name: str, proto: int) -> _Global:
        if proto < 3:  # the unpickler maps Python 2 names (fix_imports) before importing
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        return self.note_import(module, name)

    def _call(self, func: Any, args: Any, at: int) -> Any:
        if not isinstance(func, _Global):
            self.flag(f"calls an object built inside the pickle (REDUCE at byte {at}), not an allowed global")
            return _Obj(None)
        if (func.module, func.name) in _UFUNC_RECONSTRUCT:
            if isinstance(args, tuple) and len(args) == 2 and all(isinstance(a, str) for a in args):
                return self.note_import(args[0], args[1])
            self.flag(f"{func.module}.{func.name} at byte {at} imports a name that cannot be read statically")
            return _Obj(None)
        if func.module == "copyreg" and func.name in ("_reconstructor", "__newobj__", "__newobj_ex__"):
            if isinstance(args, tuple) and args and isinstance(args[0], _Global):
                return _Obj(args[0], args[1:])
        return _Obj(func, args)

    def _new(self, cls: Any, args: Any, at: int) -> _Obj:
        if not isinstance(cls, _Global):
            self.flag(f"creates an object from a class built inside the pickle (byte {at}), not an allowed global")
            return _Obj(None)
        return _Obj(cls, args)

    def _build(self, target: Any, state: Any, at: int) -> None:
        if isinstance(target, _Global):
            # Setting state on a class, function or module would monkey-patch the library itself.
            self.flag(f"changes the attributes of {target.module}.{target.name} (BUILD at byte {at})")
            return
        if not isinstance(target, _Obj):
            return
        target.state = state
        slots = None
        if isinstance(state, tuple) and len(state) == 2:
            state, slots = state
        for part in (state, slots):
            if isinstance(part, _Dict):
                for key, value in part.items:
                    target.attrs.set(key, value)

    def _skip_array(self, src: _Source, wrapper: _Obj, at: int) -> _Obj:
        """Skip the raw array data joblib reads after building a NumpyArrayWrapper."""
        shape = wrapper.attrs.get("shape")
        dtype = wrapper.attrs.get("dtype")
        if not (isinstance(shape, tuple) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
            raise _ParseError(f"a joblib array at byte {at} has no readable shape")
        itemsize, hasobject = _dtype_size(dtype, at)
        if hasobject:  # joblib pickles object arrays as a nested, plain pickle
            self.pickle(src, joblib_arrays=False)
            return _Obj(_ARRAY)
        if wrapper.attrs.has("numpy_array_alignment_bytes") and wrapper.attrs.get("numpy_array_alignment_bytes") is not None:
            src.skip(src.read(1)[0])
        count = 1
        for n in shape:
            count *= n
        src.skip(count * itemsize)
        return _Obj(_ARRAY)


def _dtype_size(dtype: Any, at: int) -> tuple[int, bool]:
    """(itemsize, hasobject) of a pickled numpy.dtype, exactly as numpy will build it.

    numpy itself rebuilds the dtype from the plain values in the pickle (a type string,
    flags and field layout; no callables), so the bytes skipped match what joblib reads.
    """
    import numpy

    try:
        real = _real_dtype(dtype, numpy, 0)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError, RecursionError) as error:
        raise _ParseError(f"a joblib array at byte {at} has a dtype the scanner cannot rebuild: {_one_line(error)}") from None
    # Object fields anywhere (even if the pickled flags deny it) mean a nested pickle follows.
    return real.itemsize, bool(real.hasobject) or _mentions_object(dtype, 0)


def _real_dtype(value: Any, numpy: Any, depth: int) -> Any:
    if depth > 20 or not (isinstance(value, _Obj) and value.cls == _DTYPE and isinstance(value.args, tuple)):
        raise ValueError("not a numpy dtype")
    args = tuple(_plain(a, numpy, depth) for a in value.args)
    if not args or not isinstance(args[0], str):
        raise ValueError("no type string")
    real = numpy.dtype(*args)
    if value.state is not None:
        real.__setstate__(_plain(value.state, numpy, depth))
    return real


def _plain(value: Any, numpy: Any, depth: int) -> Any:
    """A symbolic value as the plain Python value numpy expects; anything else is refused."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, tuple):
        return tuple(_plain(v, numpy, depth) for v in value)
    if isinstance(value, _Dict):
        return {_plain(k, numpy, depth): _plain(v, numpy, depth) for k, v in value.items}
    if isinstance(value, _Obj) and value.cls == _DTYPE:
        return _real_dtype(value, numpy, depth + 1)
    if isinstance(value, _Obj) and value.cls == _Global("_codecs", "encode") and isinstance(value.args, tuple):
        # protocol 2 spells bytes as _codecs.encode(text, "latin1")
        if len(value.args) == 2 and isinstance(value.args[0], str) and value.args[1] == "latin1":
            return value.args[0].encode("latin1")
    if isinstance(value, _Obj) and value.cls == _Global("builtins", "bytes") and value.args == ():
        return b""
    raise ValueError(f"unexpected {type(value).__name__} in a dtype")


def _mentions_object(value: Any, depth: int) -> bool:
    if depth > 20:
        return True
    if isinstance(value, str):
        return value.lstrip("<>|=").startswith("O")
    if isinstance(value, tuple):
        return any(_mentions_object(v, depth + 1) for v in value)
    if isinstance(value, _Dict):
        return any(_mentions_object(v, depth + 1) for _, v in value.items)
    if isinstance(value, _Obj) and value.cls == _DTYPE:
        return _mentions_object(value.args, depth + 1) or _mentions_object(value.state, depth + 1)
    return False
