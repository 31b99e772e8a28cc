"""Model objects kept in a version beside its files: saved, described, attached later, loaded by name.

A version may hold the user's own files and any number of live objects (fitted scikit-learn
estimators). Each object is saved as its own joblib artifact under ``artifacts/<model>/`` and
its artifact record carries its ``name``, ``role: "object"`` and its description (``estimator``),
so a dict or list of estimators is never pickled as one opaque object. This module works on a
:class:`~store.registry.Registry` through its public methods only.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store import artifacts as artifact_files
from store.errors import ArtifactError, BadMetadata
from store.records import Version, copy_json
from store.safety.loader import scan_paths, scannable_files
from store.values import check_name, jsonable

if TYPE_CHECKING:
    from store.registry import Registry

SINGLE = "estimator"  # the name of an object given as ``estimator=obj``
OBJECT_ROLE = "object"
SAVED_VERDICT = {"safe": True, "verdict": "safe", "reason": "saved by modelreg from a live estimator", "imports": []}
_JSON_TYPES = (str, int, float, bool, type(None), list, tuple, dict)


def is_object(value: Any) -> bool:
    """A live object to save (an estimator), as opposed to JSON-shaped data."""
    return not isinstance(value, _JSON_TYPES) and not isinstance(value, Mapping) and not hasattr(value, "tolist")


def is_object_map(value: Any) -> bool:
    """``{"rf": rf, "lr": lr}``: a mapping whose values are all objects (not an estimator description)."""
    return isinstance(value, Mapping) and bool(value) and all(is_object(v) for v in value.values())


def named_objects(estimator: Any = None, estimators: Mapping[str, Any] | Iterable[Any] | None = None) -> dict[str, Any]:
    """Every object to save, by name: ``estimator=obj`` is named "estimator"; a dict keeps its
    keys; a list is named by class (``randomforestclassifier``, then ``..._2``)."""
    found: dict[str, Any] = {}
    for group in (estimator, estimators):
        if group is None:
            continue
        if isinstance(group, Mapping):
            items = list(group.items())
        elif isinstance(group, (list, tuple)):
            items = [(type(obj).__name__.lower(), obj) for obj in group]
        else:
            items = [(SINGLE, group)]
        for name, obj in items:
            name = _unique(check_name("object", str(name)), found)
            if not is_object(obj):
                raise BadMetadata(f"object '{name}' is {type(obj).__name__} data, not a model object; pass data as params or extra")
            found[name] = obj
    return found


def _unique(name: str, taken: Mapping[str, Any]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"


def save_objects(registry_path: Path, model: str, objects: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Save each object with joblib into the registry and return their artifact records."""
    from store.safety import estimators  # joblib and sklearn load only when an object is saved

    records = []
    folder = Path(registry_path) / "artifacts" / model
    for name, obj in objects.items():
        path = estimators.save(obj, folder / f"{uuid.uuid4().hex[:12]}.joblib")
        record = artifact_files.describe(path)
        record.update(framework="sklearn", name=name, role=OBJECT_ROLE, estimator=copy_json(estimators.describe(obj)))
        records.append(record)
    return records


def worse(*scans: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """One verdict for several: the first that is not safe, else a safe one naming them all."""
    known = [dict(s) for s in scans if s]
    if not known:
        return None
    unsafe = [s for s in known if not s.get("safe")]
    if unsafe:
        return unsafe[0]
    if len(known) == 1:
        return known[0]
    return {"safe": True, "verdict": "safe", "reason": "; ".join(dict.fromkeys(s.get("reason", "") for s in known)),
            "imports": sorted({i for s in known for i in s.get("imports", [])})}


def judge(records: Iterable[Mapping[str, Any]], store: Any = None) -> dict[str, Any] | None:
    """The restricted loader's verdict on ``records`` (the callers pass the user's files, never
    what modelreg saved itself); None when none of them is a file that unpickles. ``store`` (an
    artifact store) gives a URL's verified local copy to judge."""
    paths = [str(store.materialize(r) if store else r["path"]) for r in records]
    if not any(scannable_files(p) for p in paths):
        return None
    return scan_paths(paths).to_dict()


def registration_fields(registry_path: Path, model: str, user_records: list[dict[str, Any]],
                        objects: Mapping[str, Any]) -> dict[str, Any]:
    """What saving ``objects`` adds to a new version: their artifacts after the user's files, the
    description of a single object (``estimator``) with the params it was built with, and one
    safety verdict over the user's files and the saved objects."""
    saved = save_objects(registry_path, model, objects)
    fields: dict[str, Any] = {"artifacts": [*user_records, *saved], "training": {"framework": "sklearn"}}
    if len(saved) == 1:
        fields["estimator"] = saved[0]["estimator"]
        fields["params"] = jsonable(saved[0]["estimator"].get("params", {}))
    fields["scan"] = worse(judge(user_records), SAVED_VERDICT)
    return fields


def attach(registry: Registry, ref: str, paths: Iterable[str | os.PathLike[str]] = (),
           objects: Mapping[str, Any] | None = None) -> Version:
    """Add files and/or live objects to an existing version, judged by the restricted loader.

    A path already among the version's artifacts is not added twice. The version's safety
    verdict becomes the worse of what it had and what the new files are."""
    version = registry.get(ref)
    have = {a["path"] for a in version.artifacts}
    added = [r for r in (registry.artifacts.describe(p) for p in paths) if r["path"] not in have]
    objects = dict(objects or {})
    taken = {a.get("name") for a in version.artifacts if a.get("name")}
    objects = {_unique(name, taken): obj for name, obj in objects.items()}
    saved = save_objects(registry.path, version.model, objects) if objects else []
    if not added and not saved:
        raise ArtifactError(f"{version.ref} already holds {', '.join(str(p) for p in paths) or 'nothing new'}: nothing attached")
    old_scan = version.scan
    if old_scan is None:  # never judged: judge what it already holds too (but what modelreg saved itself)
        ours = str(Path(registry.path) / "artifacts") + os.sep
        old_scan = judge([a for a in version.artifacts if not str(a["path"]).startswith(ours)], registry.artifacts)
    scan = worse(old_scan, judge(added, registry.artifacts), SAVED_VERDICT if saved else None)
    changes: dict[str, Any] = {"artifacts": [*(copy_json(a) for a in version.artifacts), *added, *saved]}
    if scan is not None:
        changes["scan"] = scan
    if len(saved) == 1 and not version.estimator:
        changes["estimator"] = saved[0]["estimator"]
        # Extracted params fill in; the user's own stay as they were (the user wins).
        changes["params"] = {**jsonable(saved[0]["estimator"].get("params", {})), **copy_json(version.params)}
    if len(saved) == 1 and not version.signature:
        from store.signatures import from_estimator

        if signature := from_estimator(saved[0]["estimator"]):
            changes["signature"] = signature
    if saved and not version.training.get("framework"):
        changes["training"] = {"framework": "sklearn"}
    return registry.update(version.ref, **changes)


def object_artifact(version: Version, name: str | None) -> int | None:
    """Which artifact ``load(ref, name=...)`` means: the one named ``name`` (or whose file is
    called that); with no name, the version's only object when it also holds other files."""
    objects = [i for i, a in enumerate(version.artifacts) if a.get("name")]
    if name is None:
        return objects[0] if len(objects) == 1 and len(version.artifacts) > 1 else None
    for i, record in enumerate(version.artifacts):
        if record.get("name") == name or os.path.basename(str(record.get("path", ""))) == name:
            return i
    names = [str(version.artifacts[i]["name"]) for i in objects]
    raise ArtifactError(f"{version.ref} has no object named '{name}'; it holds {', '.join(names) or 'no named objects'}")
