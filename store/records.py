"""Read-only views of the documents the registry keeps: models and versions.

A record never shares anything with the store: ``from_doc`` copies the document
deeply, and the mappings it holds are read-only dicts (:class:`ReadOnlyDict`), so
``v.params["lr"] = 1`` raises TypeError and ``v.params["opt"]["lr"] = 1`` changes
only this record's own copy. They are still dicts, so ``json.dumps(v.params)`` works;
``to_dict()`` gives plain JSON-ready dicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn


class ReadOnlyDict(dict):  # type: ignore[type-arg]
    """A dict that refuses every change (a record's metrics, params...)."""

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a registry record is read-only: change it with the registry's methods (score, update, tag...)")

    __setitem__ = __delitem__ = __ior__ = _refuse  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:  # pickle and deepcopy would fill it item by item
        return (ReadOnlyDict, (dict(self),))

    def __copy__(self) -> ReadOnlyDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ReadOnlyDict:
        return self


_EMPTY: Mapping[str, Any] = ReadOnlyDict()
_SCALARS = frozenset({str, int, float, bool, type(None)})


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars): several times faster
    than ``copy.deepcopy``, which matters on every read of every version."""
    kind = type(value)
    if kind is dict or (kind not in _SCALARS and isinstance(value, Mapping)):
        # Keys become what JSON makes of them (1 -> "1"), so a copy equals what is on disk.
        return {k if type(k) is str else _json_key(k): copy_json(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [copy_json(v) for v in value]
    return value


def _json_key(key: Any) -> str:
    return json.dumps(key) if not isinstance(key, str) else key  # True -> "true", 1 -> "1", None -> "null"


def _frozen(value: Any) -> Mapping[str, Any]:
    return ReadOnlyDict(copy_json(value)) if value else _EMPTY


def _frozen_or_none(value: Any) -> Mapping[str, Any] | None:
    return None if value is None else ReadOnlyDict(copy_json(value))


def _plain(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else copy_json(value)


class _Record:
    """Shared by Model and Version: immutable, so copies may be the record itself."""

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # rebuilt from its document, read-only again
        return (type(self).from_doc, (self.to_dict(),))  # type: ignore[attr-defined]

    @classmethod
    def _build(cls, values: dict[str, Any]) -> Any:
        # Skips the frozen dataclass's __init__ (one object.__setattr__ per field):
        # values built by from_doc are already copied and read-only.
        record = object.__new__(cls)
        record.__dict__.update(values)
        return record


@dataclass(frozen=True)
class Model(_Record):
    name: str
    description: str = ""
    owner: str = ""
    tags: tuple[str, ...] = ()
    notes: str = ""
    created_at: str = ""
    primary_metric: str | None = None
    directions: Mapping[str, str] = field(default_factory=lambda: _EMPTY)  # metric -> "min" | "max"
    scheme: str | None = None  # the first version, when named before any (modelreg model M --scheme)
    retired: tuple[str, ...] = ()  # removed versions' names, never given again

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "retired", tuple(self.retired))
        object.__setattr__(self, "directions", _frozen(self.directions))

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Model:
        return cls._build({
            "name": doc["name"],
            "description": doc.get("description", ""),
            "owner": doc.get("owner", ""),
            "tags": tuple(doc.get("tags", ())),
            "notes": doc.get("notes", ""),
            "created_at": doc.get("created_at", ""),
            "primary_metric": doc.get("primary_metric"),
            "directions": _frozen(doc.get("directions")),
            "scheme": doc.get("scheme"),
            "retired": tuple(doc.get("retired", ())),
        })

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "owner": self.owner,
            "tags": list(self.tags),
            "notes": self.notes,
            "created_at": self.created_at,
            "primary_metric": self.primary_metric,
            "directions": dict(self.directions),
            "scheme": self.scheme,
            "retired": list(self.retired),
        }


@dataclass(frozen=True)
class Version(_Record):
    model: str
    version: str
    status: str
    created_at: str = ""
    registered_by: str = ""
    artifacts: tuple[Mapping[str, Any], ...] = ()
    metrics: Mapping[str, float] = field(default_factory=lambda: _EMPTY)
    params: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    training: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    training_data: tuple[str, ...] = ()
    git_commit: str | None = None
    parent: str | None = None
    tags: tuple[str, ...] = ()
    notes: str = ""
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    estimator: Mapping[str, Any] | None = None
    scan: Mapping[str, Any] | None = None
    missing: bool = False
    problems: tuple[str, ...] = ()
    source: str | None = None
    source_file: str | None = None  # the script that registered it, and its sha256 then
    source_sha256: str | None = None
    metric_history: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)  # metric -> [{value, at, by, data?}]
    signature: Mapping[str, Any] | None = None  # inputs and outputs (store.signatures)
    uploading: bool = False  # its artifacts are still on their way to object storage (store.uploading)

    def __post_init__(self) -> None:
        for name in ("metrics", "params", "training", "extra", "metric_history"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        for name in ("estimator", "scan", "signature"):
            object.__setattr__(self, name, _frozen_or_none(getattr(self, name)))
        object.__setattr__(self, "artifacts", tuple(ReadOnlyDict(copy_json(a)) for a in self.artifacts))
        for name in ("training_data", "tags", "problems"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.version}"

    @property
    def size(self) -> int:
        return sum(a.get("size") or 0 for a in self.artifacts)

    @property
    def unsafe(self) -> bool:
        return bool(self.scan) and not self.scan.get("safe", False)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Version:
        get = doc.get
        estimator, scan = get("estimator"), get("scan")
        return cls._build({
            "model": doc["model"],
            "version": doc["version"],
            "status": get("status", "completed"),
            "created_at": get("created_at", ""),
            "registered_by": get("registered_by", ""),
            "artifacts": tuple(ReadOnlyDict(copy_json(a)) for a in get("artifacts", ())),
            "metrics": _frozen(get("metrics")),
            "params": _frozen(get("params")),
            "training": _frozen(get("training")),
            "training_data": tuple(get("training_data", ())),
            "git_commit": get("git_commit"),
            "parent": get("parent"),
            "tags": tuple(get("tags", ())),
            "notes": get("notes", ""),
            "extra": _frozen(get("extra")),
            "estimator": None if estimator is None else ReadOnlyDict(copy_json(estimator)),
            "scan": None if scan is None else ReadOnlyDict(copy_json(scan)),
            "missing": bool(get("missing", False)),
            "problems": tuple(get("problems", ())),
            "source": get("source"),
            "source_file": get("source_file"),
            "source_sha256": get("source_sha256"),
            "metric_history": _frozen(get("metric_history")),
            "signature": _frozen_or_none(get("signature")),
            "uploading": bool(get("uploading", False)),
        })

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (what ``--json`` prints): plain dicts and lists, copies."""
        return {
            "ref": self.ref,
            "model": self.model,
            "version": self.version,
            "status": self.status,
            "created_at": self.created_at,
            "registered_by": self.registered_by,
            "artifacts": [copy_json(a) for a in self.artifacts],
            "metrics": dict(self.metrics),
            "params": copy_json(self.params),
            "training": copy_json(self.training),
            "training_data": list(self.training_data),
            "git_commit": self.git_commit,
            "parent": self.parent,
            "tags": list(self.tags),
            "notes": self.notes,
            "extra": copy_json(self.extra),
            "estimator": _plain(self.estimator),
            "scan": _plain(self.scan),
            "missing": self.missing,
            "problems": list(self.problems),
            "source": self.source,
            "source_file": self.source_file,
            "source_sha256": self.source_sha256,
            "metric_history": copy_json(self.metric_history),
            "signature": _plain(self.signature),
            "uploading": self.uploading,
        }

