"""One module per area of the command line; each adds its subcommands with ``add_commands``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from store.errors import BadMetadata
from store.backends.local.location import explicit_location, require_registry
from store.registry import Registry
from tui.output import literal


def open_registry(args: argparse.Namespace, *, create: bool = False, read_through: bool = True) -> Registry:
    """The registry the command names (``--registry``), else the one found by the location rules.

    A registry named outright (``--registry``, ``MODELREG_HOME``) must already exist,
    for writing commands too; only the implicit default location is created on first use.
    ``read_through``: each version the command names is read from a server again (a short command
    would not see a plain MLflow client's tag edits otherwise; a watcher's polls keep it fresh).
    """
    named = explicit_location(args.registry)
    if named is not None:
        registry = Registry(require_registry(named), create=False)
    else:
        registry = Registry(None, create=create)
    registry.read_through = read_through
    for problem in registry.problems():  # reported, never fatal: the rest of the registry works
        print(f"modelreg: warning: {literal(problem)} (see 'modelreg doctor')", file=sys.stderr)
    status = registry.sync_status()
    if status is not None and status.state == "offline":  # what follows may be out of date: say so once
        print(f"modelreg: warning: {literal(status.reason)}; showing the copy saved on this machine, which may be "
              "out of date (writes are refused until the server answers)", file=sys.stderr)
    return registry


def parse_value(text: str) -> Any:
    """``5`` -> 5, ``0.1`` -> 0.1, ``true`` -> True, ``null`` -> None, anything else stays text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_pairs(pairs: list[str], what: str) -> dict[str, Any]:
    """``["lr=0.1", "depth=5"]`` -> {"lr": 0.1, "depth": 5}, with a one-line error for a bad pair."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadMetadata(f"bad {what} '{pair}': write NAME=VALUE, e.g. accuracy=0.93")
        result[key.strip()] = parse_value(value.strip())
    return result
