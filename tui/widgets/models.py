"""The Models pane: every model, its versions, what is live, its best score and a sparkline."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text

from tui.catalog import ModelSummary
from tui.safe_text import clean
from tui.widgets.table import GAP, PaneTable, column_width, ellipsize

NAME_MIN = 8  # cells a model name keeps before other columns give way
LIVE_MAX = 8  # a live version longer than this is cut with …


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
    its summary arrives from the catalog (loaded after the first frame).

    Its columns are fitted to the pane's width on every refill: the name gets what the
    others leave (cut with …); at 80 columns that is name, count and best, then the live
    version in the current environment, the sparkline and the other environments as room allows.
    """

    BORDER_TITLE = "Models"

    def __init__(self) -> None:
        super().__init__(id="models")
        self.border_title = "Models"
        self.names: list[str] = []
        self.summaries: dict[str, ModelSummary] = {}
        self.env = "production"
        self.narrow = False
        self.on_width = self.show

    def show(self, names: list[str] | None = None, summaries: dict[str, ModelSummary] | None = None, keep: str | None = None) -> None:
        if names is not None:
            self.names = names
        if summaries:
            self.summaries.update(summaries)
        columns, self.name_width = self.plan()
        self.replace_rows([(name, self.cells(name, [k for k, _ in columns])) for name in self.names], keep=keep, columns=columns)

    def update_summaries(self, summaries: dict[str, ModelSummary]) -> None:
        """New summaries for some models: their cells change in place while the columns
        still fit them, otherwise one refill that fits the columns again."""
        self.summaries.update(summaries)
        if len(summaries) > 10 or not self.row_count:
            self.show()
            return
        columns, _ = self.plan()
        if [key for key, _ in columns] != self.column_keys:
            self.show()
            return
        changes = []
        for name in summaries:
            if name not in self.names:
                continue
            for column, cell in zip(self.columns.values(), self.cells(name, self.column_keys)):
                if cell.cell_len + GAP > column.content_width:
                    self.show()
                    return
                changes.append((name, column.key, cell))
        for name, key, cell in changes:
            self.update_cell(name, key, cell)

    # -- columns -------------------------------------------------------------------------------

    def envs(self) -> list[str]:
        """Environments with something live, the current one first."""
        seen = {env for s in self.summaries.values() for env in s.live}
        return [env for env in [self.env, *sorted(seen - {self.env})] if env in seen]

    def plan(self) -> tuple[list[tuple[str, str]], int]:
        """The columns that fit the pane, and the cells left for the name."""
        available = self.fit_width or (24 if self.narrow else 40)
        summaries = [self.summaries[n] for n in self.names if n in self.summaries]
        widths = {
            "count": column_width("#", [str(s.count) for s in summaries]),
            "best": column_width("Best", [number(s.best) for s in summaries]),
            "spark": column_width("Trend", [s.spark for s in summaries]),
        }
        for env in self.envs():
            widths[f"live:{env}"] = column_width(short_env(env), [ellipsize(s.live.get(env, ""), LIVE_MAX) for s in summaries])
        labels = {"count": "#", "best": "Best", "spark": "Trend"} | {f"live:{e}": short_env(e) for e in self.envs()}
        chosen: list[str] = []
        room = available - NAME_MIN - GAP
        longest = max((cell_len(clean(n, single_line=True)) for n in self.names), default=0)
        current = [f"live:{self.env}"] if f"live:{self.env}" in widths else []
        for key in ["count", "best", *current, "spark", *(f"live:{e}" for e in self.envs() if e != self.env)]:
            # Other environments only while every name still shows whole.
            need = widths[key] + (max(0, longest - NAME_MIN) if key.startswith("live:") and key != f"live:{self.env}" else 0)
            if need <= room:
                chosen.append(key)
                room -= widths[key]
            elif key == "spark":
                break  # a later column never shows without the ones before it
        order = ["count", *(k for k in chosen if k.startswith("live:")), "best", "spark"]
        keys = [k for k in order if k in chosen]
        name_width = NAME_MIN + room
        return [("name", "Model"), *((k, labels[k]) for k in keys)], name_width

    def cells(self, name: str, keys: list[str]) -> list[Text]:
        summary = self.summaries.get(name)
        cells = [Text(ellipsize(clean(name, single_line=True), self.name_width, middle=True))]
        for key in keys[1:]:
            if summary is None:
                cells.append(Text("…" if key == "count" else "", style="dim"))
            elif key == "count":
                cells.append(Text(str(summary.count), justify="right"))
            elif key == "best":
                cells.append(Text(number(summary.best), justify="right"))
            elif key == "spark":
                cells.append(Text(summary.spark, style="cyan"))
            else:
                env = key.removeprefix("live:")
                version = summary.live.get(env)
                here = env == self.env
                cells.append(Text(ellipsize(clean(version or "", single_line=True), LIVE_MAX), style="bold green" if here else "dim"))
        return cells

    @property
    def selected(self) -> str | None:
        return self.cursor_key
