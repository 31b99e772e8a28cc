"""Turning user-supplied values into plain JSON the store can keep."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from store.errors import BadMetadata

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_TEXT = 10_000


def jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy: numpy scalars and arrays unwrapped, NaN and infinities as None."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth > 20:
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, depth + 1) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return jsonable(value.tolist(), depth + 1)
    return repr(value)


def strict_json(value: Any, where: str, depth: int = 0) -> Any:
    """Like :func:`jsonable`, but an object JSON cannot hold is refused in one line naming
    where it is, instead of being kept as its repr (which nobody could read back)."""
    if value is None or isinstance(value, (bool, int, float, str)) or hasattr(value, "tolist") or depth > 20:
        return jsonable(value, depth)
    if isinstance(value, Mapping):
        return {str(k): strict_json(v, f"{where}.{k}", depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [strict_json(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    raise BadMetadata(
        f"'{where}' is an object of type {type(value).__name__}, which JSON cannot hold: give text, numbers, lists or dicts"
        " (a model object goes in estimator= or estimators=)"
    )


def check_name(kind: str, name: Any) -> str:
    """A model name: letters, digits, . _ - (no colon: it separates MODEL:VERSION)."""
    if not isinstance(name, str) or not NAME.match(name):
        raise BadMetadata(
            f"bad {kind} name {name!r}: use up to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadMetadata(f"{field} must be text, got {value!r}")
    return value.replace("\0", "")[:MAX_TEXT]


def string_list(values: Iterable[Any] | str | None, field: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    result = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise BadMetadata(f"{field} must be a list of non-empty text, got {value!r}")
        if value not in result:
            result.append(value.replace("\0", "")[:MAX_TEXT])
    return result
