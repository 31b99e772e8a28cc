"""The scanner: the watched folders compared with the registry on start and on every rescan."""

from __future__ import annotations

import os
import time
from typing import Any

from store.watch.checkpoints import scan_tree
from store.watch.events import WatchEvent
from store.watch.intake import Job, root_of, sidecar_fingerprint
from store.watch.problems import _describe
from store.watch.settle import content_fingerprint
from store.watch.sidecar import sidecar_for


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return all(abs((x or 0) - (y or 0)) < 1e-6 for x, y in zip(a, b))


class Scanner:
    """The Watcher's scanner thread."""

    # -- scanner ---------------------------------------------------------------------------------------------

    def _scan_loop(self) -> None:
        while True:
            self._scan_requested.wait()
            if self._stopping.is_set():
                self._scan_requested.clear()
                return
            with self._lock:
                reasons, self._scan_reasons = self._scan_reasons, []
                self._outstanding += 1
                self._scan_requested.clear()
            try:
                for reason in dict.fromkeys(reasons):
                    self._emit(WatchEvent("info", None, "", f"rescanning: {reason}"))
                self._scan()
            except Exception as error:
                self._emit(WatchEvent("problem", None, "", f"scan: {_describe(error)}"))
            finally:
                self._done()

    def _scan(self) -> None:
        """Register what appeared, and mark missing what vanished, while nobody was looking."""
        self.registry.refresh()
        known = self._known_under_roots()
        now = time.time()
        unreadable: list[str] = []
        for root in self.roots:
            if self._stopping.is_set():
                return
            if not os.path.isdir(root):
                continue
            for checkpoint in scan_tree(root, self.rules, unreadable):
                path = str(checkpoint)
                doc, record = known.pop(path, (None, None))
                fp = content_fingerprint(path)
                if fp is None:
                    continue
                sidecar_fp = sidecar_fingerprint(sidecar_for(path))
                if record is not None and not doc.get("missing") and self._unchanged(record, fp, sidecar_fp):
                    if record.get("sha256") is None:
                        ref = f"{doc['model']}:{doc['version']}"
                        self._queue(self._hash_jobs, ("fill", (ref, path, record)))
                    continue
                newest = max(fp[1], sidecar_fp[1] if sidecar_fp else 0)
                if now - newest >= self.settle:
                    self._submit(Job("checkpoint", path, root))
                else:
                    self.pending.touch(path, root, artifact=False)
                    self._wake.set()
        # Said once, not at every rescan; said again if it is readable for a while, then not.
        for folder in dict.fromkeys(unreadable):
            if folder not in self._unreadable:
                self._emit(WatchEvent("problem", None, folder, f"cannot read {folder}: permission denied; "
                                      "checkpoints in it are not registered until this user may read it"))
        self._unreadable = set(unreadable)
        for path, (doc, _) in known.items():
            if doc.get("missing"):
                continue
            root = root_of(path, self.roots)
            if root is not None and os.path.isdir(root) and not os.path.lexists(path):
                self._submit(Job("gone", path, root))

    def _known_under_roots(self) -> dict[str, Any]:
        """path -> (doc, record) of the newest version holding each artifact under a watched root."""
        found: dict[str, Any] = {}
        with self.registry.reading(refresh=False):
            for doc in self.registry.all_version_docs():
                for artifact in doc.get("artifacts", ()):
                    path = artifact.get("path", "")
                    if root_of(path, self.roots) is None:
                        continue
                    held = found.get(path)
                    if held is None or doc.get("created_at", "") > held[0].get("created_at", ""):
                        found[path] = (doc, artifact)
        return found

    @staticmethod
    def _unchanged(record: dict[str, Any], fp: list[float], sidecar_fp: list[float] | None) -> bool:
        watch = record.get("watch") or {}
        old_fp = watch.get("fp") or [record.get("size"), record.get("mtime")]
        return _close(old_fp, fp) and _close(watch.get("sidecar"), sidecar_fp)
