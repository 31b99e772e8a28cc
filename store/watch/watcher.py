"""Watch training output folders and register every finished checkpoint exactly once.

``Watcher(registry, dirs).start()`` runs in background threads until ``stop()``:

- watchdog's observer reports file events; the handler only classifies them (cheap, and it
  never raises: an exception there would silently end watchdog's thread);
- a *ticker* finishes checkpoints whose settle period has passed and supervises the
  observer (restarting it and rescanning if it died, the watched folder was remounted, the
  kernel's event queue overflowed or the inotify watch limit was hit);
- one *writer* registers finished checkpoints, in batches, each batch one durable registry
  transaction; deciding inside that transaction is what makes registration exactly-once;
- a *hasher* fills in content hashes after the version appeared; an *inspector* scans
  pickles before they are registered and describes safe scikit-learn ones in a subprocess;
- a *scanner* compares the folders with the registry on start and on every rescan.

Every outcome is reported as a :class:`~store.watch.events.WatchEvent` to ``on_event``,
called from these threads.

Here: the Watcher's life. Its threads' work lives in ``wiring`` (observers), ``event_handling``
(file events, the ticker), ``writer``, ``inspection`` (hasher, inspector) and ``scanner``.
"""

from __future__ import annotations

import logging
import os
import queue
import stat
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from store.errors import ConfigError, WatchError
from store.safety.inspector import Inspector
from store.values import check_name
from store.watch.checkpoints import CheckpointRules
from store.watch.event_handling import EventHandling
from store.watch.events import WatchEvent
from store.watch.inspection import Inspection
from store.watch.intake import Intake, Job
from store.watch.observers import OverflowListener
from store.watch.scanner import Scanner
from store.watch.settle import SettleTable
from store.watch.wiring import ObserverWiring
from store.watch.writer import Writer

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver

    from store.registry import Registry


__all__ = ["Watcher", "WatchEvent"]
log = logging.getLogger(__name__)


def _number(config: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"watch.{key} must be a number of seconds from {low:g} to {high:g}, not {value!r}")
    return float(value)


def _check_root(root: str) -> None:
    denied = WatchError(f"cannot watch {root}: permission denied; give this user read access to it")
    try:
        info = os.stat(root)
    except PermissionError:
        raise denied from None  # a folder on the way there is closed to this user
    except OSError:
        raise WatchError(f"cannot watch {root}: no such folder") from None
    if not stat.S_ISDIR(info.st_mode):
        raise WatchError(f"cannot watch {root}: not a folder")
    if not os.access(root, os.R_OK | os.X_OK):
        raise denied


class Watcher(ObserverWiring, EventHandling, Writer, Inspection, Scanner):
    """Watches folders and registers every finished checkpoint in ``registry`` exactly once.

    ``poll`` forces polling (network filesystems are detected and polled anyway); ``settle``
    overrides the registry's ``watch.settle_seconds``; ``model`` names the model for
    checkpoints whose sidecar does not; ``on_event`` receives every :class:`WatchEvent`.
    """

    def __init__(
        self,
        registry: Registry,
        dirs: list[str | os.PathLike[str]] | tuple[str | os.PathLike[str], ...],
        *,
        poll: bool = False,
        settle: float | None = None,
        model: str | None = None,
        on_event: Callable[[WatchEvent], None] | None = None,
    ) -> None:
        config = registry.config.watch or {}
        self.rules = CheckpointRules.from_config(config)
        if settle is not None and (isinstance(settle, bool) or not 0 <= settle <= 3600):
            raise ConfigError(f"the settle period must be from 0 to 3600 seconds, not {settle!r}")
        self.settle = self.rules.settle_seconds if settle is None else float(settle)
        self.poll_interval = _number(config, "poll_interval", 1.0, 0.05, 3600)
        self.close_timeout = _number(config, "close_timeout", max(60.0, 10 * self.settle), 0, 86400)
        self.describe_timeout = _number(config, "describe_timeout", 30.0, 1, 3600)
        # One long-lived worker loads (restricted) and describes checkpoints; never this process.
        self._inspector = Inspector(timeout=self.describe_timeout)
        self._described: dict[str, tuple[tuple[int, int] | None, dict[str, Any] | None]] = {}
        self.force_poll = bool(poll or config.get("poll", False))
        if model is not None:
            check_name("model", model)
        if not dirs:
            raise WatchError("name at least one folder to watch")
        self.roots = list(dict.fromkeys(os.path.abspath(os.path.expanduser(os.fspath(d))) for d in dirs))
        for root in self.roots:
            _check_root(root)
        self.registry = registry
        self.on_event = on_event or (lambda event: None)
        self.intake = Intake(registry, self.rules, model)
        self.pending = SettleTable(self.settle, self.close_timeout)
        self.modes: dict[str, str] = {}  # root -> "inotify" | "polling (reason)"
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._hash_jobs: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self._inspect_jobs: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self._fresh: dict[str, float] = {}
        self._fresh_window = max(1.0, self.settle)
        self._observers: list[BaseObserver] = []
        self._root_ids: dict[str, tuple[int, int] | None] = {}
        self._unreadable: set[str] = set()  # folders below the roots already reported as unreadable
        self._threads: list[threading.Thread] = []
        self._wake = threading.Event()
        self._scan_requested = threading.Event()
        self._scan_reasons: list[str] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._outstanding = 0
        self._limit_hit = False
        self._limit_reported = False
        self._overflow = OverflowListener(lambda: self.rescan("the kernel's event queue overflowed"))
        self._started = False

    # -- life ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start watching: the observer first, then a scan for what appeared while nobody looked."""
        if self._started:
            return
        self._started = True
        self.registry.refresh()
        self.intake.learn_runs(self.roots)
        self._overflow.attach()
        self._start_observers()
        self._scan_requested.set()
        for name, target in (
            ("writer", self._write_loop),
            ("ticker", self._tick_loop),
            ("scanner", self._scan_loop),
            ("hasher", self._hash_loop),
            ("inspector", self._inspect_loop),
        ):
            thread = threading.Thread(target=target, name=f"modelreg-watch-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching. A batch being written finishes (each is one transaction, so nothing is
        half-registered); checkpoints still settling are picked up by the next start's scan."""
        if not self._started or self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        self._scan_requested.set()
        self._stop_observers()
        self._overflow.detach()
        self._hash_jobs.put(None)
        self._inspect_jobs.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.name.endswith(("ticker", "scanner", "hasher")):
                thread.join(max(0.0, deadline - time.monotonic()))
        self._jobs.put(None)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> Watcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def rescan(self, reason: str | None = None) -> None:
        """Compare the watched folders with the registry again (in the background)."""
        with self._lock:
            if reason:
                self._scan_reasons.append(reason)
        self._scan_requested.set()

    def idle(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is settling, queued or being worked on; False on timeout (for tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                busy = self._outstanding or self._scan_requested.is_set() or len(self.pending)
            if not busy:
                return True
            time.sleep(0.01)
        return False

    def _emit(self, event: WatchEvent) -> None:
        try:
            self.on_event(event)
        except Exception:  # a subscriber's bug must not stop the watcher
            log.exception("watch event subscriber failed")

    def _submit(self, job: Job) -> None:
        with self._lock:
            self._outstanding += 1
        self._jobs.put(job)

    def _queue(self, target: queue.Queue[Any], item: Any) -> None:
        with self._lock:
            self._outstanding += 1
        target.put(item)

    def _done(self) -> None:
        with self._lock:
            self._outstanding -= 1
