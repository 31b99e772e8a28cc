"""Choosing versions by a metric or a training field, within a model or across all of them."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from store.errors import UnknownVersion
from store.metrics import lower_is_better, to_number

if TYPE_CHECKING:
    from store.records import Version
    from store.registry import Registry

SECTIONS = ("metrics", "training", "params", "extra")


def value_of(version: Version, name: str) -> float | int | None:
    """The number ``name`` names on a version: a metric (``accuracy`` or ``metrics.accuracy``) or
    another section's field (``training.cost``, ``params.C``); None if it has none."""
    section, dot, field = name.partition(".")
    if dot and section in SECTIONS:
        return to_number(getattr(version, section).get(field))
    return to_number(version.metrics.get(name))


def field_name(name: str) -> str:
    """What decides the direction: ``training.cost`` is judged as ``cost``."""
    section, dot, field = name.partition(".")
    return field if dot and section in SECTIONS else name


def best_of(versions: list[Version], name: str, directions_for: Any) -> Version | None:
    """The best of ``versions`` by ``name`` (its direction from ``directions_for(model)``); the
    newer version wins a tie."""
    scored = []
    for v in versions:
        value = value_of(v, name)
        if value is not None:
            lower = lower_is_better(field_name(name), directions_for(v.model))
            scored.append(((-value if lower else value, v.created_at), v))
    return max(scored, key=lambda pair: pair[0])[1] if scored else None


def best_in_model(registry: Registry, model: str, name: str) -> Version:
    found = best_of(registry.versions(model), name, registry.directions)
    if found is None:
        raise UnknownVersion(f"no version of '{model}' has '{name}'")
    return found


def common_metric(registry: Registry) -> str | None:
    """The metric most models use as their primary one (for ``best --all`` without ``--metric``)."""
    counts = Counter(m for m in (registry.primary_metric(model.name) for model in registry.models()) if m)
    return counts.most_common(1)[0][0] if counts else None


def best_overall(registry: Registry, metric: str | None = None) -> Version:
    """The best version across every model by ``metric`` (default: the most common primary metric)."""
    metric = metric or common_metric(registry)
    if metric is None:
        raise UnknownVersion("no version has metrics yet; add some with 'modelreg score'")
    versions = [v for model in registry.models() for v in registry.versions(model.name)]
    found = best_of(versions, metric, registry.directions)
    if found is None:
        raise UnknownVersion(f"no version of any model has '{metric}'")
    return found
