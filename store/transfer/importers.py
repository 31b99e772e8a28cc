"""Importing what other tools already wrote, so users can switch without losing history.

Formats:

* ``afs``: an AFS-style ``registry.json`` (models -> versions, as objects keyed by name or as lists
  with "name"/"version" keys) and its sibling ``lineage.json`` if present;
* ``experiments``: an ``experiment_history.jsonl``, one experiment per line;
* ``bundle``: a modelreg bundle (see :mod:`store.transfer.bundle`).

Foreign files become the same :class:`~store.transfer.bundle.ImportPlan` a bundle does, so they get the
same guarantees: all or nothing, existing versions never overwritten, parents first. Artifacts
they name are referenced where they are (as ``register`` does), not copied; one that does not
exist is recorded anyway and its version marked missing.

Here: detecting the format and dispatching; ``afs_import`` and ``experiments_import`` build the plans,
with ``foreign_fields`` translating other tools' fields.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from store.errors import BadMetadata
from store.registry import Registry
from store.transfer.afs_import import afs_plan
from store.transfer.bundle import ImportResult, import_bundle, insert_plan
from store.transfer.experiments_import import GENERIC_STEMS, experiments_plan  # noqa: F401
# Each format has a module of its own; the names others import from here stay importable.
from store.transfer.foreign_fields import (  # noqa: F401
    ARTIFACT_KEYS, DURATION_UNITS, TRAINING_ALIASES, flatten, split_metrics, to_time, training_fields,
)


FORMATS = ("bundle", "afs", "experiments")


def import_file(
    registry: Registry,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    model: str | None = None,
    skip_existing: bool = False,
) -> ImportResult:
    """Import ``path`` in its ``format`` (detected when None) into ``registry``."""
    path = Path(path).expanduser()
    if not path.exists():
        raise BadMetadata(f"no file at {path}; give a bundle, a registry.json or an experiment_history.jsonl")
    if path.is_dir():
        path = _file_in(path)
    format = format or detect(path)
    if format not in FORMATS:
        raise BadMetadata(f"unknown format '{format}': use one of {', '.join(FORMATS)}")
    if model is not None and format != "experiments":
        raise BadMetadata("--model names the model of an experiment history; a bundle or registry.json names its own")
    if format == "bundle":
        return import_bundle(registry, path, skip_existing=skip_existing)
    plan = afs_plan(path) if format == "afs" else experiments_plan(path, model)
    return insert_plan(registry, plan, skip_existing=skip_existing)


def _file_in(folder: Path) -> Path:
    for name in ("registry.json", "experiment_history.jsonl"):
        if (folder / name).is_file():
            return folder / name
    raise BadMetadata(f"{folder} holds no registry.json or experiment_history.jsonl; give the file itself")


def detect(path: Path) -> str:
    """``bundle``, ``afs`` or ``experiments``, from the file's content (its name only breaks ties)."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head.startswith(b"\x1f\x8b") or head[257:262] == b"ustar" or path.name.endswith((".tar", ".tgz", ".tar.gz")):
        return "bundle"
    if path.suffix == ".jsonl":
        return "experiments"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        if "_modelreg" in data or "versions" in data:
            raise BadMetadata(f"{path} is a modelreg registry's own file; export it with 'modelreg export --all' and import the bundle")
        if "models" in data:
            return "afs"
    if data is None and _first_line_is_experiment(path):
        return "experiments"
    raise BadMetadata(f"cannot tell the format of {path}; pass --format {'|'.join(FORMATS)}")


def _first_line_is_experiment(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    first = json.loads(line)
                    return isinstance(first, dict) and "version" in first
    except (ValueError, UnicodeDecodeError):
        pass
    return False
