"""Every key of the main screen, in one place: the bindings, the help screen,
the command palette and the README's key table are all made from ``KEYS``."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    keys: str  # Textual key names, comma separated
    action: str
    description: str
    shown: str  # how the help screen and README write the keys
    help: str
    writes: bool = False  # refused (and hidden) in --read-only
    footer: bool = True
    palette: bool = True  # offered in the command palette
    narrow: bool = False  # still in the footer below 120 columns (where only about 78 cells fit)


KEYS: tuple[Key, ...] = (
    Key("j,down", "cursor_down", "Down", "↓ j", "next row (model or version)", footer=False, palette=False),
    Key("k,up", "cursor_up", "Up", "↑ k", "previous row", footer=False, palette=False),
    Key("g,home", "top", "Top", "g home", "first row (or the top of the detail)", footer=False),
    Key("G,end", "bottom", "Bottom", "G end", "last row (or the end of the detail)", footer=False),
    Key("ctrl+d", "half_page_down", "Half page down", "ctrl+d", "half a page down", footer=False),
    Key("ctrl+u", "half_page_up", "Half page up", "ctrl+u", "half a page up", footer=False),
    Key("colon", "jump_model", "Go to model", ":", "go to a model by (part of) its name", narrow=False),
    Key("h,left", "pane_left", "Pane left", "← h", "focus the pane to the left (Versions → Models)", footer=False, palette=False),
    Key("right", "pane_right", "Pane right", "→", "focus the pane to the right (Models → Versions → Detail)", footer=False, palette=False),
    Key("tab", "focus_next", "Next pane", "tab / shift+tab", "cycle between the panes", footer=False, palette=False),
    Key("enter", "open", "Open", "enter", "open: a model's versions, a version's detail", footer=False),
    Key("escape", "back", "Back", "escape", "close the detail panel (narrow terminals), leave the filter as it was", footer=False, palette=False),
    Key("slash", "filter", "Filter", "/", "filter versions (same language as 'modelreg find'); enter applies it, escape undoes the edit; in the Models pane: filter model names", narrow=True),
    Key("space", "mark", "Mark", "space", "mark or unmark the version (✓) for compare", narrow=True),
    Key("o", "sort", "Sort", "o", "sort the versions by the next column"),
    Key("O", "reverse_sort", "Reverse", "O", "reverse the sort order", footer=False),
    Key("c", "compare", "Compare", "c", "compare the marked versions (or the selected one with the live / previous one)", narrow=True),
    Key("l", "lineage", "Lineage", "l", "the model's version tree; enter there jumps to a version", narrow=True),
    Key("d", "deploy", "Deploy", "d", "deploy the selected version to the current environment (asks first)", writes=True, narrow=True),
    Key("r", "rollback", "Rollback", "r", "roll the current environment back to what was live before (asks first)", writes=True, narrow=True),
    Key("t", "tag", "Tag", "t", "add a tag to the selected version", writes=True),
    Key("s", "status", "Status", "s", "change the selected version's status: pick one, see the move, y makes it", writes=True),
    Key("y", "copy_ref", "Copy ref", "y", "copy the selected version's model:version to the clipboard (OSC 52: works over SSH and tmux)", footer=False),
    Key("Y", "copy_path", "Copy path", "Y", "copy the selected version's artifact path to the clipboard", footer=False),
    Key("e", "environment", "Env", "e", "pick the environment the Models pane shows and deploys go to"),
    Key("w", "live_where", "Live where", "w", "what is live where: every model's live version in each environment", footer=False),
    Key("H", "deploy_history", "History", "H", "the deploy history of every model, newest first", footer=False),
    Key("a", "activity", "Activity", "a", "the activity log: registrations, updates, deploys, problems"),
    Key("question_mark", "help", "Help", "?", "this help", narrow=True),
    Key("ctrl+p", "command_palette", "Palette", "ctrl+p", "the command palette: every action by name", footer=False, palette=False),
    Key("q", "quit", "Quit", "q", "quit", palette=False, narrow=True),
)

WRITING_ACTIONS = frozenset(k.action for k in KEYS if k.writes)


def bindings(read_only: bool, narrow: bool = False) -> list[Binding]:
    """The main screen's bindings; in read-only mode the writing ones are not shown, and
    in a narrow terminal only the ``narrow`` ones (the rest stay bound, in ? and the palette)."""
    # Help comes first so that a narrow footer, which cuts off at the right, always shows "? Help".
    ordered = sorted(KEYS, key=lambda k: k.action != "help")
    return [
        Binding(k.keys, k.action, k.description, show=k.footer and not (read_only and k.writes) and (k.narrow or not narrow), id=k.action)
        for k in ordered
        if k.action not in ("command_palette", "focus_next")
    ]


def markdown_table() -> str:
    """The key map as the README's Markdown table."""
    lines = ["| Key | What it does |", "|---|---|"]
    lines += [f"| `{k.shown}` | {k.help}{' (not in --read-only)' if k.writes else ''} |" for k in KEYS]
    return "\n".join(lines)
