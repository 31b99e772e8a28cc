"""A model's version tree (parent → child, across models), with each version's data lineage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static, Tree
from textual.widgets.tree import TreeNode

from store.errors import ModelregError
from store.records import Version
from tui.safe_text import clean, literal
from tui.screens.deltas import number

if TYPE_CHECKING:
    from store.registry import Registry

CURSOR_MARK = "› "
OPENED_MARK = "◀"


class LineageTree(Tree[str]):
    """The version tree; node data is the version's ref. ``enter`` jumps, hjkl move."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Jump to version"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("h", "cursor_parent", "Parent", show=False),
        Binding("l", "expand", "Expand", show=False),
    ]

    def action_expand(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand:
            node.expand()

    def render_label(self, node: TreeNode[str], base_style: Style, style: Style) -> Text:
        # A mark on the cursor line, so it stays visible without colour (NO_COLOR, 16 colours).
        mark = CURSOR_MARK if node is self.cursor_node else " " * len(CURSOR_MARK)
        return Text.assemble((mark, base_style), super().render_label(node, base_style, style))


class LineageScreen(Screen["str | None"]):
    """The tree of ``ref``'s model with ``ref`` under the cursor.

    Dismisses with the ref of the node chosen with ``enter`` (the app jumps to it),
    or None when closed with escape.
    """

    CSS_PATH = "screens.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "toggle_data", "Data lineage"),
        Binding("escape,q", "close", "Close"),
    ]

    def __init__(self, registry: Registry, ref: str) -> None:
        super().__init__()
        self.registry = registry
        self.ref = ref
        self.error: str | None = None
        self.nodes: dict[str, TreeNode[str]] = {}
        try:
            self.ref = registry.get(ref).ref
            self.model = self.ref.partition(":")[0]
            self.roots = registry.tree(self.model)
            self.live = _live_by_version(registry.live_map(self.model))
            self.primary = registry.primary_metric(self.model)
        except ModelregError as error:
            self.model, self.roots, self.live, self.primary = ref.partition(":")[0], [], {}, None
            self.error = str(error)

    def compose(self) -> ComposeResult:
        title = Text("Lineage of ", style="bold")
        title.append_text(literal(self.model, "bold", single_line=True))
        title.append(f"  ({OPENED_MARK} opened version, {CURSOR_MARK.strip()} cursor)", style="dim")
        yield Static(title, id="lineage-title", classes="screen-title")
        with Vertical(id="lineage-main"):
            if self.error:
                yield Static(literal(self.error, "bold red"), id="lineage-error")
            tree = LineageTree(literal(self.model, single_line=True), id="lineage-tree")
            tree.show_root = False
            tree.auto_expand = False
            tree.guide_depth = 3
            self._fill(tree)
            yield tree
            yield Static(id="data-lineage")
        yield Footer()

    def on_mount(self) -> None:
        tree = self.query_one(LineageTree)
        tree.focus()
        # Tree lines exist only after the first layout; then put the cursor on the opened version.
        self.call_after_refresh(self._highlight, self.ref)

    def _highlight(self, ref: str) -> None:
        node = self.nodes.get(ref)
        if node is not None:
            self.query_one(LineageTree).move_cursor(node)

    # -- building the tree ------------------------------------------------------------------------

    def _fill(self, tree: LineageTree) -> None:
        external: dict[str, TreeNode[str]] = {}
        for root in self.roots:
            parent_ref = root["external_parent"]
            under = tree.root
            if parent_ref:
                if parent_ref not in external:
                    label = literal(parent_ref, "italic", single_line=True)
                    label.append("  (parent in another model)", style="dim")
                    external[parent_ref] = tree.root.add(label, data=parent_ref, expand=True)
                under = external[parent_ref]
            self._add(under, root)

    def _add(self, under: TreeNode[str], node: dict[str, Any]) -> None:
        version: Version = node["version"]
        others = [c for c in self.registry.children(version.ref) if c.model != version.model]
        has_children = bool(node["children"] or others)
        added = under.add(self._label(version), data=version.ref, expand=True, allow_expand=has_children)
        self.nodes[version.ref] = added
        for child in node["children"]:
            self._add(added, child)
        for child in others:
            label = Text("→ ", style="dim")
            label.append_text(literal(child.ref, "italic", single_line=True))
            label.append("  (fine-tuned in another model)", style="dim")
            added.add_leaf(label, data=child.ref)

    def _label(self, version: Version) -> Text:
        opened = version.ref == self.ref
        label = literal(version.version, "bold" if opened else "", single_line=True)
        label.append(f"  {clean(version.status, single_line=True)}", style="dim")
        if self.primary and self.primary in version.metrics:
            label.append_text(literal(f"  {self.primary} {number(version.metrics[self.primary])}", single_line=True))
        envs = self.live.get(version.version)
        if envs:
            label.append_text(literal(f"  live: {', '.join(envs)}", "bold", single_line=True))
        if version.missing:
            label.append("  missing", style="red")
        if opened:
            label.append(f"  {OPENED_MARK} opened", style="bold")
        return label

    # -- data lineage -------------------------------------------------------------------------------

    def _data_panel(self, ref: str | None) -> Group:
        if ref is None:
            return Group(Text("Data lineage: no version under the cursor", style="dim"))
        title = Text("Data lineage of ", style="bold")
        title.append_text(literal(ref, "bold", single_line=True))
        title.append("  (nearest first)", style="dim")
        try:
            chain = self.registry.data_lineage(ref)
        except ModelregError as error:
            return Group(title, literal(error, "red"))
        lines = [title]
        for step in chain:
            line = literal(step["ref"], "bold", single_line=True)
            data = ", ".join(step["training_data"]) or "no training data recorded"
            line.append_text(literal(f"  data: {data}", single_line=True))
            if step["git_commit"]:
                line.append_text(literal(f"  commit {step['git_commit']}", "dim", single_line=True))
            lines.append(line)
        return Group(*lines)

    def _update_data(self) -> None:
        panel = self.query_one("#data-lineage", Static)
        if panel.has_class("-shown"):
            node = self.query_one(LineageTree).cursor_node
            panel.update(self._data_panel(node.data if node is not None else None))

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        self._update_data()

    def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        event.stop()
        if event.node.data:
            self.dismiss(event.node.data)

    def action_toggle_data(self) -> None:
        self.query_one("#data-lineage", Static).toggle_class("-shown")
        self._update_data()

    def action_close(self) -> None:
        self.dismiss(None)


def _live_by_version(live: dict[str, Any]) -> dict[str, list[str]]:
    """{env: version} -> {version: [env, ...]}."""
    found: dict[str, list[str]] = {}
    for env, version in sorted(live.items()):
        found.setdefault(version, []).append(env)
    return found
