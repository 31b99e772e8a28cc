"""The journal's file format: the files of a registry directory, how a journal line is encoded, and the
one-line error for a write the filesystem refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from store.errors import StoreWriteError

SNAPSHOT = "registry.json"
JOURNAL = "journal.jsonl"
LOCK = "lock"
META_TABLE = "_modelreg"
FORMAT = 1

Doc = dict[str, Any]
Tables = dict[str, dict[str, Doc]]
Listener = Callable[[str, str, "Doc | None", "Doc | None"], None]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def _count(value: Any) -> int:
    return value if type(value) is int and value > 0 else 0  # a hand-edited meta document may hold anything


def _nonfinite(value: Any) -> bool:
    kind = type(value)
    if kind is float:
        return value != value or value in (float("inf"), float("-inf"))
    if kind is dict:
        return any(_nonfinite(v) for v in value.values())
    if kind is list:
        return any(_nonfinite(v) for v in value)
    return False


def nonfinite_documents(tables: Tables) -> list[str]:
    """``table/id`` of every document holding NaN or Infinity (a full scan: only when one was seen)."""
    return [f"{name}/{doc_id}" for name, docs in tables.items() for doc_id, doc in docs.items() if _nonfinite(doc)]


def _write_error(path: Path, error: OSError) -> StoreWriteError:
    reason = error.strerror or str(error)
    return StoreWriteError(
        f"could not write to the registry at {path}: {reason}; nothing was changed "
        "(free some space or fix the permissions, then try again)"
    )
