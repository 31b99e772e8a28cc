"""``modelreg doctor [--fix]``: check a registry's files; repair what can be repaired."""

from __future__ import annotations

import argparse
from typing import Any

from store.backends.local.adopt import adopt
from store.backends.local.doctor import examine
from store.errors import ModelregError, RegistryNotFound
from store.backends.local.location import explicit_location, find_registry, is_registry, require_registry
from tui.output import emit


def add_commands(commands: Any) -> None:
    help = "check the registry's files and say what is wrong; --fix repairs what can be repaired without losing data"
    p = commands.add_parser("doctor", help=help, description=help)
    p.set_defaults(run=cmd_doctor)
    p.add_argument("--fix", action="store_true", help="repair (damaged bytes are kept in FILE.damaged)")
    p.add_argument(
        "--adopt", action="store_true",
        help="take changes another program (a plain TinyDB, an editor) made to registry.json in as journaled writes",
    )


def cmd_doctor(args: argparse.Namespace) -> int:
    named = explicit_location(args.registry)
    if isinstance(named, str):
        raise ModelregError(f"doctor checks a local registry's files; {named} is an MLflow server, which keeps its own "
                            "(problems with its tags show as warnings on every command)")
    path = require_registry(named) if named is not None else find_registry(None)
    if named is None and not is_registry(path):
        raise RegistryNotFound(f"no registry at {path}: nothing to check (pass --registry PATH)")
    if args.adopt:
        return _adopt(path)
    report = examine(path, fix=args.fix)
    for finding in report.findings:
        mark = "ok" if finding.message == "no problems found" else "fixed" if finding.fixed else "problem"
        emit(f"{mark}: {finding.message}")
    if report.outside_edit:
        emit("run 'modelreg doctor --adopt' to take the outside changes in; nothing was changed")
    elif not report.healthy and not args.fix:
        emit("run 'modelreg doctor --fix' to repair what can be repaired; nothing was changed")
    return 0 if report.healthy else 1


def _adopt(path: Any) -> int:
    result = adopt(path)
    if not result.resealed:
        emit("nothing to adopt: registry.json is as modelreg last wrote it")
        return 0
    if not result.adopted and not result.rejected:
        emit("registry.json was rewritten by another program but no document changed; sealed again")
        return 0
    for line in result.adopted:
        emit(f"adopted: {line}")
    for line in result.rejected:
        emit(f"left out: {line}")
    if result.kept_in is not None:
        emit(f"what was left out is kept in {result.kept_in}; correct it and add it again")
    emit("registry.json is sealed again: modelreg writes to it as before")
    return 1 if result.rejected else 0
