"""Read-only views of the documents the registry keeps: models and versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Model:
    name: str
    description: str = ""
    owner: str = ""
    tags: tuple[str, ...] = ()
    notes: str = ""
    created_at: str = ""
    primary_metric: str | None = None
    directions: dict[str, str] = field(default_factory=dict)  # metric -> "min" | "max"

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Model:
        return cls(
            name=doc["name"],
            description=doc.get("description", ""),
            owner=doc.get("owner", ""),
            tags=tuple(doc.get("tags", ())),
            notes=doc.get("notes", ""),
            created_at=doc.get("created_at", ""),
            primary_metric=doc.get("primary_metric"),
            directions=dict(doc.get("directions", {})),
        )

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
        }


@dataclass(frozen=True)
class Version:
    model: str
    version: str
    status: str
    created_at: str = ""
    registered_by: str = ""
    artifacts: tuple[dict[str, Any], ...] = ()
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    training_data: tuple[str, ...] = ()
    git_commit: str | None = None
    parent: str | None = None
    tags: tuple[str, ...] = ()
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    estimator: dict[str, Any] | None = None
    scan: dict[str, Any] | None = None
    missing: bool = False
    problems: tuple[str, ...] = ()
    source: str | None = None

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
    def from_doc(cls, doc: dict[str, Any]) -> Version:
        return cls(
            model=doc["model"],
            version=doc["version"],
            status=doc.get("status", "completed"),
            created_at=doc.get("created_at", ""),
            registered_by=doc.get("registered_by", ""),
            artifacts=tuple(doc.get("artifacts", ())),
            metrics=dict(doc.get("metrics", {})),
            params=dict(doc.get("params", {})),
            training=dict(doc.get("training", {})),
            training_data=tuple(doc.get("training_data", ())),
            git_commit=doc.get("git_commit"),
            parent=doc.get("parent"),
            tags=tuple(doc.get("tags", ())),
            notes=doc.get("notes", ""),
            extra=dict(doc.get("extra", {})),
            estimator=doc.get("estimator"),
            scan=doc.get("scan"),
            missing=bool(doc.get("missing", False)),
            problems=tuple(doc.get("problems", ())),
            source=doc.get("source"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (what ``--json`` prints)."""
        return {
            "ref": self.ref,
            "model": self.model,
            "version": self.version,
            "status": self.status,
            "created_at": self.created_at,
            "registered_by": self.registered_by,
            "artifacts": [dict(a) for a in self.artifacts],
            "metrics": dict(self.metrics),
            "params": dict(self.params),
            "training": dict(self.training),
            "training_data": list(self.training_data),
            "git_commit": self.git_commit,
            "parent": self.parent,
            "tags": list(self.tags),
            "notes": self.notes,
            "extra": dict(self.extra),
            "estimator": self.estimator,
            "scan": self.scan,
            "missing": self.missing,
            "problems": list(self.problems),
            "source": self.source,
        }
