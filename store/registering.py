"""What ``Registry.register`` adds to a new version's document besides the caller's own fields:
the objects it saves, the calling script, the signature. A leaf: it never imports the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from store import signatures, source_script
from store.errors import BadMetadata
from store.values import jsonable

TRAINING_FIELDS = ("framework", "base_model", "samples", "epochs", "batch_size", "learning_rate", "duration", "cost", "hardware")
COUNTS = frozenset({"samples", "epochs", "batch_size", "learning_rate", "duration", "cost"})  # never below zero


def add_found_fields(doc: dict[str, Any], folder: Path, model: str, records: list[dict[str, Any]],
                     live_objects: Mapping[str, Any], *, source: str | bool | None,
                     signature: Mapping[str, Any] | None) -> None:
    """Fill ``doc`` (being built by register) with the sidecar ``source``, the calling script
    (unless ``source`` is False), the saved ``live_objects`` (the user's params and training win
    over what is extracted) and the signature: the given one, else the objects' or an MLmodel's."""
    if source:
        doc["source"] = str(source)
    if source is not False:
        doc.update(source_script.calling_script() or {})
    if live_objects:
        from store import objects  # saving objects pulls in joblib only when there are any

        saved = objects.registration_fields(folder, model, records, dict(live_objects))
        doc["artifacts"] = saved["artifacts"]
        doc["estimator"] = saved.get("estimator")
        doc["params"] = {**saved.get("params", {}), **doc["params"]}  # the user's own win
        doc["training"] = {**saved["training"], **doc["training"]}
        doc["scan"] = saved["scan"]
    doc["signature"] = signature or signatures.from_objects(doc["artifacts"]) or signatures.from_artifacts(doc["artifacts"])


def training_fields(training: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``training`` fields given to register or update, checked."""
    result = {}
    for key, value in (training or {}).items():
        if key not in TRAINING_FIELDS:
            raise BadMetadata(f"unknown training field '{key}': use {', '.join(TRAINING_FIELDS)}")
        if key in COUNTS and isinstance(value, (int, float)) and not isinstance(value, bool) and not value >= 0:
            raise BadMetadata(f"bad training {key} {value!r}: give a number of zero or more")
        if value is not None:
            result[key] = jsonable(value)
    return result


def scan_records(store: Any, records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The restricted loader's verdict on the artifacts, if any would unpickle; a URL's bytes are
    judged in their verified local copy (``store.materialize``), the very bytes a load reads."""
    from store.safety.loader import scan_paths, scannable_files  # the loader (zipfile and all) only when registering files

    local = [str(store.materialize(a)) for a in records]
    if not any(scannable_files(path) for path in local):
        return None
    return scan_paths(local).to_dict()
