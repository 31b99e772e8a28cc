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
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from store import artifacts as artifact_files
from store.transfer.afs_lineage import lineage_edges
from store.transfer.bundle import ImportPlan, ImportResult, import_bundle, insert_plan
from store.errors import BadMetadata, ModelregError
from store.lifecycle import STATUSES
from store.registry import TRAINING_FIELDS, Registry
from store.stamps import now, whoami
from store.values import check_name, jsonable, string_list, text
from store.versions import validate as validate_version

FORMATS = ("bundle", "afs", "experiments")

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
GENERIC_STEMS = ("experiment_history", "experiments", "history")


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
