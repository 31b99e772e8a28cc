"""Metric values and directions: which way is better for each metric."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from store.errors import BadMetadata

# Name parts (split on _ . / -) that mark a metric where smaller is better.
_LOWER_PARTS = frozenset({"loss", "error", "err", "mse", "rmse", "mae", "mape", "perplexity", "ppl", "wer", "cer", "time", "duration", "cost"})
_LOWER_PREFIXES = ("latency",)
_SPLIT = re.compile(r"[_./\-]")


def lower_is_better(name: str, overrides: Mapping[str, str] | None = None) -> bool:
    """True for loss-like names (loss, *_loss, error, mse, rmse, mae, perplexity, wer, cer, latency*)."""
    if overrides and name in overrides:
        return overrides[name] == "min"
    parts = _SPLIT.split(name.lower())
    return any(p in _LOWER_PARTS or p.startswith(_LOWER_PREFIXES) for p in parts)


def is_improvement(name: str, old: float, new: float, overrides: Mapping[str, str] | None = None) -> bool | None:
    """Whether ``new`` is better than ``old``; None when they are equal."""
    if new == old:
        return None
    return (new < old) if lower_is_better(name, overrides) else (new > old)


def clean_metrics(metrics: Mapping[str, Any] | None, where: str = "metrics") -> dict[str, float]:
    """Metric values as plain finite numbers, or a one-line error naming the bad one."""
    result: dict[str, float] = {}
    for name, value in (metrics or {}).items():
        if not isinstance(name, str) or not name:
            raise BadMetadata(f"{where}: metric names must be non-empty text, got {name!r}")
        number = to_number(value)
        if number is None:
            raise BadMetadata(f"{where}: metric '{name}' is {value!r}; give a finite number such as 0.93")
        result[name] = number
    return result


def to_number(value: Any) -> float | int | None:
    """A finite int or float from a number or numeric text; None otherwise (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    if hasattr(value, "item") and not isinstance(value, (int, float)):
        value = value.item()  # numpy scalars
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eEnN") else int(value)
        except ValueError:
            return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None
