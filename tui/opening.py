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
from concurrent.futures import Future
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
    """``open_registry()`` and the first view, in a thread started as the app starts; ``future``
    holds the :class:`FirstView`, or what opening raised."""

    def __init__(self, open_registry: Callable[[], Registry]) -> None:
        super().__init__(daemon=True, name="open registry")
        self._open_registry = open_registry
        self.future: Future[FirstView] = Future()
        self.start()

    def run(self) -> None:
        try:
            registry = self._open_registry()
            # Its documents live as long as the app: out of the collector's sight, or the first
            # collections walk them all while the first frame is made (~40 ms with 10,000 versions).
            gc.freeze()
            catalog = Catalog(registry)
            names = catalog.model_names()
            self.future.set_result(FirstView(catalog, names, catalog.view(names[0]) if names else None, catalog.environments()))
        except BaseException as error:  # handed to whoever asks for the result
            self.future.set_exception(error)

    @property
    def opened(self) -> bool:
        """The first view is there (not an error, not still opening)."""
        return self.future.done() and self.future.exception() is None
