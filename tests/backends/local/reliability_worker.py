"""A separate process that writes or reads a registry, for tests/backends/local/test_reliability.py.

Run as ``python tests/backends/local/reliability_worker.py MODE REGISTRY [ARGS...]``. Each mode
prints what the test needs to check on stdout, one JSON document per line.

The environment variables MODELREG_TEST_COMPACT_BYTES and
MODELREG_TEST_COMPACT_RATIO lower the compaction threshold, so compactions
happen often enough for a test to land in the middle of one.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from store.backends.local import journal  # noqa: E402
from store.errors import ModelregError  # noqa: E402
from store.registry import Registry  # noqa: E402

if "MODELREG_TEST_COMPACT_BYTES" in os.environ:
    journal.MIN_COMPACT_BYTES = int(os.environ["MODELREG_TEST_COMPACT_BYTES"])
if "MODELREG_TEST_COMPACT_RATIO" in os.environ:
    journal.COMPACT_RATIO = float(os.environ["MODELREG_TEST_COMPACT_RATIO"])


def say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def register(path: str, model: str, count: str, artifact: str) -> None:
    """Concurrency: register ``count`` versions of one model, print each version given."""
    with Registry(path) as reg:
        for i in range(int(count)):
            version = reg.register(model, [artifact], metrics={"i": i}, hash_artifacts=False)
            say(version=version.version)


def chaos(path: str, model: str, ack_path: str, seed: str) -> None:
    """Crash safety: random writes until killed.

    Before each call an intent line goes to the ack file, after it returns an ok
    line; os.write on an O_APPEND file is in the kernel once it returns, so a
    SIGKILL cannot take back an acknowledgement.
    """
    rng = random.Random(int(seed))
    ack = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def log(**fields: Any) -> None:
        os.write(ack, (json.dumps(fields) + "\n").encode())

    reg = Registry(path)
    live = [v.version for v in reg.versions(model)] if model in {m.name for m in reg.models()} else []
    say(ready=True)
    n = 0
    while True:
        n += 1
        roll = rng.random()
        p_register = 0.4 if len(live) < 30 else 0.2  # keep the registry small: compactions stay frequent
        if roll < 0.05:
            log(n=n, op="compact")
            reg.backend.storage.compact()
            log(n=n, ok=True)
        elif not live or roll < 0.05 + p_register:
            value = rng.random()
            log(n=n, op="register", acc=value)
            version = reg.register(model, metrics={"acc": value}).version
            live.append(version)
            log(n=n, ok=True, version=version)
        elif roll < 0.25 + p_register:
            version, value = rng.choice(live), rng.random()
            log(n=n, op="score", version=version, acc=value)
            reg.score(f"{model}:{version}", acc=value)
            log(n=n, ok=True)
        elif roll < 0.40 + p_register:
            version, tag = rng.choice(live), f"t{n}"
            log(n=n, op="tag", version=version, tag=tag)
            reg.tag(f"{model}:{version}", tag)
            log(n=n, ok=True)
        else:
            version = live.pop(rng.randrange(len(live)))
            log(n=n, op="remove", version=version)
            reg.remove(f"{model}:{version}")
            log(n=n, ok=True)


def writer(path: str, model: str, count: str) -> None:
    """Readers test: registrations and score updates, with a compaction now and then."""
    rng = random.Random(model)
    with Registry(path) as reg:
        say(ready=True)
        mine: list[str] = []
        for i in range(int(count)):
            if mine and rng.random() < 0.3:
                reg.score(f"{model}:{rng.choice(mine)}", acc=rng.random())
            else:
                mine.append(reg.register(model, metrics={"acc": rng.random()}, notes="x" * 200).version)
            if i % 25 == 24:
                reg.backend.storage.compact()
    say(done=True)


def read_loop(path: str, kind: str, stop: str) -> None:
    """Readers test: read until ``stop`` exists; counts must never go down.

    kind "open": a fresh Registry each time; "tinydb": plain TinyDB on
    registry.json; "live": one long-lived Registry following with changes_since.
    """
    from tinydb import TinyDB

    counts: list[int] = []
    errors: list[str] = []
    generations: list[int] = []
    exact_checks = resets = 0
    live = Registry(path) if kind == "live" else None
    mirror: dict[str, str] = {}
    token = live.token() if live else None
    if live:
        mirror = {i: json.dumps(d, sort_keys=True) for i, d in live.backend.storage.table("versions").items()}
    while True:
        last = os.path.exists(stop)  # one more look after the writers are done
        try:
            if kind == "open":
                reg = Registry(path)
                counts.append(len(reg.backend.storage.table("versions")))
                reg.backend.storage.close()
            elif kind == "tinydb":
                with TinyDB(os.path.join(path, "registry.json"), access_mode="r") as db:
                    counts.append(len(db.table("versions")))
                    generations.append(db.table("_modelreg").get(doc_id=1)["generation"])
            else:
                assert live is not None and token is not None
                changes = live.changes_since(token)
                token = changes.token
                table = live.backend.storage.table("versions")
                now = {i: json.dumps(d, sort_keys=True) for i, d in table.items()}
                if changes.reset:
                    resets += 1
                else:
                    differ = {("versions", i) for i in set(now) | set(mirror) if now.get(i) != mirror.get(i)}
                    reported = {("versions", i) for i in changes.versions}
                    if differ != reported:
                        errors.append(f"changes_since said {sorted(reported)[:5]}, but {sorted(differ)[:5]} changed")
                    exact_checks += 1
                mirror = now
                counts.append(len(now))
        except Exception as error:  # the test wants to see every kind of failure
            errors.append(f"{type(error).__name__}: {error}")
        if last:
            break
        if len(counts) == 1:
            Path(f"{stop}.{kind}").touch()  # the test starts the writers only now, so reads overlap them
        if kind == "live":
            time.sleep(0.005)
    say(counts=counts, errors=errors, generations=generations, exact_checks=exact_checks, resets=resets)


def fail(path: str, limit: str, as_nobody: str, op: str, *args: str) -> None:
    """Write failures: one operation under a file-size limit and/or as user nobody.

    Prints {"error": message, "type": class} or {"ok": ...} if it did not fail.
    """
    if as_nobody == "1":
        become_nobody()
    reg = Registry(path)
    if int(limit) > 0:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of dying
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), int(limit)))
    try:
        if op == "register":
            result: Any = reg.register(args[0], metrics={"acc": 0.5}).version
        elif op == "score":
            result = reg.score(args[0], acc=0.99).version
        elif op == "remove":
            result = reg.remove(args[0]).version
        elif op == "compact":
            result = reg.backend.storage.compact()
        else:
            raise SystemExit(f"unknown op {op}")
    except ModelregError as error:
        say(error=str(error), type=type(error).__name__)
    else:
        say(ok=result)
    reg.backend.storage.close()  # not reg.close(): its tidy-up would rewrite the files the test compares


def become_nobody() -> None:
    """Drop root for good. /root, where this Python lives, is closed to nobody, so
    first import every store module (they import their own needs lazily)."""
    import importlib
    import pkgutil

    import store

    for module in pkgutil.walk_packages(store.__path__, "store."):
        try:
            importlib.import_module(module.name)
        except Exception:
            pass  # a module being written by someone else right now; not ours to test

    os.setgroups([])
    os.setresgid(65534, 65534, 65534)
    os.setresuid(65534, 65534, 65534)


def cli_as_nobody(*argv: str) -> None:
    """Run ``modelreg ARGV`` as user nobody (after importing it as root)."""
    import tui.cli
    import tui.commands.core  # noqa: F401

    become_nobody()
    sys.exit(tui.cli.main(list(argv)))


MODES = {"register": register, "chaos": chaos, "writer": writer, "read": read_loop, "fail": fail, "cli-as-nobody": cli_as_nobody}

if __name__ == "__main__":
    MODES[sys.argv[1]](*sys.argv[2:])
