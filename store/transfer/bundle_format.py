"""What a bundle is made of (see ``store.transfer.bundle`` for the layout): its names and limits, and
the plans and results export and import hand back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "modelreg-bundle"
FORMAT_VERSION = 1
DOCUMENTS = ("manifest.json", "models.json", "versions.json", "history.json")
IMPORTED_DIR = ("artifacts", "imported")
_BUNDLE_PATH = re.compile(r"artifacts/([0-9a-f]{64})/([^/]+)")
_SHOWN = 5
HISTORY_KEYS = frozenset({"model", "env", "action", "from", "to", "at", "ok"})


@dataclass
class ExportResult:
    """What ``export_bundle`` wrote."""

    path: Path
    models: list[str]
    versions: list[str]
    history: int
    artifacts: int
    bytes: int
    missing: list[str] = field(default_factory=list)  # versions exported without their artifacts

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path)}


@dataclass
class ImportPlan:
    """Documents ready to insert: what every importer (bundle or foreign format) produces."""

    source: str
    format: str
    models: list[dict[str, Any]]  # model documents, used only for models the target lacks
    versions: list[dict[str, Any]]  # complete version documents
    history: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    """What an import added to the registry (and what it left out)."""

    source: str
    format: str
    models: list[str]
    versions: list[str]
    skipped: list[str]
    history: int
    artifacts: int
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _refs(refs: Iterable[str]) -> str:
    refs = list(refs)
    shown = ", ".join(refs[:_SHOWN])
    return shown + (f" and {len(refs) - _SHOWN} more" if len(refs) > _SHOWN else "")


def _ref(doc: dict[str, Any]) -> str:
    return f"{doc['model']}:{doc['version']}"
