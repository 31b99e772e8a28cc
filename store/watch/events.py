"""What the watcher reports: one small immutable event per registration, update or problem."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("registered", "updated", "missing", "problem", "info")


@dataclass(frozen=True)
class WatchEvent:
    """One thing the watcher did or noticed.

    ``kind`` is one of :data:`KINDS`; ``ref`` is the version concerned (``model:version``) or
    None; ``path`` the checkpoint or folder; ``message`` one human-readable line.
    """

    kind: str
    ref: str | None
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind:<10} {self.message}"
