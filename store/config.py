"""The registry's own settings, kept in ``<registry>/config.json``.

Only the registry's owner writes this file: nothing from sidecars or bundles
ever lands here, which is why the deploy hook is read from here alone. A backend
shared by a team may keep settings for all its machines too (on an MLflow server,
the ``artifact_store``); this machine's config.json wins over them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from store.errors import ConfigError

CONFIG = "config.json"
STORE_VARIABLE = "MODELREG_ARTIFACT_STORE"
TEAM = "the registry's server (for the whole team)"


def read(path: Path) -> dict[str, Any]:
    """A config.json's object ({} if there is none), or a one-line ConfigError."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read {path}: {error}; fix or remove the file") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    return raw


@dataclass(frozen=True)
class Config:
    environments: tuple[str, ...] = ("production", "staging")
    default_environment: str = "production"
    # Environments where a deploy from the app must be confirmed by typing the model name.
    protected_environments: tuple[str, ...] = ("production",)
    deploy_hook: str | None = None
    hook_timeout: float = 300.0
    watch: dict[str, Any] = field(default_factory=dict)
    # Deprecate the version a deploy replaces (AFS's habit); by default it goes back to completed.
    deprecate_replaced: bool = False
    # Where a version's local artifacts are uploaded (s3://BUCKET/PREFIX, gs://..., az://...): store.uploading.
    artifact_store: str | None = None
    # Where artifact_store came from, for people: the variable, config.json's path, or TEAM.
    artifact_store_from: str = field(default="", compare=False)

    @classmethod
    def load(cls, registry: Path, team: Mapping[str, str] = {}) -> Config:
        """``registry/config.json``. Its ``artifact_store`` wins over the one the backend keeps for the
        whole team (``team``, on an MLflow server: where config.json is each machine's own), and
        ``$MODELREG_ARTIFACT_STORE`` wins over both (one job or machine set apart)."""
        path = registry / CONFIG
        raw = read(path)
        config = cls.from_dict(raw, str(path))
        for value, where in ((os.environ.get(STORE_VARIABLE), STORE_VARIABLE), (raw.get("artifact_store"), str(path)),
                             (team.get("artifact_store"), TEAM)):
            if value:
                store = cls.from_dict({"artifact_store": value}, where).artifact_store
                return replace(config, artifact_store=store, artifact_store_from=where)
        return config

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = CONFIG) -> Config:
        def names(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
            value = raw.get(key, list(default))
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"{where}: '{key}' must be a list of names")
            return tuple(value)

        environments = names("environments", cls.environments)
        default = raw.get("default_environment", environments[0] if environments else "production")
        if not isinstance(default, str) or not default:
            raise ConfigError(f"{where}: 'default_environment' must be a name")
        if "environments" in raw and "default_environment" in raw and default not in environments:
            # a typo here must not create an environment, as a typo'd --env does not
            raise ConfigError(f"{where}: 'default_environment' {default!r} is not one of 'environments' ({', '.join(environments) or 'none'}): add it there or fix the name")
        hook = raw.get("deploy_hook")
        if hook is not None and not isinstance(hook, str):
            raise ConfigError(f"{where}: 'deploy_hook' must be a command line (text)")
        timeout = raw.get("hook_timeout", cls.hook_timeout)
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigError(f"{where}: 'hook_timeout' must be a positive number of seconds")
        watch = raw.get("watch", {})
        if not isinstance(watch, dict):
            raise ConfigError(f"{where}: 'watch' must be an object")
        deprecate = raw.get("deprecate_replaced", False)
        if not isinstance(deprecate, bool):
            raise ConfigError(f"{where}: 'deprecate_replaced' must be true or false")
        store = raw.get("artifact_store")
        if store is not None and not (isinstance(store, str) and "://" in store):
            raise ConfigError(f"{where}: 'artifact_store' must be a URL such as s3://BUCKET/PREFIX")
        return cls(
            environments=tuple(dict.fromkeys((*environments, default))),
            default_environment=default,
            protected_environments=names("protected_environments", cls.protected_environments),
            deploy_hook=hook,
            hook_timeout=float(timeout),
            watch=watch,
            deprecate_replaced=deprecate,
            artifact_store=store.rstrip("/") if store else None,
        )
