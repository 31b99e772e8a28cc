"""``modelreg demo``: a fresh registry, and real scikit-learn models arriving in it as they train."""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path
from typing import Any

from store.demo import training as demo_training
from store.errors import ModelregError
from store.registry import Registry
from tui.output import emit, plural


def add_commands(commands: Any) -> None:
    help = "try modelreg: train real scikit-learn models into a fresh registry and watch them arrive"
    p = commands.add_parser("demo", help=help, description=help)
    p.set_defaults(run=cmd_demo)
    p.add_argument("dir", nargs="?", help="folder for the demo's registry and runs/ (default: a new temporary one)")
    p.add_argument("--no-ui", action="store_true", help="train and register everything, print a summary and exit")
    p.add_argument("--count", type=int, default=demo_training.DEFAULT_COUNT, metavar="N",
                   help=f"checkpoints to train (default {demo_training.DEFAULT_COUNT})")
    p.add_argument("--interval", type=float, default=demo_training.DEFAULT_INTERVAL, metavar="SECONDS",
                   help=f"seconds between checkpoints (default {demo_training.DEFAULT_INTERVAL:g})")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="same seed, same models and metrics (default 0)")


def cmd_demo(args: argparse.Namespace) -> int:
    if args.registry is not None:
        raise ModelregError("the demo makes its own registry in DIR/.modelreg; drop --registry")
    if args.count < 1:
        raise ModelregError(f"--count is {args.count}; give at least 1 checkpoint")
    if args.interval < 0:
        raise ModelregError(f"--interval is {args.interval:g}; give a number of seconds >= 0")
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="modelreg-demo-"))
    if root.exists() and not root.is_dir():
        raise ModelregError(f"{root} is a file; give 'modelreg demo' a new or empty folder")
    try:
        paths = demo_training.create_demo(root)
    except OSError as error:  # an unwritable folder, a parent that is a file...: one line, no traceback
        raise ModelregError(f"cannot make the demo in {root}: {error.strerror or error}") from None
    emit(f"Demo folder: {paths.root}")
    if args.no_ui:
        return _without_ui(args, paths)
    return _with_ui(args, paths)


def _without_ui(args: argparse.Namespace, paths: demo_training.DemoPaths) -> int:
    # No app is watching runs/, so the demo registers each checkpoint itself, from its sidecar.
    with Registry(paths.registry) as registry:
        checkpoints = demo_training.train(
            paths.runs, args.count, args.interval, args.seed,
            on_checkpoint=lambda checkpoint: demo_training.register_checkpoint(registry, checkpoint),
        )
        models = len(registry.models())
    emit(
        f"Trained and registered {plural(len(checkpoints), 'checkpoint')} of {plural(models, 'model')} in {paths.registry} "
        f"(open it with: modelreg --registry {paths.registry})"
    )
    return 0


def _with_ui(args: argparse.Namespace, paths: demo_training.DemoPaths) -> int:
    from tui.launch import open_app

    stop = threading.Event()
    failure: list[BaseException] = []

    def trainer() -> None:
        try:
            demo_training.train(paths.runs, args.count, args.interval, args.seed, stop_event=stop)
        except Exception as error:  # reported once the app has given the terminal back
            failure.append(error)

    emit(f"Training {plural(args.count, 'checkpoint')} into {paths.runs}, one every {args.interval:g} s")
    thread = threading.Thread(target=trainer, name="modelreg-demo-trainer", daemon=True)
    app_args = argparse.Namespace(registry=str(paths.registry), watch=[str(paths.runs)], read_only=False, poll=False)
    thread.start()
    try:
        code = open_app(app_args)
    finally:
        stop.set()
        thread.join(timeout=5.0)
    if failure:
        raise ModelregError(f"demo training stopped: {failure[0]}")
    emit(f"The demo registry stays in {paths.registry}; open it again with: modelreg --registry {paths.registry}")
    return code
