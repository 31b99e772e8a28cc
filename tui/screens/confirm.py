"""Deploy and rollback confirmations: show what will change, then ask.

Only an explicit answer confirms: ``y``, or, for a protected environment, the
model's name typed exactly and ``enter``. Enter alone is not an answer (it is
"open" everywhere else, so ``d`` then a habitual enter must not deploy). Every other key
cancels (protected: escape cancels, other keys only type), and the first answer
is final, so a stray key, a key repeat or the pieces of an escape sequence split
over a slow SSH link (``escape``, ``[``, ``A``) can never deploy. The screens
decide; the app calls ``registry.deploy`` / ``registry.rollback`` on True.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from store.errors import ModelregError
from store.deploy.gate import deploy_refusal
from store.records import Version
from store.signatures import differences
from tui.safe_text import literal
from tui.screens.deltas import delta_text, direction_mark, number

if TYPE_CHECKING:
    from store.registry import Registry

CONFIRM_KEYS = frozenset({"y"})


class NameInput(Input):
    """The field for the typed model name; its enter is shown in the footer."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "submit", "Confirm name")]


class Confirmation(ModalScreen[bool]):
    """What deploy and rollback confirmations share: the keys, the typed-name guard, one answer."""

    CSS_PATH = "screens.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Confirm"),
        Binding("escape", "cancel", "Cancel"),
    ]
    VERB = "confirm"

    def __init__(self, registry: Registry, model: str, env: str | None) -> None:
        super().__init__(classes="dialog-screen")
        self.registry = registry
        self.model = model
        self.env = env or registry.config.default_environment
        self.protected = self.env in registry.config.protected_environments
        self.possible = True  # False: nothing to do, the only answer is cancel
        self.answered = False

    # Subclasses give the body.
    def title_text(self) -> Text:
        raise NotImplementedError

    def body(self) -> RenderableType:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -danger" if self.protected else "dialog", id="confirm-dialog"):
            yield Static(self.title_text(), classes="dialog-title", id="confirm-title")
            with VerticalScroll(classes="dialog-body", can_focus=False):
                yield Static(self.body(), id="confirm-body")
            if self.possible and self.protected:
                prompt = literal(f"{self.env} is protected: type the model name ", single_line=True)
                prompt.append_text(literal(self.model, "bold", single_line=True))
                prompt.append(f" and press enter to {self.VERB}; escape cancels.")
                yield Static(prompt, classes="dialog-hint", id="confirm-prompt")
                # Never pre-filled: the name must be typed.
                yield NameInput(value="", placeholder=f"type {self.model} to {self.VERB}", id="confirm-name", select_on_focus=False)
                yield Static("", classes="dialog-error", id="confirm-error")
            elif self.possible:
                yield Static(Text(f"y: {self.VERB} · any other key (enter too): cancel"), classes="dialog-hint", id="confirm-prompt")
            else:
                yield Static(Text(f"nothing to {self.VERB}: any key closes"), classes="dialog-hint", id="confirm-prompt")
        yield Footer()

    def on_mount(self) -> None:
        if self.possible and self.protected:
            self.query_one("#confirm-name", Input).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            return self.possible
        return True

    # -- answering ------------------------------------------------------------------------------

    def _answer(self, result: bool) -> None:
        # The first answer is final: later keys (the rest of a split escape sequence,
        # a repeat) may still reach this screen before it is popped.
        if self.answered:
            return
        self.answered = True
        self.dismiss(result)

    def _typed_name_matches(self) -> bool:
        field = self.query_one("#confirm-name", Input)
        if field.value == self.model:
            return True
        error = literal("that is not the model name; type ", single_line=True)
        error.append_text(literal(self.model, "bold", single_line=True))
        error.append(f" exactly to {self.VERB}, or escape to cancel")
        self.query_one("#confirm-error", Static).update(error)
        field.value = ""
        return False

    def action_confirm(self) -> None:
        if not self.possible:
            return
        if self.protected and not self._typed_name_matches():
            return
        self._answer(True)

    def action_cancel(self) -> None:
        self._answer(False)

    def on_key(self, event: events.Key) -> None:
        if self.answered:
            event.stop()
            event.prevent_default()
            return
        if self.possible and self.protected:
            # The Input handles typing; only these keys are ours. Others must bubble on
            # to the Input's own bindings (backspace, arrows...).
            if event.key == "escape":
                self.action_cancel()
            elif event.key == "enter":
                self.action_confirm()
            elif event.key in ("tab", "shift+tab"):
                pass  # keep focus in the name field
            else:
                return
        elif self.possible and event.key in CONFIRM_KEYS:
            self.action_confirm()
        else:
            self.action_cancel()
        event.stop()
        event.prevent_default()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Enter is taken in on_key; this is here in case the Input submits by other means.
        event.stop()
        self.action_confirm()


class DeployConfirm(Confirmation):
    """Confirm deploying ``ref`` to ``env``: live version now → the new one, and the metric deltas."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Deploy"),
        Binding("escape", "cancel", "Cancel"),
    ]
    VERB = "deploy"

    def __init__(self, registry: Registry, ref: str, env: str | None = None) -> None:
        self.error: str | None = None
        self.version: Version | None = None
        self.current: Version | None = None
        try:
            self.version = registry.get(ref)
        except ModelregError as error:
            self.error = str(error)
        super().__init__(registry, self.version.model if self.version else ref.partition(":")[0], env)
        if self.version is not None:
            try:
                self.current = registry.live(self.model, self.env)
            except ModelregError as error:
                self.error = str(error)
        self.ref = self.version.ref if self.version else ref
        # Why y is not offered: the version is live already, or the registry would refuse it.
        self.unchanged: str | None = None
        self.refusal: str | None = None
        if self.error is None and self.version is not None:
            if self.current is not None and self.current.ref == self.version.ref:
                self.unchanged = f"= {self.ref} is already live in {self.env}: deploying it again changes nothing"
            else:
                self.refusal = deploy_refusal(self.version)
        self.possible = self.error is None and self.unchanged is None and self.refusal is None

    def title_text(self) -> Text:
        title = Text("Deploy ", style="bold")
        title.append_text(literal(self.ref, "bold", single_line=True))
        title.append(" to ")
        title.append_text(literal(self.env, "bold", single_line=True))
        title.append("?")
        return title

    def body(self) -> RenderableType:
        if self.error or self.version is None:
            return literal(self.error or "nothing to deploy", "bold red")
        parts: list[RenderableType] = [environment_line(self.env, self.protected)]
        parts.append(change_line("live now", self.current, "new", self.version))
        if self.unchanged:
            parts.append(literal(self.unchanged, "bold yellow"))
            return Group(*parts)
        if self.refusal:
            parts.append(literal(f"✗ {self.refusal}", "bold red"))
        parts.extend(_warnings(self.version))
        if self.current is not None:  # what callers send it may no longer fit
            parts.extend(literal(f"⚠ {change}", "bold yellow") for change in differences(self.current.signature, self.version.signature))
        parts.append(metric_deltas(self.registry, self.current, self.version))
        return Group(*parts)


class RollbackConfirm(Confirmation):
    """Confirm rolling ``model`` back in ``env``: what is live now → the version it returns to."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Roll back"),
        Binding("escape", "cancel", "Cancel"),
    ]
    VERB = "roll back"

    def __init__(self, registry: Registry, model: str, env: str | None = None) -> None:
        super().__init__(registry, model, env)
        self.error: str | None = None
        self.current: Version | None = None
        self.target: Version | None = None
        self.reason = ""
        self.refusal: str | None = None
        try:
            self.current = registry.live(model, self.env)
            self.target, self.reason = rollback_target(registry, model, self.env, self.current)
        except ModelregError as error:
            self.error = str(error)
        if self.target is not None:
            self.refusal = deploy_refusal(self.target)  # a rollback deploys the target again
        self.possible = self.error is None and self.target is not None and self.refusal is None

    def title_text(self) -> Text:
        title = Text("Roll back ", style="bold")
        title.append_text(literal(self.model, "bold", single_line=True))
        title.append(" in ")
        title.append_text(literal(self.env, "bold", single_line=True))
        title.append("?")
        return title

    def body(self) -> RenderableType:
        if self.error:
            return literal(self.error, "bold red")
        parts: list[RenderableType] = [environment_line(self.env, self.protected)]
        if self.target is None:
            parts.append(change_line("live now", self.current, "back to", None))
            parts.append(literal(f"✗ Rollback impossible: {self.reason}", "bold red"))
            return Group(*parts)
        parts.append(change_line("live now", self.current, "back to", self.target))
        if self.reason:
            parts.append(literal(self.reason, "dim"))
        if self.refusal:
            parts.append(literal(f"✗ Rollback impossible: {self.refusal}", "bold red"))
        parts.extend(_warnings(self.target))
        parts.append(metric_deltas(self.registry, self.current, self.target))
        return Group(*parts)


# -- what both show --------------------------------------------------------------------------------


def environment_line(env: str, protected: bool) -> Text:
    line = Text("environment  ")
    line.append_text(literal(env, "bold", single_line=True))
    if protected:
        line.append("  ⚠ protected", style="bold red")
    return line


def change_line(now_label: str, now: Version | None, new_label: str, new: Version | None) -> Text:
    """``live now  v2  →  new  v3``."""
    line = Text(f"{now_label}  ")
    line.append_text(literal(now.version, "bold", single_line=True) if now else Text("nothing", style="dim"))
    line.append(f"  →  {new_label}  ")
    line.append_text(literal(new.version, "bold", single_line=True) if new else Text("nothing", style="dim"))
    return line


def _warnings(version: Version) -> list[Text]:
    """What store.deploy.gate does not refuse but the user should see (the deploy itself checks the files)."""
    found = []
    if version.missing:
        found.append(literal("⚠ artifact files are missing on disk", "bold red"))
    return found


def metric_deltas(registry: Registry, old: Version | None, new: Version) -> RenderableType:
    """The new version's metrics, with the change from ``old`` (what is live now) when there is one."""
    if old is None or old.ref == new.ref:
        if not new.metrics:
            return Text("no metrics recorded", style="dim")
        table = Table(box=None, pad_edge=False, show_header=True)
        table.add_column("metric")
        table.add_column(literal(new.version, single_line=True))
        directions = registry.directions(new.model)
        from store.metrics import lower_is_better

        for name, value in new.metrics.items():
            table.add_row(literal(f"{name} {direction_mark(lower_is_better(name, directions))}", single_line=True), number(value))
        return table
    try:
        data = registry.compare([old.ref, new.ref])
    except ModelregError as error:
        return literal(error, "red")
    table = Table(box=None, pad_edge=False)
    table.add_column("metric")
    table.add_column(literal(old.version, single_line=True))
    table.add_column(literal(new.version, single_line=True))
    table.add_column("change")
    for row in data["metrics"]:
        before, after = row["values"]
        table.add_row(
            literal(f"{row['metric']} {direction_mark(row['lower_is_better'])}", single_line=True),
            number(before["value"]),
            number(after["value"]),
            delta_text(after["delta"], after["relative"], after["improved"]),
        )
    if not data["metrics"]:
        return Text("no metrics recorded", style="dim")
    return table


def rollback_target(registry: Registry, model: str, env: str, current: Version | None) -> tuple[Version | None, str]:
    """The version a rollback of ``model`` in ``env`` returns to, and a line saying why (or why none).

    Asks :func:`store.deploy.deploy.previous_version`, the rule the rollback itself follows,
    so the dialog shows exactly what ``y`` will do.
    """
    from store.deploy.deploy import previous_version

    if current is None:
        return None, f"nothing of {model} is live in {env}"
    with registry.reading():
        previous = previous_version(registry, model, env, current.version)
    if previous is None:
        return None, f"no earlier version was live in {env} before {current.version}"
    target = registry.get(f"{model}:{previous}")
    return target, f"{target.version} was live in {env} before {current.version}"
