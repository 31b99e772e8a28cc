"""``modelreg artifact-store``: where versions' local files are uploaded, set for a team or a machine."""

from __future__ import annotations

import argparse
from typing import Any

from store.config import CONFIG, TEAM
from tui.commands import open_registry
from tui.output import emit, literal


def add_commands(commands: Any) -> None:
    help = ("show or set where versions' local files are uploaded (on an MLflow server: for every machine of the "
            "team; else in this registry's config.json)")
    p = commands.add_parser("artifact-store", help=help, description=help)
    p.set_defaults(run=cmd_artifact_store)
    p.add_argument("url", nargs="?", metavar="URL", help="s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://CONTAINER/PREFIX")
    p.add_argument("--unset", action="store_true", help="upload nowhere from now on: new versions' files stay where they are")


def writes(args: argparse.Namespace) -> bool:
    return bool(args.url or args.unset)


def cmd_artifact_store(args: argparse.Namespace) -> int:
    if args.url and args.unset:
        raise SystemExit("modelreg: error: give a URL or --unset, not both")
    with open_registry(args) as registry:
        shared = registry.backend.shared
        if not writes(args):
            config = registry.config
        else:
            config = registry.set_artifact_store(None if args.unset else args.url)
            where = "for every machine on this server" if shared else f"in {registry.path / CONFIG}"
            emit(f"Artifact store {'removed' if args.unset else 'set to ' + literal(args.url.rstrip('/'))} {where}")
            if not shared or config.artifact_store_from == TEAM or not config.artifact_store:
                return 0
            # this machine is set apart (the variable, or its own config.json): say so, or it will surprise
            emit(f"On this machine {config.artifact_store_from} wins: {literal(config.artifact_store)}")
            return 0
    if config.artifact_store:
        emit(f"{literal(config.artifact_store)} (from {config.artifact_store_from})")
    else:
        emit("No artifact store: versions' files stay where they were registered "
             "(set one with 'modelreg artifact-store s3://BUCKET/PREFIX')")
    return 0
