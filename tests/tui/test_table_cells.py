"""A cell drawn by tui.widgets.cells.render_cell_line is DataTable's own drawing of it, segment
for segment and style for style, in every state (cursor, hover) and at every width."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from store.registry import Registry
from tests.tui.test_app import LARGE, SMALL, opened, pilot_test, reg  # noqa: F401
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
    return [strip.text + repr([s.style for s in strip]) for strip in DataTable.render_lines(table, Region(0, 0, *table.size))]


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
            await pilot.pause(0.3)
            await pilot.press("j" if step % 2 else "k")
            await pilot.pause()
            from textual.geometry import Region

            ours = [strip.text + repr([s.style for s in strip]) for strip in table.render_lines(Region(0, 0, *table.size))]
            assert ours == styled_by_textual(table)
        assert table.has_row("sentiment:v8")
