"""Training durations and costs written the way people write them: ``3h``, ``90m``, ``$0.80``.

A duration is kept in seconds and a cost in US dollars, the units the training fields
``duration`` and ``cost`` hold everywhere (sidecars, importers, the command line).
"""

from __future__ import annotations

import math
import re

from store.errors import BadMetadata

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(h|hr|hrs|hours?|m|min|mins|minutes?|s|sec|secs|seconds?|d|days?)", re.I)
_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_COST = re.compile(r"^\s*\$?\s*(\d+(?:\.\d+)?)\s*(usd|\$)?\s*$", re.I)


def parse_duration(text: str) -> float:
    """Seconds from ``3h``, ``90m``, ``1h30m``, ``45s``, ``2d`` or a bare number of seconds."""
    raw = str(text).strip()
    try:
        value = float(raw)
    except ValueError:
        parts = _DURATION_PART.findall(raw)
        if not parts or _DURATION_PART.sub("", raw).strip():
            raise BadMetadata(f"bad duration {text!r}: write 3h, 90m, 1h30m, 45s or seconds as a number") from None
        value = sum(float(n) * _SECONDS[unit[0].lower()] for n, unit in parts)
    if not math.isfinite(value) or value < 0:
        raise BadMetadata(f"bad duration {text!r}: it must be a finite number of seconds, 0 or more")
    return int(value) if value == int(value) else value


def parse_cost(text: str) -> float:
    """US dollars from ``$0.80``, ``0.80``, ``12 USD``."""
    match = _COST.match(str(text))
    if not match:
        raise BadMetadata(f"bad cost {text!r}: write dollars, e.g. $0.80 or 12.5")
    value = float(match.group(1))
    return int(value) if value == int(value) else value


def show_duration(seconds: float) -> str:
    """``5400`` -> ``1h30m``: how ``info`` writes a duration back."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs or not (hours or minutes) else ""]
    return "".join(parts)
