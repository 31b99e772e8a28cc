"""Live updates: another process's writes wake the app through inotify on the journal, and
only the rows that changed are added or repainted (the Versions table is never refilled)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from store.backends.local import journal_watch
from store.registry import Registry
from tests.tui.test_app import ROOT, SMALL, LARGE, cursor_ref, opened, pilot_test, reg, screen_text, until  # noqa: F401
from tui import main_screen
from tui.app import ModelregApp
from tui.main_screen import MainScreen

WRITE = """
import sys
from store.registry import Registry
registry = Registry(sys.argv[1])
exec(sys.argv[2])
"""


async def other_process(path: Path, code: str) -> None:
    """Run ``code`` (with ``registry`` open on ``path``) in a separate Python process; returns once it committed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    await asyncio.to_thread(subprocess.run, [sys.executable, "-c", WRITE, str(path), code], check=True, env=env)


def table_keys(main: MainScreen) -> list[str]:
    return [row.key.value for row in main.versions.table.ordered_rows]


def row_objects(main: MainScreen) -> dict[str, Any]:
    """The table's own Row and cell objects: a refill makes new ones for every row."""
    table = main.versions.table
    return {key.value: (row, table._data[key]) for key, row in table.rows.items()}


async def sentiment_selected(pilot: Any) -> MainScreen:
    main = await opened(pilot)
    await pilot.press("h", "j", "enter")
    await until(pilot, lambda: main.versions.model == "sentiment")
    return main


@pytest.fixture
def inotify_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's safety-net look comes far later than any test waits: only inotify can wake it."""
    monkeypatch.setattr(main_screen, "CHECK_EVERY", 600.0)


@pytest.mark.parametrize("size", [SMALL, LARGE])
@pilot_test
async def test_another_process_registration_is_one_new_row_not_a_refill(reg: Registry, inotify_only: None, size: tuple[int, int]) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=size) as pilot:
        main = await sentiment_selected(pilot)
        assert main.journal_watch is not None and main.journal_watch.mode == "inotify"
        await pilot.press("j")
        assert cursor_ref(main) == "sentiment:v4"
        before, refills = row_objects(main), main.versions.refills
        await other_process(reg.path, 'registry.register("sentiment", version="v6", metrics={"accuracy": 0.5}, tags=["late"])')
        await until(pilot, lambda: "sentiment:v6" in table_keys(main))
        assert table_keys(main) == [f"sentiment:v{i}" for i in (6, 5, 4, 3, 2, 1)]
        assert main.versions.refills == refills, "the table was refilled"
        after = row_objects(main)
        for key, objects in before.items():  # untouched rows are the very same objects
            assert after[key][0] is objects[0] and after[key][1] is objects[1], key
        assert cursor_ref(main) == "sentiment:v4"  # the cursor stays on its version
        assert "sentiment:v6" in main.versions.new_until and "✦" in screen_text(app)
        assert [r.ref for r in main.versions.rows][-1] == "sentiment:v6"
        await until(pilot, lambda: "registered sentiment:v6" in screen_text(app))
        await until(pilot, lambda: main.models.summaries["sentiment"].count == 6)
        # The highlight ends by repainting that row alone.
        await until(pilot, lambda: "sentiment:v6" not in main.versions.new_until, timeout=8)
        await until(pilot, lambda: "✦" not in screen_text(app))
        assert main.versions.refills == refills


@pilot_test
async def test_a_status_change_elsewhere_repaints_its_row_in_place(reg: Registry, inotify_only: None) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        main = await sentiment_selected(pilot)
        before, refills = row_objects(main), main.versions.refills
        assert "deprecated" not in screen_text(app)
        await other_process(reg.path, 'registry.set_status("sentiment:v2", "deprecated")')
        await until(pilot, lambda: "deprecated" in screen_text(app))
        assert main.versions.refills == refills
        assert table_keys(main) == [f"sentiment:v{i}" for i in (5, 4, 3, 2, 1)]
        after = row_objects(main)
        assert after["sentiment:v2"][0] is before["sentiment:v2"][0]  # the same row, new cells
        assert all(after[k][1] is before[k][1] for k in before if k != "sentiment:v2")
        assert next(r for r in main.versions.rows if r.version == "v2").doc["status"] == "deprecated"


@pilot_test
async def test_a_new_best_moves_the_bold_without_a_refill(reg: Registry, inotify_only: None) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        main = await sentiment_selected(pilot)
        table, refills = main.versions.table, main.versions.refills

        def accuracy_bold(ref: str) -> bool:
            cell = table.get_cell(ref, "m:accuracy")
            return "bold" in str(cell.style) or any("bold" in str(span.style) for span in cell.spans)

        assert accuracy_bold("sentiment:v5")
        await other_process(reg.path, 'registry.register("sentiment", version="v6", metrics={"accuracy": 0.99})')
        await until(pilot, lambda: table.has_row("sentiment:v6"))
        assert main.versions.refills == refills
        assert accuracy_bold("sentiment:v6") and not accuracy_bold("sentiment:v5")


@pilot_test
async def test_a_filtered_out_registration_adds_no_row(reg: Registry, inotify_only: None) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        main = await sentiment_selected(pilot)
        await pilot.press("slash", *"tag:nightly", "enter")
        await until(pilot, lambda: table_keys(main) == ["sentiment:v5", "sentiment:v3", "sentiment:v1"])
        refills = main.versions.refills
        await other_process(reg.path, 'registry.register("sentiment", version="v6", tags=["weekly"])\nregistry.register("sentiment", version="v7", tags=["nightly"])')
        await until(pilot, lambda: main.versions.table.has_row("sentiment:v7"))
        assert table_keys(main) == ["sentiment:v7", "sentiment:v5", "sentiment:v3", "sentiment:v1"]
        assert main.versions.refills == refills
        assert "4 of 7" in screen_text(app)


@pilot_test
async def test_without_inotify_the_app_polls(reg: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    # A network filesystem: other machines' writes raise no inotify event there.
    monkeypatch.setattr(journal_watch, "needs_polling", lambda path: "nfs4")
    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        main = await sentiment_selected(pilot)
        assert main.journal_watch is None and main.wait_every == main_screen.POLL_EVERY
        await until(pilot, lambda: "polling" in "\n".join(e.message for _, e in main.activity.log_entries))
        await other_process(reg.path, 'registry.register("sentiment", version="v6", metrics={"accuracy": 0.5})')
        await until(pilot, lambda: main.versions.table.has_row("sentiment:v6"))


def test_the_watch_wakes_on_another_process_write_and_not_on_reads(tmp_path: Path) -> None:
    import threading

    registry = Registry(tmp_path / "reg")
    woken = threading.Event()
    watch = journal_watch.JournalWatch(registry.path, woken.set)
    try:
        assert watch.start() == "inotify"
        registry.refresh()
        (registry.path / "journal.jsonl").read_bytes()  # opening and reading wake nobody
        (registry.path / "config.json").write_text("{}")  # nor files other than the journal and snapshot
        assert not woken.wait(0.3)
        subprocess.run(
            [sys.executable, "-c", WRITE, str(registry.path), 'registry.register("m", version="v1")'],
            check=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert woken.wait(5)
    finally:
        watch.stop()
        registry.close()


def long_model(tmp_path: Path, count: int = 60) -> Registry:
    registry = Registry(tmp_path / "long")
    with registry.transaction():
        for i in range(1, count + 1):
            registry.register("long", version=f"v{i}", metrics={"accuracy": i / 1000})
    return registry


@pilot_test
async def test_at_the_top_of_a_long_table_a_new_version_shows_at_the_top(tmp_path: Path, inotify_only: None) -> None:
    registry = long_model(tmp_path)
    app = ModelregApp(registry)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        table = main.versions.table
        assert table.max_scroll_y > 0 and table.scroll_y == 0 and cursor_ref(main) == "long:v60"
        await other_process(registry.path, 'registry.register("long", version="v61", metrics={"accuracy": 0.5})')
        await until(pilot, lambda: table.has_row("long:v61"))
        await pilot.pause()
        # Seen where it lands (the first row, the view still at the top), the cursor still on its version.
        assert table.get_row_index("long:v61") == 0 and table.scroll_y == 0
        assert cursor_ref(main) == "long:v60"
        assert "v61" in screen_text(app)
    registry.close()


@pilot_test
async def test_scrolled_down_a_new_version_leaves_the_view_still(tmp_path: Path, inotify_only: None) -> None:
    registry = long_model(tmp_path)
    app = ModelregApp(registry)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        table = main.versions.table
        await pilot.press("G", "k", "k")
        await pilot.pause()
        scroll, line = table.scroll_y, table.cursor_row - table.scroll_y
        assert scroll > 0 and cursor_ref(main) == "long:v3"
        await other_process(registry.path, 'registry.register("long", version="v61", metrics={"accuracy": 0.5})')
        await until(pilot, lambda: table.has_row("long:v61"))
        await pilot.pause()
        assert cursor_ref(main) == "long:v3" and table.scroll_y == scroll + 1
        assert table.cursor_row - table.scroll_y == line  # the cursor's row on the same screen line
    registry.close()


@pilot_test
async def test_a_click_after_rows_moved_picks_the_row_under_the_mouse(tmp_path: Path, inotify_only: None) -> None:
    # Lines are kept by row, not position, so a click must find its row by key, not a stale index.
    registry = long_model(tmp_path, 5)
    app = ModelregApp(registry)
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)
        table = main.versions.table
        await other_process(registry.path, 'registry.register("long", version="v6", metrics={"accuracy": 0.5})')
        await until(pilot, lambda: table.has_row("long:v6"))
        await pilot.pause()
        assert [row.key.value for row in table.ordered_rows][:3] == ["long:v6", "long:v5", "long:v4"]
        await pilot.click(table, offset=(4, 3))  # the third row under the header: v4, which moved down
        await pilot.pause()
        assert cursor_ref(main) == "long:v4"
        # Further right (another column), on a line kept from before the row moved: DataTable's own
        # handler used to follow ours and move the cursor to the line's old index (v5's now).
        await pilot.click(table, offset=(table.size.width - 8, 4))  # v3, which moved down too
        await pilot.pause()
        assert cursor_ref(main) == "long:v3"
    registry.close()


@pilot_test
async def test_a_single_click_moves_the_cursor_and_a_second_opens(reg: Registry) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        table = main.versions.table
        table.focus()
        await pilot.pause()
        assert table.cursor_row == 0
        await pilot.click(table, offset=(2, 2))  # the second row, in its first column
        await until(pilot, lambda: table.cursor_row == 1)
        await pilot.pause()
        assert not main.has_class("-detail-open")
        await pilot.click(table, offset=(2, 2))
        await until(pilot, lambda: main.has_class("-detail-open"))  # at 80 columns Detail opens as a panel


@pilot_test
async def test_a_changed_summary_repaints_one_row_of_the_models_pane(reg: Registry, inotify_only: None) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)
        models = main.models
        repainted: list[Any] = []
        original = models._set_dirty

        def record(*regions: Any) -> None:
            repainted.append(regions)
            original(*regions)

        models._set_dirty = record  # type: ignore[method-assign]
        await other_process(reg.path, 'registry.register("alpha", version="v4", metrics={"accuracy": 0.95})')
        await until(pilot, lambda: main.models.summaries["alpha"].count == 4)
        assert repainted and all(regions and all(r.height == 1 for r in regions) for regions in repainted), repainted


@pilot_test
async def test_the_activity_log_says_what_changed(reg: Registry, inotify_only: None) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)
        await other_process(reg.path, 'registry.set_status("sentiment:v2", "deprecated")\nregistry.tag("alpha:v1", "best")')
        messages = lambda: [event.message for _, event in main.activity.log_entries]  # noqa: E731
        await until(pilot, lambda: any("alpha:v1" in m for m in messages()))
        assert "updated sentiment:v2: status completed → deprecated" in messages()
        assert "updated alpha:v1: tags +best" in messages()


@pilot_test
async def test_the_apps_watcher_registration_is_logged_once(reg: Registry, tmp_path: Path) -> None:
    runs = tmp_path / "watched"
    runs.mkdir()
    app = ModelregApp(reg, watch=[runs])
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)
        await until(pilot, lambda: app.watcher is not None)
        assert await asyncio.to_thread(app.watcher.idle, 20)
        (runs / "resnet-epoch3.pt").write_bytes(b"weights" * 100)
        await until(pilot, lambda: any(e.kind == "registered" for _, e in main.activity.log_entries), timeout=20)
        await until(pilot, lambda: main.models.summaries.get("resnet") is not None, timeout=20)
        assert await asyncio.to_thread(app.watcher.idle, 20)  # nothing more to say: a second line would be here
        await pilot.pause()
        registered = [e for _, e in main.activity.log_entries if e.kind == "registered"]
        assert len(registered) == 1, registered


@pilot_test
async def test_a_write_before_the_journal_watch_starts_is_shown_without_another_write(
        reg: Registry, inotify_only: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the app's first read and the start of its journal watch, a write raises no event:
    the app looks once when the watch is up, or it would wait for the next write to show it."""
    original = MainScreen.watch_journal

    def late_watch(self: MainScreen, registry: Registry) -> None:  # (runs in the open worker's thread)
        code = 'registry.register("alpha", version="v4", metrics={"accuracy": 0.95})'
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "-c", WRITE, str(reg.path), code], check=True, env=env)
        original(self, registry)

    monkeypatch.setattr(MainScreen, "watch_journal", late_watch)
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        assert main.versions.model == "alpha"
        await until(pilot, lambda: "alpha:v4" in table_keys(main))
        assert main.journal_watch is not None and main.journal_watch.mode == "inotify"
