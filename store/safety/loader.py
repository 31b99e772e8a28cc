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

import hashlib
import io
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

from store.errors import ArtifactError, UnsafeArtifact
from store.safety.safetensors_reader import _scan_safetensors
from store.safety.torch_reader import _scan_torch
from store.safety.verdicts import Refused, ScanResult, _one_line

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
TORCH_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")
SAFETENSORS_SUFFIX = ".safetensors"
_TORCH_TAR_SUFFIXES = (".pth.tar", ".pt.tar", ".ckpt.tar")  # model_best.pth.tar: torch.load reads these too
_CHUNK = 1 << 20


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


_RESTRICTED: type | None = None


def __getattr__(name: str) -> Any:  # RestrictedUnpickler is built on first use: joblib and NumPy load lazily
    if name == "RestrictedUnpickler":
        return _restricted()
    raise AttributeError(name)


def _make_unpickler() -> type:
    from store.safety.unpickler import Restricted  # NumPy and joblib load with it, on first use

    return Restricted


def _restricted() -> type:
    global _RESTRICTED
    if _RESTRICTED is None:
        _RESTRICTED = _make_unpickler()
    return _RESTRICTED
