"""Processes for tests/backends/local/test_outside.py: modelreg writers, a plain TinyDB writer, an adopter.

Each prints one JSON line with what it did (what was acknowledged), so the test can
check that nothing acknowledged was lost.

    python tests/backends/local/outside_worker.py modelreg REGISTRY MODEL COUNT
    python tests/backends/local/outside_worker.py plain REGISTRY ROUND STOPFILE
    python tests/backends/local/outside_worker.py adopter REGISTRY STOPFILE
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from store.backends.local import journal  # noqa: E402
from store.errors import OutsideEdit, SnapshotBusy, StoreWriteError  # noqa: E402

journal.MIN_COMPACT_BYTES, journal.COMPACT_RATIO = 0, 0.05  # compact every few writes


def modelreg(path: str, model: str, count: str) -> None:
    from store.registry import Registry

    acknowledged, refused = [], 0
    reg = Registry(path, create=False)
    for i in range(int(count)):
        while True:
            try:
                reg.register(model, metrics={"acc": i / 1000})
            except OutsideEdit:
                refused += 1  # loud, and nothing written: try again once it is adopted
                time.sleep(0.005)
                continue
            acknowledged.append(i)
            break
    reg.close()
    print(json.dumps({"acknowledged": acknowledged, "refused": refused}))


def plain(path: str, round_: str, stop: str) -> None:
    """A user's own TinyDB: open, write, close, over and over, as a script fixing notes would."""
    from tinydb import TinyDB

    notes, edits = [], []
    i = 0
    while not Path(stop).exists():
        i += 1
        db = TinyDB(Path(path) / "registry.json")
        if i % 3:
            db.table("notes").insert({"round": int(round_), "i": i})
            notes.append(i)
        else:
            versions = db.table("versions")
            versions.update({"notes": f"round {round_} edit {i}"}, doc_ids=[1])
            edits.append(i)
        db.close()
        Path(f"{stop}.started").touch()  # the test starts modelreg's writers only now, so the two overlap
        time.sleep(0.1)  # a script fixing notes, not a tight loop: modelreg gets its turns
    print(json.dumps({"notes": notes, "edits": edits}))


def adopter(path: str, stop: str) -> None:
    from store.backends.local.adopt import adopt

    adopted = busy = 0
    while not Path(stop).exists():
        try:
            adopted += len(adopt(path).adopted)
        except (SnapshotBusy, StoreWriteError):
            busy += 1  # the plain writer has it open, or kept writing, right now: loud, and tried again
        time.sleep(0.01)
    print(json.dumps({"adopted": adopted, "busy": busy}))


if __name__ == "__main__":
    {"modelreg": modelreg, "plain": plain, "adopter": adopter}[sys.argv[1]](*sys.argv[2:])
