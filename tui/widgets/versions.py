"""The Versions pane: the selected model's versions as a sortable, filterable table."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import humanize
from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from store.errors import ModelregError
from store.filters import compile_filter
from store.lifecycle import STATUSES
from store.metrics import lower_is_better, to_number
from store.versions import sort_key
from tui.catalog import VersionRow
from tui.output import plural, size
from tui.safe_text import clean
from tui.widgets.models import number
from tui.widgets.cells import GAP, align_decimal, column_width, decimal_layout, ellipsize, fits_layout
from tui.widgets.table import PaneTable

# A symbol for every status, so it reads without colour (NO_COLOR, TERM=xterm, screenshots).
BADGES: dict[str, tuple[str, str]] = {
    "draft": ("✎", "dim"),
    "training": ("⟳", "yellow"),
    "completed": ("◆", "cyan"),
    "deployed": ("▲", "bold green"),
    "deprecated": ("▼", "magenta"),
    "archived": ("▪", "dim"),
}
MARKS_LEGEND = "✓ marked  ● live  ! missing  ⚠ unsafe  ✦ new"
NEW_FOR = 3.0  # seconds a new row stays highlighted
BASE_COLUMNS = ["version", "status", "age", "size"]
TAGS_MIN = 10  # cells for a cut Tags column (label, gap and a few letters), else it goes


# Short forms for narrow panes: a word of at most five letters, or the symbol alone.
SHORT_STATUS = {"draft": "draft", "training": "train", "completed": "done", "deployed": "depl", "deprecated": "depr", "archived": "arch"}


def badge(status: str, form: str = "full") -> Text:
    """The status as symbol and word (``form`` "full"), symbol and short word ("short") or symbol ("symbol")."""
    symbol, style = BADGES.get(status, ("?", ""))
    word = clean(status, single_line=True)
    if form == "symbol":
        return Text(symbol, style=style)
    return Text(f"{symbol} {SHORT_STATUS.get(status, word[:5]) if form == 'short' else word}", style=style)


def _delta(created_at: str, now: datetime | None) -> timedelta | None:
    try:
        when = datetime.fromisoformat(created_at)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((now or datetime.now(timezone.utc)) - when, timedelta(0))


def age(created_at: str, now: datetime | None = None) -> str:
    """How long ago, in words ("3 minutes ago")."""
    delta = _delta(created_at, now)
    return "" if delta is None else humanize.naturaltime(delta)


def short_age(created_at: str, now: datetime | None = None) -> str:
    """How long ago in at most four cells: "45s", "3m", "2h", "5d", "3y"."""
    delta = _delta(created_at, now)
    if delta is None:
        return ""
    seconds = int(delta.total_seconds())
    for unit, size in (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def main_metrics(rows: list[VersionRow], primary: str | None, limit: int) -> list[str]:
    """The metrics most versions report, the primary one first."""
    counts: dict[str, int] = {}
    for row in rows[-200:]:
        for name in row.doc.get("metrics", {}):
            counts[name] = counts.get(name, 0) + 1
    names = sorted(counts, key=lambda n: (n != primary, -counts[n], n))
    return names[:limit]


def _insert_sorted(rows: list[VersionRow], row: VersionRow) -> None:
    """Put ``row`` among ``rows`` (oldest first); a new version is nearly always the last."""
    key = sort_key(row.doc["version"])
    at = len(rows)
    while at and sort_key(rows[at - 1].doc["version"]) > key:
        at -= 1
    rows.insert(at, row)


def sort_value(column: str, row: VersionRow) -> Any:
    doc = row.doc
    if column == "version":
        return sort_key(doc["version"])
    if column == "status":
        return STATUSES.index(doc["status"]) if doc["status"] in STATUSES else len(STATUSES)
    if column == "age":
        return doc.get("created_at", "")
    if column == "size":
        return row.size
    if column == "tags":
        return ",".join(doc.get("tags", ()))
    return to_number(doc.get("metrics", {}).get(column.removeprefix("m:")))


class VersionsTable(PaneTable):
    """The table itself; rows are keyed by ``model:version``."""

    def __init__(self) -> None:
        super().__init__(id="versions-table")


class VersionsPane(Vertical):
    """Filter input, the versions table and a status line.

    Holds the view state that must survive live updates: the filter, the sort,
    the marks and the briefly highlighted new rows.
    """

    class FilterChanged(Message):
        """The filter was applied (``error`` is None) or refused."""

        def __init__(self, text: str, error: str | None) -> None:
            super().__init__()
            self.text, self.error = text, error

    def __init__(self) -> None:
        super().__init__(id="versions")
        self.border_title = "Versions"
        self.model: str | None = None
        self.rows: list[VersionRow] = []
        self.shown_rows: list[VersionRow] = []
        self.marks: dict[str, None] = {}  # ordered set of refs
        self.new_until: dict[str, float] = {}
        self.filter_text = ""
        self.filter_error: str | None = None
        self.predicate: Callable[[Mapping[str, Any]], bool] | None = None
        self.sort_column = "version"
        self.sort_reverse = True  # newest first
        self.primary: str | None = None
        self.directions: dict[str, str] = {}
        self.narrow = False
        self.best: dict[str, float | int] = {}  # best value of each shown metric, worked out per refill
        self.forms: dict[str, str] = {}  # how the status and age columns are written now
        self.layouts: dict[str, tuple[tuple[int, int], int]] = {}
        self.tags_width: int | None = None  # the Tags column's width when its tags are cut to fit
        self.fits_between = (0, -1)  # the table widths the last plan holds for (the same columns and forms)
        self._versions_of: list[VersionRow] | None = None  # the rows _versions was built from
        self._versions: set[str] = set()  # metric column: decimal layout, width
        self._labels: list[str] = []
        self.refills = 0  # full refills so far (live changes patch rows instead)
        self._expiry: Any = None
        self._status_one_line = False  # the status line's text fitted on one line when last shown

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter, e.g. accuracy>0.9 tag:baseline  (enter: apply, escape: undo)", id="filter")
        yield VersionsTable()
        yield Static(id="versions-status", markup=False)

    @property
    def table(self) -> VersionsTable:
        return self.query_one(VersionsTable)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#filter", Input)

    # -- what is shown ----------------------------------------------------------------------

    def metric_columns(self) -> list[str]:
        return main_metrics(self.rows, self.primary, 3)

    def label(self, key: str) -> str:
        labels = {"version": "Version", "status": "Status", "age": "Age", "size": "Size", "tags": "Tags"}
        label = labels.get(key, key.removeprefix("m:"))
        if key == self.sort_column:
            label += " ▼" if self.sort_reverse else " ▲"
        return label

    def columns(self) -> list[tuple[str, str]]:
        """Every column the table can show (what fits is chosen by ``plan``)."""
        keys = ["marks", *BASE_COLUMNS, *(f"m:{m}" for m in self.metric_columns()), "tags"]
        return [(key, " " if key == "marks" else self.label(key)) for key in keys]

    def plan(self, rows: list[VersionRow], now: datetime) -> tuple[list[tuple[str, str]], dict[str, str], dict[str, list[str]]]:
        """The columns that fit the table's width, the form of the status and age columns,
        and every shown column's values (as plain strings, for measuring and then rendering).

        Room is made by dropping tags, then size, then shortening the age ("3m"), the third
        metric, shortening the status, the second metric, and last the status to its symbol:
        the version, the primary metric, status and age always stay.
        """
        available = self.table.fit_width or (50 if self.narrow else 75)
        metrics = [f"m:{m}" for m in self.metric_columns()]
        values: dict[str, list[str]] = {}

        def strings(key: str) -> list[str]:
            if key not in values:
                if key.startswith("m:"):  # numbers with their decimal points lined up
                    layout = decimal_layout([self.number(key, row) for row in rows])
                    self.layouts[key] = (layout, max(cell_len(self.label(key)), sum(layout)))
                values[key] = [self.value(key, row, now) for row in rows]
            return values[key]

        def width(key: str) -> int:
            if key == "marks":
                return (5 if any(r.ref in self.new_until for r in rows) else 4) + GAP
            name, _, form = key.partition("~")
            if name == "status":  # room for every status, so a status changed elsewhere repaints one row
                return column_width(self.label(name), [badge(s, form or "full").plain for s in STATUSES])
            if name == "age":  # ages only grow ("now" → "12 seconds ago"): room for that, for the same reason
                return column_width(self.label(name), [*strings(key), "59s" if form == "short" else "59 seconds ago"])
            return column_width(self.label(name), strings(key))

        steps: list[tuple[list[str], str, str]] = [
            (["version", "status", "age", *metrics, "size", "tags"], "full", "full"),
            (["version", "status", "age", *metrics, "size"], "full", "full"),
            (["version", "status", "age", *metrics], "full", "full"),
            (["version", "status", "age", *metrics], "full", "short"),
            (["version", "status", "age", *metrics[:2]], "full", "short"),
            (["version", "status", "age", *metrics[:2]], "short", "short"),
            (["version", "status", "age", *metrics[:1]], "short", "short"),
            (["version", "status", "age", *metrics[:1]], "symbol", "short"),
        ]
        self.tags_width = None
        wider = None  # the room the step before this one needed
        for keys, status_form, age_form in steps:
            forms = {"status": status_form, "age": age_form}
            measured = ["marks", *(self.form_key(k, forms) for k in keys)]
            total = sum(map(width, measured))
            if total <= available:
                break
            wider = total
        left = available - total
        # Any width from `total` (0 if nothing fit) to just short of the wider step plans the same.
        low, high = (total if total <= available else 0), (wider - 1 if wider is not None else 1 << 30)
        if "tags" not in keys and any(row.doc.get("tags") for row in rows):
            if left >= TAGS_MIN:  # long tags on one version cut the column (with …), not every version's
                self.tags_width = left
                values.pop("tags", None)
                keys = [*keys, "tags"]
                low = high = available  # the cut follows the width
            else:
                high = min(high, total + TAGS_MIN - 1)  # room for a cut Tags column would add it
        self.fits_between = (low, high)
        order = ["marks", "version", "status", *(m for m in metrics if m in keys), "age", "size", "tags"]
        if status_form == "full":  # wide: the order, metrics after size
            order = ["marks", "version", "status", "age", "size", *metrics, "tags"]
        shown = [k for k in order if k == "marks" or k in keys]
        return [(k, " " if k == "marks" else self.label(k)) for k in shown], forms, {k: strings(self.form_key(k, forms)) for k in shown if k != "marks"}

    @staticmethod
    def form_key(key: str, forms: dict[str, str]) -> str:
        return f"{key}~{forms[key]}" if key in forms else key

    def value(self, key: str, row: VersionRow, now: datetime) -> str:
        """The plain text of one cell (``key`` may carry a form: ``status~short``)."""
        name, _, form = key.partition("~")
        doc = row.doc
        if name == "version":
            return clean(doc["version"], single_line=True)
        if name == "status":
            return badge(doc["status"], form or "full").plain
        if name == "age":
            return (short_age if form == "short" else age)(doc.get("created_at", ""), now)
        if name == "size":
            return size(row.size) if row.size else ""
        if name == "tags":
            tags = clean(" ".join(doc.get("tags", ())), single_line=True)
            return tags if self.tags_width is None else ellipsize(tags, self.tags_width - GAP)
        shown = self.number(name, row)
        if not shown or name not in self.layouts:
            return shown
        layout, width = self.layouts[name]
        return align_decimal(shown, layout).rjust(width)

    @staticmethod
    def number(key: str, row: VersionRow) -> str:
        value = to_number(row.doc.get("metrics", {}).get(key.removeprefix("m:")))
        return "" if value is None else number(value)

    def sortable(self) -> list[str]:
        """The shown columns (a column the pane has no room for is not offered)."""
        return [key for key in self.table.column_keys or [k for k, _ in self.columns()] if key != "marks"]

    def on_mount(self) -> None:
        self.table.on_width = self._width_changed

    def _width_changed(self) -> None:
        # Planned for a width that gives the same columns (the first frame's is a guess, made
        # before the layout): DataTable lays the columns out again itself, no refill needed.
        low, high = self.fits_between
        if self.model is not None and not low <= self.table.fit_width <= high:
            self.refill()

    def show(self, model: str | None, rows: list[VersionRow], *, primary: str | None = None, directions: dict[str, str] | None = None, new: frozenset[str] = frozenset(), keep: str | None = None) -> None:
        """Show ``rows`` of ``model``; the filter, sort and marks carry over."""
        switching = model != self.model
        self.model, self.rows = model, rows
        self.primary, self.directions = primary, dict(directions or {})
        deadline = time.monotonic() + NEW_FOR
        for ref in new:
            self.new_until[ref] = deadline
        if switching:
            self.table.column_keys = []  # metric columns differ between models
        self.refill(keep=keep, reset_cursor=switching and keep is None)

    def refill(self, keep: str | None = None, reset_cursor: bool = False) -> None:
        table = self.table
        self.refills += 1
        self.best = self.best_values()
        if self.sort_column not in [key for key, _ in self.columns()]:
            self.sort_column, self.sort_reverse = "version", True
        self.shown_rows = self.sorted(self.filtered(self.rows))
        now = datetime.now(timezone.utc)
        clock = time.monotonic()
        self.new_until = {ref: t for ref, t in self.new_until.items() if t > clock}
        columns, self.forms, values = self.plan(self.shown_rows, now)
        if [key for key, _ in columns] != table.column_keys or [label for _, label in columns] != self._labels:
            table.column_keys = []  # a column came, went or was relabelled (sort arrow)
            self._labels = [label for _, label in columns]
        keys = [key for key, _ in columns]
        if reset_cursor:
            table.clear()
            keep = self.shown_rows[0].ref if self.shown_rows else None
        table.replace_rows(
            [(row.ref, self.cells(row, keys, values, index)) for index, row in enumerate(self.shown_rows)], keep=keep, columns=columns
        )
        if reset_cursor:
            table.scroll_to(0, 0, animate=False, immediate=True)
        self._schedule_expiry()
        self.update_status()

    # -- live changes, row by row ------------------------------------------------------------------

    def patch(self, rows: list[VersionRow], new: frozenset[str] = frozenset()) -> bool:
        """Add or update just these rows of the shown model; False (nothing done) when they do not
        fit the table as it is planned (a new metric column, a changed metric, a wider column than
        there is room for): the caller then shows the whole model again."""
        if not rows or self.model is None or any(r.doc["model"] != self.model for r in rows):
            return False
        index = {r.ref: i for i, r in enumerate(self.rows)} if len(rows) > 1 else None
        merged = list(self.rows)
        for row in rows:
            if index is not None:
                at = index.get(row.ref)
            else:  # one row (the common case): a new version is no search at all
                version = row.doc["version"]
                at = next((i for i in range(len(merged) - 1, -1, -1) if merged[i].doc["version"] == version), None) if self._known(version) else None
            if at is not None:
                if merged[at].doc.get("metrics") != row.doc.get("metrics"):
                    return False  # a changed metric may take the best from another row
                merged[at] = row
            else:
                _insert_sorted(merged, row)
        if main_metrics(merged, self.primary, 3) != self.metric_columns():
            return False
        for key, (layout, _) in self.layouts.items():  # a value with more digits lines up only in a refill
            if not all(fits_layout(self.number(key, row), layout) for row in rows):
                return False
        best = dict(self.best)
        for metric, value in self.best_values(rows).items():
            old = best.get(metric)
            if old is None or (value < old if lower_is_better(metric, self.directions) else value > old):
                best[metric] = value
        # A new best takes the bold from the rows holding the old one: repaint those too.
        beaten = {m for m in best if best[m] != self.best.get(m)}
        restyle = [
            r for r in self.shown_rows
            if any(to_number(r.doc.get("metrics", {}).get(m)) == self.best.get(m) for m in beaten)
        ] if beaten else []
        keys = self.table.column_keys
        if not keys or "marks" not in keys:
            return False
        deadline = time.monotonic() + NEW_FOR
        for ref in new:
            self.new_until[ref] = deadline
        now = datetime.now(timezone.utc)
        before, self.best = self.best, best
        planned = [(row, self.row_cells(row, now)) for row in rows]
        shown = [cells for row, cells in planned if self.predicate is None or self.predicate(row.doc)]
        if not self._fits(shown) and "marks" in keys[:1]:
            # No room for the ✦ without refitting every column: the new row keeps its reverse video.
            for row, cells in planned:
                if row.ref in new:
                    cells[0] = self.marks_cell(row, False)
                    cells[0].stylize("reverse")
        if not self._fits(shown):
            self.best = before
            for ref in new:
                self.new_until.pop(ref, None)
            return False
        if self._versions_of is self.rows:  # keep the set of versions without building it again
            self._versions.update(row.doc["version"] for row in rows)
            self._versions_of = merged
        self.rows = merged
        table = self.table
        changed = {row.ref for row in rows}
        for row in restyle:
            if row.ref not in changed:
                table.replace_cells(row.ref, self.row_cells(row, now))
        for row, cells in planned:
            shown_at = table.get_row_index(row.ref) if table.has_row(row.ref) else None  # the table's order is shown_rows' order
            visible = self.predicate is None or self.predicate(row.doc)
            if shown_at is not None:
                del self.shown_rows[shown_at]
                if not visible:
                    table.delete_row(row.ref)
                    continue
            elif not visible:
                continue
            at = self._position(row)
            self.shown_rows.insert(at, row)
            if shown_at == at:
                table.replace_cells(row.ref, cells)
            else:
                if shown_at is not None:
                    table.delete_row(row.ref)
                table.insert_row(row.ref, cells, at)
        self._schedule_expiry()
        self.update_status()
        return True

    def _known(self, version: str) -> bool:
        """Whether the model already has ``version`` (shown or filtered out)."""
        if self._versions_of is not self.rows:
            self._versions_of, self._versions = self.rows, {r.doc["version"] for r in self.rows}
        return version in self._versions

    def row_cells(self, row: VersionRow, now: datetime) -> list[Text]:
        """One row's cells under the table's current columns and forms."""
        keys = self.table.column_keys
        values = {key: [self.value(self.form_key(key, self.forms), row, now)] for key in keys if key != "marks"}
        return self.cells(row, keys, values, 0)

    def _fits(self, rows: list[list[Text]]) -> bool:
        widths = [column.content_width for column in self.table.columns.values()]
        for cells in rows:
            widths = [max(width, cell.cell_len + GAP) for width, cell in zip(widths, cells)]
        return sum(widths) <= (self.table.fit_width or 0)

    def _position(self, row: VersionRow) -> int:
        """Where ``row`` goes among the shown rows under the current sort."""
        if self.sort_column == "version":
            key = sort_key(row.doc["version"])
            later = (lambda r: sort_key(r.doc["version"]) < key) if self.sort_reverse else (lambda r: sort_key(r.doc["version"]) > key)
            return next((i for i, r in enumerate(self.shown_rows) if later(r)), len(self.shown_rows))
        probe = self.sorted([*self.shown_rows, row])  # rare (sorted by another column): the plain way
        return next(i for i, r in enumerate(probe) if r is row)

    def _schedule_expiry(self) -> None:
        if self.new_until and self._expiry is None:
            self._expiry = self.set_timer(max(0.01, min(self.new_until.values()) - time.monotonic() + 0.05), self._expire_new)

    def _expire_new(self) -> None:
        """The ✦ highlight of new rows ends: repaint just those rows."""
        self._expiry = None
        clock = time.monotonic()
        done = [ref for ref, until in self.new_until.items() if until <= clock]
        for ref in done:
            del self.new_until[ref]
        now = datetime.now(timezone.utc)
        shown = {row.ref: row for row in self.shown_rows}
        for ref in done:
            if ref in shown and self.table.has_row(ref):
                self.table.replace_cells(ref, self.row_cells(shown[ref], now))
        self._schedule_expiry()

    def filtered(self, rows: list[VersionRow]) -> list[VersionRow]:
        if self.predicate is None:
            return list(rows)
        return [row for row in rows if self.predicate(row.doc)]

    def sorted(self, rows: list[VersionRow]) -> list[VersionRow]:
        column = self.sort_column
        if column == "version":
            return sorted(rows, key=lambda r: sort_key(r.doc["version"]), reverse=self.sort_reverse)
        keyed = [(sort_value(column, r), r) for r in rows]
        present = [pair for pair in keyed if pair[0] is not None]
        missing = [pair[1] for pair in keyed if pair[0] is None]
        present.sort(key=lambda pair: pair[0], reverse=self.sort_reverse)
        return [r for _, r in present] + missing  # versions without the value always last

    def cells(self, row: VersionRow, columns: list[str], values: dict[str, list[str]], index: int) -> list[Text]:
        doc = row.doc
        new = row.ref in self.new_until
        cells: list[Text] = []
        for key in columns:
            value = values.get(key, [""])[index] if key != "marks" else ""
            if key == "marks":
                cells.append(self.marks_cell(row, new))
            elif key == "version":
                cells.append(Text(value, style="bold"))
            elif key == "status":
                cells.append(Text(value, style=BADGES.get(doc["status"], ("", ""))[1]))
            elif key == "age":
                cells.append(Text(value, style="dim"))
            elif key == "size":
                cells.append(Text(value, justify="right"))
            elif key == "tags":
                cells.append(Text(value, style="italic"))
            else:
                cells.append(self.metric_cell(key.removeprefix("m:"), doc, value))
        if new:
            for cell in cells:
                cell.stylize("reverse")
        return cells

    def marks_cell(self, row: VersionRow, new: bool) -> Text:
        text = Text()
        text.append("✓" if row.ref in self.marks else " ", style="bold")
        text.append("●" if row.live else " ", style="bold green")
        text.append("!" if row.doc.get("missing") else " ", style="bold red")
        text.append("⚠" if row.unsafe else " ", style="bold red")
        text.append("✦" if new else "", style="bold yellow")
        return text

    def metric_cell(self, metric: str, doc: dict[str, Any], shown: str) -> Text:
        value = to_number(doc.get("metrics", {}).get(metric))
        if value is None:
            return Text("")
        best = self.best.get(metric)
        style = "bold" if best is not None and value == best else ""
        return Text(shown, style=style)  # already padded: right-justifying would strip the alignment

    def best_values(self, rows: list[VersionRow] | None = None) -> dict[str, float | int]:
        """The best value of each shown metric across the model's versions (shown bold)."""
        result: dict[str, float | int] = {}
        for metric in self.metric_columns():
            values = [v for r in (self.rows if rows is None else rows) if (v := to_number(r.doc.get("metrics", {}).get(metric))) is not None]
            if values:
                result[metric] = min(values) if lower_is_better(metric, self.directions) else max(values)
        return result

    def update_status(self) -> None:
        parts = [f"{len(self.shown_rows)} of {len(self.rows)}" if self.predicate else plural(len(self.rows), "version")]
        if self.filter_error:
            parts.append(f"✗ filter: {self.filter_error}")
        elif self.filter_text:
            parts.append(f"filter: {clean(self.filter_text, single_line=True)}")
        if self.marks:
            parts.append(f"{len(self.marks)} marked")
        status = self.query_one("#versions-status", Static)
        line = Text(" · ".join(parts), style="bold red" if self.filter_error else "dim")
        # One line before and after: no need to lay the screen out again (it sizes to its text).
        one_line = line.cell_len <= status.content_size.width
        status.update(line, layout=not (one_line and self._status_one_line))
        self._status_one_line = one_line
        self.filter_input.set_class(bool(self.filter_error), "-invalid")

    # -- the user's view state ------------------------------------------------------------------

    @property
    def selected(self) -> VersionRow | None:
        index = self.table.cursor_row
        if not self.shown_rows or not 0 <= index < len(self.shown_rows):
            return None
        ref = self.table.cursor_key
        return next((row for row in self.shown_rows if row.ref == ref), None)

    def set_filter(self, text: str) -> str | None:
        """Apply a filter; a bad one is reported (returned and shown) and the last good one stays."""
        text = text.strip()
        try:
            predicate = compile_filter(text) if text else None
        except ModelregError as error:
            self.filter_error = clean(str(error), single_line=True)
            self.update_status()
            return self.filter_error
        self.filter_text, self.predicate, self.filter_error = text, predicate, None
        self.refill()
        return None

    def toggle_mark(self) -> str | None:
        row = self.selected
        if row is None:
            return None
        if row.ref in self.marks:
            del self.marks[row.ref]
        else:
            self.marks[row.ref] = None
        self.table.update_cell(row.ref, "marks", self.marks_cell(row, row.ref in self.new_until))
        self.update_status()
        return row.ref

    def cycle_sort(self) -> str:
        keys = self.sortable()
        index = keys.index(self.sort_column) if self.sort_column in keys else -1
        self.sort_column = keys[(index + 1) % len(keys)]
        self.sort_reverse = self.sort_column in ("version", "age") or (
            self.sort_column.startswith("m:") and not lower_is_better(self.sort_column[2:], self.directions)
        )  # newest, and best, first
        self.table.column_keys = []
        self.refill()
        return self.sort_column

    def reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.table.column_keys = []
        self.refill()

    def undo_filter_edit(self) -> None:
        """Escape in the filter: back to the filter that applies (typing applies nothing)."""
        self.filter_input.value = self.filter_text
        if self.filter_error is not None:
            self.filter_error = None
            self.update_status()

    @on(Input.Changed, "#filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        # Applied on enter only: a half-typed word would blank the table as a "good" filter.
        event.stop()
        if self.filter_error is not None:  # the error was about text that is no longer there
            self.filter_error = None
            self.update_status()

    @on(Input.Submitted, "#filter")
    def _filter_entered(self, event: Input.Submitted) -> None:
        # Not stopped: the screen then leaves the input if the filter was good.
        error = self.set_filter(event.value)
        self.post_message(self.FilterChanged(event.value, error))
