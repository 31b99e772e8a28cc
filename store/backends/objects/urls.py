"""Object-storage URLs: which are accepted, the fsspec filesystem for each, and errors as one line.

fsspec and its filesystems (s3fs, gcsfs, adlfs) are optional extras, imported here only when a URL is
used, so ``import store`` and the app's start-up never pay for them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from store.errors import ArtifactError

# scheme -> (fsspec protocol, the modelreg extra that installs it)
SCHEMES = {"s3": ("s3", "s3"), "s3a": ("s3", "s3"), "gs": ("gcs", "gcs"), "gcs": ("gcs", "gcs"),
           "az": ("az", "azure"), "abfs": ("abfs", "azure"), "abfss": ("abfs", "azure")}
# by extra: where each store's client looks for credentials, named in the line a refusal prints
CREDENTIALS = {"s3": "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE for s3://",
               "gcs": "GOOGLE_APPLICATION_CREDENTIALS, or 'gcloud auth application-default login', for gs://",
               "azure": "AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY "
                        "or AZURE_STORAGE_SAS_TOKEN, for az://"}
# what the Azure SDK says for a refused signature or a forbidden operation
_REFUSED = ("AuthorizationFailure", "AuthenticationFailed", "AuthorizationPermissionMismatch", "ClientAuthenticationError")
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$", re.S)
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,254}$")


@dataclass(frozen=True)
class Location:
    """A checked URL: ``scheme://bucket/key``."""

    scheme: str
    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}" if self.key else f"{self.scheme}://{self.bucket}"

    @property
    def path(self) -> str:
        """What fsspec calls the path: ``bucket/key``."""
        return f"{self.bucket}/{self.key}" if self.key else self.bucket

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1] or self.bucket

    def child(self, *parts: str) -> Location:
        return parse("/".join([self.url.rstrip("/"), *parts]))


def parse(url: str) -> Location:
    """A URL as a :class:`Location`, or a one-line ArtifactError: no ``..``, ``.``, empty or odd parts."""
    match = _URL.match(url) if isinstance(url, str) else None
    if not match:
        raise ArtifactError(f"{url!r} is not a storage URL; write s3://BUCKET/KEY, gs://BUCKET/KEY or az://CONTAINER/KEY")
    scheme = match["scheme"].lower()
    if scheme not in SCHEMES:
        raise ArtifactError(f"{url}: modelreg does not read {scheme}:// artifacts; use s3://, gs:// or az://")
    rest = match["rest"]
    bucket, _, key = rest.partition("/")
    key = key[:-1] if key.endswith("/") else key  # a folder may be written with a trailing slash
    if not _BUCKET.match(bucket):
        raise ArtifactError(f"{url}: '{bucket}' is not a bucket name; write {scheme}://BUCKET/KEY")
    parts = key.split("/") if key else []
    if any(p in ("", ".", "..") for p in parts) or any(c in key for c in "\0\\") or any(ord(c) < 32 for c in key):
        raise ArtifactError(f"{url}: a key may not hold '..', '.', '//', backslashes or control characters; "
                            "name the object by its plain key")
    return Location(scheme, bucket, key)


def extra_for(scheme: str) -> str:
    return SCHEMES[scheme][1]


def filesystem(scheme: str) -> Any:
    """A fresh fsspec filesystem for ``scheme`` (honouring ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``
    for S3), or a one-line ArtifactError naming the extra to install."""
    protocol, extra = SCHEMES[scheme]
    missing = f"{scheme}:// artifacts need the optional extra: pip install 'modelreg[{extra}]'"
    try:
        import fsspec
    except ImportError:
        raise ArtifactError(missing) from None
    options: dict[str, Any] = {"skip_instance_cache": True}
    if protocol == "s3":
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            options["client_kwargs"] = {"endpoint_url": endpoint}
        options["use_listings_cache"] = False  # another host's upload must be seen at once
    try:
        return fsspec.filesystem(protocol, **options)
    except ImportError:
        raise ArtifactError(missing) from None
    except Exception as error:  # bad credentials in the configuration: still one line
        raise ArtifactError(f"cannot reach {scheme}:// storage: {_one_line(error)}") from None


@contextmanager
def speaking(url: str, doing: str) -> Iterator[None]:
    """Turn what fsspec and its clients raise into one line naming ``url`` and what to do."""
    try:
        yield
    except ArtifactError:
        raise
    except FileNotFoundError:
        raise ArtifactError(f"cannot {doing} {url}: it does not exist (check the bucket and key)") from None
    except Exception as error:  # the clients raise their own kinds (botocore, aiohttp, azure): one line each
        name, scheme = type(error).__name__, url.partition("://")[0].lower()
        hint = CREDENTIALS[SCHEMES.get(scheme, SCHEMES["s3"])[1]]
        if isinstance(error, PermissionError) or any(w in f"{name} {error}" for w in _REFUSED):
            raise ArtifactError(f"cannot {doing} {url}: access denied ({_one_line(error)}); check the credentials "
                                f"({hint})") from None
        if "Credential" in name or "Token" in name:
            raise ArtifactError(f"cannot {doing} {url}: no usable credentials ({_one_line(error)}); set {hint}") from None
        raise ArtifactError(f"cannot {doing} {url}: {_one_line(error)}") from None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:240] or type(error).__name__
