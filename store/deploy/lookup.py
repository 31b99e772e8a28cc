"""Reading what is deployed: the history, the environment names config.json allows, and the links
serving processes follow (``<registry>/deploy/<env>/<model>``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.errors import DeployError
from store.deploy.pinning import (
    safe_part,
)

if TYPE_CHECKING:
    from store.registry import Registry


DEPLOY = "deploy"


# -- reading --------------------------------------------------------------------------------------


def history(registry: Registry, model: str | None = None, env: str | None = None) -> list[dict[str, Any]]:
    """History entries, oldest first, optionally for one model and/or environment."""
    with registry.reading():
        if model is not None:
            registry.model(model)  # an unknown model is an error, not an empty history
        docs = registry.history_entries()
        found = [dict(d) for d in docs if (model is None or d["model"] == model) and (env is None or d["env"] == env)]
    return sorted(found, key=lambda d: d["seq"])


def _entries(registry: Registry, model: str, env: str) -> list[dict[str, Any]]:
    # Entries imported from another registry's bundle describe that registry's links, not ours.
    docs = registry.history_entries()
    mine = (d for d in docs if d["model"] == model and d["env"] == env and not d.get("imported"))
    return sorted(mine, key=lambda d: d["seq"])


def environment(registry: Registry, env: str | None) -> str:
    """The environment to use: the default if None; refuses names not in config.json."""
    env = env or registry.config.default_environment
    if env not in registry.config.environments:
        known = ", ".join(registry.config.environments)
        raise DeployError(f"unknown environment '{env}': this registry has {known} (add it to 'environments' in config.json)")
    return safe_part(env)


def link_path(registry: Registry, env: str, model: str) -> Path:
    return registry.path / DEPLOY / safe_part(env) / safe_part(model)


def _read_link(link: Path) -> str | None:
    try:
        return os.readlink(link)
    except FileNotFoundError:
        return None
    except OSError:
        return None  # a real file in the way: _point refuses it with a clear message


def _linked_version(link: Path, model: str) -> str | None:
    target = _read_link(link)
    if target is None:
        return None
    path = Path(target)
    return path.name if path.parent.name == model else None
