"""A cell drawn by tui.widgets.cells.render_cell_line is DataTable's own drawing of it, segment
for segment and style for style, in every state (cursor, hover) and at every width."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import DataTable

from store.registry import Registry
from tests.tui.test_app import LARGE, SMALL, opened, pilot_test, reg, until  # noqa: F401
from tests.tui.test_navigation import many  # noqa: F401
from tui.app import ModelregApp
from tui.widgets.table import PaneTable

ODD_CELLS = [
    Text(""), Text("plain"), Text("bold", style="bold"), Text("12.5 kB", justify="right"),
    Text("centred", justify="center", style="italic"), Text("a name far too long for its column", style="dim"),
    Text("名前とサイズ"), Text("tab\there"), Text("   trailing   ", justify="right"),
    Text.assemble(("✓", "bold"), ("●", "bold green"), (" ", ""), ("⚠", "bold red"), ("✦", "bold yellow")),
    Text("cut", overflow="ellipsis"), Text("reverse", style="reverse"),
    Text("left", justify="left", style="bold red"), Text("right", justify="right", style="dim"), Text("", style="bold"),
    Text("▇█▁▂", style="green"), Text("full", justify="full"), Text("exactly twelve"[:12], justify="left", style="u"),
    Text("  spaced  ", justify="left"), Text("x", style="bold on blue", justify="right"),
]


def compare_all(table: PaneTable) -> tuple[int, list[str]]:
    base, checked, different = table.rich_style, 0, []
    for row in range(table.row_count):
        for column, spec in enumerate(table.ordered_columns):
            for width in {spec.get_render_width(table), 3, 12}:
                for cursor in (False, True):
                    for hover in (False, True):
                        ours = table._draw_cell(row, column, base, width, cursor, hover)
                        table._cell_render_cache.clear()  # DataTable's own cache does not key on the width
                        theirs = DataTable._render_cell(table, row, column, base, width, cursor, hover)
                        checked += 1
                        if ours != theirs:
                            different.append(f"row {row} column {column} width {width} cursor {cursor} hover {hover}")
    return checked, different


class OddCells(App[None]):
    def compose(self) -> ComposeResult:
        yield PaneTable(id="odd")

    def on_mount(self) -> None:
        table = self.query_one(PaneTable)
        table.replace_rows(
            [(f"r{i}", [cell.copy(), Text(f"{i}")]) for i, cell in enumerate(ODD_CELLS)], columns=[("a", "A"), ("b", "B")]
        )


@pilot_test
async def test_odd_cells_are_drawn_as_datatable_draws_them() -> None:
    app = OddCells()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        checked, different = compare_all(app.query_one(PaneTable))
        assert checked >= len(ODD_CELLS) * 2 * 4 and different == []


@pilot_test
async def test_the_panes_cells_are_drawn_as_datatable_draws_them(reg: Registry) -> None:
    for size in (SMALL, LARGE):
        app = ModelregApp(reg)
        async with app.run_test(size=size) as pilot:
            main = await opened(pilot)
            for table in (main.models, main.versions.table):
                checked, different = compare_all(table)
                assert checked > 20 and different == [], (size, table.id, different[:3])


def styled_by_textual(table: PaneTable) -> list[str]:
    """The table's lines as Textual's own style cache draws them (every line drawn afresh)."""
    from textual.geometry import Region

    table._styles_cache.clear()
    return [strip.text + repr([s.style for s in strip]) for strip in DataTable.render_lines(table, Region(0, 0, *table.region.size))]


@pilot_test
async def test_lines_kept_by_row_are_the_lines_textual_would_draw(reg: Registry) -> None:
    from tests.tui.test_live import other_process

    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)
        await pilot.press("h", "j", "enter")  # sentiment: five versions
        table = main.versions.table
        for step in range(3):
            await other_process(reg.path, f'registry.register("sentiment", version="v{6 + step}", metrics={{"accuracy": 0.9}})')
            await until(pilot, lambda: table.has_row(f"sentiment:v{6 + step}"))
            await pilot.press("j" if step % 2 else "k")
            await pilot.pause()
            from textual.geometry import Region

            ours = [strip.text + repr([s.style for s in strip]) for strip in table.render_lines(Region(0, 0, *table.size))]
            assert ours == styled_by_textual(table)
        assert table.has_row("sentiment:v8")


def compare_lines(table: PaneTable) -> tuple[int, list[str]]:
    """Each visible row line as DrawnTable._draw_line draws it and as DataTable's _render_line does."""
    table.render_lines(Region(0, 0, *table.size))  # the widths and base style of this frame
    scroll_x, scroll_y = table.scroll_offset
    checked, different = 0, []
    for y in range(table.header_height, table.size.height):
        try:
            row_key, line_no = table._get_offsets(y + scroll_y)
        except LookupError:  # below the last row
            break
        row = table._row_locations.get(row_key)
        x1, x2 = scroll_x, scroll_x + table.size.width
        ours = table._draw_line(y + scroll_y, line_no, row, x1, x2, table.size.width)
        table._line_cache.clear()
        table._row_render_cache.clear()
        theirs = DataTable._render_line(table, y + scroll_y, x1, x2, table._line_style)
        checked += 1
        if list(ours) != list(theirs):
            different.append(f"line {y} (row {row}): {ours.text!r} != {theirs.text!r}")
    return checked, different


@pilot_test
async def test_the_panes_lines_are_drawn_as_datatable_draws_them(many: Registry) -> None:
    for size in (SMALL, LARGE):
        app = ModelregApp(many)
        async with app.run_test(size=size) as pilot:
            main = await opened(pilot)
            table = main.versions.table
            table.focus()
            await pilot.press(*["j"] * 30)  # scrolled, the cursor mid-table
            await pilot.pause()
            table.hover_coordinate = table.cursor_coordinate.up()  # the hover on the row above the cursor
            table._show_hover_cursor = True
            for pane in (table, main.models):
                checked, different = compare_lines(pane)
                assert checked >= min(pane.row_count, 10) and different == [], (size, pane.id, different[:3])
            table._show_hover_cursor = False
            checked, different = compare_lines(table)
            assert different == [], (size, different[:3])


@pilot_test
async def test_kept_lines_of_a_bordered_table_are_the_lines_textual_would_draw(tmp_path: Path) -> None:
    """The Models pane is a table with a border: its content lines are kept by row too, its border
    lines drawn Textual's way; scrolled, focused or not, the lines are Textual's."""
    registry = Registry(tmp_path / "registry")
    with registry.backend.storage.transaction():
        for i in range(40):
            registry.register(f"model-{i:02d}", version="v1", metrics={"accuracy": i / 40})
    app = ModelregApp(registry)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        models = main.models
        models.focus()
        for keys in (["j"] * 5, ["j"] * 25, ["k"] * 3, ["tab"], ["G"]):
            await pilot.press(*keys)
            await pilot.pause()
            ours = [strip.text + repr([s.style for s in strip]) for strip in models.render_lines(Region(0, 0, *models.region.size))]
            assert ours == styled_by_textual(models), keys
        assert models.scroll_y > 0 and models.styles.gutter.top == 1
    registry.close()
