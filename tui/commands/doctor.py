"""``modelreg doctor [--fix]``: check a registry's files; repair what can be repaired."""

from __future__ import annotations

import argparse
from typing import Any

from store.backends.local.adopt import adopt
from store.backends.local.doctor import Finding, examine
from store.deploy.pinning import pinned_root
from store.deploy.recording import PENDING, deploy_lock
from store.deploy.repair import link_problems, repair
from store.registry import Registry
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
    # The links are read through the registry, which may be opened only once its files are sound
    # (opening tidies up: a check that is not --fix must change nothing).
    links = _links(path, fix=args.fix) if report.healthy else []
    if links and report.findings and report.findings[0].message == "no problems found":
        report.findings.clear()
    report.findings.extend(links)
    for finding in report.findings:
        mark = "ok" if finding.message == "no problems found" else "fixed" if finding.fixed else "problem"
        emit(f"{mark}: {finding.message}")
    if report.outside_edit:
        emit("run 'modelreg doctor --adopt' to take the outside changes in; nothing was changed")
    elif not report.healthy and not args.fix:
        emit("run 'modelreg doctor --fix' to repair what can be repaired; nothing was changed")
    return 0 if report.healthy else 1


def _links(path: Any, *, fix: bool) -> list[Finding]:
    """The deploy links that disagree with what is live; with ``fix``, brought in line as a deploy
    would (a link moved by hand is recorded as a repair, a deleted one recreated)."""
    if not fix and (pinned_root(path) / PENDING).exists():  # opening would complete it: a write
        return [Finding("a deploy was interrupted after switching its link and before recording it; "
                        "'modelreg doctor --fix' (or the next deploy) records it")]
    try:
        registry = Registry(path, create=False)
    except ModelregError:
        return []  # the files above are the problem, and are reported
    try:
        problems = link_problems(registry)
        if fix and any(fixable for _, fixable in problems):
            with deploy_lock(registry):
                repair(registry)
        return [Finding(message, fixed=fix and fixable) for message, fixable in problems]
    finally:
        registry.release()  # no tidy-up: that is a write


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
