"""Which watchdog observer to use for a folder, and the fixes it needs to be relied on.

- Network filesystems (NFS, SMB, SSHFS, ...) deliver no inotify events for changes made on
  other machines: :func:`needs_polling` finds them in ``/proc/mounts``.
- watchdog holds every ``IN_MOVED_FROM`` for half a second to pair it with its ``IN_MOVED_TO``,
  and its reader sleeps through that half second even when the pair arrives at once, so a
  rename into place would take 500 ms to be seen. :class:`PromptInotifyObserver` wakes the
  reader as soon as the pair is made.
- watchdog's default emitter calls a file moved in from an unwatched folder "created", which
  looks like a file opened for writing; its full emitter says "moved", which is what happened.
- watchdog skips subfolders it cannot watch when the inotify watch limit is reached (silently
  before 7.1.1, with a log line since); the prompt observer reports that through ``on_limit`` so
  the watcher can fall back to polling.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "sshfs", "fuse.sshfs", "9p", "afs",
    "ceph", "fuse.ceph", "glusterfs", "fuse.glusterfs", "lustre", "gpfs", "beegfs", "davfs",
    "fuse.davfs", "fuse.s3fs", "fuse.rclone", "fuse.gcsfuse", "fuse.juicefs", "fuse.goofys",
})
WATCH_LIMIT_ADVICE = (
    "the inotify watch limit is reached; watching by polling instead. To raise it: "
    "sudo sysctl fs.inotify.max_user_watches=524288 (add it to /etc/sysctl.conf to keep it)"
)
log = logging.getLogger(__name__)


def _unescape(field_text: str) -> str:
    # /proc/mounts writes spaces, tabs, newlines and backslashes as octal escapes.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field_text = field_text.replace(code, char)
    return field_text


def filesystem_type(path: str | os.PathLike[str], mounts: str = "/proc/mounts") -> str | None:
    """The filesystem type of the mount holding ``path`` (e.g. "ext4", "nfs4"), or None if unknown."""
    target = os.path.realpath(path)
    try:
        with open(mounts, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    best, best_type = "", None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape(fields[1])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, fields[2]
    return best_type


def needs_polling(path: str | os.PathLike[str], mounts: str = "/proc/mounts") -> str | None:
    """The network filesystem type when ``path`` is on one (so inotify would stay silent), else None."""
    kind = filesystem_type(path, mounts)
    return kind if kind is not None and kind.lower() in NETWORK_FILESYSTEMS else None


def make_observer(poll: bool, interval: float, on_limit: Callable[[OSError], None]) -> BaseObserver:
    """A polling observer, or the prompt inotify observer (stock watchdog if that cannot be built)."""
    if poll:
        return PollingObserver(timeout=interval)
    try:
        return _prompt_observer(on_limit)
    except Exception as error:  # a watchdog whose internals moved: the stock observer still works
        log.warning("using watchdog's own inotify observer: %s", error)
        from watchdog.observers.inotify import InotifyObserver

        return InotifyObserver()


def _prompt_observer(on_limit: Callable[[OSError], None]) -> BaseObserver:
    # Two seams into watchdog's inotify internals, kept as thin as possible because they move
    # even in patch releases (7.1.1 rewrote the watch group's bookkeeping): the reader's
    # ``add_callback`` (to hear of the watch limit) and the move grouper's queue (to wake on a
    # paired move). The queue is checked on a sample before use; anything else that no longer
    # fits raises here, and :func:`make_observer` falls back to the stock observer.
    from watchdog.observers.inotify import InotifyFullEmitter, InotifyObserver, InotifyWatchGroup
    from watchdog.observers.inotify_c import InotifyFD
    from watchdog.observers.inotify_move_event_grouper import InotifyMoveEventGrouper
    from watchdog.utils.delayed_queue import DelayedQueue

    class PromptDelayedQueue(DelayedQueue):  # type: ignore[type-arg]
        """Waits on the condition instead of sleeping, so a removed head (paired move) wakes it."""

        def get(self) -> Any:
            with self._not_empty:
                while True:
                    while not self._queue and not self._closed:
                        self._not_empty.wait()
                    if self._closed:
                        return None
                    head, inserted, delay = self._queue[0]
                    left = inserted + self.delay - time.monotonic() if delay else 0
                    if left <= 0:
                        self._queue.popleft()
                        return head
                    self._not_empty.wait(left)

        def remove(self, predicate: Callable[[Any], bool]) -> Any:
            with self._not_empty:
                found = self._index_and_item(predicate)
                if found is None:
                    return None
                del self._queue[found[0]]
                self._not_empty.notify_all()
                return found[1]

    sample: PromptDelayedQueue = PromptDelayedQueue(60)
    sample.put("held", delay=True)
    sample.put("plain")
    if sample.remove(lambda item: item == "held") != "held" or sample.get() != "plain":
        raise RuntimeError("watchdog's delayed queue no longer works as the prompt queue expects")

    class PromptGrouper(InotifyMoveEventGrouper):
        def __init__(self) -> None:
            self._queue = PromptDelayedQueue(self.delay)

    @dataclass
    class PromptWatchGroup(InotifyWatchGroup):
        _move_event_grouper: InotifyMoveEventGrouper = field(default_factory=PromptGrouper, init=False)

    # The full emitter reports a move from or to an unwatched folder as a move with one side empty,
    # where the stock one calls a move-in "created": a file moved in is whole at once, and must not
    # wait for a close that never comes.
    class PromptEmitter(InotifyFullEmitter):
        def on_thread_start(self) -> None:
            self._inotify = PromptWatchGroup(
                self._inotify_fd,
                os.fsencode(self.watch.path),
                is_recursive=self.watch.is_recursive,
                event_mask=self.get_event_mask_from_filter(),
                follow_symlink=self.watch.follow_symlink,
            )

    class ReportingInotifyFD(InotifyFD):
        """Tells ``on_limit`` when a folder cannot be watched for want of watches or instances
        (watchdog skips such subfolders, at most with a log line)."""

        def add_callback(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().add_callback(*args, **kwargs)
            except OSError as error:
                if error.errno in (errno.ENOSPC, errno.EMFILE):
                    on_limit(error)
                raise

    class PromptInotifyObserver(InotifyObserver):
        def __init__(self) -> None:
            self._inotify_fd = ReportingInotifyFD()
            self._inotify_fd.start()
            BaseObserver.__init__(self, PromptEmitter, inotify_fd=self._inotify_fd)

    return PromptInotifyObserver()


class OverflowListener(logging.Handler):
    """Calls ``on_overflow`` when watchdog logs that the kernel's inotify queue overflowed
    (watchdog repairs its own watches but does not tell its users that events were lost)."""

    LOGGERS = ("watchdog.observers.inotify_c", "watchdog.observers.inotify")

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self.on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if "overflow" in record.getMessage().lower():
                self.on_overflow()
        except Exception:
            pass  # a logging handler must never raise into watchdog's reader thread

    def attach(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)

    def detach(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)
