"""Observer wiring: one watchdog observer per watched folder (inotify, or polling where inotify cannot
be had), restarted by the ticker when it died, the folder was remounted or the watch limit was hit.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)

from store.watch.events import WatchEvent
from store.watch.observers import WATCH_LIMIT_ADVICE, make_observer, needs_polling
from store.watch.problems import _describe

if TYPE_CHECKING:
    from store.watch.watcher import Watcher


# inotify: a close or a rename says "finished"; writes themselves need no event.
INOTIFY_EVENTS = [FileCreatedEvent, FileClosedEvent, FileMovedEvent, DirMovedEvent, FileDeletedEvent, DirDeletedEvent, DirCreatedEvent]
# polling sees only snapshots: a changed size or mtime is all there is.
POLL_EVENTS = [*INOTIFY_EVENTS, FileModifiedEvent]


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher, polling: bool) -> None:
        self.watcher = watcher
        self.polling = polling

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self.watcher._on_fs_event(event, self.polling)
        except Exception as error:  # never let watchdog's thread die over one file
            path = os.fsdecode(event.src_path)
            self.watcher._emit(WatchEvent("problem", None, path, f"{path}: {_describe(error)}; skipped"))


def _identity(root: str) -> tuple[int, int] | None:
    try:
        st = os.stat(root)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _quietly_stop(observer: Any) -> None:
    try:
        observer.stop()
        observer.join(timeout=5)
    except Exception:
        pass


class ObserverWiring:
    """The Watcher's observers: started per folder, stopped, checked by the ticker."""

    # -- observers ----------------------------------------------------------------------------------

    def _start_observers(self) -> None:
        local: list[str] = []
        polled: list[str] = []
        for root in self.roots:
            self._root_ids[root] = _identity(root)
            if self._root_ids[root] is None:
                self.modes[root] = "absent"
                continue
            network = needs_polling(root)
            if self.force_poll or network or self._limit_hit:
                reason = f"{network} gives no change events" if network else "watch limit" if self._limit_hit else "--poll"
                self.modes[root] = f"polling ({reason})"
                polled.append(root)
            else:
                local.append(root)
        if local:
            observer = None
            try:
                observer = make_observer(False, self.poll_interval, self._on_watch_limit)
                for root in local:
                    observer.schedule(_Handler(self, False), root, recursive=True, event_filter=INOTIFY_EVENTS)
                observer.start()
                self._observers.append(observer)
                self.modes.update({root: "inotify" for root in local})
            except OSError as error:
                _quietly_stop(observer)
                self._on_watch_limit(error)
                self.modes.update({root: "polling (watch limit)" for root in local})
                polled.extend(local)
        if polled:
            observer = make_observer(True, self.poll_interval, self._on_watch_limit)
            for root in polled:
                observer.schedule(_Handler(self, True), root, recursive=True, event_filter=POLL_EVENTS)
            observer.start()
            self._observers.append(observer)
        for root in self.roots:
            self._emit(WatchEvent("info", None, root, f"watching {root} ({self.modes[root]})"))

    def _stop_observers(self) -> None:
        observers, self._observers = self._observers, []
        for observer in observers:
            _quietly_stop(observer)

    def _on_watch_limit(self, error: OSError) -> None:
        self._limit_hit = True
        self._wake.set()

    def _observers_healthy(self) -> bool:
        for observer in self._observers:
            if not observer.is_alive() or any(not emitter.is_alive() for emitter in list(observer.emitters)):
                return False
        return True

    def _supervise(self) -> None:
        reason = None
        if self._limit_hit and any(mode == "inotify" for mode in self.modes.values()):
            if not self._limit_reported:
                self._limit_reported = True
                self._emit(WatchEvent("problem", None, self.roots[0], WATCH_LIMIT_ADVICE))
            reason = "switched to polling"
        elif not self._observers_healthy():
            reason = "the file observer stopped; restarted it"
        else:
            for root in self.roots:
                if _identity(root) != self._root_ids.get(root):
                    reason = f"{root} was remounted, replaced or came back"
                    break
        if reason is None or self._stopping.is_set():
            return
        self._stop_observers()
        self._start_observers()
        self.rescan(reason)
