"""Worker processes for tests/backends/mlflow/test_concurrency.py: one "node" each, on one MLflow server.

``register URL MODEL FOLDER WHO`` registers every file of FOLDER by content key (the watcher's
rule: the same file is one version whoever registers it); ``deploy URL MODEL ROUNDS SEED BARRIER PARTIES``
deploys and rolls back at random, once PARTIES deployers have opened the registry.
Each prints one JSON line per attempt.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from store.errors import DeployConflict, ModelregError
from store.registry import Registry


def register(url: str, model: str, folder: str, who: str) -> None:
    files = sorted(Path(folder).iterdir())
    random.Random(who).shuffle(files)
    with Registry(url) as registry:
        for path in files:
            version = registry.register(model, [path], content_key=f"file:{path.read_bytes().hex()}", hash_artifacts=False,
                                        scan={"verdict": "safe"}, source=False)
            print(json.dumps({"key": path.name, "version": version.version}), flush=True)


def deploy(url: str, model: str, rounds: int, seed: int, barrier: str, parties: int) -> None:
    chance = random.Random(seed)
    with Registry(url) as registry:
        versions = [v.version for v in registry.versions(model)]
        _meet(Path(barrier), f"ready-{seed}", parties)  # all deployers start racing at once, however slow their start
        for _ in range(rounds):
            try:
                if chance.random() < 0.25:
                    entry = registry.rollback(model)
                else:
                    entry = registry.deploy(f"{model}:{chance.choice(versions)}", trust=True)
                print(json.dumps({"ok": True, "seq": entry.get("seq"), "from": entry.get("from"), "to": entry.get("to"),
                                  "unchanged": bool(entry.get("unchanged"))}), flush=True)
            except DeployConflict as error:
                print(json.dumps({"conflict": str(error)}), flush=True)
            except ModelregError as error:
                print(json.dumps({"refused": str(error)}), flush=True)


def _meet(barrier: Path, name: str, parties: int, timeout: float = 300) -> None:
    (barrier / name).touch()
    deadline = time.monotonic() + timeout
    while len(list(barrier.iterdir())) < parties:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(list(barrier.iterdir()))} of {parties} workers started")
        time.sleep(0.01)


if __name__ == "__main__":
    kind, *args = sys.argv[1:]
    if kind == "register":
        register(*args)
    else:
        deploy(args[0], args[1], int(args[2]), int(args[3]), args[4], int(args[5]))
