"""``modelreg attach REF PATH...``: add files to a version after it was registered."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tui.commands import open_registry
from tui.output import emit, emit_json


def add_commands(commands: Any) -> None:
    p = commands.add_parser("attach", help="add files to a registered version (scanned like at registration)",
                            description="add files to a registered version (scanned like at registration)")
    p.set_defaults(run=cmd_attach)
    p.add_argument("ref")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def cmd_attach(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        v = registry.update(args.ref, artifacts=list(args.paths))
    if args.json:
        emit_json(v.to_dict())
        return 0
    emit(f"Attached {', '.join(Path(p).name for p in args.paths)} to {v.ref}")
    if v.scan and not v.scan.get("safe"):
        emit(f"  safety scan: {v.scan.get('verdict')} — {v.scan.get('reason', '')}")
    return 0
