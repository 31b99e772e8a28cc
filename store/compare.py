"""Side-by-side comparison of two or more versions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from store.errors import BadReference
from store.metrics import is_improvement, lower_is_better

if TYPE_CHECKING:
    from store.registry import Registry

_MISSING = object()


def compare(registry: Registry, refs: list[str]) -> dict[str, Any]:
    """Metrics with absolute and relative change against the first version, and whether
    each change is an improvement; params added, removed and changed; tags, status, artifacts."""
    if len(refs) < 2:
        raise BadReference("compare needs at least two versions, e.g. 'modelreg compare sentiment v1 v2'")
    versions = [registry.get(ref) for ref in refs]
    base = versions[0]
    directions = registry.directions(base.model)
    metric_names = list(dict.fromkeys(name for v in versions for name in v.metrics))
    metrics = []
    for name in metric_names:
        first = base.metrics.get(name)
        row: dict[str, Any] = {"metric": name, "lower_is_better": lower_is_better(name, directions), "values": []}
        for v in versions:
            value = v.metrics.get(name)
            cell: dict[str, Any] = {"ref": v.ref, "value": value, "delta": None, "relative": None, "improved": None}
            if value is not None and first is not None and v is not base:
                cell["delta"] = value - first
                cell["relative"] = (value - first) / abs(first) if first else None
                cell["improved"] = is_improvement(name, first, value, directions)
            row["values"].append(cell)
        metrics.append(row)
    return {
        "versions": [v.ref for v in versions],
        "metrics": metrics,
        "params": [_param_changes(base.params, v.params) | {"ref": v.ref} for v in versions[1:]],
        "all_params": _all_params(versions),
        "tags": {v.ref: list(v.tags) for v in versions},
        "status": {v.ref: v.status for v in versions},
        "artifacts": {v.ref: [{"path": a["path"], "size": a.get("size"), "sha256": a.get("sha256")} for a in v.artifacts] for v in versions},
    }


def _param_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {
        "added": {k: new[k] for k in new if k not in old},
        "removed": {k: old[k] for k in old if k not in new},
        "changed": {k: {"from": old[k], "to": new[k]} for k in old if k in new and old[k] != new[k]},
    }


def _all_params(versions: list[Any]) -> list[dict[str, Any]]:
    names = list(dict.fromkeys(name for v in versions for name in v.params))
    rows = []
    for name in names:
        values = [v.params.get(name, _MISSING) for v in versions]
        differs = any(value != values[0] for value in values)
        rows.append({"param": name, "values": [None if x is _MISSING else x for x in values], "differs": differs})
    return rows
