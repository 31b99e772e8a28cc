"""Building pickles from opcodes, for the hostile tests: nothing here runs what it names."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path
from typing import Any

MARK, STOP, TUPLE, REDUCE, BUILD, NEWOBJ = pickle.MARK, pickle.STOP, pickle.TUPLE, pickle.REDUCE, pickle.BUILD, pickle.NEWOBJ
POP, NONE, EMPTY_LIST, EMPTY_DICT, APPENDS, SETITEMS = pickle.POP, pickle.NONE, pickle.EMPTY_LIST, pickle.EMPTY_DICT, \
    pickle.APPENDS, pickle.SETITEMS


def s(text: str) -> bytes:
    """A str (BINUNICODE)."""
    data = text.encode()
    return pickle.BINUNICODE + struct.pack("<I", len(data)) + data


def lit(value: Any) -> bytes:
    """Plain data as opcodes (no memo, so fragments can be concatenated freely)."""
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
    """GLOBAL module name."""
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def sg(module: str, name: str) -> bytes:
    """STACK_GLOBAL from two strings."""
    return s(module) + s(name) + pickle.STACK_GLOBAL


def tup(*parts: bytes) -> bytes:
    return MARK + b"".join(parts) + TUPLE


def call(func: bytes, *args: bytes) -> bytes:
    """func(*args) through REDUCE."""
    return func + tup(*args) + REDUCE


def new(cls: bytes, *args: bytes) -> bytes:
    """cls.__new__(cls, *args) through NEWOBJ."""
    return cls + tup(*args) + NEWOBJ


def put(n: int) -> bytes:
    return pickle.BINPUT + bytes([n])


def get(n: int) -> bytes:
    return pickle.BINGET + bytes([n])


def pkl(*body: bytes, proto: int = 4) -> bytes:
    return pickle.PROTO + bytes([proto]) + b"".join(body) + STOP


def system(cmd: str) -> bytes:
    """The classic payload: os.system(cmd)."""
    return call(g("os", "system"), s(cmd))


def touch(marker: Path) -> str:
    return f"touch {marker}"
