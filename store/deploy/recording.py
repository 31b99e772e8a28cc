"""The deploy lock, the pending intent a switch leaves while it runs, and recording a switch in the
history and the live table.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from store.errors import DeployError
from store.deploy.pinning import (
    Release,
    pinned_root,
)

if TYPE_CHECKING:
    from store.registry import Registry


PENDING = "pending.json"
LOCK = "lock"


# -- the lock -------------------------------------------------------------------------------------


@contextmanager
def deploy_lock(registry: Registry, *, wait: bool = True) -> Iterator[bool]:
    """Serialize deploys and rollbacks across processes and threads.

    A lock of its own, not the storage's: a hook may run for minutes, and other
    writes to the registry must go on meanwhile. Each call opens its own handle,
    so threads of one process exclude each other too (flock is per open file).
    """
    root = pinned_root(registry.path)
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise DeployError(f"cannot lock {root / LOCK} to deploy: {error.strerror or error}; check the registry's permissions") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


# -- recording ------------------------------------------------------------------------------------


def _record(registry: Registry, intent: dict[str, Any], *, ok: bool, hook: dict[str, Any] | None,
            reason: str | None, release: Release | None) -> dict[str, Any]:
    """Append the history entry and, for a switch that happened, update the live table and statuses."""
    env, model, previous, version, action = (intent[k] for k in ("env", "model", "from", "to", "action"))
    entry = {"seq": None, "env": env, "model": model, "from": previous, "to": version, "action": action,
             "by": intent["by"], "at": intent["at"], "hook": hook, "ok": ok, "reason": reason}
    if intent.get("trusted"):
        entry["trusted"] = True
    if not ok:
        return registry.append_history(entry)
    where = {"path": str(release.primary) if release else None, "release": str(release.path) if release else None}
    # What was live is compared and swapped in the backend: the deploy lock keeps other deploys out,
    # and a backend shared by several machines refuses a switch someone else made first.
    # config "deprecate_replaced": a version a deploy replaces is deprecated, as AFS does
    replaced = "deprecated" if action == "rollback" or registry.config.deprecate_replaced else "completed"
    return registry.switch_live(model, env, expected=previous, to=version, entry=entry, live_fields=where,
                                previous_status=replaced)


def _live_version(registry: Registry, model: str, env: str) -> str | None:
    return registry.live_map(model).get(env)


def _clear_pending(registry: Registry) -> None:
    (pinned_root(registry.path) / PENDING).unlink(missing_ok=True)
