"""Opening a registry on an MLflow server: the backend, and the local folder beside it.

The folder (``$XDG_CACHE_HOME/modelreg/mlflow/HOST_PORT[_PREFIX]``) holds what is this machine's
own: config.json, pinned releases and deploy links, and the saved replica. Artifacts are local
paths or URLs, as on the local backend; a team shares its object storage through
``MODELREG_ARTIFACT_STORE`` (see :mod:`store.config`), each node's config.json being its own.
``MODELREG_MLFLOW_PREFIX`` puts the registry's models under a name prefix on a shared server.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

from store.backends.local.location import find_registry, remote_url
from store.backends.protocol import Backend

if TYPE_CHECKING:
    from store.backends.mlflow.backend import MlflowBackend


def local_home(url: str, prefix: str = "") -> Path:
    parts = urllib.parse.urlsplit(url)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{parts.hostname}_{parts.port or parts.scheme}{parts.path}_{prefix}").strip("_")
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "modelreg" / "mlflow" / name


def open_backend(url: str) -> tuple[MlflowBackend, Path]:
    # Imported here: the REST client pulls in http.client (~60 ms), which a local registry never needs.
    from store.backends.mlflow.backend import MlflowBackend
    from store.backends.mlflow.saved import FILE

    prefix = os.environ.get("MODELREG_MLFLOW_PREFIX", "")
    home = local_home(url, prefix)
    home.mkdir(parents=True, exist_ok=True)
    return MlflowBackend(url, prefix=prefix, saved=home / FILE), home


def locate(path: str | os.PathLike[str] | None, backend: Backend | None) -> tuple[Backend | None, Path]:
    """What ``Registry(path, backend=...)`` opens: an MLflow server for ``http(s)://`` (named or in
    ``MODELREG_HOME``), else the local folder the location rules find (its backend made by the caller)."""
    url = remote_url(path) if backend is None else None
    if url is not None:
        return open_backend(url)
    return backend, find_registry(path)
