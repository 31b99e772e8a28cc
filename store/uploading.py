"""Uploading a version's local artifacts to the registry's object storage (config ``artifact_store``).

A version appears first, marked ``uploading``; each local artifact is then put under
``<artifact_store>/sha256/<hex>`` (content-addressed, write-once: see
:class:`store.backends.artifacts.ArtifactStore`) and its record gains ``url``; only when every one is
there is the mark removed. Deploys refuse a version still marked (``store.deploy.gate``), so another
host never follows a version whose bytes it cannot fetch. A failed upload leaves the mark and says
how to retry (``modelreg upload REF``); uploading again skips what is there already.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.artifacts import content_hash
from store.backends.artifacts import is_remote
from store.backends.objects import urls
from store.config import CONFIG, read
from store.durable import atomic_write
from store.errors import ArtifactError, ConfigError, ModelregError
from store.records import Version

if TYPE_CHECKING:
    from store.registry import Registry

UPLOADING = "uploading"
STORE = "artifact_store"


def keep_store(registry: Registry, url: str | None) -> str | None:
    """Set (None: remove) the artifact store: with the backend's ``put_setting`` where it has one
    (for the whole team), else in config.json (its other settings kept). The URL as kept."""
    if url is not None:
        url = urls.parse(url).url  # a typo is one line, before anything is written
    put = getattr(registry.backend, "put_setting", None)
    if callable(put):
        put(STORE, url)
    else:
        path = registry.path / CONFIG
        if path.is_symlink():
            path = path.resolve()  # a config.json linked from elsewhere: written where it is, as an editor would
        raw = read(path)
        if url is None:
            raw.pop(STORE, None)
        else:
            raw[STORE] = url
        try:
            atomic_write(path, (json.dumps(raw, indent=2) + "\n").encode())
        except OSError as error:
            raise ConfigError(f"cannot write {path}: {error.strerror or error}") from None
    return url


def needs_upload(artifact: dict[str, Any]) -> bool:
    """A local artifact without a copy on object storage."""
    return not is_remote(artifact) and not artifact.get("url")


def mark_uploading(doc: dict[str, Any], artifact_store: str | None) -> bool:
    """Mark a version whose local artifacts go to ``artifact_store`` as uploading; True if it is."""
    if artifact_store and any(needs_upload(a) for a in doc.get("artifacts", [])):
        doc[UPLOADING] = True
        return True
    return False


def ready(version: Version) -> bool:
    """Marked uploading, and every artifact to upload already hashed (the watcher hashes in the
    background; its sha256 is the key, so the upload waits for it rather than hash twice)."""
    return version.uploading and all(a.get("sha256") for a in version.artifacts if needs_upload(dict(a)))


def upload(registry: Registry, ref: str) -> Version:
    """Upload ``ref``'s local artifacts to ``artifact_store`` and clear its ``uploading`` mark."""
    target = registry.config.artifact_store
    doc = registry.version_doc(ref)
    ref = f"{doc['model']}:{doc['version']}"
    if not target:
        raise ArtifactError(f"cannot upload {ref}: this registry has no artifact store; set one with "
                            "'modelreg artifact-store s3://BUCKET/PREFIX' (or gs://..., az://...)")
    artifacts = [dict(a) for a in doc.get("artifacts", [])]
    try:
        for artifact in artifacts:
            if needs_upload(artifact):
                sha = artifact.get("sha256") or content_hash(Path(artifact["path"]))
                artifact.update(sha256=sha, url=registry.artifacts.put(Path(artifact["path"]), sha, to=target))
    except ModelregError as error:
        raise ArtifactError(f"{ref} is registered but its artifacts are not all uploaded ({error}); it stays "
                            f"marked uploading and cannot be deployed until 'modelreg upload {ref}' succeeds") from None
    done = registry.set_fields(ref, set={"artifacts": artifacts}, unset=(UPLOADING,),
                               if_unchanged={"artifacts": doc.get("artifacts", [])})
    if done is None:
        raise ArtifactError(f"{ref} changed while its artifacts were uploading; run 'modelreg upload {ref}' again")
    return done
