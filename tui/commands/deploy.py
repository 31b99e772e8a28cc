"""Deploy commands: deploy, rollback, history, check."""

from __future__ import annotations

import argparse
from typing import Any

from tui.commands import open_registry
from tui.output import emit, emit_json, plural, table


def add_commands(commands: Any) -> None:
    def command(name: str, help: str, run: Any) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help, description=help)
        parser.set_defaults(run=run)
        parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
        return parser

    p = command("deploy", "make a version live in an environment (default: production)", cmd_deploy)
    p.add_argument("ref", help="MODEL:VERSION, e.g. sentiment:v3 or sentiment:best")
    p.add_argument("--env", help="environment (see 'environments' in config.json)")
    p.add_argument("--verify", action="store_true", help="re-hash the artifacts instead of the quick size and time check")
    p.add_argument("--trust", action="store_true",
                   help="deploy even though the safety scan did not find the artifacts safe (recorded in the history)")

    p = command("rollback", "switch MODEL back to the version live before the current one", cmd_rollback)
    p.add_argument("model")
    p.add_argument("--env", help="environment (default: production)")

    p = command("history", "the deploy history: who switched what, when, and the hook's outcome", cmd_history)
    p.add_argument("model", nargs="?")
    p.add_argument("--env", help="only this environment")

    p = command("check", "mark versions whose artifacts vanished or changed as missing", cmd_check)
    p.add_argument("model", nargs="?")
    p.add_argument("--verify", action="store_true", help="re-hash the artifacts too")


def switch_line(entry: dict[str, Any]) -> str:
    """One line for a switch: ``sentiment: production v2 → v3``."""
    if entry.get("unchanged"):
        return f"{entry['model']}: {entry['to']} is already live in {entry['env']}; nothing changed"
    line = f"{entry['model']}: {entry['env']} {entry['from'] or '(nothing)'} → {entry['to']}"
    if entry["action"] == "rollback":
        line += f" (rolled back; {entry['from']} deprecated)"
    if entry.get("hook"):
        line += " — deploy hook ok"
    if entry.get("trusted"):
        line += " — trusted past the safety scan (--trust)"
    return line


def cmd_deploy(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        entry = registry.deploy(args.ref, args.env, verify=args.verify, trust=args.trust)
    emit_json(entry) if args.json else emit(switch_line(entry))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        entry = registry.rollback(args.model, args.env)
    emit_json(entry) if args.json else emit(switch_line(entry))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        entries = registry.history(args.model, args.env)
        if args.env is not None and not entries and args.env not in registry.config.environments:
            # As deploy refuses it: a typo must not read as "no deploys yet".
            from store.deploy.deploy import environment

            environment(registry, args.env)
    if args.json:
        emit_json(entries)
    elif not entries:
        emit("No deploys yet. Deploy a version with 'modelreg deploy MODEL:VERSION'.")
    else:
        table(
            ["#", "WHEN", "ENV", "MODEL", "ACTION", "FROM", "TO", "BY", "RESULT"],
            [
                [e["seq"], e["at"][:19].replace("T", " "), e["env"], e["model"], e["action"], e["from"] or "—", e["to"] or "—",
                 e["by"], ("ok (trusted)" if e.get("trusted") else "ok") if e["ok"] else f"FAILED: {e['reason']}"]
                for e in entries
            ],
        )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        rows = registry.check_artifacts(args.model, verify=args.verify)
    if args.json:
        emit_json(rows)
        return 0
    missing = [r for r in rows if r["missing"]]
    for row in missing:
        emit(f"{row['ref']}: MISSING — {row['reason']}")
    emit(f"Checked {plural(len(rows), 'version')}: {len(missing)} missing" + (" (they stay registered; archive them with 'modelreg status REF archived')" if missing else ""))
    return 0
