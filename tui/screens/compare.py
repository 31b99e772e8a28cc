"""Compare two or more versions side by side: metrics with deltas, params, status, tags, a plot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from store.errors import ModelregError
from store.metrics import lower_is_better
from tui.catalog import sparkline
from tui.safe_text import literal
from tui.screens.deltas import LEGEND, delta_text, direction_mark, number, param
from tui.screens.plot import BarChart, Point

if TYPE_CHECKING:
    from store.registry import Registry


class CompareBody(VerticalScroll):
    """The scrolling body; j/k scroll like the arrows."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
    ]


class CompareScreen(Screen[None]):
    """Side-by-side comparison of ``refs`` against the first, from :meth:`Registry.compare`."""

    CSS_PATH = "screens.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close"),
        Binding("a", "toggle_params", "All params"),
        Binding("m", "next_metric", "Plot metric"),
    ]

    def __init__(self, registry: Registry, refs: list[str]) -> None:
        super().__init__()
        self.registry = registry
        self.refs = list(refs)
        self.show_all_params = False
        self.data: dict[str, Any] | None = None
        self.error: str | None = None
        self.metric_names: list[str] = []
        self.metric: str | None = None
        self.directions: dict[str, str] = {}
        self.model = ""
        self._load()

    def _load(self) -> None:
        try:
            self.data = self.registry.compare(self.refs)
            first = self.registry.get(self.data["versions"][0])
            self.model = first.model
            self.directions = self.registry.directions(self.model)
            self.history = self.registry.versions(self.model)
        except ModelregError as error:
            self.data, self.error = None, str(error)
            return
        self.metric_names = [row["metric"] for row in self.data["metrics"]]
        primary = self.registry.primary_metric(self.model)
        self.metric = primary if primary in self.metric_names else (self.metric_names or [None])[0]

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="compare-title", classes="screen-title")
        with CompareBody(id="compare-body"):
            if self.data is None:
                yield Static(literal(self.error or "nothing to compare", "bold red"), id="compare-error")
            else:
                yield Static(self._metrics_table(), id="compare-metrics")
                yield Static(self._params_table(), id="compare-params")
                yield Static(self._info_table(), id="compare-info")
                yield Static(self._plot(), id="compare-plot")
        yield Footer()

    def _title(self) -> Text:
        if self.data is None:
            return Text("Compare")
        refs = self.data["versions"]
        title = Text("Compare ", style="bold")
        title.append_text(literal(refs[0], "bold"))
        title.append(" (base) with ")
        title.append_text(literal(", ".join(self._label(r) for r in refs[1:])))
        return title

    def _label(self, ref: str) -> str:
        """Just the version when every compared ref is of one model."""
        assert self.data is not None
        same = len({r.partition(":")[0] for r in self.data["versions"]}) == 1
        return ref.partition(":")[2] if same else ref

    @staticmethod
    def _heading(title: str, hint: str = "") -> Text:
        heading = Text(title, style="bold")
        if hint:
            heading.append(f"  ({hint})", style="dim")
        return heading

    def _table(self, first: str) -> Table:
        assert self.data is not None
        table = Table(expand=False, pad_edge=False, box=None)
        table.add_column(first, no_wrap=True)
        for i, ref in enumerate(self.data["versions"]):
            table.add_column(literal(self._label(ref) + (" (base)" if i == 0 else ""), single_line=True), overflow="fold")
        return table

    def _metrics_table(self) -> Group:
        assert self.data is not None
        table = self._table("metric")
        for row in self.data["metrics"]:
            name = literal(row["metric"], single_line=True)
            name.append(f" {direction_mark(row['lower_is_better'])}", style="dim")
            cells: list[Text] = [name]
            for cell in row["values"]:
                text = Text(number(cell["value"]))
                if cell["delta"] is not None:
                    text.append("\n")
                    text.append_text(delta_text(cell["delta"], cell["relative"], cell["improved"]))
                cells.append(text)
            table.add_row(*cells)
        if not self.data["metrics"]:
            table.add_row(Text("no metrics recorded", style="dim"))
        return Group(self._heading("Metrics"), table, Text(LEGEND, style="dim"))

    def _params_table(self) -> Group:
        assert self.data is not None
        rows = self.data["all_params"]
        differing = [r for r in rows if r["differs"]]
        shown = rows if self.show_all_params else differing
        if self.show_all_params:
            title, hint = f"Params: all {len(rows)}, {len(differing)} differ (≠)", "a: only those that differ"
        else:
            title, hint = f"Params: {len(differing)} of {len(rows)} differ", "a: show all"
        table = self._table("param")
        for row in shown:
            name = literal(row["param"], single_line=True)
            if row["differs"] and self.show_all_params:
                name.append(" ≠", style="yellow")
            values = row["values"]
            cells = [name]
            for i, value in enumerate(values):
                changed = i > 0 and value != values[0]
                cells.append(literal("—" if value is None else param(value), "bold yellow" if changed else "", single_line=True))
            table.add_row(*cells)
        if not shown:
            table.add_row(Text("none differ" if rows else "no params recorded", style="dim"))
        return Group(self._heading(title, hint), table)

    def _info_table(self) -> Group:
        assert self.data is not None
        table = self._table("")
        refs = self.data["versions"]
        table.add_row(Text("status"), *(literal(self.data["status"][r], single_line=True) for r in refs))
        table.add_row(
            Text("tags"),
            *(literal(", ".join(self.data["tags"][r]) or "—", single_line=True) for r in refs),
        )
        return Group(self._heading("Status and tags"), table)

    def _plot(self) -> Group:
        if self.metric is None:
            return Group(Text("Plot: no metric to plot", style="bold"))
        lower = lower_is_better(self.metric, self.directions)
        compared = set(self.data["versions"]) if self.data else set()
        points = [Point(v.version, v.metrics.get(self.metric), v.ref in compared) for v in self.history]
        title = literal(f"Plot: {self.metric} {direction_mark(lower)} across {self.model}'s {len(points)} versions", "bold")
        title.append(f"  (m: next metric, {len(self.metric_names)} in all)", style="dim")
        spark = Text(sparkline([p.value for p in points], points=None), style="cyan")
        legend = Text("● compared · ★ best", style="dim")
        return Group(title, spark, BarChart(points, lower), legend)

    # -- actions -----------------------------------------------------------------------------

    def action_close(self) -> None:
        self.dismiss(None)

    def action_toggle_params(self) -> None:
        if self.data is None:
            return
        self.show_all_params = not self.show_all_params
        self.query_one("#compare-params", Static).update(self._params_table())

    def action_next_metric(self) -> None:
        if not self.metric_names or self.data is None:
            return
        index = self.metric_names.index(self.metric) if self.metric in self.metric_names else -1
        self.metric = self.metric_names[(index + 1) % len(self.metric_names)]
        self.query_one("#compare-plot", Static).update(self._plot())
