"""Worker processes for tests/deploy/test_deploy_reliability.py; each prints one JSON line when done.

    python tests/deploy/deploy_workers.py read REGISTRY MODEL READY STOP
        read <registry>/deploy/production/MODEL/model.bin until STOP exists
    python tests/deploy/deploy_workers.py switch REGISTRY MODEL OPS SEED VERSIONS
        OPS random deploys and rollbacks; after each, under the deploy lock, check that
        the history tail, the live table and the link on disk agree
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from store.deploy.deploy import deploy_lock  # noqa: E402
from store.errors import DeployError  # noqa: E402
from store.registry import Registry  # noqa: E402


def read(registry: str, model: str, ready: str, stop: str) -> dict:
    path = Path(registry) / "deploy" / "production" / model / "model.bin"
    reads, failures, errors = 0, 0, []
    Path(ready).touch()
    while not os.path.exists(stop):
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            if not data.startswith(b"weights-"):
                raise ValueError(f"unexpected content {data[:20]!r}")
            reads += 1
        except (OSError, ValueError) as error:
            failures += 1
            if len(errors) < 5:
                errors.append(repr(error))
    return {"reads": reads, "failures": failures, "errors": errors}


def agreement(reg: Registry, model: str) -> str | None:
    """Why the history tail, the live table and the link disagree, or None."""
    reg.refresh()
    entries = [e for e in reg.backend.storage.table("history").values() if e["model"] == model and e["env"] == "production" and e["ok"]]
    tail = max(entries, key=lambda e: e["seq"])["to"] if entries else None
    live = reg.live_map(model).get("production")
    link = reg.path / "deploy" / "production" / model
    on_disk = Path(os.readlink(link)).name if os.path.lexists(link) else None
    if not tail == live == on_disk:
        return f"history tail {tail}, live table {live}, link {on_disk}"
    return None


def switch(registry: str, model: str, ops: int, seed: int, versions: int) -> dict:
    rng = random.Random(seed)
    reg = Registry(registry)
    done, refused, problems = 0, 0, []
    for _ in range(ops):
        try:
            if rng.random() < 0.4:
                reg.rollback(model)
            else:
                reg.deploy(f"{model}:v{rng.randint(1, versions)}")
            done += 1
        except DeployError:
            refused += 1  # nothing earlier to roll back to
        with deploy_lock(reg):
            if problem := agreement(reg, model):
                problems.append(problem)
        time.sleep(rng.random() * 0.002)
    reg.close()
    return {"done": done, "refused": refused, "problems": problems}


if __name__ == "__main__":
    kind, args = sys.argv[1], sys.argv[2:]
    if kind == "read":
        result = read(*args)
    else:
        result = switch(args[0], args[1], int(args[2]), int(args[3]), int(args[4]))
    print(json.dumps(result))
