"""Artifacts on object storage, through fsspec: the remote half of :class:`store.backends.artifacts.FileArtifacts`.

- ``describe(url)`` streams the object (or every object under a folder prefix) once: size and sha256
  are computed on the way into the cache, so the safety scan and a later load read the same bytes.
- ``put`` uploads content-addressed (``PREFIX/sha256/<hex>``) and write-once: every store gets a
  conditional put (S3 and Azure ``If-None-Match: *``, GCS ``ifGenerationMatch=0``), GCS an exists check
  first as well. A key already there is accepted only if it holds the same bytes; one with other bytes
  is never overwritten (a one-line ArtifactError).
- ``materialize`` returns the cached copy, downloading it first if need be; a download whose sha256
  differs from the registered one is refused and never enters the cache.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from store.artifacts import CHUNK, content_hash, guess_framework
from store.backends.objects.cache import ArtifactCache
from store.backends.objects.urls import Location, filesystem, parse, speaking
from store.errors import ArtifactError


class RemoteArtifacts:
    """Objects under ``s3://``, ``gs://``, ``az://`` URLs, with a cache of verified downloads."""

    def __init__(self, cache: ArtifactCache | None = None) -> None:
        self.cache = cache or ArtifactCache()
        self._filesystems: dict[str, Any] = {}

    def _fs(self, location: Location) -> Any:
        if location.scheme not in self._filesystems:
            self._filesystems[location.scheme] = filesystem(location.scheme)
        return self._filesystems[location.scheme]

    # -- reading ----------------------------------------------------------------------------------

    def describe(self, url: str) -> dict[str, Any]:
        """The record of the object or folder at ``url``: its bytes are streamed once, into the cache."""
        location = parse(url)
        kind, files = self._listing(location, "read")
        size = sum(files.values())
        sha, local = self.cache.fill(None, location.name, lambda target: self._download(location, kind, files, target))
        return {"path": location.url, "kind": kind, "size": size, "sha256": sha, "framework": guess_framework(local)}

    def open(self, url: str) -> BinaryIO:
        location = parse(url)
        with speaking(location.url, "read"):
            return self._fs(location).open(location.path, "rb")

    def exists(self, url: str) -> bool:
        location = parse(url)
        with speaking(location.url, "read"):
            return bool(self._fs(location).exists(location.path))

    def problem(self, url: str, artifact: Mapping[str, Any], *, verify: bool = False) -> str | None:
        """Why ``url`` no longer holds the artifact (gone, another size, other bytes), or None.
        Other failures (credentials, an unreachable server) are raised: they say nothing of the artifact."""
        location = parse(url)
        try:
            _, files = self._listing(location, "read")
        except ArtifactError as error:
            if "does not exist" in str(error):
                return f"artifact {location.url} is missing"
            raise
        if artifact.get("size") is not None and sum(files.values()) != artifact["size"]:
            return f"artifact {location.url} changed since it was registered (its size differs)"
        if verify:
            try:
                self.materialize(url, artifact, verify=True)
            except ArtifactError as error:
                return str(error)
        return None

    def materialize(self, url: str, artifact: Mapping[str, Any], *, verify: bool = False) -> Path:
        """A local copy of ``url`` holding exactly the artifact's recorded bytes (by sha256)."""
        location = parse(url)
        sha = artifact.get("sha256")
        if not sha:
            raise ArtifactError(f"{location.url} has no recorded sha256, so its bytes cannot be checked; re-register it")
        name = PurePosixPath(str(artifact["path"])).name or location.name
        kind = artifact.get("kind", "file")
        found = self.cache.lookup(sha, name, kind, artifact.get("size"), verify=verify)
        if found is not None:
            return found
        _, files = self._listing(location, "download")
        try:
            return self.cache.fill(sha, name, lambda target: self._download(location, kind, files, target))[1]
        except ArtifactError as error:
            if str(error).startswith("sha256 "):
                raise ArtifactError(f"refusing {location.url}: it holds {error} (the object was changed or tampered "
                                    "with); nothing was cached") from None
            raise

    def _listing(self, location: Location, doing: str) -> tuple[str, dict[str, int]]:
        """("file", {"": size}) or ("dir", {relative key: size}) for what is at ``location``."""
        fs = self._fs(location)
        with speaking(location.url, doing):
            info = fs.info(location.path)
            if info.get("type") != "directory":
                return "file", {"": int(info["size"])}
            found = fs.find(location.path, detail=True)
        files = {}
        for key, detail in found.items():
            relative = key[len(location.path):].lstrip("/")
            parts = relative.split("/")
            if not relative or any(p in ("", ".", "..") for p in parts):
                raise ArtifactError(f"{location.url} holds an object named {key!r}, which cannot be a file in a folder; "
                                    "refusing the folder")
            files[relative] = int(detail.get("size") or 0)
        if not files:
            raise ArtifactError(f"cannot {doing} {location.url}: it does not exist (check the bucket and key)")
        return "dir", files

    def _download(self, location: Location, kind: str, files: dict[str, int], target: Path) -> str:
        """Write the object(s) to ``target``; their sha256 (as :func:`store.artifacts.content_hash`)."""
        if kind == "file":
            return self._download_file(location, target).hexdigest()
        target.mkdir()
        for relative in sorted(files):
            destination = target.joinpath(*relative.split("/"))
            destination.parent.mkdir(parents=True, exist_ok=True)
            self._download_file(location.child(relative), destination)
        return content_hash(target)

    def _download_file(self, location: Location, target: Path) -> Any:
        digest = hashlib.sha256()
        with speaking(location.url, "download"):
            with self._fs(location).open(location.path, "rb") as source, open(target, "wb") as out:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        return digest

    # -- writing ----------------------------------------------------------------------------------

    def put(self, source: Path, sha256: str, *, to: str) -> str:
        """Upload ``source`` (file or folder) under ``to``/sha256/<hex>, never overwriting; its URL."""
        base = parse(to).child("sha256", sha256)
        if source.is_dir():
            for file in sorted(p for p in source.rglob("*") if p.is_file()):
                self._put_file(file, base.child(*file.relative_to(source).parts))
        else:
            self._put_file(source, base)
        return base.url

    def _put_file(self, source: Path, location: Location) -> None:
        fs = self._fs(location)
        with speaking(location.url, "upload to"):
            try:
                if location.scheme in ("s3", "s3a"):
                    fs.put_file(str(source), location.path, mode="create")  # If-None-Match: * on the server
                elif location.scheme in ("az", "abfs", "abfss"):
                    fs.put_file(str(source), location.path, overwrite=False)  # Azure's If-None-Match: * too
                elif fs.exists(location.path):  # GCS: checked here too, for emulators that ignore the condition
                    raise FileExistsError(location.path)
                else:
                    fs.put_file(str(source), location.path, mode="create")  # ifGenerationMatch=0 on the server
                return
            except Exception as error:
                if not _exists_error(error, location.scheme):
                    raise
        if not self._same_bytes(source, location):
            raise ArtifactError(f"{location.url} already exists with other bytes; modelreg never overwrites an object "
                                "(remove it by hand if it is garbage, then upload again)")

    def _same_bytes(self, source: Path, location: Location) -> bool:
        fs = self._fs(location)
        with speaking(location.url, "read"):
            if int(fs.info(location.path)["size"]) != source.stat().st_size:
                return False
            digest = hashlib.sha256()
            with fs.open(location.path, "rb") as remote:
                while chunk := remote.read(CHUNK):
                    digest.update(chunk)
        return digest.hexdigest() == content_hash(source)


def _exists_error(error: BaseException, scheme: str) -> bool:
    """Did the store refuse because the key exists? S3 answers 412 PreconditionFailed, GCS 412 (gcsfs's
    HttpError code); adlfs raises FileExistsError. Only the status counts: other stores' messages carry
    request ids and times, where "412" may appear by chance."""
    if isinstance(error, FileExistsError):
        return True
    if scheme in ("s3", "s3a"):
        text = f"{type(error).__name__} {error}"
        return "PreconditionFailed" in text or "412" in text
    return scheme in ("gs", "gcs") and getattr(error, "code", None) == 412
