"""The deploy hook: ``deploy_hook`` from config.json run after a link switch, its output kept short, and
what its outcome means for the switch (a failure puts the previous version back).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.deploy.pinning import (
    Release,
)

if TYPE_CHECKING:
    from store.registry import Registry


HOOK_OUTPUT_CHARS = 4000


# -- the hook -------------------------------------------------------------------------------------


def run_hook(registry: Registry, env: str, model: str, release: Release, previous: str | None,
             action: str, link: Path) -> dict[str, Any] | None:
    """Run ``deploy_hook`` from config.json (never from sidecar metadata); None if none is set."""
    command = registry.config.deploy_hook
    if not command:
        return None
    variables = {
        "MODELREG_MODEL": model,
        "MODELREG_VERSION": release.version,
        "MODELREG_ENV": env,
        "MODELREG_ARTIFACT": str(release.primary),
        "MODELREG_REGISTRY": str(registry.path.absolute()),
        "MODELREG_LINK": str(link.absolute()),
        "MODELREG_PREVIOUS": previous or "",
        "MODELREG_ACTION": action,
    }
    try:
        # Its own session, so a timeout can stop everything the hook started.
        process = subprocess.Popen(
            ["/bin/sh", "-c", command], cwd=registry.path, env={**os.environ, **variables},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
    except OSError as error:
        return {"command": command, "returncode": None, "output": f"could not start: {error.strerror or error}"}
    try:
        output, _ = process.communicate(timeout=registry.config.hook_timeout)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        code = None
    return {"command": command, "returncode": code, "output": output.decode(errors="replace")[-HOOK_OUTPUT_CHARS:]}


def _hook_failure(hook: dict[str, Any] | None, timeout: float) -> str | None:
    if hook is None or hook["returncode"] == 0:
        return None
    last = next((line.strip() for line in reversed(hook["output"].splitlines()) if line.strip()), "")
    said = f" ({last[:200]})" if last else ""
    if hook["returncode"] is None:
        if hook["output"].startswith("could not start"):
            return f"the deploy hook {hook['output']}"
        return f"the deploy hook timed out after {timeout:g}s{said}"
    return f"the deploy hook exited with {hook['returncode']}{said}"
