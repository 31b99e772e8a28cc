"""Deploy and roll back: an atomic link switch, a deploy hook, and an audit history.

Deploying ``M:V`` to environment ``E``, holding the registry's deploy lock:

1. refuse a draft or archived version, or one whose artifacts are missing or
   changed (size and modification time; ``verify`` re-hashes);
2. pin its artifacts (:mod:`store.deploy.pinning`);
3. write ``pinned/pending.json`` saying what is about to happen, then switch
   ``deploy/E/M`` to the release with a new symlink renamed over the old one;
4. run the configured deploy hook; if it fails, switch back and record the
   failed attempt;
5. in one registry transaction, append the history entry, update the live
   table, and set V ``deployed`` and the version it replaced ``completed``
   (``deprecated`` after a rollback);
6. remove ``pending.json``.

A process that dies between 3 and 5 leaves ``pending.json`` behind; the next
open (or deploy) finds the link switched but unrecorded and completes the entry
(see :func:`repair`).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.deploy.gate import deploy_refusal, has_pickles
from store.deploy.hook import _hook_failure, run_hook
from store.deploy.loading import scan_version
from store.deploy.lookup import _entries, _read_link, environment, history, link_path  # noqa: F401 - history: importable from here
from store.deploy.pinning import (
    Release,
    load_release,
    pin_version,
    pinned_release,
    pinned_root,
    switch_link,
)
from store.deploy.recording import PENDING, _clear_pending, _live_version, _record, deploy_lock
from store.deploy.repair import repair, repair_if_interrupted  # noqa: F401 - the registry calls both from here
from store.durable import atomic_write
from store.errors import DeployError, ModelregError
from store.records import Version
from store.stamps import now, whoami

if TYPE_CHECKING:
    from store.registry import Registry


# Test-only: kill the deploying process right after the link switch, to prove the repair.
CRASH_AFTER_SWITCH = "MODELREG_TEST_CRASH_AFTER_SWITCH"


# -- deploy and rollback --------------------------------------------------------------------------


def deploy(registry: Registry, ref: str, env: str | None = None, *, verify: bool = False,
           trust: bool = False) -> dict[str, Any]:
    """Make ``ref`` live in ``env``; returns the history entry written.

    Refuses (``store.deploy.gate``) a version that is not deployable, has no artifacts, or whose
    artifacts the safety scan did not find safe, unless ``trust`` (recorded in the history).
    A version never scanned is scanned first."""
    env = environment(registry, env)
    version = registry.get(ref)
    if version.scan is None and has_pickles(version) and not trust:
        try:
            scan_version(registry, version.ref)
        except ModelregError:
            pass  # missing artifacts are refused below, with their own message
    with deploy_lock(registry):
        repair(registry)
        with registry.reading():
            doc = dict(registry.version_doc(ref))
            current = _live_version(registry, doc["model"], env)
        model, version = doc["model"], doc["version"]
        if current == version:
            return _unchanged(env, model, version)
        record = Version.from_doc(doc)
        refusal = deploy_refusal(record, trust=True)  # status and artifacts first: pinning checks the files
        if refusal:
            raise DeployError(refusal)
        try:
            release, hashes = pin_version(pinned_root(registry.path), doc, verify=verify, store=registry.artifacts)
        except OSError as error:
            raise DeployError(f"cannot pin {model}:{version} into {pinned_root(registry.path)}: {error.strerror or error}") from None
        refusal = deploy_refusal(record)  # then safety, on files known to be the registered ones
        if refusal and not trust:
            raise DeployError(refusal)
        trusted = refusal is not None
        _remember_hashes(registry, doc, hashes)
        return _switch(registry, env, model, current, release, "deploy", trusted=trusted)


def rollback(registry: Registry, model: str, env: str | None = None) -> dict[str, Any]:
    """Switch ``model`` in ``env`` back to the version live before the current one."""
    env = environment(registry, env)
    with deploy_lock(registry):
        repair(registry)
        with registry.reading():
            registry.model(model)  # an unknown model is an error, not "nothing live"
            current = _live_version(registry, model, env)
            if current is None:
                raise DeployError(f"nothing of '{model}' is live in {env}, so there is nothing to roll back")
            target = previous_version(registry, model, env, current)
        if target is None:
            raise DeployError(
                f"cannot roll back {model} in {env}: no earlier version was live there before {current} "
                f"(deploy a specific version with 'modelreg deploy {model}:VERSION --env {env}')"
            )
        release = _release_for_rollback(registry, model, target)
        return _switch(registry, env, model, current, release, "rollback")


def previous_version(registry: Registry, model: str, env: str, current: str) -> str | None:
    """The version to roll back to: walk the successful switches as a stack of what was live.

    A deploy pushes its version (moving it to the top if it was already there);
    a rollback pops the version it rolled back from. So repeated rollbacks keep
    walking back, and a version once rolled back from is not returned to.
    Versions removed from the registry or archived since are skipped.
    """
    stack: list[str] = []
    for entry in _entries(registry, model, env):
        if not entry["ok"]:
            continue
        if entry["action"] == "rollback" and stack and stack[-1] == entry["from"]:
            stack.pop()
        if entry["to"] is not None:
            if entry["to"] in stack:
                stack.remove(entry["to"])
            stack.append(entry["to"])
    known = {d["version"]: d for d in registry.version_docs(model)}
    for version in reversed(stack):
        if version == current or version not in known:
            continue
        if known[version]["status"] != "archived":
            return version
    return None


def _release_for_rollback(registry: Registry, model: str, version: str) -> Release:
    """The target's pinned release; pinned again from its originals only if the pin is damaged."""
    doc = dict(registry.version_doc(f"{model}:{version}"))
    return pinned_release(pinned_root(registry.path), doc, registry.artifacts, doing="roll back to")


def _switch(registry: Registry, env: str, model: str, current: str | None, release: Release, action: str,
            *, trusted: bool = False) -> dict[str, Any]:
    link = link_path(registry, env, model)
    link.parent.mkdir(parents=True, exist_ok=True)
    before = _read_link(link)
    target = os.path.relpath(release.path, link.parent)
    intent = {"env": env, "model": model, "from": current, "to": release.version, "action": action,
              "by": whoami(), "at": now(), "pid": os.getpid(), "previous_target": before}
    if trusted:  # deployed past the safety gate with --trust: the history says so
        intent["trusted"] = True
    try:
        atomic_write(pinned_root(registry.path) / PENDING, json.dumps(intent).encode())
        _point(link, target)
    except OSError as error:
        _clear_pending(registry)
        raise DeployError(f"cannot switch {link}: {error.strerror or error}; {current or 'nothing'} is still live") from None
    if os.environ.get(CRASH_AFTER_SWITCH):
        os.kill(os.getpid(), signal.SIGKILL)
    hook = run_hook(registry, env, model, release, current, action, link)
    failure = _hook_failure(hook, registry.config.hook_timeout)
    if failure:
        _point(link, before)
        _record(registry, intent, ok=False, hook=hook, reason=failure, release=release)
        _clear_pending(registry)
        raise DeployError(
            f"{model}:{release.version} was not {'deployed' if action == 'deploy' else 'rolled back to'} in {env}: "
            f"{failure}; {current or 'nothing'} is still live (see 'modelreg history {model}')"
        )
    try:
        entry = _record(registry, intent, ok=True, hook=hook, reason=None, release=release)
    except BaseException:
        _point(link, before)  # unrecorded: what serving sees must match what the registry says
        _clear_pending(registry)
        raise
    _clear_pending(registry)
    return entry


def _point(link: Path, target: str | None) -> None:
    if target is None:
        link.unlink(missing_ok=True)
    elif link.exists() and not link.is_symlink():
        raise DeployError(f"{link} is a real file or folder, not a link modelreg made; move it away and deploy again")
    else:
        switch_link(link, target)


def _unchanged(env: str, model: str, version: str) -> dict[str, Any]:
    return {"seq": None, "env": env, "model": model, "from": version, "to": version, "action": "deploy",
            "by": whoami(), "at": now(), "hook": None, "ok": True, "reason": "already live", "unchanged": True}


def _remember_hashes(registry: Registry, doc: dict[str, Any], hashes: list[str]) -> None:
    """Keep the hashes computed while pinning an unhashed version, so --verify can use them."""
    artifacts = doc.get("artifacts", [])
    if all(a.get("sha256") for a in artifacts) or len(hashes) != len(artifacts):
        return
    filled = [{**a, "sha256": a.get("sha256") or h} for a, h in zip(artifacts, hashes)]
    # Only if nobody changed the artifacts meanwhile: the hashes are of the files pinned.
    registry.set_fields(f"{doc['model']}:{doc['version']}", set={"artifacts": filled}, if_unchanged={"artifacts": artifacts})


# -- missing artifacts ----------------------------------------------------------------------------


def check_artifacts(registry: Registry, model: str | None = None, *, verify: bool = False) -> list[dict[str, Any]]:
    """Mark versions whose artifacts vanished or changed as ``missing`` (never removing them).

    A version counts as missing when neither its original files nor an intact
    pinned copy remain. Versions whose files are back lose the mark. Returns
    one row per version with artifacts: ref, missing, reason.
    """
    root = pinned_root(registry.path)
    with registry.reading():
        if model is not None:
            registry.model(model)  # an unknown model is an error
        found = registry.version_docs(model) if model else registry.all_version_docs()
        docs = {f"{d['model']}:{d['version']}": dict(d) for d in found if d.get("artifacts")}
    rows, changes = [], {}
    for ref, doc in docs.items():
        reason = next((r for a in doc["artifacts"] if (r := registry.artifacts.problem(a, verify=verify))), None)
        if reason:
            release = load_release(root, doc)
            if release is not None and release.problem(root, verify=verify) is None:
                reason = None  # the originals are gone, but the pinned copy still serves
        missing = reason is not None
        rows.append({"ref": f"{doc['model']}:{doc['version']}", "missing": missing, "reason": reason})
        if missing != bool(doc.get("missing")):
            changes[ref] = missing
    if changes:
        with registry.transaction():
            for ref, missing in changes.items():
                registry.set_fields(ref, set={"missing": True} if missing else {}, unset=() if missing else ("missing",))
    return sorted(rows, key=lambda r: r["ref"])
