"""A GCS for the tests: ``gcp-storage-emulator`` (Google's JSON API) from the servers' venv, on 127.0.0.1
at a free port, reached by gcsfs through ``STORAGE_EMULATOR_HOST``.

gcsfs looks up each bucket's layout over gRPC by default (zonal and hierarchical buckets), which the
emulator does not speak: ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` keeps gcsfs on the JSON API.
The emulator ignores ``ifGenerationMatch``, so write-once is proven here by modelreg's own check only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers import free_port, server_program, start, stop, wait_for_port


@dataclass
class GcsServer:
    endpoint: str
    process: Any = field(repr=False)

    @property
    def env(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.endpoint, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}

    def filesystem(self) -> Any:
        import gcsfs

        return gcsfs.GCSFileSystem(endpoint_url=self.endpoint, token="anon", skip_instance_cache=True)


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsServer]:
    port = free_port()
    log = tmp_path_factory.mktemp("gcs") / "gcs.log"
    process = start([server_program("gcp-storage-emulator"), "start", "--host", "127.0.0.1", "--port", str(port),
                     "--in-memory", "--quiet"], Path(log))
    try:
        wait_for_port(port, process, "gcp-storage-emulator")
        yield GcsServer(f"http://127.0.0.1:{port}", process)
    finally:
        stop(process)
