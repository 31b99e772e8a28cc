"""An Azure Blob Storage for the tests: Azurite (Microsoft's emulator, from npm), on 127.0.0.1 at a
free port, reached by adlfs through ``AZURE_STORAGE_CONNECTION_STRING`` with Azurite's well-known
development account. ``.ci/run`` installs it under ``.servers-node`` (or set ``MODELREG_SERVERS_NODE``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ROOT, free_port, start, stop, wait_for_port

NODE = Path(os.environ.get("MODELREG_SERVERS_NODE", ROOT / ".servers-node"))
# Azurite's published development account (https://learn.microsoft.com/azure/storage/common/storage-use-azurite)
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class AzureServer:
    endpoint: str
    process: Any = field(repr=False)

    @property
    def connection_string(self) -> str:
        return f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={self.endpoint}/{ACCOUNT};"

    @property
    def env(self) -> dict[str, str]:
        return {"AZURE_STORAGE_CONNECTION_STRING": self.connection_string}

    def filesystem(self) -> Any:
        import adlfs

        return adlfs.AzureBlobFileSystem(connection_string=self.connection_string, skip_instance_cache=True)


@pytest.fixture(scope="session")
def azure_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureServer]:
    program = NODE / "node_modules" / ".bin" / "azurite-blob"
    if not program.exists():
        pytest.fail(f"azurite is not installed at {program}: run .ci/run (npm install --prefix .servers-node azurite), "
                    "or set MODELREG_SERVERS_NODE", pytrace=False)
    port, data = free_port(), tmp_path_factory.mktemp("azurite")
    process = start([program, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", data, "--silent",
                     "--skipApiVersionCheck", "--loose"], data / "azurite.log")
    try:
        wait_for_port(port, process, "azurite")
        yield AzureServer(f"http://127.0.0.1:{port}", process)
    finally:
        stop(process)
