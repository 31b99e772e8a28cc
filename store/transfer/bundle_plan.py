"""Writing an import plan (from a bundle or a foreign format): parents first, checked for conflicts and
cycles before anything is written, then every document in one transaction.
"""

from __future__ import annotations

from typing import Any

from store.errors import BundleError
from store.registry import Registry
from store.stamps import now
from store.transfer.bundle_export import _parents_first
from store.transfer.bundle_format import ImportPlan, ImportResult, _ref, _refs

# -- import: checks and inserts shared by every format ------------------------------------------


def _order(registry: Registry, plan: ImportPlan, skip_existing: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """The versions to insert, parents first, and those skipped as already present.

    Refuses (nothing written) on conflicts, duplicates, missing parents and cycles.
    Call with the registry's lock held and caught up.
    """
    existing: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in registry.all_version_docs():
        existing.setdefault(doc["model"], {})[doc["version"]] = doc
    present = [_ref(d) for d in plan.versions if d["version"] in existing.get(d["model"], {})]
    if present and not skip_existing:
        raise BundleError(
            f"{_refs(present)} already exist in the registry; versions are never overwritten "
            "(remove them first, or pass --skip-existing to import only the others)"
        )
    incoming: dict[str, dict[str, Any]] = {}
    for doc in plan.versions:
        ref = _ref(doc)
        if ref in incoming:
            raise BundleError(f"{ref} appears twice in {plan.source}; fix the file so each version appears once")
        if ref not in present:
            incoming[ref] = doc

    def in_target(ref: str) -> bool:
        model, _, version = ref.partition(":")
        return version in existing.get(model, {})

    # A parent removed from the registry it came from is a name with no version there ("retired" in its
    # model's record). It may stay a name here too, if no version here can ever take it: the model is
    # new here (its record, retired names and all, comes along), or this registry retired the name too.
    target_models = {d["name"]: d for d in registry.model_docs()}
    retired = {f"{m['name']}:{v}" for m in plan.models if m["name"] not in target_models for v in m.get("retired", ())}
    retired |= {f"{name}:{v}" for name, m in target_models.items() for v in m.get("retired", ())}
    for ref, doc in incoming.items():
        parent = doc.get("parent")
        if parent and parent not in incoming and not in_target(parent) and parent not in retired:
            raise BundleError(
                f"parent {parent} of {ref} is neither in {plan.source} nor in this registry; "
                f"import or register {parent} first, or export again with --with-parents"
            )
    ordered = _parents_first(list(incoming.values()))
    for doc in ordered:
        _check_no_cycle(existing, doc, incoming)
    return ordered, present


def _check_no_cycle(existing: dict[str, dict[str, dict[str, Any]]], doc: dict[str, Any], incoming: dict[str, dict[str, Any]]) -> None:
    ref, seen = doc.get("parent"), {_ref(doc)}
    while ref:
        if ref in seen:
            raise BundleError(f"the parents of {_ref(doc)} form a cycle through {ref}; fix the lineage in the source")
        seen.add(ref)
        if ref in incoming:
            ref = incoming[ref].get("parent")
        else:
            model, _, version = ref.partition(":")
            found = existing.get(model, {}).get(version)
            ref = found.get("parent") if found else None


def check_plan(registry: Registry, plan: ImportPlan, *, skip_existing: bool = False) -> list[dict[str, Any]]:
    """The versions an import would add (parents first); raises if it would be refused."""
    with registry.reading():
        return _order(registry, plan, skip_existing)[0]


def insert_plan(registry: Registry, plan: ImportPlan, *, skip_existing: bool = False, artifacts: int = 0) -> ImportResult:
    """Insert a plan's documents in one transaction, re-checking it under the write lock.

    Documents are written as they are (created_at, registered_by and status kept),
    which is why this goes through ``Registry.add_documents`` and not ``Registry.register``.
    """
    with registry.transaction():
        ordered, skipped = _order(registry, plan, skip_existing)
        names = list(dict.fromkeys(d["model"] for d in ordered))
        model_docs = {m["name"]: m for m in plan.models}
        known = set(registry.model_names())
        new_models = [model_docs.get(name) or {"name": name, "created_at": now()} for name in names if name not in known]
        registry.add_documents(new_models, ordered)
        history = _new_history(registry, plan.history)
        for entry in history:
            # The backend numbers it (seq), after the target's own entries.
            registry.append_history(entry)
    return ImportResult(
        source=plan.source,
        format=plan.format,
        models=names,
        versions=[_ref(d) for d in ordered],
        skipped=skipped,
        history=len(history),
        artifacts=artifacts,
        warnings=list(plan.warnings),
    )


def _new_history(registry: Registry, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The imported history entries not already in the target (an earlier import of the same history)."""

    def key(d: dict[str, Any]) -> tuple[Any, ...]:
        return (d.get("model"), d.get("env"), d.get("action"), d.get("from"), d.get("to"), d.get("at"))

    known = {key(d) for d in registry.history_entries()}
    return [entry for entry in entries if key(entry) not in known]
