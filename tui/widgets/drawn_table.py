"""How the panes' tables draw their rows: cells, lines and finished lines kept by row, not position.

DataTable keeps what it drew by position and by a table-wide update count, so any change (a row
inserted at the top, a cell updated) drew every visible cell again. :class:`DrawnTable` keeps a
row's cells and lines by the row's key and content, so a row that moved is a lookup, and draws a
one-line text cell without Rich's general layout machinery (tui.widgets.cells).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._segment_tools import line_crop
from textual.coordinate import Coordinate
from textual.geometry import Region, Size
from textual.scrollbar import ScrollBar
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from tui.widgets.cells import render_cell_line
from tui.widgets.scrollbar import KeptScrollBar, styling_key

_NOWHERE = Coordinate(-10, -10)  # a cursor on no row (not even the header's, -1)
_View = tuple[int, int, int, int, "int | None", "int | None", str, bool]  # see DrawnTable._view


class _Lines:
    """DataTable's ``_y_offsets`` (each line's row) for rows one line high: looked up, not a list
    of every line that DataTable builds again after each change (O(rows) per live row)."""

    def __init__(self, table: DrawnTable) -> None:
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


class DrawnTable(DataTable):
    """A DataTable of one-line rows that keeps what it drew by row (see the module's docstring)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
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

    @property
    def vertical_scrollbar(self) -> ScrollBar:
        # Textual's, made as Widget makes it, but one that keeps its lines (tui.widgets.scrollbar).
        if self._vertical_scrollbar is None:
            self._vertical_scrollbar = bar = KeptScrollBar(vertical=True, name="vertical", thickness=self.scrollbar_size_vertical)
            bar.display = False
            self.app._start_widget(self, bar)
        return self._vertical_scrollbar

    def _set_hover_cursor(self, active: bool) -> None:
        # DataTable redraws the hover row at every key press, though no hover shows (row 0 when
        # the mouse never came): a cursor move then drew the rows between the two too. (A mouse
        # move still redraws it: the hover leaves that row whole.)
        if active or self._show_hover_cursor:
            super()._set_hover_cursor(active)

    def clear(self, columns: bool = False) -> Any:
        self._header_version += columns
        self._stable_cells.clear()  # the same keys may come back with other cells
        self._stable_lines.clear()
        self._row_versions.clear()
        return super().clear(columns)

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

    def render_lines(self, crop: Region) -> list[Strip]:
        self._widths = tuple(column.get_render_width(self) for column in self.ordered_columns)
        self._line_style = self.rich_style  # DataTable works it out again for every line
        styles = self.styles
        if any(edge for edge, _ in styles.outline) or self.BLANK:
            return super().render_lines(crop)
        # A row that moved keeps its finished line: Textual's style cache keeps lines by position,
        # so a row inserted at the top sent every visible line through its styling (and the line
        # filters) again, though each was the same line one place lower. A content line's finished
        # form depends on its content alone (a border or padding around it is the same on every
        # line); the lines of the border itself go Textual's way.
        self._pseudo_class_state = self.get_pseudo_class_state()
        key = styling_key(self, crop)
        if key != self._finished_key:
            self._finished.clear()
            self._finished_key = key
        finished = self._finished
        view = self._view()  # worked out once a frame, not once a line (each is a few reactive reads)
        top = styles.gutter.top
        bottom = top + self.size.height
        strips = []
        for y in crop.line_range:
            if not top <= y < bottom:
                strips.append(super().render_lines(Region(crop.x, y, crop.width, 1))[0])
                continue
            content = self._kept_line(y - top, view)
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
        return self._kept_line(y, self._view())

    def _view(self) -> _View:
        """What every line of a frame depends on: scroll offsets, header height, width, cursor and
        hover rows, the cursor's type and the stripes."""
        scroll_x, scroll_y = self.scroll_offset
        return (
            scroll_x, scroll_y, self.header_height if self.show_header else 0, self.size.width,
            self.cursor_coordinate.row if self.show_cursor else None,
            self.hover_coordinate.row if self._show_hover_cursor else None,
            self.cursor_type, self.zebra_stripes,
        )

    def _kept_line(self, y: int, view: _View) -> Strip:
        scroll_x, scroll_y, header, width, cursor_row, hover_row, cursor_type, zebra = view
        if y >= header:
            y += scroll_y
        x1, x2 = scroll_x, scroll_x + width
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return super()._render_line(y, x1, x2, self._line_style)
        row = -1 if row_key is self._header_row_key else self._row_locations.get(row_key)
        key = (
            row_key, line_no, self._header_version if row < 0 else self._row_versions.get(row_key, 0), x1, x2, width, self._widths,
            cursor_row == row, hover_row == row, self._line_style, self._pseudo_class_state, cursor_type, zebra and row % 2,
        )
        strip = self._stable_lines.get(key)
        if strip is None:  # (the header's line is kept too: it changes only with the columns)
            if len(self._stable_lines) > 5_000:
                self._stable_lines.clear()
            strip = self._draw_line(y, line_no, row, x1, x2, width)
            self._stable_lines[key] = strip if row < 0 else strip.apply_meta({"row_key": row_key.value})
        return strip

    def _draw_line(self, y: int, line_no: int, row: int, x1: int, x2: int, width: int) -> Strip:
        """DataTable's ``_render_line`` for a row of a row-cursor table with no fixed columns, fixed
        rows or labels (the panes' tables), without what it works out again for every line and
        these never use: the header's style, the background, a line cache by position
        (tests/tui/test_table_cells.py checks the two agree)."""
        if row < 0 or self.cursor_type != "row" or self.fixed_columns or self.fixed_rows or (self._labelled_row_exists and self.show_row_labels):
            return super()._render_line(y, x1, x2, self._line_style)
        base_style = self._line_style
        cursor, hover = self.cursor_coordinate.row == row, self.hover_coordinate.row == row
        row_style = self._get_row_style(row, base_style)
        segments: list[Segment] = []
        for column, column_width in enumerate(self._widths):
            segments.extend(self._render_cell(row, column, row_style, column_width, cursor, hover)[line_no])
        # The space right of the last column, styled as DataTable extends a row to the table's width.
        extend, _ = self._get_styles_to_render_cell(False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor, False, False)
        extend = row_style + extend + Style.from_meta({"row": row, "column": 0, "out_of_bounds": True})
        segments.append(Segment(" " * max(0, width - sum(self._widths) - self._row_label_column_width), extend))
        return Strip(line_crop(segments, x1, x2, width)).adjust_cell_length(width, base_style).simplify()

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
        if size.width != self.virtual_size.width and self.styles.overflow_x != "hidden":
            self.virtual_size = size  # a horizontal scrollbar may come or go: laid out as DataTable does
            return
        self.set_reactive(DrawnTable.virtual_size, size)
        self._scroll_update(size)  # what a layout does for a scroll view (a scrollbar that comes or goes still lays out)
        self.refresh()
