"""``modelreg follow`` (keep a serving host's links at the live versions) and ``modelreg upload``."""

from __future__ import annotations

import argparse
import signal
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from store.errors import RegistryAccessError
from tui.commands import open_registry
from tui.output import emit, literal


def add_commands(commands: Any) -> None:
    help = "keep DIR/deploy/ENV/MODEL linked to the live version: fetch, check by sha256, switch, run the hook"
    p = commands.add_parser("follow", help=help, description=help)
    p.set_defaults(run=cmd_follow)
    p.add_argument("models", nargs="*", metavar="MODEL", help="models to follow (default: every model live in ENV)")
    p.add_argument("--env", default="production", help="environment to follow (default: production)")
    p.add_argument("--dir", required=True, help="this host's folder: links go in DIR/deploy/ENV/MODEL")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between looks at the registry (default: 2)")
    p.add_argument("--once", action="store_true", help="one pass, then exit (non-zero if something could not be followed)")
    p.add_argument("--hook", help="command to run after each switch (default: the registry's deploy_hook)")
    p.add_argument("--no-hook", action="store_true", help="run no hook")

    help = "upload a version's local artifacts to the registry's artifact_store (retry an interrupted upload)"
    p = commands.add_parser("upload", help=help, description=help)
    p.set_defaults(run=cmd_upload)
    p.add_argument("ref", help="MODEL:VERSION")


def _say(line: str) -> None:
    stamp = datetime.now(timezone.utc).strftime("%H:%M:%S")
    print(f"{stamp} modelreg follow: {literal(line)}", flush=True)


def cmd_follow(args: argparse.Namespace) -> int:
    from store.deploy.follow import Follower

    if args.interval <= 0:
        raise SystemExit("modelreg: error: --interval must be a positive number of seconds")
    _check_names(args)
    follower = Follower(lambda: open_registry(args), Path(args.dir).expanduser(), args.env, models=args.models,
                        hook=None if args.no_hook else args.hook, registry_hook=not args.no_hook, say=_say)
    stop = threading.Event()
    try:
        if args.once:
            follower.step()
            return 1 if follower.outage or follower.failing else 0
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())  # a service manager's stop
        _say(f"following {args.env} into {follower.directory} every {args.interval:g}s (Ctrl-C stops)")
        try:
            follower.run(args.interval, stop)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
        _say("stopped; the links stay as they are")
        return 0
    finally:
        follower.close()


def _check_names(args: argparse.Namespace) -> None:
    """A typo'd model or environment is one line now, not a follower that waits for it forever.
    A registry that cannot be reached is checked later: the follower reports it and keeps trying."""
    from store.deploy.lookup import environment

    try:
        registry = open_registry(args)
    except RegistryAccessError:
        return
    try:
        environment(registry, args.env)
        for model in args.models:
            registry.model(model)
    finally:
        registry.release()


def cmd_upload(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        version = registry.upload(args.ref)
    emit(f"Uploaded {version.ref}: " + ", ".join(a.get("url", a["path"]) for a in version.artifacts))
    return 0

