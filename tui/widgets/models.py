"""The Models pane: every model, its versions, what is live, its best score and a sparkline."""

from __future__ import annotations

from rich.text import Text

from tui.catalog import ModelSummary
from tui.safe_text import literal
from tui.widgets.table import PaneTable

WIDE = [("name", "Model"), ("count", "#"), ("live", "Live"), ("best", "Best"), ("spark", "Trend")]
NARROW = [("name", "Model"), ("count", "#"), ("live", "●")]


def number(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value)}"
    return f"{value:.4g}"


def short_env(env: str) -> str:
    return env[:4]


class ModelsTable(PaneTable):
    """The Models pane. Rows are keyed by model name; a row shows a bare name until
    its summary arrives from the catalog (loaded after the first frame)."""

    BORDER_TITLE = "Models"

    def __init__(self) -> None:
        super().__init__(id="models")
        self.border_title = "Models"
        self.names: list[str] = []
        self.summaries: dict[str, ModelSummary] = {}
        self.env = "production"
        self.narrow = False

    def show(self, names: list[str] | None = None, summaries: dict[str, ModelSummary] | None = None, keep: str | None = None) -> None:
        if names is not None:
            self.names = names
        if summaries:
            self.summaries.update(summaries)
        self.replace_rows([(name, self.cells(name)) for name in self.names], keep=keep, columns=NARROW if self.narrow else WIDE)

    def update_summaries(self, summaries: dict[str, ModelSummary]) -> None:
        """New summaries for some models: their cells change in place when they fit the
        columns; otherwise a full refill (DataTable keeps rendered rows cached across
        width changes, so a wider cell needs one)."""
        self.summaries.update(summaries)
        if len(summaries) > 10 or not self.row_count:
            self.show()
            return
        changes = []
        for name in summaries:
            if name not in self.names:
                continue
            for column, cell in zip(self.columns.values(), self.cells(name)):
                if cell.cell_len > column.content_width:
                    self.show()
                    return
                changes.append((name, column.key, cell))
        for name, key, cell in changes:
            self.update_cell(name, key, cell)

    def cells(self, name: str) -> list[Text]:
        summary = self.summaries.get(name)
        label = literal(name, single_line=True)
        if summary is None:
            return [label, Text("…", style="dim"), Text("")] + ([] if self.narrow else [Text(""), Text("")])
        count = Text(str(summary.count), justify="right")
        here = summary.live.get(self.env)
        if self.narrow:
            return [label, count, Text("●" if here else "", style="bold green")]
        live = Text()
        for env, version in summary.live.items():
            if live:
                live.append(" ")
            live.append(f"{short_env(env)}:", style="bold" if env == self.env else "dim")
            live.append_text(literal(version, "bold green" if env == self.env else "", single_line=True))
        best = Text(number(summary.best), justify="right")
        return [label, count, live, best, Text(summary.spark, style="cyan")]

    @property
    def selected(self) -> str | None:
        return self.cursor_key
