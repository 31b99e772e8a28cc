"""``modelreg report REF``: one version's card, as text or Markdown."""

from __future__ import annotations

import argparse
from typing import Any

from store.report import report, to_markdown, to_text
from tui.commands import open_registry
from tui.output import emit, emit_json


def add_commands(commands: Any) -> None:
    help = "one version's card: metrics with history, params, training, data lineage, deploys, safety"
    p = commands.add_parser("report", help=help, description=help)
    p.set_defaults(run=cmd_report)
    p.add_argument("ref")
    p.add_argument("--markdown", action="store_true", help="Markdown, e.g. for a model card or a pull request")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def cmd_report(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        card = report(registry, args.ref)
    if args.json:
        emit_json(card)
    elif args.markdown:
        print(to_markdown(card), end="")
    else:
        emit(to_text(card).rstrip("\n"))
    return 0
