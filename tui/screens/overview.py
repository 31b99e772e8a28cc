"""Two overviews across every model: what is live where (``w``) and the deploy history (``H``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType

from tui.safe_text import literal
from tui.screens.reading import ReadingScreen

if TYPE_CHECKING:
    from store.registry import Registry


def live_table(registry: Registry) -> Group:
    """Model × environment → the live version; environments where nothing is live are left out."""
    live: dict[str, dict[str, str]] = registry.live_map()
    envs = [e for e in registry.config.environments if any(e in m for m in live.values())]
    envs += sorted({e for m in live.values() for e in m} - set(envs))
    title = Text("What is live where", style="bold underline")
    if not live:
        return Group(title, Text("nothing is live in any environment", style="dim"))
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("Model")
    for env in envs:
        table.add_column(literal(env, single_line=True))
    for model in sorted(live, key=str.lower):
        table.add_row(literal(model, single_line=True), *(literal(live[model].get(env, "·"), single_line=True) for env in envs))
    return Group(title, table)


def history_table(registry: Registry) -> Group:
    """Every deploy and rollback, newest first."""
    entries: list[dict[str, Any]] = list(reversed(registry.history()))
    title = Text("Deploy history (newest first)", style="bold underline")
    if not entries:
        return Group(title, Text("nothing was ever deployed", style="dim"))
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("When", "Model", "Env", "Action", "Change", "By"):
        table.add_column(name)
    for doc in entries:
        change = f"{doc.get('from') or 'nothing'} → {doc.get('to') or 'nothing'}"
        if not doc.get("ok", True):
            change += f"  ✗ {doc.get('reason') or 'failed'}"
        table.add_row(*(literal(str(v), single_line=True) for v in (
            str(doc.get("at") or doc.get("when") or "")[:19].replace("T", " "), doc.get("model", ""), doc.get("env", ""),
            doc.get("action", "deploy"), change, doc.get("by", ""),
        )))
    return Group(title, table)


class LiveScreen(ReadingScreen):
    """What is live where; escape, q or w closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,w", "close", "Close")]

    def __init__(self, registry: Registry) -> None:
        super().__init__(live_table(registry))


class HistoryScreen(ReadingScreen):
    """The deploy history of every model; escape, q or H closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,H", "close", "Close")]

    def __init__(self, registry: Registry) -> None:
        super().__init__(history_table(registry))
