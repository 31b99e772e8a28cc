"""modelreg's documents as MLflow sees them, and back.

A version's fields are tags of its MLflow model version, one tag per field, named ``modelreg.FIELD``
and holding the field as JSON, so an MLflow user sees ``modelreg.status``, ``modelreg.metrics``...
next to their own tags. The version's name in modelreg's scheme is ``modelreg.version`` (``vN`` by
default, N being MLflow's own number); the content key is ``modelreg.key``. A model's fields are
``modelreg.FIELD`` tags of the registered model. A version registered by a plain MLflow client has
no such tags: it is shown as ``vN``, completed, with its source. A version with a run (a plain MLflow
client's, usually) shows its run's metrics and params under modelreg's, and a version's tags that are
not modelreg's show under ``extra.mlflow_tags``.
"""

from __future__ import annotations

import json
import math
import os
import urllib.parse
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from store.backends.artifacts import is_url
from store.backends.protocol import Doc

PREFIX = "modelreg."
NAME_TAG, KEY_TAG = PREFIX + "version", PREFIX + "key"
# An edit of several fields is one tag per field, so several requests: it first writes its whole
# intent here ({"set": {...}, "unset": [...]}) and deletes it when done. While it is there, readers take
# its fields over the tags', so a writer (or a server) that dies half-way leaves the edit whole.
PENDING_TAG = "modelreg:pending"
FOREIGN = "mlflow_tags"  # under ``extra``: the version's tags that are neither MLflow's nor modelreg's
MAX_TAG = 100_000  # MLflow's limit on a model registry tag's value
#: Fields kept elsewhere than a ``modelreg.FIELD`` tag of their own.
RESERVED = frozenset({"model", "version", "content_key", "mlflow"})
_STATUS = {"PENDING_REGISTRATION": "draft", "FAILED_REGISTRATION": "archived"}
# What a version's structured fields must be for modelreg to use them.
_SHAPES: dict[str, type] = {"metrics": dict, "params": dict, "training": dict, "extra": dict, "metric_history": dict,
                            "tags": list, "artifacts": list}


def default_name(number: int | str) -> str:
    return f"v{number}"


def field_tags(doc: Mapping[str, Any]) -> list[dict[str, str]]:
    """The ``modelreg.FIELD`` tags of a document's fields (JSON; NaN and Infinity refused upstream)."""
    return [{"key": PREFIX + k, "value": json.dumps(_own(k, v), allow_nan=False, separators=(",", ":"))}
            for k, v in doc.items() if k not in RESERVED]


def foreign_tags(doc: Mapping[str, Any]) -> list[dict[str, str]]:
    """A new version's ``extra.mlflow_tags`` as the plain tags they were (an import from another
    registry, say); never a tag of MLflow's or modelreg's own."""
    extra = doc.get("extra")
    tags = extra.get(FOREIGN) if isinstance(extra, dict) else None
    if not isinstance(tags, dict):
        return []
    return [{"key": k, "value": v if isinstance(v, str) else json.dumps(v)} for k, v in tags.items()
            if isinstance(k, str) and 0 < len(k) <= 250 and _foreign(k)]


def _foreign(key: str) -> bool:
    """A version tag that is neither MLflow's own nor modelreg's."""
    return not key.startswith(("mlflow.", PREFIX)) and key != PENDING_TAG


def _own(field: str, value: Any) -> Any:
    """``extra`` without the version's MLflow tags, which are read from the tags themselves."""
    if field == "extra" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k != FOREIGN}
    return value


def tags_of(answer: Mapping[str, Any]) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in answer.get("tags", ()) if "key" in t}


def _iso(millis: Any) -> str:
    try:
        return datetime.fromtimestamp(int(millis) / 1000, timezone.utc).isoformat(timespec="seconds")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def _fields(tags: Mapping[str, str], where: str, problems: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in tags.items():
        if not key.startswith(PREFIX) or key in (NAME_TAG, KEY_TAG):
            continue
        name = key[len(PREFIX):]
        if not name or name in RESERVED:
            continue
        try:
            fields[name] = json.loads(value)
        except ValueError:
            # Written by hand in MLflow's UI, say: kept as the text it is, and reported.
            fields[name] = value
            problems.append(f"{where}: tag {key} is not JSON; shown as the text it holds")
    return fields


def version_doc(answer: Mapping[str, Any], problems: list[str], run: Mapping[str, Any] | None = None) -> Doc:
    """A version document from MLflow's ``model_version`` (``run``: its run, for a plain-MLflow version)."""
    tags = tags_of(answer)
    number = str(answer.get("version", ""))
    model = str(answer.get("name", ""))
    where = f"{model} version {number}"
    own = any(k.startswith(PREFIX) for k in tags) or PENDING_TAG in tags
    doc: Doc = _fields(tags, where, problems) if own else {}
    pending = _pending(tags, where, problems)
    if pending is not None:
        doc.update({k: v for k, v in pending["set"].items() if k not in RESERVED})
        for name in pending["unset"]:
            if name not in RESERVED:
                doc.pop(name, None)
    for name, kind in _SHAPES.items():  # a tag edited by hand may hold anything: never a traceback further on
        if name in doc and not isinstance(doc[name], kind):
            problems.append(f"{where}: tag {PREFIX}{name} is not a JSON {kind.__name__.replace('dict', 'object')}; left out")
            del doc[name]
    name = tags.get(NAME_TAG) or default_name(number)
    doc["model"], doc["version"] = model, name
    if tags.get(KEY_TAG):
        doc["content_key"] = tags[KEY_TAG]
    doc.setdefault("status", _STATUS.get(str(answer.get("status")), "completed"))
    if not isinstance(doc["status"], str):
        problems.append(f"{where}: modelreg.status is not text; shown as completed")
        doc["status"] = "completed"
    doc.setdefault("created_at", _iso(answer.get("creation_timestamp")))
    if answer.get("user_id"):
        doc.setdefault("registered_by", str(answer["user_id"]))
    if answer.get("description"):
        doc.setdefault("notes", str(answer["description"]))
    mlflow: dict[str, Any] = {"number": int(number) if number.isdigit() else number}
    for key in ("source", "run_id"):
        if answer.get(key):
            mlflow[key] = answer[key]
    if pending is not None:
        mlflow["pending"] = pending
    doc["mlflow"] = mlflow
    foreign = {k: v for k, v in tags.items() if _foreign(k)}
    if foreign and isinstance(extra := doc.get("extra", {}), dict):
        doc["extra"] = {**_own("extra", extra), FOREIGN: foreign}
    if run is not None:
        # The run is where MLflow users log: per metric, the newer of its latest value and modelreg's
        # last recorded one (modelreg logs its own there too, see store.backends.mlflow.runs). Its
        # params cannot change once logged, so modelreg's win.
        stamped, params = run_values(run)
        mine = doc.get("metrics") if isinstance(doc.get("metrics"), dict) else {}
        metrics = dict(mine)
        for key, (value, stamp) in stamped.items():
            if key not in mine or _last_recorded(doc, key) < stamp:
                metrics[key] = value
        params = {**params, **(doc["params"] if isinstance(doc.get("params"), dict) else {})}
        for key, merged in (("metrics", metrics), ("params", params)):
            if merged:
                doc[key] = merged
    return doc


def _last_recorded(doc: Mapping[str, Any], metric: str) -> float:
    """When modelreg last recorded ``metric`` (ms since the epoch; 0 if it never did)."""
    history = doc.get("metric_history")
    points = history.get(metric) if isinstance(history, dict) else None
    try:
        return datetime.fromisoformat(points[-1]["at"]).timestamp() * 1000
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError):
        return 0.0


def _pending(tags: Mapping[str, str], where: str, problems: list[str]) -> dict[str, Any] | None:
    if PENDING_TAG not in tags:
        return None
    try:
        intent = json.loads(tags[PENDING_TAG])
        if isinstance(intent.get("set"), dict) and isinstance(intent.get("unset"), list):
            return {"set": intent["set"], "unset": [str(n) for n in intent["unset"]]}
    except (ValueError, AttributeError):
        pass
    problems.append(f"{where}: tag {PENDING_TAG} is not an edit modelreg wrote; left out")
    return None


def run_values(run: Mapping[str, Any]) -> tuple[dict[str, tuple[float, int]], dict[str, str]]:
    """A run's latest metrics (finite ones, each with its time in ms) and its params, from MLflow's
    ``runs/get`` answer."""
    data = run.get("data", {}) if isinstance(run, Mapping) else {}
    metrics = {}
    for metric in data.get("metrics", ()):
        value, stamp = metric.get("value"), metric.get("timestamp", 0)
        if isinstance(value, (int, float)) and math.isfinite(value) and "key" in metric:
            metrics[str(metric["key"])] = (value, int(stamp) if isinstance(stamp, (int, str)) and str(stamp).isdigit() else 0)
    params = {str(p["key"]): str(p.get("value", "")) for p in data.get("params", ()) if "key" in p}
    return metrics, params


def model_doc(answer: Mapping[str, Any], name: str, problems: list[str]) -> Doc:
    """A model document from MLflow's ``registered_model``; ``name`` without the registry's prefix."""
    doc = _fields(tags_of(answer), f"model {name}", problems)
    doc["name"] = name
    doc.setdefault("created_at", _iso(answer.get("creation_timestamp")))
    if answer.get("description") and "description" not in doc:
        doc["description"] = str(answer["description"])
    return doc


def aliases_of(answer: Mapping[str, Any]) -> dict[str, str]:
    """alias -> MLflow version number, from a registered model (listing versions returns none: MLflow #16734)."""
    return {str(a["alias"]): str(a["version"]) for a in answer.get("aliases", ()) if "alias" in a and "version" in a}


def source_of(doc: Mapping[str, Any]) -> str:
    """The MLflow ``source`` of a new version: its primary artifact. A URL (``s3://...``) as it is, so an
    MLflow client can fetch it; a local file as ``modelreg://HOST/PATH``. MLflow never lets a source
    change, so an upload made after the version appears is named in the ``modelreg.artifacts`` tag."""
    artifacts = doc.get("artifacts") or []
    path = str(artifacts[0].get("path", "")) if artifacts and isinstance(artifacts[0], dict) else ""
    if is_url(path):
        return path  # checked by the artifact store before it was read: no "..", no odd characters
    local = urllib.parse.quote(path) if path.startswith("/") and "/../" not in path else "/unknown"
    return f"modelreg://{os.uname().nodename}{local}"
