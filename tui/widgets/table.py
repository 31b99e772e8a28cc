"""A DataTable that can be refilled without the user noticing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual import events
from textual._two_way_dict import TwoWayDict
from textual.coordinate import Coordinate
from textual.widgets.data_table import CellDoesNotExist, CellKey, ColumnKey, RowKey

from tui.safe_text import literal
from tui.widgets.cells import lead
from tui.widgets.drawn_table import DrawnTable


class PaneTable(DrawnTable):
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
        event.prevent_default()  # DataTable's own handler would follow with the line's stale index
        self._set_hover_cursor(True)
        if self.show_cursor:
            self.hover_coordinate = Coordinate(row, 0)

    async def _on_click(self, event: events.Click) -> None:
        row = self._row_at(event.style.meta)
        if row is None:
            await super()._on_click(event)
            return
        # DataTable's own handler would follow (Textual runs each class's), moving the cursor to
        # the line's stale index and taking a first click for a second: it opened the row.
        event.prevent_default()
        self._set_hover_cursor(True)
        if self.show_cursor:
            again = self.cursor_coordinate.row == row
            self.cursor_coordinate = Coordinate(row, 0)
            if again:
                self._post_selected_message()

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
