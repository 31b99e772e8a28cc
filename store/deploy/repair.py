"""Repair after a crash: a switch left pending is completed as what it was, and links that disagree
with the live table are recorded (the link is what serving sees) or recreated.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from store.errors import ModelregError
from store.deploy.pinning import (
    pinned_root,
    release_at,
    switch_link,
)
from store.deploy.lookup import DEPLOY, _linked_version, link_path
from store.deploy.recording import PENDING, _live_version, _record, deploy_lock
from store.stamps import now, whoami

if TYPE_CHECKING:
    from store.registry import Registry


# -- repair after a crash -------------------------------------------------------------------------


def repair_if_interrupted(registry: Registry) -> None:
    """On open: if a deploy was interrupted and nobody is deploying now, repair it. One stat otherwise."""
    if not (pinned_root(registry.path) / PENDING).exists():
        return
    try:
        with deploy_lock(registry, wait=False) as locked:
            if locked:
                repair(registry)
    except (ModelregError, OSError):
        pass  # a read-only registry: the next writer repairs it


def repair(registry: Registry) -> list[dict[str, Any]]:
    """Bring the live table and history in line with the links on disk; call under the deploy lock.

    - ``pending.json`` left behind with the link already switched: the history
      entry is completed as the deploy or rollback it was (``ok`` true, no hook
      outcome, a reason saying it was repaired; the hook is not re-run).
    - Any other link that disagrees with the live table: the link is what
      serving processes see, so a ``repair`` entry records the switch.
    - A live entry whose link is gone: the link is recreated.
    Returns the entries written.
    """
    written = []
    root = pinned_root(registry.path)
    pending = root / PENDING
    if pending.exists():
        try:
            intent = json.loads(pending.read_text())
        except (OSError, ValueError):
            intent = None
        if intent:
            with registry.reading():
                live = _live_version(registry, intent["model"], intent["env"])
            link = link_path(registry, intent["env"], intent["model"])
            if _linked_version(link, intent["model"]) == intent["to"] and live != intent["to"]:
                reason = (f"completed on a later open: the process (pid {intent.get('pid')}) stopped after switching "
                          "the link and before recording it; the deploy hook's outcome is unknown")
                release = release_at(root, intent["model"], intent["to"])
                written.append(_record(registry, intent, ok=True, hook=None, reason=reason, release=release))
        pending.unlink(missing_ok=True)
    written.extend(_reconcile_links(registry))
    return written


def _reconcile_links(registry: Registry) -> list[dict[str, Any]]:
    root = pinned_root(registry.path)
    base = registry.path / DEPLOY
    with registry.reading():
        live = {(d["env"], d["model"]): d["version"] for d in registry.live_entries()}
        registered: dict[str, set[str]] = {}
        for doc in registry.all_version_docs():
            registered.setdefault(doc["model"], set()).add(doc["version"])
    on_disk: dict[tuple[str, str], str | None] = {}
    if base.is_dir():
        for env_dir in base.iterdir():
            if not env_dir.is_dir():
                continue
            for entry in env_dir.iterdir():
                if entry.name.startswith("."):
                    if ".swap-" in entry.name:
                        entry.unlink(missing_ok=True)  # a switch that died before its rename
                    continue
                if entry.is_symlink():
                    on_disk[(env_dir.name, entry.name)] = _linked_version(entry, entry.name)
    written = []
    for (env, model), version in on_disk.items():
        if version is None or version == live.get((env, model)) or version not in registered.get(model, ()):
            continue  # nothing to do, or a link to something the registry no longer knows: leave it serving
        intent = {"env": env, "model": model, "from": live.get((env, model)), "to": version, "action": "repair",
                  "by": whoami(), "at": now()}
        reason = "the link on disk pointed at a version the registry did not list as live; recorded what serving processes see"
        written.append(_record(registry, intent, ok=True, hook=None, reason=reason, release=release_at(root, model, version)))
    for (env, model), version in live.items():
        if (env, model) not in on_disk:
            release = release_at(root, model, version)
            if release is not None and release.path.is_dir():
                link = link_path(registry, env, model)
                link.parent.mkdir(parents=True, exist_ok=True)
                switch_link(link, os.path.relpath(release.path, link.parent))
    return written
