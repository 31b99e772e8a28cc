"""A DataTable that can be refilled without the user noticing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual._two_way_dict import TwoWayDict
from textual.coordinate import Coordinate
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, CellKey, ColumnKey, RowKey

from tui.safe_text import literal
from tui.widgets.cells import lead, render_cell_line

_NOWHERE = Coordinate(-10, -10)  # a cursor on no row (not even the header's, -1)


class _Lines:
    """DataTable's ``_y_offsets`` (each line's row) for rows one line high: looked up, not a list
    of every line that DataTable builds again after each change (O(rows) per live row)."""

    def __init__(self, table: PaneTable) -> None:
        self.table = table

    def __len__(self) -> int:
        return self.table.row_count

    def __getitem__(self, y: int) -> tuple[RowKey, int]:
        key = self.table._row_locations.get_key(y) if y >= 0 else None
        if key is None:
            raise IndexError(y)
        return key, 0

    def clear(self) -> None:
        pass


class PaneTable(DataTable):
    """Row-cursor table whose rows are replaced wholesale on every change, keeping the
    cursor on the same row (by key) and the scroll position where it was.

    Its columns are chosen to fit its width (see ``fit_width``); ``on_width`` is called
    when that width changes so the owner can choose again.
    """

    def __init__(self, *, id: str | None = None) -> None:
        # The cursor row takes one foreground colour: with 16 colours a cyan badge would
        # vanish on the cyan cursor (TERM=xterm); under NO_COLOR the cursor is reverse video.
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cursor_foreground_priority="css", cell_padding=0)
        self.column_keys: list[str] = []
        self.on_width: Callable[[], Any] | None = None
        self._fitted_width = 0
        # Rendered cells kept by row content, not by DataTable's table-wide update count: one
        # changed or inserted row then re-renders one row, not every visible cell (see _render_cell).
        self._stable_cells: dict[Any, Any] = {}
        self._row_versions: dict[Any, int] = {}
        # Whole lines, likewise kept by row content rather than by position: a row inserted
        # above moves every row below it, and each of them is then a lookup, not a render.
        # Their click target is the row's key (see _row_at), which does not change as it moves.
        self._stable_lines: dict[Any, Strip] = {}
        self._widths: tuple[int, ...] = ()
        self._line_style = Style()
        self._header_version = 0
        self._lines = _Lines(self)
        self._finished: dict[int, tuple[Strip, Strip]] = {}  # id of a line -> (that line, styled as on screen)
        self._finished_key: Any = None

    # Home and End mean the first and last row here (DataTable's scroll sideways).
    def action_scroll_home(self) -> None:
        self.go_to(0)

    def action_scroll_end(self) -> None:
        self.go_to(self.row_count - 1)

    def go_to(self, row: int) -> None:
        """Put the cursor on ``row`` (clamped), scrolled into view without animation."""
        if self.row_count:
            self.move_cursor(row=max(0, min(row, self.row_count - 1)), animate=False)

    def half_page(self, direction: int) -> None:
        self.go_to(self.cursor_row + direction * max(1, (self.scrollable_content_region.height - 1) // 2))

    @property
    def fit_width(self) -> int:
        """Cells available to the columns (the vertical scrollbar's gutter is always kept)."""
        return self.scrollable_content_region.width

    def _on_resize(self, event: events.Resize) -> None:
        super()._on_resize(event)
        if self.fit_width != self._fitted_width and self.on_width is not None:
            self._fitted_width = self.fit_width
            self.on_width()

    def _render_line_in_row(self, row_key: Any, line_no: int, base_style: Any, cursor_location: Coordinate, hover_location: Coordinate) -> Any:
        # With a row cursor a line depends only on whether the cursor (or hover) is on its row,
        # but DataTable caches lines by the cursor's coordinate: every cursor move that scrolls
        # the table then rendered every visible line again (~6 ms a key at 80x24).
        row = self._row_locations.get(row_key)  # None for the header
        row = -1 if row is None else row
        if cursor_location.row != row:
            cursor_location = _NOWHERE
        if hover_location.row != row:
            hover_location = _NOWHERE
        return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)

    def update_cell(self, row_key: Any, column_key: Any, value: Any, *, update_width: bool = False) -> None:
        """DataTable's update_cell, repainting only the row (DataTable repaints the whole
        table, and with it the bounding box of everything else that changed in the frame)."""
        key = RowKey(row_key) if isinstance(row_key, str) else row_key
        column = ColumnKey(column_key) if isinstance(column_key, str) else column_key
        if key not in self._row_locations or column not in self._column_locations:
            raise CellDoesNotExist(f"No cell exists for row_key={key!r}, column_key={column!r}.")
        self._row_versions[key] = self._row_versions.get(key, 0) + 1
        self._data[key][column] = lead(value)
        self._update_count += 1
        if update_width:
            self._updated_cells.add(CellKey(key, column))
            self._require_update_dimensions = True
            self.check_idle()
        self.refresh_row(self._row_locations.get(key))

    def add_row(self, *cells: Any, height: int | None = 1, key: str | None = None, label: Any = None) -> RowKey:
        """A row, always one line high (see _Lines)."""
        # A key that comes back (a row moved by delete and insert) must not find its old lines.
        if key is not None:
            self._row_versions[RowKey(key)] = self._row_versions.get(RowKey(key), 0) + 1
        return super().add_row(*cells, height=1, key=key, label=label)

    @property
    def _y_offsets(self) -> Any:  # type: ignore[override]
        return self._lines

    @property
    def _total_row_height(self) -> int:
        return self.row_count

    def _get_row_region(self, row_index: int) -> Region:
        if not self.is_valid_row_index(row_index):
            return Region(0, 0, 0, 0)
        width = sum(column.get_render_width(self) for column in self.columns.values()) + self._row_label_column_width
        return Region(0, row_index + (self.header_height if self.show_header else 0), max(self.size.width, width), 1)

    def clear(self, columns: bool = False) -> Any:
        self._header_version += columns
        self._stable_cells.clear()  # the same keys may come back with other cells
        self._stable_lines.clear()
        self._row_versions.clear()
        return super().clear(columns)

    def render_lines(self, crop: Region) -> list[Strip]:
        self._widths = tuple(column.get_render_width(self) for column in self.ordered_columns)
        self._line_style = self.rich_style  # DataTable works it out again for every line
        styles = self.styles
        if styles.gutter or any(edge for edge, _ in styles.outline) or self.BLANK:
            return super().render_lines(crop)
        # A row that moved keeps its finished line: Textual's style cache keeps lines by position,
        # so a row inserted at the top sent every visible line through its styling (and the line
        # filters) again, though each was the same line one place lower.
        self._pseudo_class_state = self.get_pseudo_class_state()
        key = (self.size, crop.column_span, self.background_colors, styles._cache_key, self.opacity, id(self.app.ansi_theme), tuple(map(id, self.get_line_filters())))
        if key != self._finished_key:
            self._finished.clear()
            self._finished_key = key
        finished = self._finished
        strips = []
        for y in crop.line_range:
            content = self.render_line(y)
            hit = finished.get(id(content))
            if hit is None or hit[0] is not content:
                if len(finished) > 2_000:
                    finished.clear()
                self._styles_cache._dirty_lines.add(y)  # its cache keeps lines by position: this one is new there
                hit = finished[id(content)] = (content, super().render_lines(Region(crop.x, y, crop.width, 1))[0])
            strips.append(hit[1])
        self._styles_cache._dirty_lines.difference_update(crop.line_range)
        return strips

    def render_line(self, y: int) -> Strip:
        if self.fixed_rows:
            return super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset
        if y >= (self.header_height if self.show_header else 0):
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + self.size.width, self._line_style)

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return super()._render_line(y, x1, x2, base_style)
        row = -1 if row_key is self._header_row_key else self._row_locations.get(row_key)
        key = (
            row_key, line_no, self._header_version if row < 0 else self._row_versions.get(row_key, 0), x1, x2, self.size.width, self._widths,
            self.show_cursor and self.cursor_coordinate.row == row,
            self._show_hover_cursor and self.hover_coordinate.row == row,
            base_style, self._pseudo_class_state,
        )
        strip = self._stable_lines.get(key)
        if strip is None:  # (the header's line is kept too: it changes only with the columns)
            if len(self._stable_lines) > 5_000:
                self._stable_lines.clear()
            strip = super()._render_line(y, x1, x2, base_style)
            self._stable_lines[key] = strip if row < 0 else strip.apply_meta({"row_key": row_key.value})
        return strip

    def _row_at(self, meta: dict[str, Any]) -> int | None:
        """The row under the mouse, by the row's key (its cached line may have been
        rendered when the row stood elsewhere, so the index in the meta can be stale)."""
        key = meta.get("row_key")
        return None if key is None else self._row_locations.get(RowKey(key))

    def _on_mouse_move(self, event: events.MouseMove) -> None:
        row = self._row_at(event.style.meta)
        if row is None:
            super()._on_mouse_move(event)
            return
        self._set_hover_cursor(True)
        if self.show_cursor:
            self.hover_coordinate = Coordinate(row, 0)

    async def _on_click(self, event: events.Click) -> None:
        row = self._row_at(event.style.meta)
        if row is None:
            await super()._on_click(event)
            return
        self._set_hover_cursor(True)
        if self.show_cursor:
            again = self.cursor_coordinate.row == row
            self.cursor_coordinate = Coordinate(row, 0)
            if again:
                self._post_selected_message()

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int, cursor: bool = False, hover: bool = False) -> Any:
        if row_index < 0 or column_index < 0:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        key = (
            row_key, self._column_locations.get_key(column_index), base_style, width, cursor, hover,
            self._show_hover_cursor, self._row_versions.get(row_key, 0), self._pseudo_class_state,
        )
        cached = self._stable_cells.get(key)
        if cached is None:
            if len(self._stable_cells) > 20_000:
                self._stable_cells.clear()
            cached = self._stable_cells[key] = (row_index, self._draw_cell(row_index, column_index, base_style, width, cursor, hover))
        rendered_at, lines = cached
        if rendered_at == row_index:
            return lines
        # The row moved (a row was inserted above it): only the click target in its meta changes.
        meta = Style.from_meta({"row": row_index, "column": column_index})
        return [[Segment(seg.text, (seg.style or Style()) + meta, seg.control) for seg in line] for line in lines]

    def _draw_cell(self, row_index: int, column_index: int, base_style: Style, width: int, cursor: bool, hover: bool) -> Any:
        """DataTable's drawing of a cell, by :func:`render_cell_line` where it covers the cell."""
        cell = self._data.get(self._row_locations.get_key(row_index), {}).get(self._column_locations.get_key(column_index))
        if isinstance(cell, Text) and not (self.fixed_rows or self.fixed_columns):
            component_style, post_style = self._get_styles_to_render_cell(
                False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
                self.cursor_foreground_priority == "css", self.cursor_background_priority == "css",
            )
            pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
            line = render_cell_line(self.app.console, cell, width, pre_style, post_style)
            if line is not None:
                return [line]
        return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)

    def set_columns(self, columns: Sequence[tuple[str, str]]) -> bool:
        """(key, label) pairs; True if they changed (the rows then need refilling)."""
        keys = [key for key, _ in columns]
        if keys == self.column_keys:
            return False
        self.clear(columns=True)
        for key, label in columns:
            self.add_column(lead(literal(label, "bold", single_line=True)), key=key)
        self.column_keys = keys
        return True

    @property
    def cursor_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # a cursor past the end while rows are being replaced
            return None

    def replace_rows(
        self,
        rows: Sequence[tuple[str, Sequence[Text]]],
        keep: str | None = None,
        columns: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        """Show ``rows`` (key, cells; under ``columns`` if given) with the cursor on ``keep``
        (default: the current row), and that row on the same screen line as before, so a
        refill never looks like a jump."""
        keep = self.cursor_key if keep is None else keep
        scroll_x, scroll_y = self.scroll_x, self.scroll_y
        old_index = self.cursor_row
        if columns is not None:
            self.set_columns(columns)
        self.clear()
        for column in self.columns.values():
            # DataTable only ever widens a column; the refit may have made the cells narrower.
            column.content_width = column.label.cell_len
        for key, cells in rows:
            self.add_row(*map(lead, cells), key=key)
        if not rows:
            return
        self._settle()
        index = next((i for i, (key, _) in enumerate(rows) if key == keep), min(old_index, len(rows) - 1))
        self.move_cursor(row=index, animate=False, scroll=False)
        # At the top the view stays at the top (rows added above the cursor show), as long as the cursor stays in view.
        top = 0 if scroll_y == 0 and index < self._rows_shown() else max(0, scroll_y + index - old_index)
        self.scroll_to(scroll_x, top, animate=False, immediate=True)

    # -- single rows (live changes): no refill, so the cost does not grow with the table ------------

    def has_row(self, key: str) -> bool:
        return RowKey(key) in self._row_locations

    def replace_cells(self, key: str, cells: Sequence[Text]) -> None:
        for column, cell in zip(self.column_keys, cells):
            self.update_cell(key, column, cell, update_width=True)

    def insert_row(self, key: str, cells: Sequence[Text], index: int) -> None:
        """Add a row at ``index`` (DataTable only appends), the cursor staying on its row;
        scrolled down, that row also stays on its screen line, as :meth:`replace_rows` does."""
        cursor, scroll_y = self.cursor_row, self.scroll_y
        had_rows = self.row_count > 0
        new = self.add_row(*map(lead, cells), key=key)
        index = min(index, self.row_count - 1)
        if index < self.row_count - 1:
            # What DataTable.sort does: move the row by renumbering, without touching the others' cells.
            locations = {k: (i + 1 if i >= index else i) for k, i in self._row_locations._forward.items()}
            locations[new] = index
            self._row_locations = TwoWayDict(locations)
            self._update_count += 1
        self._settle()
        if had_rows and cursor >= index:
            self.move_cursor(row=cursor + 1, animate=False, scroll=False)
            # At the top of the table a new row shows where it lands (the newest first: at the
            # top), and the rows below move down a line; scrolled down, the view stays still.
            if scroll_y > 0 or cursor + 1 >= self._rows_shown():
                self.scroll_to(self.scroll_x, scroll_y + 1, animate=False, immediate=True)
        self.refresh()

    def _rows_shown(self) -> int:
        return self.scrollable_content_region.height - (self.header_height if self.show_header else 0)

    def delete_row(self, key: str) -> None:
        """Remove a row, the cursor staying on its row (or the next) and on its screen line."""
        index = self.get_row_index(key)
        cursor, scroll_y = self.cursor_row, self.scroll_y
        self.remove_row(key)
        self._settle()
        if cursor > index:
            self.move_cursor(row=cursor - 1, animate=False, scroll=False)
            self.scroll_to(self.scroll_x, max(0, scroll_y - 1), animate=False, immediate=True)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """DataTable's, for rows of one-line text (any other row goes DataTable's way): a cell is
        measured by its length (Rich's measure lays it out first), and a taller table that keeps
        its scrollbar does not lay out the whole screen again (the virtual size is a layout
        reactive: a new row re-arranged every pane, and made each one draw all its lines)."""
        rows = [key for key in new_rows if key in self._row_locations]
        columns = self.ordered_columns
        cells = [self._data.get(key, {}) for key in rows]
        if self.show_row_labels and any(self.rows[key].label is not None for key in rows) or not all(
            isinstance(row.get(column.key), Text) and "\n" not in row[column.key].plain and "\t" not in row[column.key].plain
            for row in cells for column in columns
        ):
            super()._update_dimensions(rows)
            return
        for column in columns:
            column.content_width = max([column.content_width, *(row[column.key].cell_len for row in cells)])
        width = sum(column.get_render_width(self) for column in self.columns.values()) + self._row_label_column_width
        size = Size(width, self._total_row_height + (self.header_height if self.show_header else 0))
        if size == self.virtual_size:
            return
        if size.width != self.virtual_size.width:
            self.virtual_size = size  # new column widths: laid out as DataTable does
            return
        self.set_reactive(PaneTable.virtual_size, size)
        self._scroll_update(size)  # what a layout does for a scroll view (a scrollbar that comes or goes still lays out)
        self.refresh()

    def _settle(self) -> None:
        """Measure the new rows now rather than on idle, so the scroll offset can be restored
        before the next frame (DataTable otherwise clamps it to an empty table's size)."""
        if self._require_update_dimensions:
            self._require_update_dimensions = False
            new_rows = self._new_rows.copy()
            self._new_rows.clear()
            self._update_dimensions(new_rows)

    def select_key(self, key: str) -> bool:
        """Move the cursor to the row ``key``; False if there is no such row."""
        try:
            index = self.get_row_index(key)
        except Exception:
            return False
        self.move_cursor(row=index, animate=False)
        return True
