"""What ``Registry.register`` adds to a new version's document besides the caller's own fields:
the objects it saves, the calling script, the signature. A leaf: it never imports the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from store import signatures, source_script


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
