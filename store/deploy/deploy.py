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

import fcntl
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.durable import atomic_write
from store.errors import DeployError, ModelregError
from store.deploy.gate import deploy_refusal, has_pickles
from store.deploy.loading import scan_version
from store.records import Version
from store.deploy.pinning import (
    Release,
    load_release,
    pin_version,
    pinned_root,
    release_at,
    safe_part,
    switch_link,
)
from store.stamps import now, whoami

if TYPE_CHECKING:
    from store.registry import Registry

DEPLOY = "deploy"
PENDING = "pending.json"
LOCK = "lock"
HOOK_OUTPUT_CHARS = 4000
# Test-only: kill the deploying process right after the link switch, to prove the repair.
CRASH_AFTER_SWITCH = "MODELREG_TEST_CRASH_AFTER_SWITCH"


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
    root = pinned_root(registry.path)
    doc = dict(registry.version_doc(f"{model}:{version}"))
    release = load_release(root, doc)
    if release is not None and release.problem(root) is None:
        return release
    try:
        release, _ = pin_version(root, doc, doing="roll back to", store=registry.artifacts)
    except OSError as error:
        raise DeployError(f"cannot pin {model}:{version} into {root}: {error.strerror or error}") from None
    return release


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


# -- the hook -------------------------------------------------------------------------------------


def run_hook(registry: Registry, env: str, model: str, release: Release, previous: str | None,
             action: str, link: Path) -> dict[str, Any] | None:
    """Run ``deploy_hook`` from config.json (never from sidecar metadata); None if none is set."""
    command = registry.config.deploy_hook
    if not command:
        return None
    variables = {
        "MODELREG_MODEL": model,
        "MODELREG_VERSION": release.version,
        "MODELREG_ENV": env,
        "MODELREG_ARTIFACT": str(release.primary),
        "MODELREG_REGISTRY": str(registry.path.absolute()),
        "MODELREG_LINK": str(link.absolute()),
        "MODELREG_PREVIOUS": previous or "",
        "MODELREG_ACTION": action,
    }
    try:
        # Its own session, so a timeout can stop everything the hook started.
        process = subprocess.Popen(
            ["/bin/sh", "-c", command], cwd=registry.path, env={**os.environ, **variables},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
    except OSError as error:
        return {"command": command, "returncode": None, "output": f"could not start: {error.strerror or error}"}
    try:
        output, _ = process.communicate(timeout=registry.config.hook_timeout)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        code = None
    return {"command": command, "returncode": code, "output": output.decode(errors="replace")[-HOOK_OUTPUT_CHARS:]}


def _hook_failure(hook: dict[str, Any] | None, timeout: float) -> str | None:
    if hook is None or hook["returncode"] == 0:
        return None
    last = next((line.strip() for line in reversed(hook["output"].splitlines()) if line.strip()), "")
    said = f" ({last[:200]})" if last else ""
    if hook["returncode"] is None:
        if hook["output"].startswith("could not start"):
            return f"the deploy hook {hook['output']}"
        return f"the deploy hook timed out after {timeout:g}s{said}"
    return f"the deploy hook exited with {hook['returncode']}{said}"


# -- reading --------------------------------------------------------------------------------------


def history(registry: Registry, model: str | None = None, env: str | None = None) -> list[dict[str, Any]]:
    """History entries, oldest first, optionally for one model and/or environment."""
    with registry.reading():
        if model is not None:
            registry.model(model)  # an unknown model is an error, not an empty history
        docs = registry.history_entries()
        found = [dict(d) for d in docs if (model is None or d["model"] == model) and (env is None or d["env"] == env)]
    return sorted(found, key=lambda d: d["seq"])


def _entries(registry: Registry, model: str, env: str) -> list[dict[str, Any]]:
    # Entries imported from another registry's bundle describe that registry's links, not ours.
    docs = registry.history_entries()
    mine = (d for d in docs if d["model"] == model and d["env"] == env and not d.get("imported"))
    return sorted(mine, key=lambda d: d["seq"])


def environment(registry: Registry, env: str | None) -> str:
    """The environment to use: the default if None; refuses names not in config.json."""
    env = env or registry.config.default_environment
    if env not in registry.config.environments:
        known = ", ".join(registry.config.environments)
        raise DeployError(f"unknown environment '{env}': this registry has {known} (add it to 'environments' in config.json)")
    return safe_part(env)


def link_path(registry: Registry, env: str, model: str) -> Path:
    return registry.path / DEPLOY / safe_part(env) / safe_part(model)


def _read_link(link: Path) -> str | None:
    try:
        return os.readlink(link)
    except FileNotFoundError:
        return None
    except OSError:
        return None  # a real file in the way: _point refuses it with a clear message


def _linked_version(link: Path, model: str) -> str | None:
    target = _read_link(link)
    if target is None:
        return None
    path = Path(target)
    return path.name if path.parent.name == model else None


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
