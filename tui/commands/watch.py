"""``modelreg watch DIR...``: register every finished checkpoint written under DIR, in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections import Counter
from typing import Any

from store.watch import Watcher, WatchEvent
from tui.commands import open_registry
from tui.output import literal


def add_commands(commands: Any) -> None:
    help = "watch training folders and register every finished checkpoint (Ctrl-C to stop)"
    p = commands.add_parser("watch", help=help, description=help)
    p.set_defaults(run=cmd_watch)
    p.add_argument("dirs", nargs="+", metavar="DIR")
    p.add_argument("--poll", action="store_true", help="poll instead of inotify (network filesystems are polled anyway)")
    p.add_argument("--settle", type=_seconds, metavar="SECONDS", help="quiet time before a checkpoint without close/rename events counts as finished")
    p.add_argument("--model", metavar="NAME", help="model name for checkpoints whose sidecar names none")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError("use 0 to 3600 seconds")
    return value


def cmd_watch(args: argparse.Namespace) -> int:
    stop = threading.Event()
    counts: Counter[str] = Counter()
    print_lock = threading.Lock()

    def show(event: WatchEvent) -> None:
        counts[event.kind] += 1
        with print_lock:
            print(literal(str(event)), flush=True)

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    with open_registry(args, create=True, read_through=False) as registry:
        watcher = Watcher(registry, args.dirs, poll=args.poll, settle=args.settle, model=args.model, on_event=show)
        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            watcher.start()
            while not stop.wait(0.5):
                pass
        finally:
            watcher.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    summary = ", ".join(f"{counts[k]} {k}" for k in ("registered", "updated", "missing", "problem") if counts[k])
    print(f"stopped watching{': ' + summary if summary else ''}", file=sys.stderr, flush=True)
    return 0
