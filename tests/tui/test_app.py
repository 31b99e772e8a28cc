"""Pilot tests of the app: the main screen over a real registry on disk, at 80x24 and 160x48."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from store.registry import Registry
from tui.app import ModelregApp
from tui.main_screen import MainScreen
from tui.widgets.detail import DetailPane
from tui.widgets.versions import VersionsPane

ROOT = Path(__file__).resolve().parents[2]
SMALL, LARGE = (80, 24), (160, 48)
EVIL = "[bold red]x\x1b[31m"
# The record 'modelreg scan' leaves on a safe file: without one, a pickle may not be deployed (store.deploy.gate).
SCANNED = {"safe": True, "verdict": "safe", "reason": "scanned: 0 imports, all on the allow-list"}


def pilot_test(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async Pilot test on its own event loop (no async pytest plugin needed)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    """alpha: 3 versions; sentiment: v1..v5 (v1 parent of v2 and v3), real artifact files."""
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / "config.json").write_text(
        json.dumps({"environments": ["production", "staging"], "protected_environments": ["production"]})
    )
    registry = Registry(tmp_path / "registry")
    runs = tmp_path / "runs"
    runs.mkdir()
    for i in range(1, 4):
        path = runs / f"alpha{i}.pkl"
        path.write_bytes(b"a" * 100 * i)
        registry.register("alpha", [path], f"v{i}", metrics={"accuracy": 0.5 + i / 10}, scan=SCANNED)
    for i in range(1, 6):
        path = runs / f"s{i}.pkl"
        path.write_bytes(b"s" * 1000 * i)
        registry.register(
            "sentiment", [path], f"v{i}", metrics={"accuracy": 0.80 + i / 100, "val_loss": 0.5 - i / 20},
            params={"max_depth": i}, tags=["nightly"] if i % 2 else ["weekly"], parent="sentiment:v1" if i in (2, 3) else None,
            notes="[red]not markup", scan=SCANNED,
        )
    yield registry
    registry.close()


def screen_text(app: ModelregApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def until(pilot: Any, condition: Callable[[], Any], timeout: float = 30.0) -> None:
    """Let the app run until ``condition()`` holds (no fixed sleeps). The default timeout is
    for a loaded machine; a test that times something asserts that time itself."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)


def palette_highlights(app: ModelregApp, words: str) -> bool:
    """The command palette is open and its highlighted command names ``words`` (Enter runs it)."""
    from textual.command import CommandList, CommandPalette

    if not isinstance(app.screen, CommandPalette):
        return False
    commands = app.screen.query_one(CommandList)
    index = commands.highlighted
    return index is not None and words in str(commands.get_option_at_index(index).prompt)


async def opened(pilot: Any) -> MainScreen:
    app = pilot.app
    await until(pilot, lambda: any(isinstance(s, MainScreen) for s in app.screen_stack))
    main = app.main
    await until(pilot, lambda: main.loaded.is_set() and main.models.summaries)
    await pilot.pause()
    return main


async def writes_done(app: ModelregApp) -> None:
    """Wait for any registry write the app started (they run in thread workers)."""
    for worker in list(app.workers):
        if worker.group == "write":
            await worker.wait()


def visible_refs(main: MainScreen) -> list[str]:
    return [row.ref for row in main.versions.shown_rows]


def cursor_ref(main: MainScreen) -> str | None:
    row = main.versions.selected
    return row.ref if row else None


# -- navigation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [SMALL, LARGE])
@pilot_test
async def test_keyboard_navigation_between_models_versions_and_detail(reg: Registry, size: tuple[int, int]) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=size) as pilot:
        main = await opened(pilot)
        # The first model's versions, newest first, with the cursor on the newest.
        assert main.selected_model == "alpha"
        assert visible_refs(main) == ["alpha:v3", "alpha:v2", "alpha:v1"]
        assert isinstance(app.focused, DataTable) and app.focused.id == "versions-table"
        await pilot.press("j")
        assert cursor_ref(main) == "alpha:v2"
        await pilot.press("down")
        assert cursor_ref(main) == "alpha:v1"
        await pilot.press("k", "up")
        assert cursor_ref(main) == "alpha:v3"
        if size == LARGE:  # the Detail pane follows the cursor (at 80 columns it opens with enter)
            await until(pilot, lambda: main.detail.row is not None and main.detail.row.ref == "alpha:v3")
        # h / left: to the Models pane; j picks the next model, whose versions load.
        await pilot.press("h")
        assert app.focused is main.models
        await pilot.press("j")
        await until(pilot, lambda: main.versions.model == "sentiment")
        assert visible_refs(main)[0] == "sentiment:v5"
        # enter on a model opens its versions; enter on a version opens its detail.
        await pilot.press("enter")
        assert app.focused is main.versions.table
        await pilot.press("enter")
        assert isinstance(app.focused, DetailPane)
        if size == SMALL:
            assert main.has_class("-detail-open")  # Detail is a panel at 80 columns
            assert main.detail.display and not main.versions.display
            assert "sentiment:v5" in screen_text(app)
        await pilot.press("escape")
        assert app.focused is main.versions.table
        assert not main.has_class("-detail-open")
        # tab cycles through the panes.
        await pilot.press("tab")
        assert app.focused is not main.versions.table
        await pilot.press("shift+tab")
        assert app.focused is main.versions.table


@pilot_test
async def test_wide_layout_shows_all_three_panes_and_the_model_summaries(reg: Registry) -> None:
    reg.deploy("sentiment:v4", "staging")
    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)
        await until(pilot, lambda: main.models.summaries["sentiment"].live)
        await pilot.pause()
        text = screen_text(app)
        assert "Models" in text and "Versions" in text and "Detail" in text
        summary = main.models.summaries["sentiment"]
        assert summary.count == 5 and summary.best == pytest.approx(0.85) and summary.live == {"staging": "v4"}
        assert summary.spark == "▁▃▅▆█"
        # One column per environment with something live (the current one first), all fitted.
        header, *rows = [line.split("││")[0] for line in text.splitlines()[1:4]]
        assert header.split()[1:] == ["Model", "#", "stag", "Best", "Trend"]  # nothing live in production
        assert next(r for r in rows if "sentiment" in r).split()[1:] == ["sentiment", "5", "v4", "0.85", "▁▃▅▆█"]
        # Status badges carry a symbol; age and size are human readable.
        assert "◆ completed" in text and "ago" in text or "now" in text
        assert "100 Bytes" in text or "300 Bytes" in text


# -- filter, marks, sort ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [SMALL, LARGE])
@pilot_test
async def test_filter_applies_on_enter_and_a_bad_one_keeps_the_last_good_one(reg: Registry, size: tuple[int, int]) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=size) as pilot:
        main = await opened(pilot)
        await pilot.press("h", "j", "enter")
        await until(pilot, lambda: main.versions.model == "sentiment")
        every = visible_refs(main)
        await pilot.press("slash")
        assert app.focused is main.versions.filter_input
        await pilot.press(*"tag:nightly")
        assert visible_refs(main) == every  # typing applies nothing (a half-typed word would blank the table)
        await pilot.press("enter")
        assert visible_refs(main) == ["sentiment:v5", "sentiment:v3", "sentiment:v1"]
        assert app.focused is main.versions.table
        assert "filter: tag:nightly" in screen_text(app)
        # A broken filter is reported in full under the table; the table keeps the last good filter.
        await pilot.press("slash", "ctrl+u", *"accuracy>=0.84", "enter")
        assert visible_refs(main) == ["sentiment:v5", "sentiment:v4"]
        await pilot.press("slash", "end", *" or", "enter")
        assert main.versions.filter_error == "bad filter term 2 'or': 'or' needs a term on each side"
        assert visible_refs(main) == ["sentiment:v5", "sentiment:v4"]
        assert app.focused is main.versions.filter_input  # refused: stays in the input
        shown = " ".join(" ".join(line.strip("│ ") for line in screen_text(app).splitlines()).split())
        assert "✗ filter: bad filter term 2 'or': 'or' needs a term on each side" in shown
        await pilot.press("escape")
        assert app.focused is main.versions.table
        assert main.versions.filter_error is None and main.versions.filter_input.value == "accuracy>=0.84"
        # The filter survives switching models and back.
        await pilot.press("h", "k")
        await until(pilot, lambda: main.versions.model == "alpha")
        await pilot.press("j")
        await until(pilot, lambda: main.versions.model == "sentiment")
        assert visible_refs(main) == ["sentiment:v5", "sentiment:v4"]
        assert main.versions.filter_text == "accuracy>=0.84"


@pilot_test
async def test_escape_in_the_filter_restores_the_filter_from_before_slash(reg: Registry) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        await pilot.press("slash", *"version=v2", "enter")
        assert visible_refs(main) == ["alpha:v2"]
        await pilot.press("slash", "ctrl+u", *"version=v3")
        await pilot.press("escape")
        assert main.versions.filter_text == "version=v2" and main.versions.filter_input.value == "version=v2"
        assert visible_refs(main) == ["alpha:v2"]
        await pilot.press("slash", "ctrl+u", "escape")  # emptied, then undone: still filtered
        assert visible_refs(main) == ["alpha:v2"] and main.versions.filter_input.value == "version=v2"
        await pilot.press("slash", "ctrl+u", "enter")  # emptied and applied: every version
        assert visible_refs(main) == ["alpha:v3", "alpha:v2", "alpha:v1"]


@pilot_test
async def test_counts_are_singular_for_one(reg: Registry) -> None:
    reg.register("solo", metrics={"accuracy": 0.5}, scan=SCANNED)
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        await pilot.press("h", "j", "j", "enter")
        await until(pilot, lambda: main.versions.model == "solo")
        await pilot.pause()
        assert "1 version " in screen_text(app) + " " and "1 versions" not in screen_text(app)
        await pilot.press("h", "k", "k")
        await until(pilot, lambda: main.versions.model == "alpha")
        await pilot.pause()
        assert "3 versions" in screen_text(app)


@pilot_test
async def test_mark_and_sort_from_the_keyboard(reg: Registry) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)
        await pilot.press("space", "j", "space")
        assert list(main.versions.marks) == ["alpha:v3", "alpha:v2"]
        assert "2 marked" in screen_text(app)
        assert "✓" in screen_text(app)
        await pilot.press("space")
        assert list(main.versions.marks) == ["alpha:v3"]
        assert cursor_ref(main) == "alpha:v2"
        # o cycles the sort column (version -> status -> age -> size ...), O reverses.
        await pilot.press("o", "o", "o")
        assert main.versions.sort_column == "size"
        assert visible_refs(main) == ["alpha:v1", "alpha:v2", "alpha:v3"]
        assert cursor_ref(main) == "alpha:v2"  # the cursor stays on its version
        await pilot.press("O")
        assert visible_refs(main) == ["alpha:v3", "alpha:v2", "alpha:v1"]
        await pilot.press("o")
        assert main.versions.sort_column == "m:accuracy"
        assert visible_refs(main) == ["alpha:v3", "alpha:v2", "alpha:v1"]  # best first
        assert "Size" in screen_text(app) and "accuracy ▼" in screen_text(app)


# -- help, palette, read-only ------------------------------------------------------------------------


@pilot_test
async def test_help_screen_lists_every_key(reg: Registry) -> None:
    from tui.keymap import KEYS
    from tui.screens.help import HelpScreen

    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        await opened(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for key in KEYS[:12]:
            assert key.help[:30] in text
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


@pilot_test
async def test_command_palette_runs_actions(reg: Registry) -> None:
    from tui.screens.help import HelpScreen

    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        await opened(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"Help")
        await until(pilot, lambda: palette_highlights(app, "Help"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))


def registry_files(path: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(path.rglob("*")) if p.is_file()}


@pilot_test
async def test_read_only_hides_and_refuses_every_write(reg: Registry) -> None:
    before = registry_files(reg.path)
    app = ModelregApp(reg, read_only=True)
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)
        footer = screen_text(app).splitlines()[-1]
        assert "Deploy" not in footer and "Tag" not in footer and "Help" in footer
        for key in ("d", "r", "t", "s"):
            await pilot.press(key)
            assert app.screen is main, f"{key} opened a screen in read-only mode"
        notices = list(main.activity.notices)
        assert sum("refused" in message for message in notices) == 4
        assert "read-only" in screen_text(app)
    assert registry_files(reg.path) == before


@pilot_test
async def test_a_local_registry_shows_no_sync_indicator_and_writes_without_one(reg: Registry) -> None:
    """A local registry is always current: the indicator (tests/backends/mlflow/test_sync_indicator.py)
    stays hidden, runs no timer, and a write shows no "writing…"."""
    from tui.screens.prompts import TagPrompt

    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TagPrompt))
        await pilot.press(*"fresh", "enter")
        await until(pilot, lambda: "fresh" in reg.get("alpha:v3").tags)
        await writes_done(app)
        assert main.sync.status is None and main.sync.text == "" and main.sync._timer is None
        assert not main.sync.display and main.activity.outer_size.width == SMALL[0]  # the whole row is the activity line's
        assert "synced" not in screen_text(app) and "writing" not in screen_text(app)


# -- live ----------------------------------------------------------------------------------------------

REGISTER = """
import sys
from store.registry import Registry
Registry(sys.argv[1]).register("sentiment", version="v6", metrics={"accuracy": 0.99}, tags=["nightly"])
"""


@pilot_test
async def test_a_registration_from_another_process_appears_live(reg: Registry) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        await pilot.press("h", "j", "enter")
        await until(pilot, lambda: main.versions.model == "sentiment")
        await pilot.press("slash", *"tag:nightly", "enter")
        await pilot.press("j")
        assert cursor_ref(main) == "sentiment:v3"
        await pilot.press("space")
        scroll = main.versions.table.scroll_offset
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        await asyncio.to_thread(subprocess.run, [sys.executable, "-c", REGISTER, str(reg.path)], check=True, env=env)
        started = time.monotonic()  # the write is acknowledged: from here it is the app's time
        await until(pilot, lambda: "sentiment:v6" in visible_refs(main))
        assert time.monotonic() - started < 5
        assert visible_refs(main) == ["sentiment:v6", "sentiment:v5", "sentiment:v3", "sentiment:v1"]
        # Cursor, filter and marks untouched; the new row is flagged.
        assert cursor_ref(main) == "sentiment:v3"
        assert main.versions.filter_text == "tag:nightly"
        assert list(main.versions.marks) == ["sentiment:v3"]
        assert main.versions.table.scroll_offset == scroll
        assert "sentiment:v6" in main.versions.new_until
        assert "✦" in screen_text(app)
        await until(pilot, lambda: "registered sentiment:v6" in screen_text(app))
        await until(pilot, lambda: main.models.summaries["sentiment"].count == 6)


# -- showing text literally, small terminals, no colour ----------------------------------------------------


@pytest.mark.parametrize("size", [SMALL, LARGE])
@pilot_test
async def test_names_and_notes_are_shown_literally(reg: Registry, size: tuple[int, int]) -> None:
    # Names are validated on register, so plant one as a hand-edited (or foreign) registry would hold it.
    with reg.backend.storage.transaction():
        reg.backend.storage.put("models", str(reg.backend.storage.next_id("models")), {"name": EVIL, "created_at": "2026-01-01T00:00:00+00:00"})
        reg.backend.storage.put(
            "versions", str(reg.backend.storage.next_id("versions")),
            {"model": EVIL, "version": "v1", "status": "completed", "notes": EVIL, "tags": [EVIL], "metrics": {EVIL: 1.0}},
        )
    app = ModelregApp(reg)
    async with app.run_test(size=size) as pilot:
        main = await opened(pilot)
        assert main.selected_model == EVIL  # sorts first
        await pilot.press("enter")
        await pilot.pause()
        text = screen_text(app)
        assert "[bold red]x" in text
        assert "\x1b" not in text and "[31m" not in text
        strips = app.screen._compositor.render_strips()
        styles = [seg.style for strip in strips for seg in strip if "[bold red]x" in seg.text]
        assert styles and not any(style and style.color and style.color.name == "red" and style.bold for style in styles)


@pilot_test
async def test_too_small_terminal_says_so(reg: Registry) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        await pilot.resize_terminal(58, 12)
        await until(pilot, lambda: main.has_class("-too-small"))
        await pilot.pause()
        assert "terminal too small: need at least 60×15, have 58×12" in screen_text(app)
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: not main.has_class("-too-small"))
        await pilot.pause()
        assert "alpha" in screen_text(app)


@pilot_test
async def test_the_focused_pane_keeps_its_focus_through_a_too_small_spell(reg: Registry) -> None:
    # Hidden while too small, the panes lost focus for good: back at full size no pane had
    # it, so no ▸ showed and j/k moved nothing until a click or h/l.
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        await pilot.press("h")  # the Models pane
        await until(pilot, lambda: app.focused is main.models)
        await pilot.press("d")  # a dialog open when the terminal shrinks: cancelled
        from tui.screens.confirm import DeployConfirm

        await until(pilot, lambda: isinstance(app.screen, DeployConfirm))
        await pilot.resize_terminal(58, 12)
        await until(pilot, lambda: main.has_class("-too-small") and app.screen is main)
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: not main.has_class("-too-small"))
        await until(pilot, lambda: app.focused is main.models)
        await pilot.pause()
        assert "▸ Models" in screen_text(app).splitlines()[0]
        before = main.models.cursor_row
        await pilot.press("j")
        assert main.models.cursor_row == before + 1


@pilot_test
async def test_a_pane_hidden_meanwhile_does_not_get_the_focus_back(reg: Registry) -> None:
    # Detail focused at full width; the shrink also turns on narrow mode, which closes the
    # Detail panel: back at a narrow size the focus goes to a pane that shows.
    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)
        await pilot.press("right")  # Versions → Detail
        await until(pilot, lambda: app.focused is main.detail)
        await pilot.resize_terminal(50, 30)
        await until(pilot, lambda: main.has_class("-too-small"))
        await pilot.resize_terminal(100, 30)
        await until(pilot, lambda: not main.has_class("-too-small") and app.focused is not None)
        await pilot.pause()
        assert not main.detail.display and app.focused is main.versions.table
        assert "▸ Versions" in screen_text(app).splitlines()[0]


@pilot_test
async def test_selection_stays_visible_without_colour(reg: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        assert app.no_color
        cursor = main.versions.table.get_component_rich_style("datatable--cursor")
        assert cursor.reverse or cursor.bold
        assert "◆ completed" in screen_text(app)
        # What reaches the terminal: the cursor's row (alpha:v3, the top one) is reverse video.
        strips = app.screen._compositor.render_strips()
        row = next(strip for strip in strips if " v3 " in strip.text)
        assert any(seg.style and seg.style.reverse and "v3" in seg.text for seg in row), [(s.text, s.style) for s in row]


@pilot_test
async def test_80_columns_show_the_metrics_the_models_summary_and_the_main_keys(reg: Registry) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        await pilot.press("h", "j", "enter")  # sentiment: two metrics and tags
        await until(pilot, lambda: main.versions.model == "sentiment")
        await pilot.pause()
        lines = screen_text(app).splitlines()
        models, versions = lines[1].split("││")
        assert models.split()[1:4] == ["Model", "#", "Best"]  # nothing live anywhere: no live column
        assert "sentiment 5" in " ".join(next(line for line in lines[2:] if "sentiment" in line).split("││")[0].split())
        # The metrics stay; size and tags are the first to go.
        assert "accuracy" in versions and "val_loss" in versions and "Size" not in versions and "Tags" not in versions
        # No scrollbar glyphs inside the panes; the footer's keys whole.
        assert not any(glyph in line for line in lines[:-2] for glyph in "▍▎▌▏")
        assert lines[-1].split() == ["?", "Help", "/", "Filter", "space", "Mark", "c", "Compare", "l", "Lineage", "d", "Deploy", "r", "Rollback", "q", "Quit"]
        # Wide again: every key and the palette's hint.
        await pilot.resize_terminal(160, 48)
        await until(pilot, lambda: not main.has_class("-narrow"))
        await pilot.pause()
        footer = screen_text(app).splitlines()[-1]
        assert "a Activity" in footer and "q Quit" in footer and "^p palette" in footer


# -- flows through the secondary screens ----------------------------------------------------------------


@pilot_test
async def test_deploy_and_rollback_through_the_confirmations(reg: Registry) -> None:
    from tui.screens.confirm import DeployConfirm, RollbackConfirm
    from tui.screens.prompts import EnvironmentPicker

    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        # e: pick staging (unprotected) as the environment.
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EnvironmentPicker))
        await pilot.press("down", "enter")
        await until(pilot, lambda: main.env == "staging")
        # d on alpha:v2, confirmed with y.
        await pilot.press("j", "d")
        await until(pilot, lambda: isinstance(app.screen, DeployConfirm))
        await pilot.press("y")
        await until(pilot, lambda: reg.live_map("alpha").get("staging") == "v2")
        # d on alpha:v3, then cancelled with a stray key: nothing changes.
        await pilot.press("k", "d")
        await until(pilot, lambda: isinstance(app.screen, DeployConfirm))
        await pilot.press("x")
        await until(pilot, lambda: app.screen is main)
        assert reg.live_map("alpha") == {"staging": "v2"}
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DeployConfirm))
        await pilot.press("enter")  # a habitual enter cancels: only y deploys
        await until(pilot, lambda: app.screen is main)
        await writes_done(app)
        assert reg.live_map("alpha") == {"staging": "v2"}
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DeployConfirm))
        await pilot.press("y")
        await until(pilot, lambda: reg.live_map("alpha").get("staging") == "v3")
        await until(pilot, lambda: main.models.summaries["alpha"].live == {"staging": "v3"})
        # r rolls staging back to v2.
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, RollbackConfirm))
        await pilot.press("y")
        await until(pilot, lambda: reg.live_map("alpha").get("staging") == "v2")
        history = reg.history("alpha", "staging")
        assert [(h["action"], h["to"]) for h in history] == [("deploy", "v2"), ("deploy", "v3"), ("rollback", "v2")]
        await until(pilot, lambda: "rollback alpha in staging" in screen_text(app))


@pilot_test
async def test_compare_marked_versions_and_jump_from_lineage(reg: Registry) -> None:
    from tui.screens.compare import CompareScreen
    from tui.screens.lineage import LineageScreen

    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)
        await pilot.press("c")  # nothing marked: the selected one against the one before it
        await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        assert app.screen.refs == ["alpha:v3", "alpha:v2"]
        await pilot.press("escape")
        await pilot.press("space", "j", "j", "space", "c")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        assert app.screen.refs == ["alpha:v3", "alpha:v1"]
        await pilot.press("escape")
        # l opens the lineage; choosing a node jumps there, across models, through a filter.
        await pilot.press("slash", *"version=v3", "enter")
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LineageScreen))
        app.screen.dismiss("sentiment:v2")
        await until(pilot, lambda: cursor_ref(main) == "sentiment:v2")
        assert main.versions.filter_text == ""
        assert app.focused is main.versions.table


@pilot_test
async def test_tag_and_status_prompts_write_through_a_worker(reg: Registry) -> None:
    from tui.screens.prompts import StatusPicker, TagPrompt

    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TagPrompt))
        await pilot.press(*"best", "enter")
        await until(pilot, lambda: "best" in reg.get("alpha:v3").tags)
        await until(pilot, lambda: "best" in main.versions.selected.doc.get("tags", ()))
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, StatusPicker))
        choices = [opt.id for opt in app.screen.query_one("OptionList").options]
        assert choices[0] == "training"
        await pilot.press("enter")  # s + enter shows the move and changes nothing
        await pilot.pause()
        await writes_done(app)
        assert reg.get("alpha:v3").status == "completed"
        assert "completed → training" in screen_text(app)
        target = "deprecated"
        await pilot.press(*["down"] * choices.index(target), "y")
        await until(pilot, lambda: reg.get("alpha:v3").status == target)
        await until(pilot, lambda: main.versions.selected.doc["status"] == target)


def test_short_age_and_status_forms_for_narrow_tables() -> None:
    from datetime import datetime, timezone

    from tui.widgets.versions import badge, short_age

    now = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
    ages = ["2026-11-23T11:59:15+00:00", "2026-11-23T11:57:00+00:00", "2026-11-23T09:00:00+00:00", "2026-11-18T12:00:00+00:00"]
    assert [short_age(a, now) for a in ages] == ["45s", "3m", "3h", "5d"]
    assert short_age("not a time", now) == ""
    assert [badge("completed", form).plain for form in ("full", "short", "symbol")] == ["◆ completed", "◆ done", "◆"]


def test_narrow_model_names_keep_their_distinguishing_ends() -> None:
    from tui.widgets.cells import ellipsize

    assert ellipsize("digits-knn", 7, middle=True) == "dig…knn"
    assert ellipsize("digits-svc", 7, middle=True) == "dig…svc"
    assert ellipsize("digits-svc", 7) == "digits…"
    assert ellipsize("iris", 7, middle=True) == "iris"
    assert ellipsize("模型-knn-final", 8, middle=True) == "模型…nal"  # wide characters count two cells


@pilot_test
async def test_the_collector_runs_rarely_while_the_app_runs_and_as_before_after(reg: Registry) -> None:
    import gc

    from tui.main_screen import QUIET_GC

    before = gc.get_threshold()
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        await until(pilot, lambda: main.loaded.is_set() and gc.get_threshold() == QUIET_GC)
    assert gc.get_threshold() == before


@pilot_test
async def test_activity_log_lists_what_happened_and_closes_with_a(reg: Registry) -> None:
    from tui.screens.activity import ActivityScreen

    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        await opened(pilot)
        other = Registry(reg.path)  # another writer, as a training script would be
        try:
            await asyncio.to_thread(other.register, "alpha", metrics={"accuracy": 0.5})
        finally:
            other.close()
        await until(pilot, lambda: "alpha:v4" in screen_text(app))
        await pilot.press("a")
        assert isinstance(app.screen, ActivityScreen)
        assert "Activity (newest first)" in screen_text(app)
        assert "registered alpha:v4" in screen_text(app)
        await pilot.press("j", "k", "a")
        assert isinstance(app.screen, MainScreen)


def test_sparkline_scales_between_lowest_and_highest() -> None:
    from tui.catalog import sparkline

    assert sparkline([0.1, 0.5, 0.9]) == "▁▅█"
    assert sparkline([0.1, None, 0.9]) == "▁ █"  # a version without the metric is a gap
    assert sparkline([0.7, 0.7]) == "▄▄"  # flat: no trend, so mid height
    assert sparkline(range(20), points=3) == "▁▅█"  # only the last points
    assert len(sparkline(range(20), points=None)) == 20
    assert sparkline([None, None]) == ""


# -- readable at 80x24 and without colour ----------------------------------------------------------------


@pilot_test
async def test_long_tags_on_one_version_cut_the_tags_column_instead_of_dropping_it(reg: Registry) -> None:
    reg.register("sentiment", version="v6", metrics={"accuracy": 0.5}, tags=["a-very-long-tag-" + "x" * 40, "another-long-one" * 3])
    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)
        await pilot.press("h", "j")
        await until(pilot, lambda: main.versions.model == "sentiment" and main.versions.table.row_count == 6)
        table = main.versions.table
        assert "tags" in table.column_keys
        assert table.get_cell("sentiment:v6", "tags").plain.rstrip().endswith("…")
        assert table.get_cell("sentiment:v5", "tags").plain.strip() == "nightly"  # short tags whole
        assert "Tags" in screen_text(app)


@pilot_test
async def test_the_focused_pane_is_marked_in_its_title_without_colour(reg: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        await opened(pilot)
        top = screen_text(app).splitlines()[0]
        assert "▸ Versions · alpha" in top and "▸ Models" not in top
        await pilot.press("h")
        top = screen_text(app).splitlines()[0]
        assert "▸ Models" in top and "▸ Versions" not in top
    async with ModelregApp(reg).run_test(size=LARGE) as pilot:
        await opened(pilot)
        await pilot.press("right")
        top = screen_text(pilot.app).splitlines()[0]
        assert "▸ Detail" in top and "▸ Versions" not in top and "▸ Models" not in top


@pilot_test
async def test_notices_show_in_the_activity_line_not_over_the_panes(reg: Registry) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        await pilot.press("y")
        await pilot.pause()
        lines = screen_text(app).splitlines()
        assert "copied alpha:v3" in lines[-2]  # the activity line
        assert not app.screen.query("Toast") and not app._notifications
        assert lines[-3].startswith("╰") and lines[-3].endswith("╯")  # the borders stay whole
        assert "copied alpha:v3" in main.activity.notices


@pilot_test
async def test_decimal_points_line_up_and_the_last_column_keeps_off_the_border(reg: Registry) -> None:
    reg.register("alpha", version="v4", metrics={"accuracy": 1})
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        await until(pilot, lambda: main.versions.table.row_count == 4)
        lines = screen_text(app).splitlines()
        one = next(line for line in lines if " v4 " in line)
        point = next(line for line in lines if " v3 " in line)
        # 1 stands in the units place of 0.8: the points line up.
        assert one.index(" 1 ", one.index("v4")) + 1 == point.index("0.8", point.index("v3"))
        # The Models pane: Best never touches the pane's right border.
        width = main.models.size.width
        for line in lines[2:5]:
            assert line[width - 3 : width - 1] == "  ", line[:width]


@pilot_test
async def test_the_environment_picker_lines_up_its_columns(reg: Registry) -> None:
    reg.deploy("alpha:v3", "staging")
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        await opened(pilot)
        await pilot.press("e")
        await pilot.pause()
        lines = [line for line in screen_text(app).splitlines() if "live" in line and ("production" in line or "staging" in line)]
        assert len(lines) == 2
        assert lines[0].index(" model") == lines[1].index(" model")


def test_help_wraps_under_each_description_at_80_columns() -> None:
    from rich.console import Console

    from tui.screens.help import help_text

    console = Console(width=76, color_system=None, record=True)
    console.print(help_text(False))
    lines = console.export_text().splitlines()
    section = lines[next(i for i, line in enumerate(lines) if line.startswith("Filter language")) + 1 :]
    body = [line for line in section if line.strip() and not line.startswith(("Comparisons", "Shorthands", "escape"))]
    assert body and all(line.startswith("  ") for line in body)  # nothing wraps back to the margin
    continued = [line for line in body if line.startswith(" " * 34)]
    assert continued  # descriptions wrap under themselves
    assert all(len(line) <= 76 for line in lines)


@pilot_test
async def test_detail_scan_line_spaces_the_dash(reg: Registry) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        await opened(pilot)
        await until(pilot, lambda: "scan:" in screen_text(app))
        assert "✓ safe — scanned" in screen_text(app)  # ✓, not ✔: fonts draw ✔ wide, over the space


@pilot_test
async def test_a_width_that_plans_the_same_columns_does_not_refill_the_versions(reg: Registry) -> None:
    """The first frame plans the versions for a guessed width (before any layout); when the real
    width plans the same columns and forms, the table is not filled again, and shows the same."""
    app = ModelregApp(reg)
    async with app.run_test(size=LARGE) as pilot:
        main = await opened(pilot)
        assert main.versions.model == "alpha"
        low, high = main.versions.fits_between
        width = main.versions.table.fit_width
        assert low <= width <= high
        refills = main.versions.refills
        await pilot.resize_terminal(LARGE[0] + 4, LARGE[1])  # a few more columns: the same plan
        await until(pilot, lambda: main.versions.table.fit_width != width)
        await pilot.pause()
        assert low <= main.versions.table.fit_width <= high and main.versions.refills == refills
        shown = screen_text(app)
        main.versions.refill()  # what a refill would have drawn
        await pilot.pause()
        assert screen_text(app) == shown
        refills = main.versions.refills
        await pilot.resize_terminal(*SMALL)  # far narrower than the plan's widths: planned again
        await until(pilot, lambda: main.versions.refills > refills)
        await pilot.pause()
        low, high = main.versions.fits_between
        assert low <= main.versions.table.fit_width <= high
