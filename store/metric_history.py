"""Every value a version's metric has had: value, time, who, and the evaluation data's sha256.

A version document keeps ``metric_history``: ``{metric: [{"value", "at", "by", "data"?}, ...]}``,
oldest first. Nothing is written at registration (the value registered is the first point,
dated by ``created_at``/``registered_by``); the first later change writes that point and the new
one, so registering stays as small as ever. A point is added when a value changes, and for
every evaluation (a point that names its data), even when the value did not change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from store.metrics import lower_is_better

if TYPE_CHECKING:
    from store.records import Version
    from store.registry import Registry

FIELD = "metric_history"


def record(doc: Mapping[str, Any], metrics: Mapping[str, float], at: str, by: str, data: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """The document's history with ``metrics`` added as new points (a new dict, never edited in place)."""
    history = {k: list(v) for k, v in (doc.get(FIELD) or {}).items()}
    current = doc.get("metrics") or {}
    for name, value in metrics.items():
        points = history.get(name)
        if not points and name in current:  # the registered value becomes the first point
            points = [{"value": current[name], "at": doc.get("created_at", ""), "by": doc.get("registered_by", "")}]
        points = points or []
        if data is None and points and points[-1]["value"] == value:
            continue  # the same value again (a sidecar read twice): not a new point
        point: dict[str, Any] = {"value": value, "at": at, "by": by}
        if data:
            point["data"] = data
        history[name] = [*points, point]
    return history


def series(version: Version, metric: str) -> list[dict[str, Any]]:
    """Every point of ``metric`` of ``version``, oldest first (one point when it never changed)."""
    points = (version.metric_history or {}).get(metric)
    if points:
        return [dict(p) for p in points]
    if metric in version.metrics:
        return [{"value": version.metrics[metric], "at": version.created_at, "by": version.registered_by}]
    return []


def all_series(version: Version) -> dict[str, list[dict[str, Any]]]:
    names = list(dict.fromkeys([*version.metrics, *(version.metric_history or {})]))
    return {name: series(version, name) for name in names}


def drift(version: Version, directions: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Metrics whose latest evaluation is worse than the one before it:
    ``{metric: {"from": first value, "to": latest, "drop": latest - first, "previous": ...}}``.
    Only evaluations count (points that name their data), with the registered value before them."""
    found: dict[str, dict[str, Any]] = {}
    for name, points in all_series(version).items():
        evaluated = [p for p in points if p.get("data")]
        if not evaluated:
            continue
        values = [points[0]["value"], *(p["value"] for p in evaluated)] if not points[0].get("data") else [p["value"] for p in evaluated]
        if len(values) < 2:
            continue
        lower = lower_is_better(name, directions)
        previous, latest = values[-2], values[-1]
        if (latest > previous) if lower else (latest < previous):
            found[name] = {"from": values[0], "previous": previous, "to": latest, "drop": latest - values[0]}
    return found


def live_drift(registry: Registry) -> list[dict[str, Any]]:
    """Every live version with a metric drifting: ``{"model", "env", "ref", "metric", "from", "to", "drop"}``."""
    rows = []
    for model, envs in sorted(registry.live_map().items()):
        directions = registry.directions(model)
        for env, version in sorted(envs.items()):
            v = registry.get(f"{model}:{version}")
            for metric, change in drift(v, directions).items():
                rows.append({"model": model, "env": env, "ref": v.ref, "metric": metric, **change})
    return rows
