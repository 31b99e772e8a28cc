"""The hasher and the inspector: content hashes filled in after a version appeared, and pickles scanned
(and safe scikit-learn ones described, in a subprocess) before they are registered.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from store import artifacts as artifact_files
from store.errors import ArtifactError
from store.watch.events import WatchEvent
from store.watch.intake import Job
from store.watch.problems import _describe


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


class Inspection:
    """The Watcher's hasher and inspector threads."""

    # -- hasher and inspector ------------------------------------------------------------------------------

    def _hash_loop(self) -> None:
        while (item := self._hash_jobs.get()) is not None:
            try:
                kind, payload = item
                if kind == "fill":
                    self._fill_hash(*payload)
                else:
                    payload.sha256 = artifact_files.content_hash(Path(payload.path))
                    self._submit(payload)
            except ArtifactError:
                pass  # vanished or unreadable while hashing: its deletion or next change is reported
            except Exception as error:
                self._emit(WatchEvent("problem", None, "", f"hashing: {_describe(error)}"))
            finally:
                self._done()

    def _fill_hash(self, ref: str, path: str, record: dict[str, Any]) -> None:
        before = artifact_files.fingerprint(Path(path))
        if list(before) != [record.get("size"), record.get("mtime")]:
            return  # changed since it was registered: that change is its own event
        sha = artifact_files.content_hash(Path(path))
        if artifact_files.fingerprint(Path(path)) == before and not self._stopping.is_set():
            self._submit(Job("hashed", path, ref=ref, record={**record, "sha256": sha}))

    def _inspect_loop(self) -> None:
        try:
            self._inspect_items()
        finally:
            self._inspector.close()

    def _inspect_items(self) -> None:
        while (item := self._inspect_jobs.get()) is not None:
            kind, payload = item
            try:
                if kind == "scan":
                    payload.scan = self._scan_pickles(payload.path)
                    self._submit(payload)
                elif not self._stopping.is_set():
                    self._describe(*payload)
            except Exception as error:
                path = payload.path if kind == "scan" else payload[1]
                self._emit(WatchEvent("problem", None, path, f"{path}: cannot inspect it: {_describe(error)}"))
            finally:
                self._done()

    def _scan_pickles(self, path: str) -> dict[str, Any]:
        from store.safety.loader import scannable_files

        results = []
        for file in scannable_files(path):
            answer = self._inspector.inspect(file)
            result = dict(answer.get("scan") or {"safe": False, "verdict": "error", "reason": "not judged"})
            if file != path:
                name, reason = os.path.basename(file), str(result.get("reason", ""))
                reason = reason[len(name):] if reason.startswith(name + ":") else f": {reason}"
                result["reason"] = os.path.relpath(file, path) + reason
            elif result.get("safe"):  # the same load described it: keep that for _describe
                self._described[file] = (_stamp(file), answer.get("estimator"))
            results.append(result)
        unsafe = [r for r in results if not r.get("safe")]
        return (unsafe or results)[0] if results else {"safe": True, "verdict": "safe", "reason": "no pickles"}

    def _describe(self, ref: str, path: str) -> None:
        if os.path.isdir(path):
            return
        stamp, info = self._described.pop(path, (None, None))
        if stamp is None or stamp != _stamp(path):
            info = self._inspector.inspect(path).get("estimator")
        if info is None:
            self._emit(WatchEvent("info", ref, path, f"{ref}  {path} could not be described as a scikit-learn estimator"))
        elif not self._stopping.is_set():
            self._submit(Job("described", path, ref=ref, info=info))
