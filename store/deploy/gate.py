"""Why a version may not be deployed: one answer for the CLI, the Python API and the app.

Pure: it reads the version's record only. ``store.deploy.deploy`` scans an unscanned pickle
before it asks, so "not scanned" reaches a user only where nothing could scan (the app's
dialog before a deploy, a read-only registry).
"""

from __future__ import annotations

from store.lifecycle import DEPLOYABLE
from store.records import Version

# Artifacts that unpickle when loaded: plain pickles and joblib, and PyTorch's zip checkpoints.
PICKLE_LIKE = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".bin")


def has_pickles(version: Version) -> bool:
    """Does any artifact unpickle when loaded (a folder may hold such files)?"""
    return any(a.get("kind", "file") != "file" or str(a.get("path", "")).lower().endswith(PICKLE_LIKE)
               for a in version.artifacts)


def deploy_refusal(version: Version, *, trust: bool = False) -> str | None:
    """None if ``version`` may be deployed, else one line saying why not and what to do."""
    ref = version.ref
    if version.status not in DEPLOYABLE:
        fix = "restore it with" if version.status == "archived" else "mark it ready with"
        return f"cannot deploy {ref}: it is {version.status}; {fix} 'modelreg status {ref} completed' first"
    if not version.artifacts:
        return f"cannot deploy {ref}: it has no artifacts; attach its files first"
    if version.uploading:  # another host could not fetch its bytes yet (store/uploading.py)
        return (f"cannot deploy {ref}: its artifacts are still uploading to object storage; wait for the upload "
                f"to finish, or run 'modelreg upload {ref}' if it was interrupted")
    if trust:
        return None
    scan = version.scan
    if scan is None:
        if has_pickles(version):
            return f"cannot deploy {ref}: its pickle artifacts were never scanned; run 'modelreg scan {ref}' first"
        return None
    if not scan.get("safe", False):
        reason = " ".join(str(scan.get("reason", "")).split())
        return (f"cannot deploy {ref}: the safety scan says {scan.get('verdict', 'unsafe')} ({reason}); "
                f"deploy with --trust only if you trust this file")
    return None
