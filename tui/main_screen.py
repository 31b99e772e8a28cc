"""The main screen: Models | Versions | Detail, the activity line, and every key.

All registry work runs in thread workers through :class:`tui.catalog.Catalog` and comes
back with ``call_from_thread``; handlers on the event loop only change widgets.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingsMap
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.events import Resize
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input, Static
from textual.worker import get_current_worker

from store.errors import ModelregError
from tui import keymap
from tui.catalog import Activity, Catalog, ModelView, Update
from tui.compositor import FrugalCompositor
from tui.opening import FirstView, Opening
from tui.safe_text import clean, literal
from tui.widgets.activity import ActivityLine
from tui.widgets.detail import DetailPane, Extras
from tui.widgets.models import ModelsTable
from tui.widgets.sync import SyncIndicator
from tui.widgets.cells import ellipsize
from tui.widgets.table import PaneTable
from tui.widgets.versions import VersionsPane, VersionsTable

if TYPE_CHECKING:
    from store.registry import Registry
    from tui.app import ModelregApp

# gc thresholds while the app runs (Python's default: 700, 10, 10). A young collection walks every
# object made since the last one: at 50,000 one took 20-200 ms in a live update (the p99 of a new
# row); at 10,000 it stays near 15 ms at worst, and full collections stay rare.
QUIET_GC = (10_000, 50, 100)
# Other processes' writes wake the app through an inotify watch on the journal; without
# inotify (a network filesystem) it looks every POLL_EVERY seconds (a stat when idle), and with
# it every CHECK_EVERY, in case the kernel dropped an event (its queue overflowed).
POLL_EVERY = 0.05
CHECK_EVERY = 5.0
MIN_WIDTH, MIN_HEIGHT = 60, 15
NARROW_BELOW = 120  # columns: Models collapses and Detail becomes a panel opened with enter
PALETTE_HINT_FROM = 132  # columns: the full footer and "^p palette" both fit
# The Detail pane follows the cursor once keys pause for this long: rendering it on every
# key of a held-down j would cost more than the cursor move itself.
DETAIL_DELAY = 0.06
ROWS_DELAY = 0.03  # likewise for the Versions pane when the Models cursor moves
FIRST_PAINT_WAIT = 1.0  # seconds the models' summaries wait at most for the first useful frame


class MainScreen(Screen[None]):
    """The three panes. Bindings come from :mod:`tui.keymap`."""

    BINDINGS = keymap.bindings(read_only=False)
    AUTO_FOCUS = "#versions-table"

    def __init__(self, opening: Opening, read_only: bool = False) -> None:
        super().__init__(id="main")
        self.opening = opening
        self._compositor = FrugalCompositor()  # a key or a live row redraws what changed, not every pane
        self.read_only = read_only
        if read_only:
            # Same keys (so a writing key is refused with a notice) but none shown in the footer.
            self.use_bindings(narrow=False)
        self.catalog: Catalog | None = None
        self.env = "production"
        self.selected_model: str | None = None
        self.pending_jump: str | None = None
        self.wake = threading.Event()
        self.watch_events: deque[Any] = deque()
        self.loaded = threading.Event()  # set once the first useful frame's data is shown
        self.first_painted = threading.Event()  # set once that frame is drawn
        self._announced: dict[tuple[str, str | None], str] = {}  # (kind, ref) -> who said it first
        self._detail_timer: Any = None
        self._rows_timer: Any = None
        self._gc_before: tuple[int, int, int] | None = None
        self.journal_watch: Any = None
        self.closing = False
        self.wait_every = POLL_EVERY
        self.titles = {"models": "Models", "versions": "Versions", "detail": "Detail"}
        self.focus_before_small: Widget | None = None  # hidden panes lose focus: given back at full size

    @property
    def modelreg(self) -> ModelregApp:
        return self.app  # type: ignore[return-value]

    @property
    def registry(self) -> Registry:
        return self.modelreg.registry  # type: ignore[return-value]

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield ModelsTable()
            yield VersionsPane()
            yield DetailPane()
        with Horizontal(id="status-line"):
            yield ActivityLine()
            yield SyncIndicator()
        yield Static(id="too-small", markup=False)
        yield Footer(compact=True)

    @property
    def models(self) -> ModelsTable:
        return self.query_one(ModelsTable)

    @property
    def versions(self) -> VersionsPane:
        return self.query_one(VersionsPane)

    @property
    def detail(self) -> DetailPane:
        return self.query_one(DetailPane)

    @property
    def activity(self) -> ActivityLine:
        return self.query_one(ActivityLine)

    @property
    def sync(self) -> SyncIndicator:
        return self.query_one(SyncIndicator)

    def on_unmount(self) -> None:
        self.closing = True
        self.first_painted.set()
        self.wake.set()  # the poll loop may be waiting CHECK_EVERY seconds: let it end now
        if self.journal_watch is not None:
            self.journal_watch.stop()
        if self._gc_before is not None:  # the process may go on (tests, the demo) after the app
            gc.set_threshold(*self._gc_before)

    def on_mount(self) -> None:
        self.models.loading = True
        if self.read_only:
            self.sub_title = "read-only"
        self.apply_size(self.app.size.width, self.app.size.height)
        if self.opening.opened:  # (an error is the worker's to report)
            self.first_frame(self.opening.future.result())  # so the first paint shows the versions
        self.start()

    def on_resize(self, event: Resize) -> None:
        self.apply_size(event.size.width, event.size.height)
        self.call_after_refresh(self.refresh_titles)  # the panes' new widths are known after layout

    def on_descendant_focus(self) -> None:
        self.refresh_titles()

    def on_descendant_blur(self) -> None:
        self.call_after_refresh(self.refresh_titles)  # focus may have left the panes altogether

    def refresh_titles(self) -> None:
        """Each pane's title, cut in the middle to its width, with ▸ on the focused pane: the
        focus must show without colour too (NO_COLOR, TERM=xterm)."""
        focused = self.focused
        for pane in (self.models, self.versions, self.detail):
            mark = pane is focused or (pane is self.versions and focused is not None and focused in pane.walk_children())
            text = ("▸ " if mark else "") + self.titles[pane.id or ""]
            room = pane.size.width - 6  # the corners, the rules beside the title and its spaces
            title = literal(ellipsize(clean(text, single_line=True), room, middle=True) if room > 8 else text, single_line=True)
            if str(pane.border_title) != str(title):  # setting it repaints the whole pane
                pane.border_title = title

    def apply_size(self, width: int, height: int) -> None:
        small = width < MIN_WIDTH or height < MIN_HEIGHT
        if small and not self.has_class("-too-small"):
            self.focus_before_small = self.focused
        elif not small and self.has_class("-too-small"):
            self.call_after_refresh(self.refocus, self.focus_before_small)  # once the panes are shown again
            self.focus_before_small = None
        self.set_class(small, "-too-small")
        if small:
            self.query_one("#too-small", Static).update(
                Text(f"terminal too small: need at least {MIN_WIDTH}×{MIN_HEIGHT}, have {width}×{height}", style="bold")
            )
        narrow = width < NARROW_BELOW
        if narrow != self.has_class("-narrow"):
            self.set_class(narrow, "-narrow")
            self.set_class(False, "-detail-open")
            self.models.narrow = self.versions.narrow = narrow  # the tables refit on their own resize
            # The footer keeps the keys that fit (the rest stay bound, listed by ? and the palette).
            self.use_bindings(narrow)
            self.refresh_bindings()
        self.models.fit_pane(width)
        # The palette's hint only where it does not cut the last key short (ctrl+p always works).
        footer = self.query_one(Footer)
        if footer.show_command_palette != (width >= PALETTE_HINT_FROM):
            footer.show_command_palette = width >= PALETTE_HINT_FROM
            self.refresh_bindings()

    def use_bindings(self, narrow: bool) -> None:
        """The keymap's bindings for this mode and width, over Screen's own (tab, shift+tab)."""
        merged = self._merge_bindings()
        merged.key_to_bindings.update(BindingsMap(keymap.bindings(self.read_only, narrow)).key_to_bindings)
        self._bindings = merged

    # -- loading -------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="open", name="open registry")
    def start(self) -> None:
        """Wait for the registry and the first model's versions (if the first paint did not), then everything else."""
        try:
            first = self.opening.future.result()
        except ModelregError as error:
            self.app.call_from_thread(self.app.exit, 1, str(error))
            return
        if not self.loaded.is_set():
            self.app.call_from_thread(self.first_frame, first)
        catalog, names, registry = first.catalog, first.names, first.catalog.registry
        # The summaries read every version: not while the first useful frame is drawn (the GIL).
        self.first_painted.wait(FIRST_PAINT_WAIT)
        if self.closing:
            return
        summaries = catalog.summaries(names)
        self.in_app(lambda: self.models.update_summaries(summaries))
        # The registry's documents live as long as the app: move them out of the collector's
        # sight, or every full collection walks them all (~40 ms with 10,000 versions: a
        # dropped frame under the user's key press). What is left (Textual's own objects)
        # still takes 10-30 ms per full pass, so collect far less often: cycles are rare
        # here and everything else is freed by reference counting at once.
        gc.freeze()
        self._gc_before = gc.get_threshold()
        gc.set_threshold(*QUIET_GC)
        self.modelreg.start_watcher(registry, self.on_watch_event)
        self.watch_journal(registry)
        # A write between the first read and the watch's start raised no event: look once now.
        self.wake.set()
        self.poll_loop()

    def first_frame(self, first: FirstView) -> None:
        catalog, names, view, envs = first.catalog, first.names, first.view, first.environments
        self.catalog = catalog
        self.env = self.registry.config.default_environment
        self.environments = envs
        self.models.env = self.env
        self.models.loading = False
        self.sync.show(catalog.sync)
        self.models.show(names, keep=view.model if view else None)
        self.selected_model = view.model if view else None
        self.show_rows(view)
        self.update_title()
        if not names:
            self.activity.add([Activity("info", "the registry is empty: register a version, or run 'modelreg demo'")])
        self.call_after_refresh(self.first_painted.set)
        self.loaded.set()

    def show_rows(self, view: ModelView | None, new: frozenset[str] = frozenset()) -> None:
        model = view.model if view else None
        self.titles["versions"] = f"Versions · {model}" if model else "Versions"
        self.refresh_titles()
        if view is None:
            self.versions.show(None, [])
        else:
            self.versions.show(model, view.rows, primary=view.primary, directions=view.directions, new=new)
        if self.pending_jump and self.pending_jump.partition(":")[0] == model:
            self.finish_jump()
        # The new rows reach the screen first and the Detail pane in the frame after: one frame
        # doing both (~90 ms at 160x48) held up the keys pressed meanwhile.
        self.call_after_refresh(self.show_detail)

    @work(thread=True, exclusive=True, group="rows", name="load versions")
    def load_rows(self, model: str, new: frozenset[str] = frozenset()) -> None:
        if self.catalog is None:
            return
        view = self.catalog.view(model)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._rows_loaded, view, new)

    def _rows_loaded(self, view: ModelView, new: frozenset[str] = frozenset()) -> None:
        if view.model == self.selected_model:
            self.show_rows(view, new)

    # -- live ------------------------------------------------------------------------------------

    def watch_journal(self, registry: Registry) -> None:
        watch = registry.watch_changes(self.wake.set)
        if watch.start() == "inotify":
            self.journal_watch, self.wait_every = watch, CHECK_EVERY
        else:
            self.in_app(lambda: self.activity.add([Activity("info", f"live updates by polling every {POLL_EVERY:g} s: {watch.reason}")]))

    def poll_loop(self) -> None:
        """Runs in the open worker's thread: when woken (a write seen by inotify, or our own),
        fold everything that changed into one update, so a burst of 1,000 is one repaint."""
        worker = get_current_worker()
        shown = self.catalog.sync if self.catalog is not None else None  # the first frame showed it
        while not (worker.is_cancelled or self.closing):
            self.wake.wait(self.wait_every)
            self.wake.clear()
            if worker.is_cancelled or self.closing or self.catalog is None:
                break
            try:
                update = self.catalog.poll(self.selected_model)
            except ModelregError as error:
                update = Update(None, {}, None, events=[Activity("problem", str(error))])
            watched = self.drain_watch_events()
            if self.catalog.sync != shown:  # a sync, going offline, coming back: the indicator's
                shown = self.catalog.sync
                try:
                    self.in_app(lambda: self.sync.show(shown))
                except RuntimeError:  # the app is closing
                    break
            if update is None and not watched:
                continue
            try:
                self.app.call_from_thread(self.apply_update, update, watched)
                if update is not None and update.later:  # the rows are on screen: now the Models pane's
                    try:
                        summaries = self.catalog.summaries(update.later)
                    except ModelregError:
                        summaries = {}  # the next poll says what went wrong
                    self.in_app(lambda: self.models.update_summaries(summaries))
            except RuntimeError:  # the app is closing
                break

    def in_app(self, change: Callable[[], Any]) -> None:
        """Run ``change`` (which finds its widgets) in the app's thread, unless the screen closed
        meanwhile: looked up from a worker thread, they may already be gone (NoMatches)."""
        self.app.call_from_thread(lambda: None if self.closing else change())

    def on_watch_event(self, event: Any) -> None:
        """Called by the watcher from its own threads."""
        self.watch_events.append(event)
        self.wake.set()

    def drain_watch_events(self) -> list[Activity]:
        events = []
        while self.watch_events:
            event = self.watch_events.popleft()
            events.append(Activity(getattr(event, "kind", "info"), f"watch: {getattr(event, 'message', event)}", getattr(event, "ref", None)))
        return events

    def once(self, events: list[Activity], source: str) -> list[Activity]:
        """Events not already logged from the other source: the app's watcher and the registry
        both report each registration and update it makes, in either order."""
        kept = []
        for event in events:
            key = (event.kind, event.ref)
            if event.ref is None or event.kind not in ("registered", "updated"):
                kept.append(event)
            elif self._announced.get(key, source) != source:
                del self._announced[key]  # the other source said it: once is enough
            else:
                self._announced[key] = source
                kept.append(event)
        while len(self._announced) > 2000:
            del self._announced[next(iter(self._announced))]
        return kept

    def apply_update(self, update: Update | None, watched: list[Activity]) -> None:
        events = self.once(watched, "watcher")
        if update is not None:
            if update.names is not None:
                self.models.show(update.names, update.summaries)
            elif update.summaries:
                self.models.update_summaries(update.summaries)
            patch = update.patch
            if patch is not None and patch.model == self.selected_model == self.versions.model:
                if self.versions.patch(patch.rows, update.new_refs):
                    # The changed rows reach the screen first; the Detail pane (a changed selected
                    # version, or one the cursor reached just before) in the frame after.
                    self.call_after_refresh(self.show_detail)
                else:
                    self.load_rows(patch.model, update.new_refs)  # the rows do not fit the table as planned: show it all again
            elif update.view is not None and update.view.model == self.selected_model:
                self.show_rows(update.view, new=update.new_refs)
            elif update.history_changed:
                self.load_extras()
            events += self.once(update.events, "registry")
        self.activity.add(events)

    # -- selection -------------------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#models")
    def model_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Where the cursor is now, not where the event says: a refill of the Models pane passes
        # the cursor over the first row and back, and must not reload the Versions pane.
        name = self.models.cursor_key
        if name and name != self.selected_model:
            self.selected_model = name
            # Load once the keys pause: the cursor's frame first, and one load for a held-down j
            # (a worker reading the registry competes with the UI thread for the GIL).
            if self._rows_timer is not None:
                self._rows_timer.stop()
            self._rows_timer = self.set_timer(ROWS_DELAY, lambda: self.load_rows(name) if name == self.selected_model else None)

    @on(DataTable.RowHighlighted, "#versions-table")
    def version_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(DETAIL_DELAY, self.show_detail)

    @on(DataTable.RowSelected)
    def row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def detail_shown(self) -> bool:
        return not self.has_class("-narrow") or self.has_class("-detail-open")

    def show_detail(self) -> None:
        """Show the selected version in the Detail pane (skipped while the pane is hidden)."""
        row = self.versions.selected
        if not self.detail_shown():
            return
        if row is self.detail.row:
            return
        self.detail.show(row, None, self.versions.directions, self.versions.best)
        if row is not None:
            self.load_extras()

    @work(thread=True, exclusive=True, group="extras", name="detail extras")
    def load_extras(self) -> None:
        row = self.detail.row
        if row is None:
            return
        try:
            children = [v.ref for v in self.registry.children(row.ref)]
            history = self.registry.history(row.doc["model"]) if hasattr(self.registry, "history") else []
        except ModelregError:
            children, history = [], []
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._extras_loaded, Extras(row.ref, children, history))

    def _extras_loaded(self, extras: Extras) -> None:
        row = self.detail.row
        if row is not None and row.ref == extras.ref:
            self.detail.show(row, extras, self.versions.directions, self.versions.best)

    @on(VersionsPane.FilterChanged)
    def filter_changed(self, event: VersionsPane.FilterChanged) -> None:
        self.show_detail()

    @on(Input.Submitted, "#filter")
    def filter_submitted(self, event: Input.Submitted) -> None:
        if self.versions.filter_error is None:
            self.versions.set_class(bool(self.versions.filter_text), "-filtering")
            self.versions.table.focus()

    # -- keys: moving ---------------------------------------------------------------------------

    def panes(self) -> list[Any]:
        if self.has_class("-narrow") and self.has_class("-detail-open"):
            return [self.detail]
        if self.has_class("-narrow"):
            return [self.models, self.versions.table]
        return [self.models, self.versions.table, self.detail]

    def refocus(self, widget: Widget | None) -> None:
        """Give focus back after a too-small spell: to ``widget`` if it can still be seen (narrow
        mode may have closed the Detail panel meanwhile), else to the pane a key would act on."""
        if self.focused is not None and self.focused in self.focus_chain:
            return  # something took it meanwhile (a key, a click)
        if widget is not None and widget in self.focus_chain:
            widget.focus()
        else:
            self.panes()[self.focused_pane()].focus()

    def focused_pane(self) -> int:
        panes = self.panes()
        focused = self.focused
        for index, pane in enumerate(panes):
            if focused is pane:
                return index
        return 1 if len(panes) > 1 else 0

    def action_cursor_down(self) -> None:
        self._move("cursor_down", "scroll_down")

    def action_cursor_up(self) -> None:
        self._move("cursor_up", "scroll_up")

    def action_top(self) -> None:
        self._jump(lambda table: table.go_to(0), lambda detail: detail.scroll_home(animate=False))

    def action_bottom(self) -> None:
        self._jump(lambda table: table.go_to(table.row_count - 1), lambda detail: detail.scroll_end(animate=False))

    def action_half_page_down(self) -> None:
        self._jump(lambda table: table.half_page(1), lambda detail: detail.scroll_relative(y=detail.size.height // 2, animate=False))

    def action_half_page_up(self) -> None:
        self._jump(lambda table: table.half_page(-1), lambda detail: detail.scroll_relative(y=-(detail.size.height // 2), animate=False))

    def _jump(self, in_table: Callable[[Any], None], in_detail: Callable[[Any], None]) -> None:
        focused = self.focused
        if isinstance(focused, PaneTable):
            in_table(focused)
        elif isinstance(focused, DetailPane):
            in_detail(focused)

    def _move(self, table_action: str, scroll_action: str) -> None:
        focused = self.focused
        if isinstance(focused, DataTable):
            getattr(focused, f"action_{table_action}")()
        elif isinstance(focused, DetailPane):
            getattr(focused, f"action_{scroll_action}")()

    def action_pane_left(self) -> None:
        if self.has_class("-detail-open"):
            self.close_detail()
            return
        index = self.focused_pane()
        self.panes()[max(0, index - 1)].focus()

    def action_pane_right(self) -> None:
        panes = self.panes()
        index = self.focused_pane()
        if self.has_class("-narrow") and self.focused is self.versions.table:
            self.open_detail()
            return
        panes[min(len(panes) - 1, index + 1)].focus()

    def action_open(self) -> None:
        focused = self.focused
        if focused is self.models:
            self.versions.table.focus()
        elif focused is self.versions.table:
            self.open_detail()

    def open_detail(self) -> None:
        if self.versions.selected is None:
            return
        if self.has_class("-narrow"):
            self.add_class("-detail-open")
        self.show_detail()
        self.detail.focus()

    def close_detail(self) -> None:
        self.remove_class("-detail-open")
        self.versions.table.focus()

    def action_back(self) -> None:
        if self.has_class("-detail-open"):
            self.close_detail()
        elif self.focused is self.versions.filter_input:
            self.versions.undo_filter_edit()
            self.versions.set_class(bool(self.versions.filter_text), "-filtering")
            self.versions.table.focus()
        elif self.focused is self.detail:
            self.versions.table.focus()

    # -- keys: the versions table ----------------------------------------------------------------

    def action_filter(self) -> None:
        if self.focused is self.models:
            self.models.start_filter()
            return
        self.versions.add_class("-filtering")
        self.versions.filter_input.focus()

    def action_mark(self) -> None:
        ref = self.versions.toggle_mark()
        if ref is None:
            self.say("no version selected to mark", severity="warning")

    def action_sort(self) -> None:
        column = self.versions.cycle_sort()
        self.say(f"sorted by {column.removeprefix('m:')} ({'descending' if self.versions.sort_reverse else 'ascending'})", timeout=1.5)

    def action_reverse_sort(self) -> None:
        self.versions.reverse_sort()

    # -- keys: other screens ---------------------------------------------------------------------

    def ready(self) -> bool:
        if self.catalog is None:
            self.say("still opening the registry…", severity="warning")
            return False
        return True

    def selected_ref(self, action: str) -> str | None:
        row = self.versions.selected
        if row is None:
            self.say(f"{action}: select a version first", severity="warning")
            return None
        return row.ref

    def action_compare(self) -> None:
        if not self.ready():
            return
        refs = list(self.versions.marks)
        if len(refs) < 2:
            ref = self.selected_ref("compare")
            if ref is None:
                return
            refs = [ref, *self.partner_of(ref)]
            if len(refs) < 2:
                self.say("compare: mark two or more versions with space", severity="warning")
                return
        from tui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(self.registry, refs))

    def partner_of(self, ref: str) -> list[str]:
        """What to compare one version against: the live one, else the one before it."""
        summary = self.models.summaries.get(self.selected_model or "")
        live = summary.live.get(self.env) if summary else None
        model = ref.partition(":")[0]
        if live and f"{model}:{live}" != ref:
            return [f"{model}:{live}"]
        ordered = [row.ref for row in self.versions.rows]  # oldest first
        index = ordered.index(ref) if ref in ordered else -1
        if index > 0:
            return [ordered[index - 1]]
        if index == 0 and len(ordered) > 1:
            return [ordered[1]]
        return []

    def action_lineage(self) -> None:
        if not self.ready():
            return
        ref = self.selected_ref("lineage")
        if ref is None:
            return
        from tui.screens.lineage import LineageScreen

        self.app.push_screen(LineageScreen(self.registry, ref), callback=self.jump_to)

    def jump_to(self, ref: str | None) -> None:
        """Select ``ref`` (MODEL:VERSION), switching model and clearing a filter that hides it."""
        if not ref:
            return
        model = ref.partition(":")[0]
        self.pending_jump = ref
        if model != self.selected_model:
            self.select_model_row(model)
            self.selected_model = model
            self.load_rows(model)
        else:
            self.finish_jump()

    def select_model_row(self, name: str) -> None:
        """Put the Models cursor on ``name``, clearing a Models filter that hides it."""
        if name not in self.models.names and self.models.filter_text:
            self.say(f"cleared the models filter to show {clean(name, single_line=True)}", timeout=2)
            self.models.set_filter("")
        self.models.select_key(name)

    def finish_jump(self) -> None:
        ref, self.pending_jump = self.pending_jump, None
        if ref is None:
            return
        if not any(row.ref == ref for row in self.versions.shown_rows) and any(row.ref == ref for row in self.versions.rows):
            self.say(f"cleared the filter to show {clean(ref, single_line=True)}", timeout=2)
            self.versions.filter_input.value = ""
            self.versions.set_filter("")
            self.versions.remove_class("-filtering")
        self.versions.table.select_key(ref)
        self.versions.table.focus()
        self.show_detail()

    def action_jump_model(self) -> None:
        if not self.ready():
            return
        from tui.screens.prompts import JumpPrompt

        def chosen(name: str | None) -> None:
            if name and name != self.selected_model:
                self.select_model_row(name)
                self.selected_model = name
                self.load_rows(name)
            if name:
                self.versions.table.focus()

        self.app.push_screen(JumpPrompt(list(self.models.all_names)), callback=chosen)

    def action_copy_ref(self) -> None:
        ref = self.selected_ref("copy")
        if ref is not None:
            self.copy(ref)

    def action_copy_path(self) -> None:
        row = self.versions.selected
        if row is None:
            self.say("copy: select a version first", severity="warning")
            return
        paths = [str(a["path"]) for a in row.doc.get("artifacts", ()) if a.get("path")]
        if not paths:
            self.say(f"copy: {row.ref} has no artifacts", severity="warning")
            return
        self.copy("\n".join(paths))

    def copy(self, text: str) -> None:
        # OSC 52: the terminal puts it on the clipboard, even over SSH and in tmux (set-clipboard on).
        self.app.copy_to_clipboard(text)
        self.say(f"copied {text}", timeout=2)

    def action_environment(self) -> None:
        if not self.ready():
            return
        from tui.screens.prompts import EnvironmentPicker

        self.app.push_screen(EnvironmentPicker(self.registry, self.env), callback=self.set_environment)

    def set_environment(self, env: str | None) -> None:
        if not env or env == self.env:
            return
        self.env = env
        self.models.env = env
        self.models.show()
        self.update_title()
        self.say(f"environment: {clean(env, single_line=True)}", timeout=1.5)

    def update_title(self) -> None:
        self.titles["models"] = f"Models · {self.env}"
        self.refresh_titles()
        self.models.border_subtitle = "read-only" if self.read_only else ""

    def action_live_where(self) -> None:
        if self.ready():
            from tui.screens.overview import LiveScreen

            self.app.push_screen(LiveScreen(self.registry))

    def action_deploy_history(self) -> None:
        if self.ready():
            from tui.screens.overview import HistoryScreen

            self.app.push_screen(HistoryScreen(self.registry))

    def action_activity(self) -> None:
        from tui.screens.activity import ActivityScreen

        self.app.push_screen(ActivityScreen(self.activity.log_entries))

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self.read_only))

    def action_quit(self) -> None:
        self.app.exit()

    def action_command_palette(self) -> None:
        self.app.action_command_palette()

    # -- keys: writing -------------------------------------------------------------------------------

    def say(self, message: str, *, title: str = "", severity: Any = "information", timeout: float | None = None) -> None:
        """A notification shown literally (registry text never becomes markup)."""
        self.notify(clean(message, single_line=True), title=clean(title, single_line=True), severity=severity, timeout=timeout, markup=False)

    def refused(self, what: str) -> bool:
        """In read-only mode, or while the server cannot be reached, say no in one line (and open
        no dialog that could not succeed); True when refused."""
        offline = self.sync.offline
        if not self.read_only and offline is None:
            return not self.ready()
        if self.read_only:
            self.say(f"{what} refused: the app was opened with --read-only", severity="warning", timeout=3)
            self.activity.add([Activity("refused", f"{what} refused (read-only)")])
            return True
        # What fits at 80 columns comes first; the log ('a') and a wider line have the server's reason.
        said = f"{what} refused: the server is offline; {offline}"
        self.say(said, severity="warning", timeout=3)
        self.activity.add([Activity("refused", said)])
        return True

    def action_deploy(self) -> None:
        if self.refused("deploy"):
            return
        ref = self.selected_ref("deploy")
        if ref is None:
            return
        from tui.screens.confirm import DeployConfirm

        env = self.env

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.write(f"deploy {ref} to {env}", lambda: self.registry.deploy(ref, env))

        self.app.push_screen(DeployConfirm(self.registry, ref, env), callback=confirmed)

    def action_rollback(self) -> None:
        if self.refused("rollback"):
            return
        model = self.selected_model
        if model is None:
            self.say("rollback: select a model first", severity="warning")
            return
        from tui.screens.confirm import RollbackConfirm

        env = self.env

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.write(f"roll back {model} in {env}", lambda: self.registry.rollback(model, env))

        self.app.push_screen(RollbackConfirm(self.registry, model, env), callback=confirmed)

    def action_tag(self) -> None:
        if self.refused("tag"):
            return
        ref = self.selected_ref("tag")
        if ref is None:
            return
        from tui.screens.prompts import TagPrompt

        def answered(edit: Any) -> None:
            if edit:
                self.write(f"tag {ref}", lambda: edit.apply(self.registry, ref))

        self.app.push_screen(TagPrompt(self.registry, ref), callback=answered)

    def action_status(self) -> None:
        if self.refused("status"):
            return
        ref = self.selected_ref("status")
        if ref is None:
            return
        from tui.screens.prompts import StatusPicker

        def answered(status: str | None) -> None:
            if status:
                self.write(f"status of {ref} → {status}", lambda: self.registry.set_status(ref, status))

        self.app.push_screen(StatusPicker(self.registry, ref), callback=answered)

    def write(self, what: str, change: Callable[[], Any]) -> None:
        """Run one registry write off the UI thread, "writing…" shown until it ends; the poll shows its effect."""
        self.sync.write_started()
        self.write_worker(what, change)

    @work(thread=True, group="write", name="write")
    def write_worker(self, what: str, change: Callable[[], Any]) -> None:
        try:
            change()
        except ModelregError as error:
            message = clean(str(error), single_line=True)
            self.app.call_from_thread(self.say, message, title=f"{what}: failed", severity="error", timeout=6)
            self.in_app(lambda: self.activity.add([Activity("problem", f"{what} failed: {message}")]))
        else:
            self.app.call_from_thread(self.say, f"{clean(what, single_line=True)}: done", timeout=2)
        finally:
            try:
                self.in_app(lambda: self.sync.write_ended())
            except RuntimeError:
                pass  # the app is closing
        self.wake.set()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Writing actions stay bound in read-only mode so that pressing one explains itself.
        return True

