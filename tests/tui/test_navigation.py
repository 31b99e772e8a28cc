"""k9s/lazygit navigation: g/G and Home/End, ctrl+d/ctrl+u half pages, no animated scrolling."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.registry import Registry
from tests.tui.test_app import SCANNED, SMALL, cursor_ref, opened, palette_highlights, pilot_test, reg, screen_text, until  # noqa: F401
from tui.app import ModelregApp


@pytest.fixture
def many(reg: Registry) -> Registry:
    """alpha gets v4..v60: far more rows than fit at 80x24."""
    with reg.backend.storage.transaction():
        for i in range(4, 61):
            reg.register("alpha", version=f"v{i}", metrics={"accuracy": i / 100})
    return reg


@pytest.mark.parametrize("top, bottom", [("g", "G"), ("home", "end")])
@pilot_test
async def test_top_and_bottom_without_animation(many: Registry, top: str, bottom: str) -> None:
    app = ModelregApp(many)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        table = main.versions.table
        assert app.animation_level == "none"
        assert cursor_ref(main) == "alpha:v60"  # newest first
        await pilot.press(bottom)
        assert cursor_ref(main) == "alpha:v1"
        assert table.scroll_y == table.max_scroll_y > 0  # already there: nothing animates
        await pilot.press(top)
        assert cursor_ref(main) == "alpha:v60" and table.scroll_y == 0
        # The same in the Models pane.
        await pilot.press("h", bottom)
        assert main.models.cursor_key == "sentiment"
        await pilot.press(top)
        assert main.models.cursor_key == "alpha"


@pilot_test
async def test_half_pages(many: Registry) -> None:
    app = ModelregApp(many)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        table = main.versions.table
        half = (table.scrollable_content_region.height - 1) // 2
        assert half >= 3
        await pilot.press("ctrl+d")
        assert table.cursor_row == half
        await pilot.press("ctrl+d")
        assert table.cursor_row == 2 * half
        await pilot.press("ctrl+u")
        assert table.cursor_row == half
        await pilot.press("ctrl+u", "ctrl+u")
        assert table.cursor_row == 0


@pilot_test
async def test_g_and_G_scroll_the_detail(many: Registry) -> None:
    app = ModelregApp(many)
    async with app.run_test(size=(160, 20)) as pilot:
        main = await opened(pilot)
        await pilot.press("h", "j", "enter")
        await until(pilot, lambda: main.versions.model == "sentiment")
        await pilot.press("enter")
        detail = main.detail
        await until(pilot, lambda: app.focused is detail and detail.max_scroll_y > 0)
        await pilot.press("G")
        assert detail.scroll_y == detail.max_scroll_y
        await pilot.press("g")
        assert detail.scroll_y == 0


@pilot_test
async def test_y_copies_the_ref_and_Y_the_artifact_path(reg: Registry) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        await pilot.press("j")
        assert cursor_ref(main) == "alpha:v2"
        await pilot.press("y")
        assert app.clipboard == "alpha:v2"
        await pilot.press("Y")
        path = reg.get("alpha:v2").artifacts[0]["path"]
        assert app.clipboard == str(path) and str(path).endswith(".pkl")


@pilot_test
async def test_y_in_a_dialog_is_still_the_dialogs_key(reg: Registry) -> None:
    # The deploy dialog confirms with y: there it must deploy, not copy.
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        from tui.screens.confirm import DeployConfirm
        from tui.screens.prompts import EnvironmentPicker

        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EnvironmentPicker))
        await pilot.press("down", "enter")  # staging: unprotected, confirmed with y
        await until(pilot, lambda: main.env == "staging")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DeployConfirm))
        await pilot.press("y")
        await until(pilot, lambda: reg.live_map("alpha").get("staging") == "v3")
        assert app.clipboard == ""


@pilot_test
async def test_colon_jumps_to_a_model_by_part_of_its_name(reg: Registry) -> None:
    from tui.screens.prompts import JumpPrompt

    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        assert main.selected_model == "alpha"
        await pilot.press("colon")
        await until(pilot, lambda: isinstance(app.screen, JumpPrompt))
        await pilot.press(*"nope", "enter")
        assert isinstance(app.screen, JumpPrompt) and "no model matches 'nope'" in screen_text(app)
        await pilot.press(*["backspace"] * 4, *"TIM", "enter")
        await until(pilot, lambda: app.screen is main)
        await until(pilot, lambda: main.versions.model == "sentiment")
        assert main.models.cursor_key == "sentiment" and app.focused is main.versions.table
        await pilot.press("colon")
        await until(pilot, lambda: isinstance(app.screen, JumpPrompt))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is main)
        assert main.selected_model == "sentiment"


def footer_text(app: ModelregApp) -> str:
    return screen_text(app).splitlines()[-1]


@pytest.mark.parametrize("key, title, content", [
    ("w", "What is live where", ["alpha", "v2", "staging"]),
    ("H", "Deploy history (newest first)", ["alpha", "staging", "nothing → v2"]),
])
@pilot_test
async def test_live_where_and_history_screens_by_key_and_palette(reg: Registry, key: str, title: str, content: list[str]) -> None:
    from tui.screens.overview import HistoryScreen, LiveScreen

    reg.deploy("alpha:v2", "staging")
    kind = LiveScreen if key == "w" else HistoryScreen
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        main_footer = footer_text(app)
        await pilot.press(key)
        await until(pilot, lambda: isinstance(app.screen, kind))
        text = screen_text(app)
        assert title in text and all(word in text for word in content)
        # Its own footer: its closing key, not the main screen's keys.
        assert "Close" in footer_text(app) and footer_text(app) != main_footer and "Deploy" not in footer_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is main)
        # The same screen from the command palette, by name.
        await pilot.press("ctrl+p")
        name = "Live where" if key == "w" else "History"
        await pilot.press(*name.lower())
        await until(pilot, lambda: palette_highlights(app, name))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, kind))


@pilot_test
async def test_the_palette_offers_only_what_works(reg: Registry) -> None:
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        titles = [command.title for command in app.get_system_commands(main)]
        assert titles == ["Quit"]  # not Screenshot, Theme, Maximize, Keys, Bell


@pilot_test
async def test_compare_shows_params_without_unicode_escapes(tmp_path) -> None:
    from tui.screens.compare import CompareScreen

    registry = Registry(tmp_path / "reg")
    registry.register("pipe", version="v1", params={"steps": ["StandardScaler(…)", "LogisticRegression(C=1)"]})
    registry.register("pipe", version="v2", params={"steps": ["StandardScaler(…)", "LogisticRegression(C=2)"]})
    app = ModelregApp(registry)
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        await pilot.press("c")  # the selected version against the one before it
        await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        await until(pilot, lambda: "LogisticRegression(C=2)" in screen_text(app))
        text = screen_text(app)
        assert "StandardScaler(…)" in text and "\\u2026" not in text
    registry.close()


@pilot_test
async def test_sizes_use_the_cli_units(reg: Registry) -> None:
    from tui.cli import main as cli

    app = ModelregApp(reg)
    async with app.run_test(size=(160, 48)) as pilot:
        main = await opened(pilot)
        await pilot.press("h", "j", "enter")
        await until(pilot, lambda: main.versions.model == "sentiment")
        await until(pilot, lambda: "4.9 KiB" in screen_text(app))  # v5: 5,000 bytes
        assert "kB" not in screen_text(app)
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli(["--registry", str(reg.path), "info", "sentiment:v5"])
    assert "4.9 KiB" in out.getvalue()


@pilot_test
async def test_detail_opens_each_version_at_the_top(many: Registry) -> None:
    app = ModelregApp(many)
    async with app.run_test(size=(160, 20)) as pilot:
        main = await opened(pilot)
        await pilot.press("h", "j", "enter")
        await until(pilot, lambda: main.versions.model == "sentiment")
        await pilot.press("enter")
        detail = main.detail
        await until(pilot, lambda: app.focused is detail and detail.max_scroll_y > 0)
        await pilot.press("G")
        assert detail.scroll_y > 0
        await pilot.press("h", "j")  # back to the versions, the next version
        await until(pilot, lambda: detail.row is not None and detail.row.ref == "sentiment:v4")
        await pilot.pause()
        assert detail.scroll_y == 0


@pilot_test
async def test_slash_in_the_models_pane_filters_model_names_and_escape_restores(reg: Registry) -> None:
    reg.register("digits-knn", version="v1", metrics={"accuracy": 0.9})
    app = ModelregApp(reg)
    async with app.run_test(size=SMALL) as pilot:
        main = await opened(pilot)
        await pilot.press("h", "slash", *"knn")  # letters are typed into the filter, not taken as keys
        await pilot.pause()
        assert main.models.names == ["digits-knn"] and "/knn" in screen_text(app)
        await pilot.press("enter")
        assert main.models.names == ["digits-knn"] and "1 of 3" in screen_text(app)
        await pilot.press("slash", "backspace", "backspace", "backspace", *"alp")
        assert main.models.names == ["alpha"]
        await pilot.press("escape")  # back to the filter from before '/'
        assert main.models.names == ["digits-knn"] and not main.models.filtering
        await pilot.press("slash", *["backspace"] * 3, "enter")
        assert main.models.names == ["alpha", "digits-knn", "sentiment"]


def named_registry(tmp_path: Path, names: tuple[str, ...]) -> Registry:
    registry = Registry(tmp_path / "names")
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(b"x" * 100)
    for name in names:
        registry.register(name, [artifact], "v1", metrics={"accuracy": 0.91}, scan=SCANNED)
    registry.deploy(f"{names[-1]}:v1", "production")
    registry.deploy(f"{names[-1]}:v1", "staging")
    return registry


@pilot_test
async def test_names_come_first_in_the_models_pane(tmp_path: Path) -> None:
    long = ("transformer-sentiment-imdb-finetune", "transformer-sentiment-imdb-distilled", "iris")
    registry = named_registry(tmp_path, long)
    async with ModelregApp(registry).run_test(size=(160, 48)) as pilot:
        main = await opened(pilot)
        text = screen_text(pilot.app)
        # The pane grows to show each name whole; the sparkline and the other environment go first.
        assert all(name in text for name in long)
        assert main.models.column_keys == ["name", "count", "live:production", "best"]
    async with ModelregApp(registry).run_test(size=(80, 24)) as pilot:
        main = await opened(pilot)
        await pilot.press("h", "j")
        await until(pilot, lambda: main.versions.model == "transformer-sentiment-imdb-distilled")
        text = screen_text(pilot.app)
        # Narrow: cut in the middle, so names sharing a prefix still read apart; the pane title too.
        rows = [line for line in text.splitlines() if "transfo" in line]
        assert any("…" in row and "distilled" in row for row in rows) and any("…" in row and "inetune" in row for row in rows)
        assert "Versions · transform…" in text and "imdb-distilled ─" in text and "…" in text.splitlines()[0]
    registry.close()


@pilot_test
async def test_a_column_per_environment_where_something_is_live_at_120_columns(tmp_path: Path) -> None:
    registry = named_registry(tmp_path, ("digits-knn", "wine-forest", "iris-logreg"))
    for size in ((120, 40), (160, 48)):
        async with ModelregApp(registry).run_test(size=size) as pilot:
            main = await opened(pilot)
            assert main.models.column_keys == ["name", "count", "live:production", "live:staging", "best", "spark"], size
            header = screen_text(pilot.app).splitlines()[1]
            assert "prod" in header and "stag" in header
    async with ModelregApp(registry).run_test(size=(100, 30)) as pilot:  # narrow: the current one only
        main = await opened(pilot)
        assert main.models.column_keys == ["name", "count", "live:production", "best"]
    registry.close()
