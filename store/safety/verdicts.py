"""What the restricted loader says of a file: a ScanResult, or Refused with one line naming why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__


def _short(value: Any) -> str:
    try:
        text = repr(value) if isinstance(value, (str, bytes, int, float, tuple, type(None))) else (
            f"{type(value).__module__}.{type(value).__qualname__}" if not isinstance(value, type)
            else f"{value.__module__}.{value.__qualname__}")
    except Exception:
        text = type(value).__name__
    return text if len(text) <= 80 else text[:79] + "…"
