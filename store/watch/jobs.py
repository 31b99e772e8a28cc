"""The watcher's units of work: a Job for the writer thread, the Plan read from a checkpoint before
the registry is locked, and the Outcome the writer reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from store.watch.events import WatchEvent
from store.watch.sidecar import Sidecar


@dataclass
class Job:
    """A unit of work for the watcher's writer thread.

    kinds: "checkpoint" (a finished checkpoint), "gone" (a path deleted or moved away),
    "hashed" (a content hash to store), "described" (an estimator description to store).
    ``sidecar_ok`` False: the sidecar may still be being written, so it is used only if it
    reads as a whole; otherwise a later job (when it is closed or settled) brings it.
    """

    kind: str
    path: str
    root: str | None = None
    sidecar_ok: bool = True
    sha256: str | None = None
    scan: dict[str, Any] | None = None
    ref: str | None = None
    record: dict[str, Any] | None = None
    info: dict[str, Any] | None = None


@dataclass
class Plan:
    """What :meth:`Intake.prepare` read about a finished checkpoint."""

    job: Job
    record: dict[str, Any]
    sidecar: Sidecar | None = None
    sidecar_error: str | None = None
    sidecar_path: str | None = None
    sidecar_read: bool = False  # its content (or what is wrong with it) is in this plan
    framework: dict[str, Any] = field(default_factory=dict)
    key: str | None = None  # its content key (store.watch.keys): one version per key, whichever node comes first


@dataclass
class Outcome:
    """What the writer does next: events to report, work for the other threads."""

    events: list[WatchEvent] = field(default_factory=list)
    hash: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (ref, path, record)
    describe: list[tuple[str, str]] = field(default_factory=list)  # (ref, path)
    need_hash: list[Job] = field(default_factory=list)  # compare by content before deciding
    need_scan: list[Job] = field(default_factory=list)  # scan pickles before registering
    settle: list[tuple[str, str]] = field(default_factory=list)  # (checkpoint, root) to wait for

    def extend(self, other: Outcome) -> None:
        for name in ("events", "hash", "describe", "need_hash", "need_scan", "settle"):
            getattr(self, name).extend(getattr(other, name))
