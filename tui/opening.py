"""Opening the registry while Textual sets itself up, and reading what the first frame shows.

The main screen waits for it a short while (:data:`FIRST_VIEW_WAIT`) before its first paint: an
empty layout drawn while the registry opens would only be drawn again, and drawing it takes the
interpreter from the open (one core's worth of Python between them). A registry slower to open
than that gets the empty layout, marked as loading, and its versions when they come.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui.catalog import Catalog, ModelView

if TYPE_CHECKING:
    from store.registry import Registry

FIRST_VIEW_WAIT = 0.3  # seconds the first paint waits at most for the registry


@dataclass(frozen=True)
class FirstView:
    """What the first useful frame shows: the models, the first one's versions, the environments."""

    catalog: Catalog
    names: list[str]
    view: ModelView | None
    environments: list[str]


class Opening(threading.Thread):
    """``open_registry()`` and the first view, in a thread started as the app starts."""

    def __init__(self, open_registry: Callable[[], Registry]) -> None:
        super().__init__(daemon=True, name="open registry")
        self._open_registry = open_registry
        self._first: FirstView | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._on_done: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self.start()

    def run(self) -> None:
        try:
            registry = self._open_registry()
            # Its documents live as long as the app: out of the collector's sight, or the first
            # collections walk them all while the first frame is made (~40 ms with 10,000 versions).
            gc.freeze()
            catalog = Catalog(registry)
            names = catalog.model_names()
            self._first = FirstView(catalog, names, catalog.view(names[0]) if names else None, catalog.environments())
        except BaseException as error:  # handed to whoever asks for the result
            self._error = error
        with self._lock:
            self._done.set()
            callbacks, self._on_done = self._on_done, []
        for callback in callbacks:
            callback()

    def when_done(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the opening thread, or now) once the first view or an error is there."""
        with self._lock:
            if not self._done.is_set():
                self._on_done.append(callback)
                return
        callback()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def result(self) -> FirstView:
        """The first view, waiting for it; raises what opening raised."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._first is not None
        return self._first
