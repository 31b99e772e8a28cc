"""Repair after a crash: a switch left pending is completed as what it was, and links that disagree
with the live table are recorded (the link is what serving sees) or recreated.

On a shared backend (``Backend.shared``: an MLflow server, several machines each with their own deploy
links) a link that disagrees with what is live is stale, not a switch nobody recorded: another machine
deployed. It is brought to the live version (pinned here, switched by the atomic rename) and nothing
is written to the history; the history holds only real deploys, rollbacks and outside moves.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.errors import DeployConflict, ModelregError
from store.deploy.pinning import (
    pinned_release,
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
    On a shared backend, a pending switch is completed only if what it replaced is still live (else
    another machine deployed meanwhile, and this one lost); any other link that disagrees is stale and
    follows what is live, with no entry. Returns the entries written.
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
                written.extend(_complete(registry, intent, live))
        pending.unlink(missing_ok=True)
    written.extend(_reconcile_links(registry))
    return written


def _complete(registry: Registry, intent: dict[str, Any], live: str | None) -> list[dict[str, Any]]:
    shared = registry.backend.shared
    if shared and live != intent["from"]:
        return []  # another machine switched since: this deploy lost the race, and the link follows below
    reason = (f"completed on a later open: the process (pid {intent.get('pid')}) stopped after switching "
              "the link and before recording it; the deploy hook's outcome is unknown")
    release = release_at(pinned_root(registry.path), intent["model"], intent["to"])
    try:
        return [_record(registry, intent, ok=True, hook=None, reason=reason, release=release)]
    except DeployConflict:
        if not shared:
            raise
        return []  # raced by another machine just now: the same as above


def _deploy_entries(base: Path) -> list[Path]:
    """Everything in ``deploy/<env>/``, in order: the links, and whatever else is there."""
    if not base.is_dir():
        return []
    return [entry for env_dir in sorted(base.iterdir()) if env_dir.is_dir() for entry in sorted(env_dir.iterdir())]


def _reconcile_links(registry: Registry) -> list[dict[str, Any]]:
    root = pinned_root(registry.path)
    base = registry.path / DEPLOY
    with registry.reading():
        live = {(d["env"], d["model"]): d["version"] for d in registry.live_entries()}
        registered: dict[str, set[str]] = {}
        for doc in registry.all_version_docs():
            registered.setdefault(doc["model"], set()).add(doc["version"])
    on_disk: dict[tuple[str, str], str | None] = {}
    for entry in _deploy_entries(base):
        if entry.name.startswith("."):
            if ".swap-" in entry.name:
                entry.unlink(missing_ok=True)  # a switch that died before its rename
            continue
        if entry.is_symlink():
            on_disk[(entry.parent.name, entry.name)] = _linked_version(entry, entry.name)
    written = []
    shared = registry.backend.shared
    for (env, model), version in on_disk.items():
        if version is None or version == live.get((env, model)) or version not in registered.get(model, ()):
            continue  # nothing to do, or a link to something the registry no longer knows: leave it serving
        if shared:
            if (env, model) in live:  # stale: another machine deployed (nothing live: leave it serving)
                _follow(registry, env, model, live[(env, model)])
            continue
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


def link_problems(registry: Registry) -> list[tuple[str, bool]]:
    """Where this machine's deploy links disagree with what the registry says is live, without
    changing anything: ``(one line, whether repair() fixes it)``. Serving reads the links, so a
    link deleted or moved by hand is a problem even when the registry itself is healthy."""
    base = registry.path / DEPLOY
    with registry.reading():
        live = {(d["env"], d["model"]): d["version"] for d in registry.live_entries()}
        registered = {(d["model"], d["version"]) for d in registry.all_version_docs()}
    found: list[tuple[str, bool]] = []
    seen: set[tuple[str, str]] = set()
    for entry in _deploy_entries(base):
        if entry.name.startswith("."):
            continue
        env, model = entry.parent.name, entry.name
        seen.add((env, model))
        where, wanted = f"{DEPLOY}/{env}/{model}", live.get((env, model))
        if not entry.is_symlink():
            found.append((f"{where} is a real file or folder, not a link modelreg made; move it away "
                          f"and deploy again", False))
            continue
        version = _linked_version(entry, model)
        if version == wanted and entry.exists():
            continue
        if version == wanted:
            found.append((f"{where} points at {model}:{version}, whose pinned release is gone; deploy it again", False))
        elif version is None:
            found.append((f"{where} points outside modelreg's releases ({os.readlink(entry)}); "
                          f"the registry says {model}:{wanted or 'nothing'} is live in {env}", False))
        elif (model, version) not in registered:
            found.append((f"{where} serves {model}:{version}, which the registry no longer has; "
                          f"deploy a registered version", False))
        else:
            found.append((f"{where} serves {model}:{version}, but the registry says "
                          f"{f'{model}:{wanted}' if wanted else 'nothing'} is live in {env}", True))
    for (env, model), version in sorted(live.items()):
        if (env, model) not in seen:
            release = release_at(pinned_root(registry.path), model, version)
            fixable = release is not None and release.path.is_dir()
            found.append((f"{DEPLOY}/{env}/{model} is gone, but {model}:{version} is live in {env}: serving finds "
                          f"nothing there" + ("" if fixable else f"; deploy {model}:{version} again"), fixable))
    return found


def _follow(registry: Registry, env: str, model: str, version: str) -> None:
    """Point this machine's link at ``version``, pinned here first (as ``modelreg follow`` does).

    A version whose artifacts this machine cannot reach leaves the stale link serving: what this
    machine deploys next replaces it, and no deploy is refused for another machine's version."""
    root = pinned_root(registry.path)
    try:
        release = pinned_release(root, dict(registry.version_doc(f"{model}:{version}")), registry.artifacts)
        link = link_path(registry, env, model)
        switch_link(link, os.path.relpath(release.path, link.parent))
    except (ModelregError, OSError):
        pass
