"""File events: watchdog's thread only classifies them into the settle table; the ticker finishes
what settled and supervises the observers.
"""

from __future__ import annotations

import os
import time

from watchdog.events import (
    FileSystemEvent,
)

from store.watch.checkpoints import checkpoint_for, is_model_file, is_temporary
from store.watch.events import WatchEvent
from store.watch.intake import Job, root_of
from store.watch.problems import _describe
from store.watch.sidecar import FOLDER_SIDECARS

SUPERVISE_EVERY = 1.0


class EventHandling:
    """The Watcher's file-event handling (watchdog's thread) and its ticker."""

    # -- file events (watchdog's thread: classify only) -----------------------------------------------

    def _on_fs_event(self, event: FileSystemEvent, polling: bool) -> None:
        kind = event.event_type
        src = os.fsdecode(event.src_path)
        if kind == "moved":
            if src:
                self._gone(src, event.is_directory)
            dest = os.fsdecode(event.dest_path)
            if dest:
                self._arrived(dest, event.is_directory, polling)
        elif kind == "deleted":
            self._gone(src, event.is_directory)
        elif kind == "created":
            if event.is_directory:
                self._fresh[src] = time.monotonic()
            self._changed(src, done=False, polling=polling)
        elif kind == "modified" and not event.is_directory:
            self._changed(src, done=False, polling=polling)
        elif kind == "closed":
            self._changed(src, done=True, polling=polling)

    def _is_fresh(self, folder: str) -> bool:
        seen = self._fresh.get(folder)
        return seen is not None and time.monotonic() - seen < self._fresh_window

    def _changed(self, path: str, *, done: bool, polling: bool, renamed: bool = False) -> None:
        root = root_of(path, self.roots)
        if root is None:
            return
        owner = checkpoint_for(path, root, self.rules)
        if owner is None:
            return
        checkpoint = str(owner)
        if checkpoint == path and os.path.exists(path) and not (os.path.isfile(path) or os.path.isdir(path)):
            self._submit(Job("checkpoint", path, root))  # a pipe or device: reported, never waited for
            return
        if checkpoint == path and not os.path.isdir(path):
            # A close in a folder made a moment ago may be one file of a checkpoint folder
            # still being filled: let it settle, and the folder be recognised, first.
            fresh = not renamed and self._is_fresh(os.path.dirname(path))
            entry = self.pending.touch(path, root, artifact=done and not fresh, close_expected=not polling and not fresh)
        elif not os.path.isdir(checkpoint) and path in (checkpoint + ".json", checkpoint + ".meta.json"):
            entry = self.pending.touch(checkpoint, root, sidecar=done)
        else:
            entry = self.pending.touch(checkpoint, root, artifact=False)  # folder: finished when quiet
        if entry is not None:
            self._submit(Job("checkpoint", entry.path, entry.root, sidecar_ok=not entry.sidecar_dirty))
        self._wake.set()

    def _arrived(self, path: str, is_dir: bool, polling: bool) -> None:
        if not is_dir:
            self._changed(path, done=True, polling=polling, renamed=True)
            return
        root = root_of(path, self.roots)
        if root is None:
            return
        self._fresh[path] = time.monotonic()
        owner = checkpoint_for(path, root, self.rules)
        if owner is None:
            return
        if str(owner) == path:  # a whole checkpoint folder renamed into place
            entry = self.pending.touch(path, root, artifact=True)
            if entry is not None:
                self._submit(Job("checkpoint", path, root, sidecar_ok=not entry.sidecar_dirty))
        else:
            self.pending.touch(str(owner), root, artifact=False)
        self._wake.set()

    def _gone(self, path: str, is_dir: bool) -> None:
        root = root_of(path, self.roots)
        if root is None or is_temporary(path, root):
            return
        self.pending.forget_below(path)
        # A model file goes to the writer even if not registered yet: its registration may be in
        # flight, and the writer's order puts this after it.
        if self._holds(path, is_dir) or (not is_dir and is_model_file(path, self.rules)):
            self._submit(Job("gone", path, root))
        elif not is_dir and os.path.basename(path) not in FOLDER_SIDECARS:
            owner = checkpoint_for(path, root, self.rules)
            if owner is not None and str(owner) != path and os.path.isdir(owner):
                self.pending.touch(str(owner), root, artifact=False)  # a file went from a checkpoint folder
                self._wake.set()

    def _holds(self, path: str, is_dir: bool) -> bool:
        if self.registry.holds(path):
            return True
        if not is_dir:
            return False
        prefix = path.rstrip(os.sep) + os.sep
        return any(p.startswith(prefix) for p in self.registry.artifact_paths())

    # -- ticker: settle and supervise ------------------------------------------------------------------

    def _tick_loop(self) -> None:
        last_check = time.monotonic()
        while not self._stopping.is_set():
            wait = self.pending.next_check()
            self._wake.wait(SUPERVISE_EVERY if wait is None else wait)
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                for entry in self.pending.due():
                    self._submit(Job("checkpoint", entry.path, entry.root, sidecar_ok=True))
                if time.monotonic() - last_check >= SUPERVISE_EVERY:
                    last_check = time.monotonic()
                    self._prune_fresh()
                    self._supervise()
            except Exception as error:
                self._emit(WatchEvent("problem", None, "", f"watcher: {_describe(error)}"))

    def _prune_fresh(self) -> None:
        now = time.monotonic()
        for folder, seen in list(self._fresh.items()):
            if now - seen >= self._fresh_window:
                self._fresh.pop(folder, None)
