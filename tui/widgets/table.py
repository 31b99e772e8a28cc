"""A DataTable that can be refilled without the user noticing."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from tui.safe_text import literal


class PaneTable(DataTable):
    """Row-cursor table whose rows are replaced wholesale on every change, keeping the
    cursor on the same row (by key) and the scroll position where it was."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cursor_foreground_priority="renderable")
        self.column_keys: list[str] = []

    def set_columns(self, columns: Sequence[tuple[str, str]]) -> bool:
        """(key, label) pairs; True if they changed (the rows then need refilling)."""
        keys = [key for key, _ in columns]
        if keys == self.column_keys:
            return False
        self.clear(columns=True)
        for key, label in columns:
            self.add_column(literal(label, "bold", single_line=True), key=key)
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
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if not rows:
            return
        self._settle()
        index = next((i for i, (key, _) in enumerate(rows) if key == keep), min(old_index, len(rows) - 1))
        self.move_cursor(row=index, animate=False, scroll=False)
        self.scroll_to(scroll_x, max(0, scroll_y + index - old_index), animate=False, immediate=True)

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
