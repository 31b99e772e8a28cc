"""The lineage.json shapes AFS tools write, read as (parent, child) edges for :mod:`store.transfer.importers`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from store.errors import BadMetadata


def lineage_edges(data: Any, path: Path) -> list[tuple[str, str]]:
    """(parent, child) pairs from the lineage.json shapes AFS tools write:
    {"edges": [{"parent", "child"} | [parent, child]]}, {child: {"parent" | "parents"}}, {parent: [children]}."""
    if isinstance(data, Mapping) and isinstance(data.get("lineage"), (Mapping, list)):
        data = data["lineage"]
    if isinstance(data, Mapping) and isinstance(data.get("lineages"), (Mapping, list)):
        data = _lineages(data["lineages"])
    if isinstance(data, Mapping) and isinstance(data.get("edges"), list):
        data = data["edges"]
    edges: list[tuple[str, str]] = []
    if isinstance(data, list):
        for edge in data:
            if isinstance(edge, Mapping) and edge.get("parent") and edge.get("child"):
                edges.append((edge["parent"], edge["child"]))
            elif isinstance(edge, list) and len(edge) == 2:
                edges.append((edge[0], edge[1]))
            else:
                raise BadMetadata(f"{path}: cannot read the lineage edge {edge!r:.60}; write {{\"parent\": ..., \"child\": ...}}")
    elif isinstance(data, Mapping):
        for key, value in data.items():
            if isinstance(value, list):  # parent -> children
                edges.extend((key, child) for child in value)
            elif isinstance(value, Mapping):  # child -> {"parent": ...}
                parents = value.get("parents") or ([value["parent"]] if value.get("parent") else [])
                edges.extend((parent, key) for parent in parents)
            elif isinstance(value, str):  # child -> parent
                edges.append((value, key))
    else:
        raise BadMetadata(f"{path} must hold lineage edges or an object; got {type(data).__name__}")
    if not all(isinstance(p, str) and isinstance(c, str) for p, c in edges):
        raise BadMetadata(f"{path}: lineage references must be text like model:version")
    return edges


def _lineages(entries: Any) -> list[list[str]]:
    """AFS LineageTracker's ``{"lineages": {child: {"parent_model": ..., "parent_version": ...}}}``
    (or a list of such records with ``model``/``version``): each child's parent as an edge."""
    records = entries.items() if isinstance(entries, Mapping) else [(None, e) for e in entries]
    edges = []
    for key, record in records:
        if not isinstance(record, Mapping):
            raise BadMetadata(f"lineage.json: each entry of 'lineages' must be an object; got {record!r:.60}")
        child = key or f"{record.get('model') or record.get('model_name')}:{record.get('version')}"
        parents = list(record.get("parents") or ([record["parent"]] if record.get("parent") else []))
        if not parents and record.get("parent_version"):
            model = record.get("parent_model") or child.partition(":")[0]
            parents = [f"{model}:{record['parent_version']}"]
        edges.extend([str(parent), str(child)] for parent in parents)  # the [parent, child] edge shape
    return edges
