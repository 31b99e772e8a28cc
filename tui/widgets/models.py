"""The Models pane: every model, its versions, what is live, its best score and a sparkline."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual import events

from tui.catalog import ModelSummary
from tui.safe_text import clean, literal
from tui.widgets.cells import GAP, align_decimal, column_width, decimal_layout, ellipsize
from tui.widgets.table import PaneTable

NAME_MIN = 8  # cells a model name keeps before other columns give way
PAD = 1  # a blank cell after the last column, so that it never touches the border
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
        self.names: list[str] = []  # shown (the filter applied)
        self.all_names: list[str] = []
        self.filter_text = ""
        self.best_layout = (0, 0)
        self.filtering = False
        self._filter_before = ""
        self.summaries: dict[str, ModelSummary] = {}
        self.env = "production"
        self.narrow = False
        self.on_width = self.show

    def show(self, names: list[str] | None = None, summaries: dict[str, ModelSummary] | None = None, keep: str | None = None) -> None:
        if names is not None:
            self.all_names = names
        if summaries:
            self.summaries.update(summaries)
        needle = self.filter_text.lower()
        self.names = [n for n in self.all_names if needle in n.lower()] if needle else list(self.all_names)
        columns, self.name_width = self.plan()
        self.replace_rows([(name, self.cells(name, [k for k, _ in columns])) for name in self.names], keep=keep, columns=columns)
        self.border_subtitle = self.filter_line()
        self.fit_pane()

    def fit_pane(self, screen: int | None = None) -> None:
        """Give the pane the width its names need, within limits (the Versions pane keeps the rest)."""
        if not self.is_mounted:
            return
        screen = screen or self.screen.size.width or self.app.size.width
        low, high = (26, max(26, screen * 2 // 5)) if self.narrow else (30, min(56, max(30, screen * 7 // 20)))
        width = max(low, min(high, self.ideal_width()))
        if self.styles.width is None or self.styles.width.value != width:
            self.styles.width = width

    # -- the filter: '/' then a part of a name; enter keeps it, escape puts back the one before -------

    def start_filter(self) -> None:
        self.filtering, self._filter_before = True, self.filter_text
        self.border_subtitle = self.filter_line()

    def filter_line(self) -> str:
        if self.filtering:
            return literal(f"/{self.filter_text}▏", single_line=True)
        if self.filter_text:
            return literal(f"{len(self.names)} of {len(self.all_names)} · /{self.filter_text}", single_line=True)
        return ""

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.show(keep=self.cursor_key)

    def on_key(self, event: events.Key) -> None:
        if not self.filtering:
            return
        event.stop()
        event.prevent_default()
        if event.key == "enter":
            self.filtering = False
            self.border_subtitle = self.filter_line()
        elif event.key == "escape":
            self.filtering = False
            self.set_filter(self._filter_before)
        elif event.key == "backspace":
            self.set_filter(self.filter_text[:-1])
        elif event.is_printable and event.character:
            self.set_filter(self.filter_text + event.character)

    def on_blur(self) -> None:
        if self.filtering:  # leaving the pane keeps what was typed, as enter does
            self.filtering = False
            self.border_subtitle = self.filter_line()

    def update_summaries(self, summaries: dict[str, ModelSummary]) -> None:
        """New summaries for some models: their cells change in place while the columns
        still fit them, otherwise one refill that fits the columns again."""
        self.summaries.update(summaries)
        if len(summaries) > 10 or not self.row_count:
            self.show()
            return
        layout = self.best_layout
        columns, name_width = self.plan()
        if [key for key, _ in columns] != self.column_keys or layout != self.best_layout or name_width != self.name_width:
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

    def widths(self) -> tuple[dict[str, int], dict[str, str]]:
        """Every column the pane could show but the name: its width (with the gap) and label."""
        summaries = [self.summaries[n] for n in self.names if n in self.summaries]
        self.best_layout = decimal_layout([number(s.best) for s in summaries])
        widths = {
            "count": column_width("#", [str(s.count) for s in summaries]),
            "best": column_width("Best", [self.best_cell(s.best) for s in summaries]),
            "spark": column_width("Trend", [s.spark for s in summaries]),
        }
        envs = self.envs()
        for env in envs:
            widths[f"live:{env}"] = column_width(short_env(env), [ellipsize(s.live.get(env, ""), LIVE_MAX) for s in summaries])
        labels = {"count": "#", "best": "Best", "spark": "Trend"} | {f"live:{e}": short_env(e) for e in envs}
        return widths, labels

    def optional(self) -> list[str]:
        """Columns shown only while every name shows whole, the first to go last: the other
        environments' live versions, then the sparkline (none of them below 120 columns)."""
        if self.narrow:
            return []
        return [*(f"live:{e}" for e in self.envs() if e != self.env), "spark"]

    def longest_name(self) -> int:
        return max((cell_len(clean(n, single_line=True)) for n in self.all_names), default=0)

    def ideal_width(self) -> int:
        """Cells of pane (borders and scrollbar included) that show every name whole with
        every column this width may show."""
        widths, _ = self.widths()
        keys = ["count", "best", *([f"live:{self.env}"] if f"live:{self.env}" in widths else []), *self.optional()]
        return max(self.longest_name(), NAME_MIN) + GAP + sum(widths[k] for k in keys) + PAD + 3

    def plan(self) -> tuple[list[tuple[str, str]], int]:
        """The columns that fit the pane, and the cells left for the name. Names come first:
        the sparkline and other environments go before a name is cut (in the middle)."""
        available = self.fit_width or (24 if self.narrow else 40)
        widths, labels = self.widths()
        room = available - GAP - PAD
        current = [f"live:{self.env}"] if f"live:{self.env}" in widths else []
        chosen = []
        for key in ["count", "best", *current]:  # always, while a name keeps NAME_MIN cells
            if widths[key] <= room - NAME_MIN:
                chosen.append(key)
                room -= widths[key]
        name_need = max(self.longest_name(), NAME_MIN)
        for key in self.optional():
            if key in widths and widths[key] <= room - name_need:
                chosen.append(key)
                room -= widths[key]
        order = ["count", *(k for k in [*current, *(f"live:{e}" for e in self.envs())] if k in chosen), "best", "spark"]
        keys = list(dict.fromkeys(k for k in order if k in chosen))
        return [("name", "Model"), *((k, labels[k]) for k in keys)], room

    def best_cell(self, best: float | int | None) -> str:
        shown = number(best)
        return align_decimal(shown, self.best_layout).rjust(max(len("Best"), sum(self.best_layout))) if shown else ""

    def cells(self, name: str, keys: list[str]) -> list[Text]:
        summary = self.summaries.get(name)
        cells = [Text(ellipsize(clean(name, single_line=True), self.name_width, middle=True))]
        for key in keys[1:]:
            if summary is None:
                cells.append(Text("…" if key == "count" else "", style="dim"))
            elif key == "count":
                cells.append(Text(str(summary.count), justify="right"))
            elif key == "best":
                # Padded, not right-justified: rich would strip the spaces that line the points up.
                cells.append(Text(self.best_cell(summary.best)))
            elif key == "spark":
                cells.append(Text(summary.spark, style="cyan"))
            else:
                env = key.removeprefix("live:")
                version = summary.live.get(env)
                here = env == self.env
                cells.append(Text(ellipsize(clean(version or "", single_line=True), LIVE_MAX), style="bold green" if here else "dim"))
        if len(cells) > 1:
            cells[-1].append(" " * PAD)  # the last column never touches the border
        return cells

    @property
    def selected(self) -> str | None:
        return self.cursor_key
