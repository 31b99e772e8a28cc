"""One bucket on each kind of object storage modelreg reads (``bucket``, parametrized): moto's S3,
gcp-storage-emulator's GCS and Azurite's Blob Storage, each a real server on 127.0.0.1."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

_NAMES = itertools.count(1)
SERVERS = {"s3": "s3_server", "gs": "gcs_server", "az": "azure_server"}


@dataclass
class Bucket:
    scheme: str
    name: str
    fs: Any  # the test's own fsspec view of the store, not modelreg's
    server: Any

    def url(self, key: str) -> str:
        return f"{self.scheme}://{self.name}/{key}"

    def path(self, key: str) -> str:
        return f"{self.name}/{key}"


@pytest.fixture(params=list(SERVERS))
def bucket(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A fresh bucket (an Azure container) on a shared server, with this process pointed at it."""
    scheme = request.param
    if scheme == "s3":
        s3 = request.getfixturevalue("s3")
        return Bucket(scheme, s3.name, s3.server.filesystem(), s3.server)
    server = request.getfixturevalue(SERVERS[scheme])
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    name = f"modelreg-{scheme}-{next(_NAMES)}"
    fs = server.filesystem()
    fs.mkdir(name)
    return Bucket(scheme, name, fs, server)
