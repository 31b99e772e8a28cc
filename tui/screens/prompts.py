"""Small prompts: tags to add or remove, the next status, an environment.

They only ask: each dismisses with the answer (None when cancelled) and the app
makes the change in the registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option, OptionDoesNotExist

from store.errors import ModelregError
from store.lifecycle import STATUSES, TRANSITIONS
from store.records import Version
from tui.safe_text import clean, literal

if TYPE_CHECKING:
    from store.registry import Registry

_SEPARATORS = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class TagEdit:
    """Tags to add and to remove, as typed in :class:`TagPrompt`."""

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    @classmethod
    def parse(cls, typed: str) -> TagEdit:
        """``"best -old +new"`` -> add best and new, remove old. Commas or spaces separate."""
        add: list[str] = []
        remove: list[str] = []
        for word in _SEPARATORS.split(typed.strip()):
            if not word:
                continue
            target, name = (remove, word[1:]) if word.startswith("-") else (add, word.removeprefix("+"))
            if not name:
                raise ValueError(f"'{word}' names no tag: write -TAG to remove one, TAG to add it")
            if name not in target:
                target.append(name)
        return cls(tuple(add), tuple(remove))

    def apply(self, registry: Registry, ref: str) -> Version:
        """Make the change (call from a worker: it writes to the registry)."""
        version = registry.tag(ref, *self.add) if self.add else registry.get(ref)
        return registry.untag(ref, *self.remove) if self.remove else version

    def __bool__(self) -> bool:
        return bool(self.add or self.remove)


class TagInput(Input):
    """The tag field; its enter is shown in the footer."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "submit", "Apply tags")]


class Prompt(ModalScreen):  # type: ignore[type-arg]
    """A small dialog with a title, a body and a footer; escape cancels with None."""

    CSS_PATH = "screens.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self) -> None:
        super().__init__(classes="dialog-screen")

    def action_cancel(self) -> None:
        self.dismiss(None)


class TagPrompt(Prompt):
    """Add tags to ``ref`` (``best final``) or remove them with a leading ``-`` (``-old``).

    Dismisses with a :class:`TagEdit`, or None when cancelled or nothing was typed.
    """

    def __init__(self, registry: Registry, ref: str) -> None:
        super().__init__()
        self.registry = registry
        self.ref = ref
        self.error: str | None = None
        try:
            version = registry.get(ref)
            self.ref, self.tags = version.ref, version.tags
        except ModelregError as error:
            self.tags, self.error = (), str(error)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="tag-dialog"):
            title = Text("Tags of ", style="bold")
            title.append_text(literal(self.ref, "bold", single_line=True))
            yield Static(title, classes="dialog-title")
            now = Text("now: ")
            now.append_text(literal(", ".join(self.tags), single_line=True) if self.tags else Text("none", style="dim"))
            yield Static(now, id="tag-now")
            yield Static(Text("TAG adds, -TAG removes; separate with spaces or commas. Enter applies."), classes="dialog-hint")
            yield TagInput(value="", placeholder="e.g. best -baseline", id="tag-input")
            yield Static(literal(self.error or "", single_line=True), classes="dialog-error", id="tag-error")
        yield Footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            edit = TagEdit.parse(event.value)
        except ValueError as error:
            self.query_one("#tag-error", Static).update(literal(error, single_line=True))
            return
        self.dismiss(edit or None)


class Choices(OptionList):
    """An option list moved with j/k too, and whose enter shows in the footer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Choose"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]


class Picker(Prompt):
    """A title, a note and a list of choices; dismisses with the chosen option's id."""

    CHOICES: type[Choices] = Choices

    def title_text(self) -> Text:
        raise NotImplementedError

    def note(self) -> Text | None:
        return None

    def options(self) -> list[Option]:
        raise NotImplementedError

    def initial(self) -> str | None:
        return None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="picker-dialog"):
            yield Static(self.title_text(), classes="dialog-title")
            note = self.note()
            if note is not None:
                yield Static(note, classes="dialog-hint", id="picker-note")
            choices = self.options()
            if choices:
                yield self.CHOICES(*choices, id="picker-choices")
                yield from self.below_choices()
            else:
                yield Static(Text("nothing to choose: escape closes", style="dim"), id="picker-empty")
        yield Footer()

    def below_choices(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        if self.query("#picker-choices"):
            choices = self.query_one("#picker-choices", Choices)
            initial = self.initial()
            if initial is not None:
                try:
                    choices.highlighted = choices.get_option_index(initial)
                except OptionDoesNotExist:  # not offered: keep the first
                    pass
            choices.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)


class StatusChoices(Choices):
    """The status list: enter does not choose (the move is confirmed with y), so it is not offered."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "select", "Choose", show=False)]


class StatusPicker(Picker):
    """The statuses ``ref`` may move to from its current one (store.lifecycle), to choose from.

    The highlighted move (``completed → training``) is shown under the list and only ``y``
    makes it: enter, which opens things everywhere else, must not change a status blindly.
    ``deployed`` is left out: only a deploy (``d``) makes a version live. Dismisses with the
    chosen status, or None.
    """

    CHOICES = StatusChoices
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Change status"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, registry: Registry, ref: str) -> None:
        super().__init__()
        self.registry = registry
        self.ref = ref
        self.status = ""
        self.live_in: list[str] = []
        self.error: str | None = None
        try:
            version = registry.get(ref)
            self.ref, self.status = version.ref, version.status
            live = registry.live_map(version.model)
            self.live_in = sorted(env for env, v in live.items() if v == version.version)
        except ModelregError as error:
            self.error = str(error)

    def allowed(self) -> list[str]:
        """Allowed targets, in lifecycle order."""
        if self.error or (self.live_in and self.status == "deployed"):
            return []
        targets = TRANSITIONS.get(self.status, frozenset())
        return [s for s in STATUSES if s in targets and s != "deployed"]

    def title_text(self) -> Text:
        title = Text("Status of ", style="bold")
        title.append_text(literal(self.ref, "bold", single_line=True))
        title.append_text(literal(f": {self.status} →", "bold", single_line=True))
        return title

    def note(self) -> Text | None:
        if self.error:
            return literal(self.error, "bold red")
        if self.live_in and self.status == "deployed":
            return literal(
                f"live in {', '.join(self.live_in)}: roll back or deploy another version before changing its status",
                single_line=True,
            )
        return Text("deployed is reached by deploying (d), not from here", style="dim")

    def options(self) -> list[Option]:
        return [Option(Text(status), id=status) for status in self.allowed()]

    def below_choices(self) -> ComposeResult:
        yield Static("", classes="dialog-hint", id="status-move")

    def highlighted(self) -> str | None:
        choices = self.query("#picker-choices")
        if not choices:
            return None
        index = choices.first(Choices).highlighted
        return None if index is None else choices.first(Choices).get_option_at_index(index).id

    def show_move(self, urge: bool = False) -> None:
        target = self.highlighted()
        if target is None:
            return
        move = literal(f"{self.status} → {target}", "bold", single_line=True)
        move.append("   y: change · escape: cancel", style="bold" if urge else "dim")
        self.query_one("#status-move", Static).update(move)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.show_move()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        # Enter only points at the y that makes the move (prevent_default: not Picker's dismiss).
        event.stop()
        event.prevent_default()
        self.show_move(urge=True)

    def action_confirm(self) -> None:
        target = self.highlighted()
        if target is not None:
            self.dismiss(target)


class EnvironmentPicker(Picker):
    """The environments to work in: the configured ones and any seen in the live table.

    Dismisses with the chosen environment's name, or None.
    """

    def __init__(self, registry: Registry, current: str | None) -> None:
        super().__init__()
        self.registry = registry
        self.current = current or registry.config.default_environment
        self.live = registry.live_map()

    def environments(self) -> list[str]:
        seen = sorted({env for envs in self.live.values() for env in envs})
        return list(dict.fromkeys([*self.registry.config.environments, *seen]))

    def title_text(self) -> Text:
        return Text("Environment", style="bold")

    def note(self) -> Text | None:
        return Text("● current · ⚠ protected: deploys need the model name typed", style="dim")

    def options(self) -> list[Option]:
        protected = set(self.registry.config.protected_environments)
        envs = self.environments()
        names = {env: clean(env, single_line=True) for env in envs}
        width = max((cell_len(name) for name in names.values()), default=0)
        mark = "  ⚠ protected" if protected & set(envs) else ""
        choices = []
        for env in envs:  # in columns: name, protection, what is live
            label = Text("● " if env == self.current else "  ")
            label.append_text(literal(names[env], "bold" if env == self.current else "", single_line=True))
            label.append(" " * (width - cell_len(names[env])))
            label.append("  ⚠ protected" if env in protected else " " * len(mark), style="red")
            count = sum(1 for envs in self.live.values() if env in envs)
            label.append(f"  {count} model{'s' if count != 1 else ''} live", style="dim")
            choices.append(Option(label, id=env))
        return choices

    def initial(self) -> str | None:
        return self.current


class JumpInput(Input):
    """The model-name field; its enter is shown in the footer."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "submit", "Jump")]


def find_model(names: list[str], typed: str) -> str | None:
    """The model ``typed`` names: exactly, else the first starting with it, else the first
    containing it (case ignored)."""
    want = typed.strip().lower()
    if not want:
        return None
    lowered = [(name.lower(), name) for name in names]
    for test in (str.__eq__, str.startswith, str.__contains__):
        found = next((name for low, name in lowered if test(low, want)), None)
        if found is not None:
            return found
    return None


class JumpPrompt(Prompt):
    """``:`` — type part of a model's name, enter jumps to it (completion offers the rest)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names

    def compose(self) -> ComposeResult:
        from textual.suggester import SuggestFromList

        with Vertical(classes="dialog", id="jump-dialog"):
            yield Static(Text("Go to model", style="bold"), classes="dialog-title")
            yield Static(Text("Part of a name is enough; → completes. Enter jumps."), classes="dialog-hint")
            yield JumpInput(placeholder="model name", id="jump-input", suggester=SuggestFromList(self.names, case_sensitive=False))
            yield Static("", classes="dialog-error", id="jump-error", markup=False)
        yield Footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        found = find_model(self.names, event.value)
        if found is None:
            self.query_one("#jump-error", Static).update(literal(f"no model matches '{event.value.strip()}'", single_line=True))
            return
        self.dismiss(found)
