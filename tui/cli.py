"""The ``modelreg`` command line. With no command it opens the app."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from store.errors import ModelregError
from tui.commands import artifact_store
from tui.commands import attach
from tui.commands import core
from tui.commands import demo
from tui.commands import evaluation
from tui.commands import follow as follow_commands
from tui.commands import report
from tui.commands import doctor as doctor_commands
from tui.commands import deploy as deploy_commands
from tui.commands import safety as safety_commands
from tui.commands import transfer
from tui.commands import usage
from tui.commands import watch as watch_commands
from tui.output import fail

# What --read-only refuses: the commands that change the registry (``follow`` writes only this
# host's own links; ``export`` and ``report`` only their output files; ``scan REF`` reports without
# storing its verdict).
WRITING_COMMANDS = frozenset({"init", "register", "score", "tag", "untag", "attach", "remove", "import", "deploy",
                              "rollback", "check", "upload", "watch", "demo", "evaluate"})
MODEL_CHANGES = ("description", "owner", "tag", "notes", "primary_metric", "direction", "scheme")

COMMAND_MODULES = [core, attach, artifact_store, evaluation, report, demo, transfer, deploy_commands, follow_commands, safety_commands, watch_commands, doctor_commands]


class _Parser(argparse.ArgumentParser):
    """argparse, but usage mistakes are one line like every other error."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="modelreg",
        description="A keyboard-first model registry. With no command, opens the app.",
    )
    parser.add_argument("--registry", metavar="PATH", help="registry directory (else $MODELREG_HOME, ./.modelreg, ~/.local/share/modelreg)")
    parser.add_argument("--read-only", action="store_true", help="refuse every write: the app hides its writing actions, and commands that write are refused")
    parser.add_argument("--watch", metavar="DIR", action="append", default=[], help="app: also watch DIR for new checkpoints")
    parser.add_argument("--poll", action="store_true", help="app: watch by polling (network filesystems)")
    parser.add_argument("--json", action="store_true", dest="json_first", help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMAND_MODULES:
        module.add_commands(commands)
    for name, sub in commands.choices.items():
        # --registry after the command too; SUPPRESS keeps one given before it.
        sub.add_argument("--registry", metavar="PATH", default=argparse.SUPPRESS, help="registry directory")
        usage.describe(name, sub)
    return parser


def writes(args: argparse.Namespace) -> bool:
    """Whether the command as given would change the registry."""
    command = args.command
    if command == "status":
        return args.status is not None
    if command == "model":
        return any(getattr(args, name, None) for name in MODEL_CHANGES)
    if command == "doctor":
        return bool(args.fix or args.adopt)
    if command == "artifact-store":
        return artifact_store.writes(args)
    return command in WRITING_COMMANDS


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line's arguments; words after options still go to the command's list."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        _intermixed(parser, args, extra)
    return args


def _intermixed(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str]) -> None:
    """``export m:v2 --with-parents out.tar``: argparse ends a list of positionals at the first
    option and refuses what follows; words after options belong to the command's list, as a user means."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub = commands.choices.get(args.command) if args.command else None
    lists = [a for a in sub._actions if not a.option_strings and a.nargs in ("+", "*")] if sub else []
    if len(lists) != 1 or any(word.startswith("-") for word in extra):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    getattr(args, lists[0].dest).extend(extra)


def _json_first(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``modelreg --json list`` means ``modelreg list --json``."""
    if args.json_first:
        if not hasattr(args, "json"):
            parser.error(f"'{args.command or 'modelreg'}' does not print JSON")
        args.json = True


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    _json_first(parser, args)
    try:
        if args.command is None:
            from tui.launch import open_app

            return open_app(args)
        if args.read_only and writes(args):
            return fail(f"--read-only: '{args.command}' would change the registry; run it without --read-only")
        return int(args.run(args) or 0)
    except ModelregError as error:
        return fail(str(error))
    except PermissionError as error:  # a registry or file we may not read, met outside the store's checks
        return fail(f"{error.filename or 'a file'}: {error.strerror}")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
