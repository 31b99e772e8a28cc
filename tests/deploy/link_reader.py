"""Reads a file through a deploy link in a loop until a stop file appears (the acceptance test's "server").

Usage: link_reader.py PATH STOPFILE. Prints {"reads": n, "failures": [...], "hashes": {sha256: count}}.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys


def main(path: str, stop: str) -> None:
    reads, failures, hashes = 0, [], {}
    while not os.path.exists(stop):
        try:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:  # resolved once: a switch after this never cuts the read
                while chunk := handle.read(4 << 20):
                    digest.update(chunk)
            hashes[digest.hexdigest()] = hashes.get(digest.hexdigest(), 0) + 1
        except OSError as error:
            failures.append(f"{type(error).__name__}: {error}")
        reads += 1
    print(json.dumps({"reads": reads, "failures": failures[:20], "hashes": hashes}))


if __name__ == "__main__":
    main(*sys.argv[1:])
