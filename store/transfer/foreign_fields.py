"""Other tools' fields in modelreg's terms: training-field aliases and units, metrics split from
parameters, times, artifacts, parents and data sources, shared by every importer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from store import artifacts as artifact_files
from store.errors import BadMetadata, ModelregError
from store.registry import TRAINING_FIELDS
from store.stamps import now, whoami
from store.values import jsonable, string_list
from store.versions import validate as validate_version

# Names other tools use for the training fields modelreg knows.
TRAINING_ALIASES = {
    "lr": "learning_rate",
    "num_epochs": "epochs",
    "num_train_epochs": "epochs",
    "train_samples": "samples",
    "num_samples": "samples",
    "dataset_size": "samples",
    "per_device_train_batch_size": "batch_size",
    "duration_seconds": "duration",
    "training_time": "duration",
    "train_runtime": "duration",
    "cost_usd": "cost",
    "gpu": "hardware",
}
DURATION_UNITS = {"duration_hours": 3600, "duration_minutes": 60, "training_hours": 3600}  # to seconds
ARTIFACT_KEYS = {"lora_path": "lora", "gguf_path": "gguf", "model_path": "model"}


# -- shared conversions -------------------------------------------------------------------------


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level with dotted keys: {"a": {"b": 1}} -> {"a.b": 1}."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            flat.update(flatten(item, name + "."))
        else:
            flat[name] = item
    return flat


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def split_metrics(scores: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """(numeric leaves as metrics, everything else) of a nested score dict, both flattened."""
    flat = flatten(scores)
    metrics = {k: v for k, v in flat.items() if _is_number(v)}
    return metrics, {k: jsonable(v) for k, v in flat.items() if k not in metrics}


def to_time(value: Any, where: str) -> str:
    """An ISO timestamp in UTC from ISO text or epoch seconds (or milliseconds).

    Text without a zone is read as the importing machine's local time, which is
    what ``datetime.now().isoformat()`` in a training script wrote.
    """
    try:
        if _is_number(value):
            seconds = value / 1000 if value > 1e11 else value
            moment = datetime.fromtimestamp(seconds, timezone.utc)
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            moment = moment.astimezone() if moment.tzinfo is None else moment
        else:
            raise ValueError
    except (ValueError, OverflowError, OSError):
        raise BadMetadata(f"{where}: cannot read the time {value!r}; write ISO 8601 or epoch seconds") from None
    return moment.astimezone(timezone.utc).isoformat()


def _version(value: Any, where: str) -> str:
    if _is_number(value):
        value = str(value)
    try:
        return validate_version(value)
    except ModelregError as error:
        raise BadMetadata(f"{where}: {error}") from None


def _parent(value: Any, model: str, where: str) -> str | None:
    """A parent reference: ``model:version``, or a bare version of the same model."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise BadMetadata(f"{where}: parent {value!r} must be text like v2 or base:v4")
    name, sep, version = value.strip().partition(":")
    return f"{name}:{_version(version, where)}" if sep else f"{model}:{_version(name, where)}"


def _artifact(value: Any, base: Path, role: str, where: str) -> tuple[dict[str, Any], bool]:
    """(artifact record, exists) for a path a foreign file names; relative paths start at ``base``."""
    if not isinstance(value, str) or not value.strip():
        raise BadMetadata(f"{where}: {role} path {value!r} must be a file or folder path")
    path = Path(value).expanduser()
    path = (path if path.is_absolute() else base / path).absolute()
    if path.exists():
        return {**artifact_files.describe(path), "role": role}, True
    framework = artifact_files.guess_framework(path) or ("peft" if role == "lora" else None)
    record = {"path": str(path), "kind": "file" if path.suffix else "dir", "size": None, "sha256": None, "framework": framework, "mtime": None, "role": role}
    return record, False


def _data_sources(value: Any) -> list[str]:
    if isinstance(value, (str, Mapping)):
        value = [value]
    names = []
    for item in value or ():
        if isinstance(item, Mapping):
            item = item.get("name") or item.get("path") or item.get("id") or json.dumps(jsonable(item), sort_keys=True)
        names.append(str(item))
    return string_list([n for n in names if n.strip()], "training_data")


def _document(model: str, version: str, fields: dict[str, Any], stamp: dict[str, Any]) -> dict[str, Any]:
    """A version document shaped as ``Registry.register`` writes one (empty fields left out)."""
    doc = {"model": model, "version": version, "status": "completed", "created_at": now(), "registered_by": whoami()}
    doc.update({k: v for k, v in fields.items() if v not in (None, "", [], {})})
    doc["imported"] = stamp
    return doc


def _training(raw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(modelreg training fields, the rest) of a training section."""
    if not isinstance(raw, Mapping):
        return {}, {"value": jsonable(raw)}
    known, rest = {}, {}
    for key, value in raw.items():
        field = TRAINING_ALIASES.get(key, key)
        if key in DURATION_UNITS and _is_number(value):  # duration_hours: 2.5 -> 9000 seconds
            field, value = "duration", value * DURATION_UNITS[key]
        if field in TRAINING_FIELDS and field not in known and value is not None:
            known[field] = jsonable(value)
        else:
            rest[key] = jsonable(value)
    return known, rest


def training_fields(raw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(modelreg training fields, the rest) of another tool's training section: aliases such
    as ``num_epochs``, ``cost_usd`` and ``duration_hours`` (kept in seconds) understood."""
    return _training(raw)
