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
    return args.url is not None or args.unset


def cmd_artifact_store(args: argparse.Namespace) -> int:
    if args.url is not None and args.unset:
        raise SystemExit("modelreg: error: give a URL or --unset, not both")
    with open_registry(args) as registry:
        if not writes(args):
            config = registry.config
        else:
            shared = registry.backend.shared
            stored = registry.set_artifact_store(None if args.unset else args.url)
            config, written = registry.config, TEAM if shared else str(registry.path / CONFIG)
            where = "for every machine on this server" if shared else f"in {written}"
            emit(f"Artifact store {'set to ' + literal(stored) if stored else 'removed'} {where}")
            if config.artifact_store_from not in ("", written):
                # this machine is set apart (the variable, or its own config.json): said, or it will surprise
                emit(f"On this machine {config.artifact_store_from} wins: {literal(config.artifact_store)}")
            return 0
    if config.artifact_store:
        emit(f"{literal(config.artifact_store)} (from {config.artifact_store_from})")
    else:
        emit("No artifact store: versions' files stay where they were registered "
             "(set one with 'modelreg artifact-store s3://BUCKET/PREFIX')")
    return 0
