"""The command palette's provider: every action of the main screen, by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.keymap import KEYS


class ActionsProvider(Provider):
    """Offers each key of :mod:`tui.keymap` as a command (writing ones hidden in read-only)."""

    def commands(self) -> list[tuple[str, str, str]]:
        from tui.main_screen import MainScreen

        main = next((s for s in self.app.screen_stack if isinstance(s, MainScreen)), None)
        if main is None:
            return []
        return [
            (f"{key.description} ({key.shown})", key.help, key.action)
            for key in KEYS
            if key.palette and not (key.writes and main.read_only)
        ]

    def run(self, action: str) -> None:
        from tui.main_screen import MainScreen

        main = next((s for s in self.app.screen_stack if isinstance(s, MainScreen)), None)
        if main is not None:
            self.app.call_later(main.run_action, action)

    async def discover(self) -> Hits:
        for name, help_text, action in self.commands():
            yield DiscoveryHit(name, partial(self.run, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action in self.commands():
            score = max(matcher.match(name), matcher.match(help_text) * 0.5)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self.run, action), help=help_text)
