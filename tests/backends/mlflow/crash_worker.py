"""A writer for tests/backends/mlflow/test_server_crash.py: writes to an MLflow server in a loop until
the server is killed under it.

``register URL FOLDER`` registers FOLDER's files by content key, ``deploy URL SEED`` deploys and
rolls back model ``m`` at random, ``update URL SEED`` scores and tags model ``u``'s versions. One JSON line per
acknowledged write; when a write fails, one line ``{"error": message}`` and exit status 3 (the
message is what ``modelreg`` prints). Anything else escapes as a traceback, which the test refuses.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from store.errors import DeployConflict, ModelregError
from store.registry import Registry


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def register(registry: Registry, folder: str) -> None:
    for path in sorted(Path(folder).iterdir()):
        version = registry.register("r", [path], content_key=f"file:{path.name}", hash_artifacts=False,
                                    scan={"verdict": "safe"}, source=False)
        say(key=path.name, version=version.version)


def deploy(registry: Registry, seed: int) -> None:
    chance = random.Random(seed)
    versions = [v.version for v in registry.versions("m")]
    for _ in range(10_000):
        try:
            if chance.random() < 0.25:
                entry = registry.rollback("m")
            else:
                entry = registry.deploy(f"m:{chance.choice(versions)}", trust=True)
            say(seq=entry.get("seq"), to=entry.get("to"))
        except DeployConflict as error:
            say(conflict=str(error))
        except ModelregError as error:
            if "roll back" not in str(error):
                raise
            say(refused=str(error))  # nothing earlier to roll back to: not a server failure


def update(registry: Registry, seed: int) -> None:
    chance = random.Random(seed)
    refs = [v.ref for v in registry.versions("u")]
    for step in range(10_000):
        ref = chance.choice(refs)
        registry.score(ref, step=float(step), loss=chance.random())
        registry.tag(ref, f"t{step}")
        say(ref=ref, step=step)


if __name__ == "__main__":
    kind, url, arg = sys.argv[1:4]
    try:
        with Registry(url) as opened:
            say(ready=True)
            if kind == "register":
                register(opened, arg)
            elif kind == "deploy":
                deploy(opened, int(arg))
            else:
                update(opened, int(arg))
    except ModelregError as failure:
        say(error=str(failure))
        sys.exit(3)
