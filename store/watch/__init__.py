"""Watching training folders: finished checkpoints and their sidecars become versions.
``watcher`` runs the threads (``wiring``, ``event_handling``, ``writer``, ``inspection``, ``scanner``), ``settle`` decides
when a file is finished, ``intake`` registers it.
"""

from store.watch.events import WatchEvent
from store.watch.watcher import Watcher

__all__ = ["WatchEvent", "Watcher"]
