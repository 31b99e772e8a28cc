"""Loading many documents at once: what a local open and a saved replica's load share."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Loading a big snapshot creates millions of containers, none of which can be garbage yet; the
    cyclic collector would otherwise run over and over during the load (it doubles the open time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
