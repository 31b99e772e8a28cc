"""Printing for the command line: literal text, aligned tables and JSON."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from typing import Any

# Control characters from names or notes must never reach the terminal as themselves.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def literal(value: Any) -> str:
    """Text as the user wrote it, with terminal control characters made visible."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(value))


def size(nbytes: int) -> str:
    """Bytes in one unit system for the app and the CLI alike: binary (1.5 KiB, 2.0 GiB)."""
    import humanize

    return humanize.naturalsize(nbytes, binary=True)


def plural(count: int, noun: str) -> str:
    """``1 version``, ``2 versions``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def emit(text: str = "") -> None:
    print(literal(text) if text else text)


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Aligned columns; numbers right-aligned."""
    cells = [[literal(_fmt(c)) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    numeric = [all(_is_number(row[i]) for row in rows if row[i] not in (None, "")) and bool(rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    print(line(list(headers)))
    for row in cells:
        print(line(row))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def warn(message: str) -> None:
    """A note on stderr that changes nothing about the command's outcome."""
    print(f"modelreg: warning: {literal(message)}", file=sys.stderr)


def fail(message: str, code: int = 1) -> int:
    print(f"modelreg: error: {literal(message)}", file=sys.stderr)
    return code
