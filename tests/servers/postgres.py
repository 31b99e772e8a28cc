"""A throwaway PostgreSQL for the tests (initdb in a temp dir, ``postgres`` in the foreground).

PostgreSQL refuses to run as root, and CI runs as root: then the server runs as ``nobody`` with a
data directory it owns. It listens on 127.0.0.1 at a free port, trusts local connections, and is
stopped by process group like every test server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port, start, stop, system_program, wait_for_port


def _as_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "nobody", "--", *argv] if os.geteuid() == 0 else argv


def start_postgres(directory: Path) -> tuple[str, subprocess.Popen]:
    """A running server and its URI (database ``postgres``, user of the server's own)."""
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "data"
    if os.geteuid() == 0:
        os.chown(directory, 65534, 65534)
    user = "nobody" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    made = subprocess.run(_as_owner([system_program("initdb"), "-D", str(data), "-A", "trust", "-U", user, "-E", "UTF8"]),
                          capture_output=True, text=True, timeout=120)
    if made.returncode != 0:
        pytest.fail(f"initdb failed: {made.stderr.strip()[-500:]}", pytrace=False)
    port = free_port()
    process = start(_as_owner([system_program("postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
                               "-k", str(directory), "-c", "max_connections=200", "-c", "fsync=off"]),
                    directory / "postgres.log")
    wait_for_port(port, process, "postgres")
    return f"postgresql+psycopg2://{user}@127.0.0.1:{port}/postgres", process


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    base = Path(tempfile.mkdtemp(prefix="modelreg-pg-"))  # not under pytest's root-only tmp: nobody must reach it
    uri, process = start_postgres(base)
    try:
        yield uri
    finally:
        stop(process)
        shutil.rmtree(base, ignore_errors=True)
