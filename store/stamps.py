"""Who did something, and when: the stamps on every version and history entry."""

from __future__ import annotations

import getpass
import os
import socket
from datetime import datetime, timezone


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def whoami() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"
