"""``modelreg`` with no command: open the app on the registry the arguments name."""

from __future__ import annotations

import argparse
import sys

from store.errors import ModelregError, RegistryNotFound
from store.backends.local.location import explicit_location, find_registry, require_registry
from store.registry import Registry


def open_app(args: argparse.Namespace) -> int:
    """Run the app until the user quits; the exit code."""
    named = explicit_location(getattr(args, "registry", None))
    read_only = bool(getattr(args, "read_only", False))
    if named is not None:
        path = require_registry(named)  # checked here, so a bad path never starts the app
    else:
        path = find_registry(None)
        try:
            missing = not path.is_dir()
        except OSError as error:
            raise RegistryNotFound(f"cannot open the registry at {path}: {error.strerror}") from None
        if read_only and missing:
            raise RegistryNotFound(f"no registry at {path}: nothing to show read-only (pass --registry PATH)")
    for folder in getattr(args, "watch", []) or []:
        from pathlib import Path

        if not Path(folder).is_dir():
            raise ModelregError(f"cannot watch {folder}: no such directory")

    def opener() -> Registry:
        return Registry(path, create=not read_only and named is None)

    from tui.app import ModelregApp

    app = ModelregApp(opener=opener, read_only=read_only, watch=getattr(args, "watch", []) or [], poll=bool(getattr(args, "poll", False)))
    result = app.run()
    registry = app.registry
    if registry is not None:
        if read_only:
            registry.release()  # close() would tidy the journal: a write
        else:
            registry.close()
    if app.error:
        print(f"modelreg: {app.error}", file=sys.stderr)
        return 1
    return int(result or 0)
