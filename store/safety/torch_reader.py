"""PyTorch zip checkpoints, judged without importing torch: every global their pickles name must be
one ``torch.load(weights_only=True)`` allows, found by walking the opcodes without running them.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, BinaryIO

from store.safety.verdicts import ScanResult, _one_line

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
