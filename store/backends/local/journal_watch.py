"""Wake a long-lived reader as soon as another process writes the registry.

Every acknowledged write appends to the journal (or, on compaction, renames a new snapshot
and journal into place), so an inotify watch on the registry's folder sees each one as it
happens: no timer, no CPU while nothing changes. Where inotify cannot see other writers (a
network filesystem) or cannot be had (no inotify, the watch limit reached), the reader
falls back to polling; :attr:`JournalWatch.mode` says which.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.events import (
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)

from store.backends.local.journal import JOURNAL, SNAPSHOT
from store.watch.observers import make_observer, needs_polling

log = logging.getLogger(__name__)
_NAMES = frozenset({JOURNAL, SNAPSHOT})
# Opens, reads and closes are left out: reading the journal to catch up must not wake us again.
_EVENTS: list[type[FileSystemEvent]] = [FileModifiedEvent, FileCreatedEvent, FileMovedEvent, FileDeletedEvent]


class _Handler(FileSystemEventHandler):
    def __init__(self, on_change: Callable[[], None]) -> None:
        self.on_change = on_change

    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = (event.src_path, getattr(event, "dest_path", "") or "")
        if any(os.path.basename(os.fsdecode(p)) in _NAMES for p in paths if p):
            try:
                self.on_change()
            except Exception:  # never let watchdog's thread die
                log.exception("journal watch callback failed")


class JournalWatch:
    """Calls ``on_change()`` (from watchdog's thread) whenever the registry's journal or
    snapshot in ``directory`` changes; ``mode`` is "inotify", or "polling" when the caller
    must look by itself."""

    def __init__(self, directory: str | os.PathLike[str], on_change: Callable[[], None]) -> None:
        self.directory = Path(directory)
        self.on_change = on_change
        self.mode = "polling"
        self.reason = ""
        self._observer: Any = None

    def start(self) -> str:
        network = needs_polling(self.directory)
        if network:
            self.reason = f"{network} filesystem: other machines' writes raise no inotify events"
            return self.mode
        try:
            observer = make_observer(False, 0, lambda error: None)
            observer.schedule(_Handler(self.on_change), str(self.directory), recursive=False, event_filter=_EVENTS)
            observer.start()
        except Exception as error:  # no inotify here, or the watch limit: poll instead
            self.reason = f"inotify unavailable: {error}"
            return self.mode
        self._observer, self.mode = observer, "inotify"
        return self.mode

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            try:
                observer.stop()
                observer.join(2)
            except Exception:
                pass
