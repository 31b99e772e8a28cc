"""Importing an ``experiment_history.jsonl`` (one experiment per line): each experiment a version, as an import plan."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from store.errors import BadMetadata, ModelregError
from store.lifecycle import STATUSES
from store.stamps import now, whoami
from store.transfer.bundle import ImportPlan
from store.transfer.foreign_fields import _data_sources, _document, _parent, _training, _version, flatten, split_metrics, to_time
from store.values import check_name, jsonable, string_list, text

GENERIC_STEMS = ("experiment_history", "experiments", "history")


# -- experiment_history.jsonl -----------------------------------------------------------------------


def experiments_plan(path: Path, model: str | None = None) -> ImportPlan:
    """Versions of one model from an experiment history: one JSON object per line.

    A malformed line refuses the whole file, naming the line: a history with a hole
    in it is better fixed than silently imported.
    """
    model = model or (path.parent.name if path.stem in GENERIC_STEMS else path.stem)
    try:
        check_name("model", model)
    except ModelregError:
        raise BadMetadata(f"cannot use {model!r} as a model name; pass --model NAME") from None
    stamp = {"from": str(path), "format": "experiments", "at": now(), "by": whoami()}
    plan = ImportPlan(source=path.name, format="experiments", models=[], versions=[])
    seen: dict[str, int] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                doc = _experiment(model, line, f"{path} line {number}", stamp)
                if doc["version"] in seen:
                    raise BadMetadata(f"{path}: version {doc['version']} appears on lines {seen[doc['version']]} and {number}; keep one")
                seen[doc["version"]] = number
                plan.versions.append(doc)
    except OSError as error:
        raise BadMetadata(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise BadMetadata(f"{path} is not UTF-8 text; is it really an experiment history?") from None
    if not plan.versions:
        raise BadMetadata(f"{path} holds no experiments")
    return plan


def _experiment(model: str, line: str, where: str, stamp: dict[str, Any]) -> dict[str, Any]:
    try:
        raw = json.loads(line)
    except ValueError as error:
        raise BadMetadata(f"{where}: not valid JSON ({error.msg}); fix or remove that line") from None
    if not isinstance(raw, dict) or raw.get("version") in (None, ""):
        raise BadMetadata(f"{where}: an experiment must be an object with a 'version'")
    fields = dict(raw)
    version = _version(fields.pop("version"), where)
    metrics, other = _experiment_metrics(fields.pop("metrics", None) or {}, where)
    config = fields.pop("config", None) or {}
    metadata = fields.pop("metadata", None) or {}
    if not isinstance(config, Mapping) or not isinstance(metadata, Mapping):
        raise BadMetadata(f"{where}: 'config' and 'metadata' must be objects")
    metadata = dict(metadata)
    extra = jsonable(metadata)
    lifted = {key: extra.pop(key, None) for key in ("git_commit", "notes", "tags", "parent_version", "parent", "status", "training", "training_data")}
    training, other_training = _training(lifted["training"] or {})  # as 'modelreg export --format experiments' writes them
    if other_training:
        extra["training"] = other_training
    if other:
        extra["metrics"] = other
    extra.update(jsonable(fields))  # any other top-level keys besides timestamp
    extra.pop("timestamp", None)
    status = lifted["status"] if lifted["status"] in STATUSES and lifted["status"] != "deployed" else "completed"
    doc = {
        "status": status,
        "created_at": to_time(raw["timestamp"], where) if raw.get("timestamp") is not None else None,
        "metrics": metrics,
        "params": jsonable(flatten(config)),
        "training": training,
        "training_data": _data_sources(lifted["training_data"]),
        "git_commit": text(lifted["git_commit"], "git_commit") or None,
        "notes": text(lifted["notes"], "notes"),
        "tags": string_list(lifted["tags"], "tags"),
        "parent": _parent(lifted["parent_version"] or lifted["parent"], model, where),
        "extra": extra,
    }
    return _document(model, version, doc, stamp)


def _experiment_metrics(metrics: Any, where: str) -> tuple[dict[str, float], dict[str, Any]]:
    """``overall`` metrics under their own names, ``per_label`` as per_label.<label>.<metric>."""
    if not isinstance(metrics, Mapping):
        raise BadMetadata(f"{where}: 'metrics' must be an object")
    rest = {k: v for k, v in metrics.items() if k != "overall"}
    overall = metrics.get("overall") or {}
    if not isinstance(overall, Mapping):
        raise BadMetadata(f"{where}: 'metrics.overall' must be an object")
    found, other = split_metrics(overall)
    more, other_rest = split_metrics(rest)
    clash = set(found) & set(more)
    if clash:
        raise BadMetadata(f"{where}: metric {sorted(clash)[0]} is given twice (in overall and outside it)")
    return {**found, **more}, {**other, **other_rest}
