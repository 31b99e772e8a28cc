"""ModelregApp: the registry in the terminal (``modelreg`` with no command)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import App

from tui.main_screen import MIN_HEIGHT, MIN_WIDTH, MainScreen
from tui.opening import FIRST_VIEW_WAIT, Opening
from tui.palette import ActionsProvider

if TYPE_CHECKING:
    from store.registry import Registry

# The only keys that work while the terminal is too small (everything else could act unseen).
QUIT_KEYS = frozenset({"q", "ctrl+q"})
KEEP_SYSTEM_COMMANDS = frozenset({"Quit"})


def too_small(width: int, height: int) -> bool:
    return width < MIN_WIDTH or height < MIN_HEIGHT


class ModelregApp(App[int]):
    """The app over one registry.

    Give it an open ``registry`` (tests), or an ``opener`` that opens one: the
    opener runs in a thread, and the first frame waits for it at most FIRST_VIEW_WAIT.
    """

    CSS_PATH = "app.tcss"
    TITLE = "modelreg"
    COMMANDS = App.COMMANDS | {ActionsProvider}
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        opener: Callable[[], Registry] | None = None,
        read_only: bool = False,
        watch: Sequence[str | Path] = (),
        poll: bool = False,
    ) -> None:
        super().__init__()
        self.animation_level = "none"  # animated scrolling is slow over SSH
        if registry is None and opener is None:
            raise ValueError("give a registry or an opener")
        self.registry = registry
        self.opener = opener
        self.read_only = read_only
        self.watch_dirs = [Path(d) for d in watch]
        self.poll = poll
        self.watcher: Any = None
        self.error: str | None = None
        self.opening: Opening | None = None

    def on_load(self) -> None:
        self.opening = Opening(self.open_registry)  # while Textual sets up the terminal and the styles

    async def on_mount(self) -> None:
        assert self.opening is not None
        await asyncio.wait([asyncio.wrap_future(self.opening.future)], timeout=FIRST_VIEW_WAIT)
        self.push_screen(MainScreen(self.opening, read_only=self.read_only))

    def get_system_commands(self, screen: Any) -> Any:
        # Of Textual's own palette entries keep Quit: Screenshot fails silently here, Theme
        # and Maximize fight the app's layout and colours, Keys repeats '?', Bell does nothing.
        for command in super().get_system_commands(screen):
            if command.title in KEEP_SYSTEM_COMMANDS:
                yield command

    def notify(self, message: str, *, title: str = "", severity: Any = "information", timeout: float | None = None, markup: bool = True) -> None:  # type: ignore[override]
        """Notices go to the activity line (a toast would cover borders and that line at 80×24)."""
        main = next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)
        if main is None or not main.is_mounted:
            super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)
            return
        main.activity.notice(f"{title}: {message}" if title else message, severity, timeout)

    @property
    def main(self) -> MainScreen:
        return next(s for s in self.screen_stack if isinstance(s, MainScreen))

    @property
    def too_small(self) -> bool:
        return too_small(self.size.width, self.size.height)

    async def on_event(self, event: events.Event) -> None:
        # While too small nothing is readable, so no input may act: a key could confirm a
        # dialog the user cannot see. Only quit works (and resizing, which is not input).
        if isinstance(event, (events.Key, events.MouseEvent, events.Paste)) and not event.is_forwarded and self.too_small:
            if isinstance(event, events.Key) and event.key in QUIT_KEYS:
                self.exit()
            return
        await super().on_event(event)

    def on_resize(self, event: events.Resize) -> None:
        # Runs before App's own handler records the new size: read it from the event.
        if too_small(event.size.width, event.size.height):
            self.cancel_screens(event.size.width, event.size.height)

    def cancel_screens(self, width: int, height: int) -> None:
        """Cancel every dialog and screen over the main one, so that only the "too small" line shows."""
        main = next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)
        if main is None:
            return
        while self.screen is not main:
            self.screen.dismiss(None)  # a dialog's callback takes None as "cancelled": nothing is written
        self.clear_notifications()
        main.apply_size(width, height)

    def open_registry(self) -> Registry:
        """The registry (opened now if an opener was given); called from the opening thread."""
        if self.registry is None:
            assert self.opener is not None
            self.registry = self.opener()
        return self.registry

    def start_watcher(self, registry: Registry, on_event: Callable[[Any], None]) -> None:
        """Run ``store.watch.watcher.Watcher`` over ``--watch`` dirs (from a worker thread: the first scan may be long)."""
        if not self.watch_dirs:
            return
        if self.read_only:
            self.call_from_thread(self.notify, "--watch is ignored with --read-only: watching registers versions", severity="warning", markup=False)
            return
        try:
            from store.watch import Watcher
        except ImportError:
            self.call_from_thread(self.notify, "watching is not available in this build (store.watch.watcher missing)", severity="error", markup=False)
            return
        try:
            self.watcher = Watcher(registry, [str(d) for d in self.watch_dirs], poll=self.poll, on_event=on_event)
            self.watcher.start()
        except Exception as error:  # a bad directory must not take the app down
            self.watcher = None
            self.call_from_thread(self.notify, f"cannot watch: {error}", severity="error", markup=False)

    def exit(self, result: int | None = None, message: Any = None, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        if isinstance(message, str):
            self.error = message
            message = None
        super().exit(result, message=message, *args, **kwargs)

    def on_unmount(self) -> None:
        if self.watcher is not None:
            try:
                self.watcher.stop()
            except Exception:
                pass
            self.watcher = None
