"""Importing an AFS-style ``registry.json`` and its sibling ``lineage.json``: models and versions as an import plan."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from store.errors import BadMetadata, ModelregError
from store.lifecycle import STATUSES
from store.stamps import now, whoami
from store.transfer.afs_lineage import lineage_edges
from store.transfer.bundle import ImportPlan
from store.transfer.foreign_fields import ARTIFACT_KEYS, DURATION_UNITS, _artifact, _data_sources, _document, _parent, _training, _version, split_metrics, to_time
from store.values import check_name, jsonable, string_list, text

# -- AFS registry.json ---------------------------------------------------------------------------


def afs_plan(path: Path) -> ImportPlan:
    """Versions from an AFS-style ``registry.json`` and, beside it, ``lineage.json``."""
    data = _read_json(path)
    if not isinstance(data, dict) or "models" not in data:
        raise BadMetadata(f"{path} has no 'models'; it is not an AFS registry.json (pass --format to choose another)")
    stamp = {"from": str(path), "format": "afs", "at": now(), "by": whoami()}
    plan = ImportPlan(source=path.name, format="afs", models=[], versions=[])
    for name, model in _named(data["models"], "name", f"{path}: models"):
        where = f"{path}: model {name!r}"
        try:
            check_name("model", name)
        except ModelregError as error:
            raise BadMetadata(f"{where}: {error}") from None
        plan.models.append(_afs_model(name, model, where))
        for version, fields in _named(model.get("versions", {}), "version", f"{where} versions"):
            plan.versions.append(_afs_version(name, _version(version, where), fields, path.parent, stamp, plan.warnings))
    lineage = path.with_name("lineage.json")
    if lineage.is_file():
        _apply_lineage(plan, lineage_edges(_read_json(lineage), lineage))
    return plan


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BadMetadata(f"cannot read {path}: {error.strerror}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise BadMetadata(f"{path} is not valid JSON ({error}); fix the file and import again") from None


def _named(items: Any, key: str, where: str) -> list[tuple[Any, dict[str, Any]]]:
    """(name, fields) pairs from {name: fields} or [{key: name, ...}]."""
    if isinstance(items, Mapping):
        pairs = list(items.items())
    elif isinstance(items, list):
        pairs = [(item.get(key) if isinstance(item, Mapping) else None, item) for item in items]
    else:
        raise BadMetadata(f"{where} must be an object or a list, got {type(items).__name__}")
    for name, fields in pairs:
        if not isinstance(fields, Mapping) or name is None:
            raise BadMetadata(f"{where}: each entry must be an object with a '{key}'; got {fields!r:.60}")
    return pairs


def _afs_model(name: str, model: Mapping[str, Any], where: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": name, "created_at": to_time(model["created_at"], where) if model.get("created_at") else now()}
    block = model.get("metadata") if isinstance(model.get("metadata"), Mapping) else {}
    for key in ("description", "owner", "notes"):
        value = model.get(key) if isinstance(model.get(key), str) else block.get(key)  # AFS keeps them in 'metadata'
        if isinstance(value, str):
            doc[key] = text(value, key)
    tags = model.get("tags") or block.get("tags")
    if tags:
        doc["tags"] = string_list(tags, "tags")
    return doc


def _afs_version(model: str, version: str, raw: Mapping[str, Any], base: Path, stamp: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    where = f"{model}:{version}"
    fields = dict(raw)
    fields.pop("version", None)
    extra: dict[str, Any] = {}
    training, unknown = _training(fields.pop("training", None) or {})
    if unknown:
        extra["training"] = unknown
    top = {k: fields.pop(k) for k in [*DURATION_UNITS, "cost_usd", "base_model"] if k in fields}
    top_known, top_rest = _training(top)
    training = {**top_known, **training}  # the training section wins over a loose top-level field
    extra.update(top_rest)
    metrics: dict[str, float] = {}
    for key in ("evaluation_scores", "metrics"):
        found, other = split_metrics(fields.pop(key, None) or {})
        metrics.update(found)
        if other:
            extra[key] = other
    artifacts, missing = [], []
    for key, role in ARTIFACT_KEYS.items():
        if fields.get(key):
            record, exists = _artifact(fields.pop(key), base, role, where)
            artifacts.append(record)
            if not exists:
                missing.append(record["path"])
        fields.pop(key, None)
    if missing:
        warnings.append(f"{where}: artifact {', '.join(missing)} does not exist; the version is marked missing")
    tags = string_list(fields.pop("tags", None), "tags")
    status = fields.pop("status", None)
    deployed = bool(fields.pop("deployed", False)) or status == "deployed"
    if deployed:
        # Live links are not recreated: what AFS served is recorded, not deployed here.
        tags = string_list([*tags, "afs-deployed"], "tags")
        extra["afs_deployed"] = True
    if status not in STATUSES or status == "deployed":
        if status not in (None, "deployed"):
            extra["afs_status"] = status
        status = "completed"
    doc = {
        "status": status,
        "created_at": to_time(fields.pop("created_at"), where) if fields.get("created_at") is not None else None,
        "artifacts": artifacts,
        "metrics": metrics,
        "training": training,
        "training_data": _data_sources(fields.pop("training_data_sources", None)),
        "git_commit": text(fields.pop("git_commit", None), "git_commit") or None,
        "parent": _parent(fields.pop("parent_version", None), model, where),
        "tags": tags,
        "notes": text(fields.pop("notes", None), "notes"),
        "missing": bool(missing),
        "problems": [f"artifact {p} did not exist when imported" for p in missing],
    }
    fields.pop("created_at", None)
    extra.update(jsonable(fields))  # whatever else AFS kept
    doc["extra"] = extra
    return _document(model, version, doc, stamp)


def _apply_lineage(plan: ImportPlan, edges: list[tuple[str, str]]) -> None:
    """Give versions the parents lineage.json names; registry.json's own parent_version wins."""
    by_ref = {f"{d['model']}:{d['version']}": d for d in plan.versions}
    unknown: list[str] = []
    for parent, child in edges:
        doc = by_ref.get(child)
        if doc is None:
            unknown.append(child)
            continue
        ref = _parent(parent, doc["model"], f"lineage.json, {child}")
        if not doc.get("parent"):
            doc["parent"] = ref
        elif doc["parent"] != ref:
            others = doc.setdefault("extra", {}).setdefault("other_parents", [])
            if ref not in others:
                others.append(ref)
    if unknown:
        plan.warnings.append(f"lineage.json names {len(unknown)} versions registry.json does not have ({', '.join(unknown[:3])}); ignored")
