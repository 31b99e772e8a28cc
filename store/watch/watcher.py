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
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
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

from store import artifacts as artifact_files
from store.watch.checkpoints import CheckpointRules, checkpoint_for, is_model_file, is_temporary, scan_tree
from store.errors import ArtifactError, ConfigError, ModelregError, WatchError
from store.safety.inspector import Inspector
from store.watch.intake import Intake, Job, Outcome, Plan, root_of, sidecar_fingerprint
from store.watch.settle import SettleTable, content_fingerprint
from store.watch.sidecar import FOLDER_SIDECARS, sidecar_for
from store.values import check_name
from store.watch.events import WatchEvent
from store.watch.observers import WATCH_LIMIT_ADVICE, OverflowListener, make_observer, needs_polling

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver

    from store.registry import Registry

__all__ = ["Watcher", "WatchEvent"]

# inotify: a close or a rename says "finished"; writes themselves need no event.
INOTIFY_EVENTS = [FileCreatedEvent, FileClosedEvent, FileMovedEvent, DirMovedEvent, FileDeletedEvent, DirDeletedEvent, DirCreatedEvent]
# polling sees only snapshots: a changed size or mtime is all there is.
POLL_EVENTS = [*INOTIFY_EVENTS, FileModifiedEvent]
BATCH = 256
SUPERVISE_EVERY = 1.0
log = logging.getLogger(__name__)


def _number(config: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"watch.{key} must be a number of seconds from {low:g} to {high:g}, not {value!r}")
    return float(value)


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


def _describe(error: BaseException) -> str:
    if isinstance(error, ModelregError):
        return str(error)
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror.lower()}"
    return f"{type(error).__name__}: {error}"


class Watcher:
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
            if not os.path.isdir(root):
                raise WatchError(f"cannot watch {root}: {'not a folder' if os.path.exists(root) else 'no such folder'}")
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

    # -- writer: the one thread that registers ---------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            batch = [job]
            while len(batch) < BATCH:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)
                    break
                batch.append(more)
            try:
                self._write(batch)
            except Exception as error:
                self._emit(WatchEvent("problem", None, "", f"watcher: {_describe(error)}"))
            finally:
                for _ in batch:
                    self._done()

    def _write(self, batch: list[Job]) -> None:
        out = Outcome()
        work: list[Plan | Job] = []
        for job in batch:
            if job.kind != "checkpoint":
                work.append(job)
                continue
            try:
                prepared = self.intake.prepare(job)
            except Exception as error:
                out.events.append(WatchEvent("problem", None, job.path, f"{job.path}: {_describe(error)}; skipped"))
                continue
            if isinstance(prepared, Outcome):
                out.extend(prepared)
            elif prepared is not None:
                work.append(prepared)
        if work:
            done = Outcome()
            try:
                with self.registry.transaction():
                    for item in work:
                        done.extend(self._apply(item))
            except Exception as error:
                # Nothing of this batch was stored; a rescan will find these checkpoints again.
                paths = [item.job.path if isinstance(item, Plan) else item.path for item in work]
                out.events.append(WatchEvent("problem", None, paths[0], f"could not write to the registry ({_describe(error)}); {len(paths)} change(s) wait for the next rescan"))
                done = Outcome()
            out.extend(done)
        self._follow_up(out)

    def _apply(self, item: Plan | Job) -> Outcome:
        path = item.job.path if isinstance(item, Plan) else item.path
        try:
            if isinstance(item, Plan):
                return self.intake.apply(item)
            if item.kind == "gone":
                return self.intake.gone(item.path)
            if item.kind == "hashed":
                return self.intake.hashed(item)
            if item.kind == "described":
                return self.intake.described(item)
        except Exception as error:
            return Outcome(events=[WatchEvent("problem", None, path, f"{path}: {_describe(error)}; skipped")])
        return Outcome()

    def _follow_up(self, out: Outcome) -> None:
        for event in out.events:
            self._emit(event)
        for ref, path, record in out.hash:
            self._queue(self._hash_jobs, ("fill", (ref, path, record)))
        for job in out.need_hash:
            self._queue(self._hash_jobs, ("compare", job))
        for job in out.need_scan:
            self._queue(self._inspect_jobs, ("scan", job))
        for ref, path in out.describe:
            self._queue(self._inspect_jobs, ("describe", (ref, path)))
        for checkpoint, root in out.settle:
            self.pending.touch(checkpoint, root, artifact=False)
            self._wake.set()

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
            try:
                kind, payload = item
                if kind == "scan":
                    payload.scan = self._scan_pickles(payload.path)
                    self._submit(payload)
                elif not self._stopping.is_set():
                    self._describe(*payload)
            except Exception as error:
                self._emit(WatchEvent("problem", None, "", f"inspecting: {_describe(error)}"))
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
        for root in self.roots:
            if self._stopping.is_set():
                return
            if not os.path.isdir(root):
                continue
            for checkpoint in scan_tree(root, self.rules):
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


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return all(abs((x or 0) - (y or 0)) < 1e-6 for x, y in zip(a, b))


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


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)
