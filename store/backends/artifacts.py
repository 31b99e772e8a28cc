"""Where a version's artifact bytes are kept: the :class:`ArtifactStore` every backend exposes as ``artifacts``.

An artifact is recorded on its version as a dict (see :mod:`store.artifacts`): ``path`` (a local path, or a
URL such as ``s3://bucket/key.joblib``), ``kind`` ("file" or "dir"), ``size``, ``sha256``, and, once
uploaded to object storage, ``url`` (the content-addressed copy). Everything above the seam (loading,
deploy, the checks, ``follow``) asks the store for bytes and never opens a recorded URL itself:

- ``describe(entry)``: the record ``register`` stores (a URL's size and sha256 computed by streaming it);
- ``put(source, sha256, to=PREFIX)``: upload a local file or folder, write-once, under
  ``PREFIX/sha256/<hex>`` (a folder's files under ``PREFIX/sha256/<hex>/<relative path>``); its URL;
- ``open(artifact)``: a binary stream of a file artifact's bytes;
- ``exists(artifact)`` and ``problem(artifact, verify=...)``: is it still there, and unchanged?
- ``materialize(artifact)``: a local ``Path`` holding exactly the recorded bytes (a remote one is
  downloaded into the user's cache, verified by sha256, and renamed into place; the cache is reused).

:class:`FileArtifacts` is the local backend's (and the memory backend's) store: files stay at their
recorded paths, read as they always were (no copy, no re-hash), and URLs go to fsspec
(:mod:`store.backends.objects`), imported only when a URL is met. A backend whose artifact records
hold local paths or ``s3://``/``gs://``/``az://`` URLs can expose a ``FileArtifacts()`` as it is (uploads
then go under whatever prefix it passes as ``to``); one with another kind of artifact location
implements this protocol itself, and may still hand URLs to
:class:`store.backends.objects.remote.RemoteArtifacts` (``describe(url)``, ``put``, ``open(url)``,
``exists(url)``, ``problem(url, artifact)``, ``materialize(url, artifact)``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

from store.artifacts import check_role, check_unchanged, describe_entry
from store.errors import ArtifactError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
Artifact = Mapping[str, Any]


def is_url(path: Any) -> bool:
    """Is this recorded path a URL (``s3://...``) rather than a local path?"""
    return isinstance(path, str) and bool(_URL.match(path))


def is_remote(artifact: Artifact) -> bool:
    """Does this artifact live only at a URL (registered as ``s3://...``)?"""
    return is_url(artifact.get("path"))


@runtime_checkable
class ArtifactStore(Protocol):
    """Bytes of artifacts: describe, put, open, exists, problem, materialize (see the module docstring)."""

    def describe(self, entry: Any, *, with_hash: bool = True) -> dict[str, Any]:
        """The record for a path or URL, or a ``(ROLE, PATH)`` pair; a one-line ``ArtifactError`` if absent."""
        ...

    def put(self, source: Path, sha256: str, *, to: str) -> str:
        """Upload ``source`` under the prefix URL ``to``, content-addressed and never overwriting; its URL.

        A key that exists already is kept if it holds the same bytes, and refused (``ArtifactError``)
        if it holds other bytes."""
        ...

    def open(self, artifact: Artifact) -> BinaryIO:
        """The bytes of a file artifact, as a binary stream (close it)."""
        ...

    def exists(self, artifact: Artifact) -> bool: ...

    def problem(self, artifact: Artifact, *, verify: bool = False) -> str | None:
        """Why the artifact no longer matches its record (missing, changed), or None."""
        ...

    def materialize(self, artifact: Artifact, *, verify: bool = False) -> Path:
        """A local path with the artifact's recorded bytes (downloaded and checked if need be)."""
        ...


class FileArtifacts:
    """Artifacts at their recorded local paths; URLs (and uploads) through fsspec, loaded on first use."""

    def __init__(self) -> None:
        self._remote: Any = None

    @property
    def remote(self) -> Any:
        """The fsspec store (:class:`store.backends.objects.remote.RemoteArtifacts`), made on first use."""
        if self._remote is None:
            from store.backends.objects.remote import RemoteArtifacts  # fsspec only once a URL is used

            self._remote = RemoteArtifacts()
        return self._remote

    def describe(self, entry: Any, *, with_hash: bool = True) -> dict[str, Any]:
        pair = isinstance(entry, tuple) and len(entry) == 2
        path = entry[1] if pair else entry
        if not is_url(path):
            return describe_entry(entry, with_hash=with_hash)
        role = check_role(entry[0]) if pair else None  # refused before anything is downloaded
        record = self.remote.describe(path)  # a URL is always hashed: its bytes are streamed anyway
        return {**record, "role": role} if role else record

    def put(self, source: Path, sha256: str, *, to: str) -> str:
        return self.remote.put(source, sha256, to=to)

    def open(self, artifact: Artifact) -> BinaryIO:
        if self._fetch_from(artifact):
            return self.remote.open(self._url(artifact))
        try:
            return open(artifact["path"], "rb")
        except OSError as error:
            raise ArtifactError(f"cannot read artifact {artifact['path']}: {error.strerror or error}") from None

    def exists(self, artifact: Artifact) -> bool:
        if self._fetch_from(artifact):
            return self.remote.exists(self._url(artifact))
        return os.path.exists(artifact["path"])

    def problem(self, artifact: Artifact, *, verify: bool = False) -> str | None:
        if not self._fetch_from(artifact):
            return check_unchanged(dict(artifact), verify=verify)
        return self.remote.problem(self._url(artifact), artifact, verify=verify)

    def materialize(self, artifact: Artifact, *, verify: bool = False) -> Path:
        if not self._fetch_from(artifact):
            return Path(artifact["path"])  # as it always was: the callers' own checks apply
        return self.remote.materialize(self._url(artifact), artifact, verify=verify)

    @staticmethod
    def _fetch_from(artifact: Artifact) -> bool:
        """Read from the URL: registered as one, or uploaded and gone from its local path."""
        return is_remote(artifact) or (bool(artifact.get("url")) and not os.path.lexists(artifact["path"]))

    @staticmethod
    def _url(artifact: Artifact) -> str:
        return str(artifact["path"] if is_remote(artifact) else artifact["url"])
