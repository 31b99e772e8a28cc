"""Consistent reads: a Registry method run under its backend's lock, caught up with other writers."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def caught_up(method: F) -> F:
    """Run a method under the registry's thread lock, caught up with other processes."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._backend.lock:
            self._backend.refresh()
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
