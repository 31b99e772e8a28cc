"""Lineage: where a version came from, what came from it, and on what data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from store.errors import ModelregError
from store.records import Version

if TYPE_CHECKING:
    from store.registry import Registry


def ancestors(registry: Registry, ref: str) -> list[Version]:
    """Parent, grandparent, … (nearest first), across models."""
    chain: list[Version] = []
    version = registry.get(ref)
    seen = {version.ref}
    while version.parent and version.parent not in seen:
        seen.add(version.parent)
        try:
            version = registry.get(version.parent)
        except ModelregError:  # a parent removed with --force ends the chain
            break
        chain.append(version)
    return chain


def descendants(registry: Registry, ref: str) -> list[Version]:
    """Children, grandchildren, … breadth first, across models."""
    found: list[Version] = []
    queue = [registry.get(ref).ref]
    seen = set(queue)
    while queue:
        for child in registry.children(queue.pop(0)):
            if child.ref not in seen:
                seen.add(child.ref)
                found.append(child)
                queue.append(child.ref)
    return found


def tree(registry: Registry, model: str) -> list[dict[str, Any]]:
    """A model's versions as a forest: ``{"version": Version, "children": [...], "external_parent": ref}``.

    Roots are versions without a parent in this model; a root whose parent is
    another model's version (a fine-tune of ``base:v4``) names it.
    """
    versions = registry.versions(model)
    by_ref = {v.ref: {"version": v, "children": [], "external_parent": None} for v in versions}
    roots = []
    for v in versions:
        node = by_ref[v.ref]
        if v.parent in by_ref:
            by_ref[v.parent]["children"].append(node)
        else:
            node["external_parent"] = v.parent
            roots.append(node)
    return roots


def data_lineage(registry: Registry, ref: str) -> list[dict[str, Any]]:
    """The training data of a version and of each of its ancestors, nearest first."""
    chain = [registry.get(ref), *ancestors(registry, ref)]
    return [{"ref": v.ref, "training_data": list(v.training_data), "git_commit": v.git_commit} for v in chain]


def render_tree(roots: list[dict[str, Any]], describe: Any = None) -> list[str]:
    """Text lines of a forest from :func:`tree`, with box-drawing branches."""
    lines: list[str] = []

    def walk(node: dict[str, Any], prefix: str, last: bool, top: bool) -> None:
        v: Version = node["version"]
        label = describe(v) if describe else v.version
        if top:
            origin = f"  (from {node['external_parent']})" if node["external_parent"] else ""
            lines.append(f"{label}{origin}")
            child_prefix = ""
        else:
            lines.append(f"{prefix}{'└── ' if last else '├── '}{label}")
            child_prefix = prefix + ("    " if last else "│   ")
        for i, child in enumerate(node["children"]):
            walk(child, child_prefix, i == len(node["children"]) - 1, False)

    for root in roots:
        walk(root, "", True, True)
    return lines
