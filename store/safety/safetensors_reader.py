"""safetensors files: a JSON header and raw tensor bytes, safe by format once the header reads."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import BinaryIO

from store.safety.verdicts import ScanResult, _one_line


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
