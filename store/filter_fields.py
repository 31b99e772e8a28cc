"""Predicates over a version document's lists, parent and artifacts, for :mod:`store.filters`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]


def artifact_role(same: Callable[[str], bool]) -> Predicate:
    def artifact_role(doc: Mapping[str, Any]) -> bool:
        return any(isinstance(a, Mapping) and a.get("role").__class__ is str and same(a["role"]) for a in doc.get("artifacts") or ())

    return artifact_role


def in_list(field: str, matches: Callable[[str], bool]) -> Predicate:
    def in_list(doc: Mapping[str, Any]) -> bool:
        for item in doc.get(field) or ():
            if item.__class__ is str and matches(item):
                return True
        return False

    return in_list


def parent_is(value: str, same: Callable[[str], bool]) -> Predicate:
    whole_ref = ":" in value  # else only the parent's version part is compared

    def parent(doc: Mapping[str, Any]) -> bool:
        ref = doc.get("parent")
        if ref.__class__ is not str:
            return False
        return same(ref if whole_ref else ref.rpartition(":")[2])

    return parent


def framework_of(test: Callable[[Any], bool]) -> Predicate:
    """Any of training.framework and each artifact's framework passes ``test``."""

    def framework(doc: Mapping[str, Any]) -> bool:
        training = doc.get("training")
        if isinstance(training, dict) and "framework" in training and test(training["framework"]):
            return True
        for artifact in doc.get("artifacts") or ():
            if isinstance(artifact, dict) and "framework" in artifact and test(artifact["framework"]):
                return True
        return False

    return framework
