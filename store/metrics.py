"""Metric values and directions: which way is better for each metric."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from store.errors import BadMetadata

# Name parts (split on _ . / -) that mark a metric where smaller is better.
_LOWER_PARTS = frozenset({"loss", "error", "err", "mse", "rmse", "mae", "mape", "perplexity", "ppl", "wer", "cer", "time", "duration", "cost",
                          "memory", "mem", "ram", "vram", "size", "mb", "gb"})
_LOWER_PREFIXES = ("latency",)
# Throughput wins over a lower-is-better part: tokens_per_sec is higher-is-better though it ends in "sec".
_HIGHER_PARTS = frozenset({"throughput", "qps", "rps", "tps"})
_HIGHER_NAMES = re.compile(r"(^|[_./\-])(tokens|samples|requests|images|items)_per_(sec|second|s)($|[_./\-])")
_SPLIT = re.compile(r"[_./\-]")


def lower_is_better(name: str, overrides: Mapping[str, str] | None = None) -> bool:
    """True for loss-like names (loss, *_loss, error, mse, rmse, mae, perplexity, wer, cer, latency*), and for
    time, cost and memory (memory, mem, ram, vram, size, also memory_mb, vram_gb); False for throughput
    (throughput, qps, tokens_per_sec), which wins over them."""
    if overrides and name in overrides:
        return overrides[name] == "min"
    lowered = name.lower()
    parts = _SPLIT.split(lowered)
    if any(p in _HIGHER_PARTS for p in parts) or _HIGHER_NAMES.search(lowered):
        return False
    return any(p in _LOWER_PARTS or p.startswith(_LOWER_PREFIXES) for p in parts)


def is_improvement(name: str, old: float, new: float, overrides: Mapping[str, str] | None = None) -> bool | None:
    """Whether ``new`` is better than ``old``; None when they are equal."""
    if new == old:
        return None
    return (new < old) if lower_is_better(name, overrides) else (new > old)


def clean_metrics(metrics: Mapping[str, Any] | None, where: str = "metrics") -> dict[str, float]:
    """Metric values as plain finite numbers, or a one-line error naming the bad one; nested
    dicts of numbers are flattened with dots (``rouge.rougeL``)."""
    result: dict[str, float] = {}
    for name, value in (metrics or {}).items():
        if not isinstance(name, str) or not name:
            raise BadMetadata(f"{where}: metric names must be non-empty text, got {name!r}")
        if isinstance(value, Mapping) and value:  # {"rouge": {"rouge1": 0.4}} -> "rouge.rouge1": 0.4
            result.update(clean_metrics({f"{name}.{k}": v for k, v in value.items()}, where))
            continue
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
