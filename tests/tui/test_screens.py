"""Pilot tests of the secondary screens, each pushed alone on a tiny app over a real registry."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static

from store.lifecycle import TRANSITIONS
from store.registry import Registry
from tui.screens.compare import CompareScreen
from tui.screens.confirm import DeployConfirm, RollbackConfirm
from tui.screens.deltas import delta_text
from tui.screens.lineage import LineageScreen, LineageTree
from tui.screens.prompts import EnvironmentPicker, StatusPicker, TagEdit, TagPrompt

SIZE = (80, 24)
# The record 'modelreg scan' leaves on a safe file: without one, a pickle may not be deployed (store.deploy.gate).
SCANNED = {"safe": True, "verdict": "safe", "reason": "scanned: 0 imports, all on the allow-list"}


def pilot_test(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async Pilot test on its own event loop (no async pytest plugin needed)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


class Host(App[None]):
    """Pushes one screen on mount and keeps every result it is dismissed with."""

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__()
        self.under_test = screen
        self.results: list[Any] = []

    def on_mount(self) -> None:
        self.push_screen(self.under_test, callback=self.results.append)


def screen_text(app: App[Any]) -> str:
    """What the terminal shows now, as plain text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    """base:v4 <- sentiment:v1 <- {v2 <- other:v1, v3}; v4 unrelated. Real artifact files."""
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / "config.json").write_text(json.dumps({"environments": ["production", "staging", "canary"]}))
    registry = Registry(tmp_path / "registry")
    runs = tmp_path / "runs"
    runs.mkdir()

    def artifact(name: str) -> Path:
        path = runs / f"{name}.pkl"
        path.write_bytes(name.encode() * 50)
        return path

    base = registry.register("base", [artifact("base")], "v4", metrics={"accuracy": 0.80}, training_data=["wiki-2024"], scan=SCANNED)
    v1 = registry.register(
        "sentiment", [artifact("s1")], "v1", parent=base.ref, training_data=["imdb-v1"], git_commit="abc1234",
        metrics={"accuracy": 0.90, "val_loss": 0.30}, params={"max_depth": 5, "criterion": "gini", "seed": 7},
        tags=["baseline", "[bold red]loud"], scan=SCANNED,
    )
    v2 = registry.register(
        "sentiment", [artifact("s2")], "v2", parent=v1.ref, training_data=["imdb-v2"],
        metrics={"accuracy": 0.93, "val_loss": 0.35}, params={"max_depth": 7, "criterion": "gini", "seed": 7}, scan=SCANNED,
    )
    registry.register(
        "sentiment", [artifact("s3")], "v3", parent=v1.ref, training_data=["[blink]raw\x1b]0;pwned\x07"],
        metrics={"accuracy": 0.85, "val_loss": 0.20}, params={"max_depth": 7, "criterion": "entropy", "seed": 7}, scan=SCANNED,
    )
    registry.register("sentiment", [artifact("s4")], "v4", metrics={"accuracy": 0.95, "val_loss": 0.25}, status="draft", scan=SCANNED)
    registry.register("other", [artifact("o1")], "v1", parent=v2.ref, metrics={"f1": 0.5}, scan=SCANNED)
    yield registry
    registry.close()


# -- compare -------------------------------------------------------------------------------------


@pilot_test
async def test_compare_shows_deltas_with_direction_aware_signs_and_symbols(reg: Registry) -> None:
    app = Host(CompareScreen(reg, ["sentiment:v1", "sentiment:v2", "sentiment:v3"]))
    async with app.run_test(size=SIZE):
        text = screen_text(app)
    assert "sentiment:v1 (base) with v2, v3" in text
    assert "accuracy ↑" in text and "val_loss ↓" in text
    # accuracy up is better, loss up is worse: sign, arrow and verdict agree with the direction.
    assert "▲ +0.0300 +3.3% ✓" in text
    assert "▼ -0.0500 -5.6% ✗" in text
    assert "▲ +0.0500 +16.7% ✗" in text
    assert "▼ -0.1000 -33.3% ✓" in text
    # Tags are shown literally, markup and all.
    assert "[bold red]loud" in text


def test_deltas_are_coloured_by_improvement() -> None:
    assert str(delta_text(0.03, 0.033, True).style) == "green"
    assert str(delta_text(0.05, 0.167, False).style) == "red"
    assert delta_text(0.0, 0.0, None).plain == "= no change"


@pilot_test
async def test_compare_reads_without_colour(reg: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = Host(CompareScreen(reg, ["sentiment:v1", "sentiment:v2"]))
    async with app.run_test(size=SIZE):
        assert app.no_color
        text = screen_text(app)
    assert "▲ +0.0300 +3.3% ✓" in text and "▲ +0.0500 +16.7% ✗" in text


@pilot_test
async def test_compare_params_show_only_differences_until_toggled(reg: Registry) -> None:
    app = Host(CompareScreen(reg, ["sentiment:v1", "sentiment:v3"]))
    async with app.run_test(size=SIZE) as pilot:
        text = screen_text(app)
        assert "Params: 2 of 3 differ" in text
        assert "max_depth" in text and "entropy" in text
        assert "seed" not in text
        await pilot.press("a")
        text = screen_text(app)
        assert "Params: all 3, 2 differ" in text
        assert "seed" in text and "max_depth ≠" in text
        await pilot.press("a")
        assert "seed" not in screen_text(app)


@pilot_test
async def test_compare_plot_cycles_metrics_and_escape_closes(reg: Registry) -> None:
    app = Host(CompareScreen(reg, ["sentiment:v1", "sentiment:v2"]))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("end")  # the plot is below the fold at 80x24: scroll by keyboard
        text = screen_text(app)
        assert "Plot: accuracy ↑ across sentiment's 4 versions" in text
        # Every version gets a bar; the compared ones are marked, the best is starred.
        assert "● v1" in text and "● v2" in text and "  v3" in text
        assert "0.9500 ★" in text  # v4, best by accuracy
        await pilot.press("m")
        text = screen_text(app)
        assert "Plot: val_loss ↓" in text
        assert "0.2000 ★" in text  # v3, best by loss: lower is better
        await pilot.press("m")
        assert "Plot: accuracy ↑" in screen_text(app)
        await pilot.press("escape")
    assert app.results == [None]


@pilot_test
async def test_compare_of_one_version_says_why_instead_of_crashing(reg: Registry) -> None:
    app = Host(CompareScreen(reg, ["sentiment:v1"]))
    async with app.run_test(size=SIZE) as pilot:
        assert "compare needs at least two versions" in screen_text(app)
        await pilot.press("q")
    assert app.results == [None]


# -- lineage -------------------------------------------------------------------------------------


@pilot_test
async def test_lineage_opens_on_the_version_and_enter_jumps(reg: Registry) -> None:
    app = Host(LineageScreen(reg, "sentiment:v2"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        tree = app.screen.query_one(LineageTree)
        assert tree.cursor_node is not None and tree.cursor_node.data == "sentiment:v2"
        text = screen_text(app)
        opened = next(line for line in text.splitlines() if "v2  completed" in line)
        assert "› " in opened and "◀ opened" in opened
        # Parents across models and fine-tunes in other models are in the tree.
        assert "base:v4  (parent in another model)" in text
        assert "→ other:v1" in text
        assert "v4  draft" in text
        await pilot.press("down", "enter")
    assert app.results == ["other:v1"]


@pilot_test
async def test_lineage_hjkl_and_jump_to_parent_model(reg: Registry) -> None:
    app = Host(LineageScreen(reg, "sentiment:v1"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("j", "k", "h")  # down, up, to the parent: base:v4
        assert app.screen.query_one(LineageTree).cursor_node.data == "base:v4"
        await pilot.press("enter")
    assert app.results == ["base:v4"]


@pilot_test
async def test_lineage_data_panel_follows_the_cursor(reg: Registry) -> None:
    app = Host(LineageScreen(reg, "sentiment:v2"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "Data lineage of" not in screen_text(app)
        await pilot.press("d")
        text = screen_text(app)
        assert "Data lineage of sentiment:v2" in text
        assert "sentiment:v2  data: imdb-v2" in text
        assert "sentiment:v1  data: imdb-v1  commit abc1234" in text
        assert "base:v4  data: wiki-2024" in text
        await pilot.press("k")
        assert "Data lineage of sentiment:v1" in screen_text(app)
        await pilot.press("down", "down", "down")  # via v2 and other:v1 to v3, whose data name carries markup and an escape sequence
        text = screen_text(app)
        assert "sentiment:v3  data: [blink]raw" in text and "pwned" not in text
        await pilot.press("d")
        assert "Data lineage of" not in screen_text(app)
        await pilot.press("escape")
    assert app.results == [None]


# -- deploy and rollback confirmation ---------------------------------------------------------------


async def run_keys(screen: Screen[Any], *keys: str) -> Host:
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
        await pilot.pause()
    return app


@pilot_test
async def test_deploy_confirm_shows_the_change(reg: Registry) -> None:
    app = Host(DeployConfirm(reg, "sentiment:v2", "staging"))
    async with app.run_test(size=SIZE):
        text = screen_text(app)
    assert "Deploy sentiment:v2 to staging?" in text
    assert "environment  staging" in text and "protected" not in text
    assert "live now  nothing  →  new  v2" in text
    assert "accuracy ↑  0.9300" in text
    assert "y: deploy · any other key (enter too): cancel" in text
    assert "enter" not in text.splitlines()[-1]  # the footer offers y only


@pilot_test
async def test_deploy_confirm_y_confirms(reg: Registry) -> None:
    app = await run_keys(DeployConfirm(reg, "sentiment:v2", "staging"), "y")
    assert app.results == [True]


@pytest.mark.parametrize("key", ["enter", "n", "escape", "Y", "space", "tab", "up", "left_square_bracket", "A", "d", "ctrl+y"])
@pilot_test
async def test_deploy_confirm_any_other_key_cancels(reg: Registry, key: str) -> None:
    app = await run_keys(DeployConfirm(reg, "sentiment:v2", "staging"), key)
    assert app.results == [False]


@pilot_test
async def test_deploy_confirm_split_escape_sequence_never_confirms(reg: Registry) -> None:
    # Over a slow link an up arrow can arrive as three keys; then the user presses y, enter.
    app = await run_keys(DeployConfirm(reg, "sentiment:v2", "staging"), "escape", "left_square_bracket", "A", "y", "enter")
    assert app.results == [False]
    app = await run_keys(DeployConfirm(reg, "sentiment:v2", "staging"), "left_square_bracket", "A", "enter")
    assert app.results == [False]


@pilot_test
async def test_protected_deploy_needs_the_exact_model_name(reg: Registry) -> None:
    app = Host(DeployConfirm(reg, "sentiment:v2", "production"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        field = app.screen.query_one("#confirm-name", Input)
        assert field.value == "" and field.has_focus
        text = screen_text(app)
        assert "production  ⚠ protected" in text and "type the model name sentiment" in text
        await pilot.press("y", "enter")  # y only types; enter with the wrong name refuses
        assert app.results == [] and "that is not the model name" in screen_text(app)
        assert field.value == ""
        await pilot.press("enter")  # nothing typed
        await pilot.press("left_square_bracket", "A", "enter")  # the tail of a split escape sequence
        await pilot.press(*"sentimen", "enter")  # almost
        await pilot.press(*"Sentiment", "enter")  # case matters
        assert app.results == [] and isinstance(app.screen, DeployConfirm)
        await pilot.press(*"sentiment", "enter")
    assert app.results == [True]


@pilot_test
async def test_protected_deploy_editing_keys_work_and_escape_cancels(reg: Registry) -> None:
    app = await run_keys(DeployConfirm(reg, "sentiment:v2", "production"), *"sentimentx", "backspace", "enter")
    assert app.results == [True]
    app = await run_keys(DeployConfirm(reg, "sentiment:v2", "production"), *"sentiment", "escape", "left_square_bracket", "A", "enter")
    assert app.results == [False]


@pilot_test
async def test_rollback_with_nothing_live_is_impossible(reg: Registry) -> None:
    app = Host(RollbackConfirm(reg, "sentiment", "staging"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "Roll back sentiment in staging?" in text
        assert "Rollback impossible: nothing of sentiment is live in staging" in text
        await pilot.press("y")
    assert app.results == [False]


@pilot_test
async def test_deploy_confirm_shows_live_now_to_new_with_metric_deltas(reg: Registry) -> None:
    reg.deploy("sentiment:v1", "staging")
    app = Host(DeployConfirm(reg, "sentiment:v2", "staging"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "live now  v1  →  new  v2" in text
        assert "accuracy ↑  0.9000  0.9300  ▲ +0.0300 +3.3% ✓" in text
        assert "val_loss ↓  0.3000  0.3500  ▲ +0.0500 +16.7% ✗" in text
        await pilot.press("y")
    assert app.results == [True]
    # The screen only answers; the app deploys. Nothing changed on disk yet.
    assert reg.live("sentiment", "staging").version == "v1"
    assert [h["to"] for h in reg.history("sentiment", "staging")] == ["v1"]


@pilot_test
async def test_rollback_confirm_shows_the_target_the_rollback_uses(reg: Registry) -> None:
    reg.deploy("sentiment:v1", "staging")
    reg.deploy("sentiment:v2", "staging")
    reg.deploy("sentiment:v3", "staging")
    reg.rollback("sentiment", "staging")  # v3 -> v2; the next rollback goes to v1
    app = Host(RollbackConfirm(reg, "sentiment", "staging"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "Roll back sentiment in staging?" in text
        assert "live now  v2  →  back to  v1" in text
        assert "v1 was live in staging before v2" in text
        assert "accuracy ↑  0.9300  0.9000  ▼ -0.0300 -3.2% ✗" in text
        await pilot.press("y")
    assert app.results == [True]
    entry = reg.rollback("sentiment", "staging")  # what the app then does: the same target
    assert (entry["from"], entry["to"]) == ("v2", "v1")


@pilot_test
async def test_rollback_confirm_enter_cancels(reg: Registry) -> None:
    reg.deploy("sentiment:v1", "staging")
    reg.deploy("sentiment:v2", "staging")
    app = await run_keys(RollbackConfirm(reg, "sentiment", "staging"), "enter", "y")
    assert app.results == [False]  # enter is not an answer; the y after it comes too late


@pilot_test
async def test_rollback_with_a_single_deploy_only_cancels(reg: Registry) -> None:
    reg.deploy("sentiment:v1", "staging")
    app = Host(RollbackConfirm(reg, "sentiment", "staging"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "live now  v1  →  back to  nothing" in text
        assert "Rollback impossible: no earlier version was live in staging before v1" in text
        await pilot.press("enter")
    assert app.results == [False]


@pilot_test
async def test_protected_rollback_needs_the_model_name(reg: Registry) -> None:
    reg.deploy("sentiment:v1", "production")
    reg.deploy("sentiment:v2", "production")
    app = await run_keys(RollbackConfirm(reg, "sentiment", "production"), "y", "enter")
    assert app.results == []  # still asking: y typed a letter, and "y" is not the name
    app = await run_keys(RollbackConfirm(reg, "sentiment", "production"), *"sentiment", "enter")
    assert app.results == [True]


# -- prompts -------------------------------------------------------------------------------------


@pilot_test
async def test_tag_prompt_adds_and_removes(reg: Registry) -> None:
    app = Host(TagPrompt(reg, "sentiment:v1"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.query_one("#tag-input", Input).value == ""
        assert "now: baseline, [bold red]loud" in screen_text(app)
        await pilot.press("-", "enter")  # names no tag: said inline, prompt stays
        assert "names no tag" in screen_text(app) and app.results == []
        app.screen.query_one("#tag-input", Input).value = ""
        await pilot.press(*"best,-baseline +prod", "enter")
    assert app.results == [TagEdit(add=("best", "prod"), remove=("baseline",))]
    app.results[0].apply(reg, "sentiment:v1")
    assert reg.get("sentiment:v1").tags == ("[bold red]loud", "best", "prod")


@pilot_test
async def test_tag_prompt_escape_and_empty_return_none(reg: Registry) -> None:
    assert (await run_keys(TagPrompt(reg, "sentiment:v1"), "escape")).results == [None]
    assert (await run_keys(TagPrompt(reg, "sentiment:v1"), "enter")).results == [None]


def options_of(app: App[Any]) -> list[str]:
    choices = app.screen.query_one(OptionList)
    return [choices.get_option_at_index(i).id or "" for i in range(choices.option_count)]


@pytest.mark.parametrize("ref, status", [("sentiment:v1", "completed"), ("sentiment:v4", "draft")])
@pilot_test
async def test_status_picker_offers_only_allowed_transitions(reg: Registry, ref: str, status: str) -> None:
    app = Host(StatusPicker(reg, ref))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        offered = options_of(app)
        assert set(offered) == TRANSITIONS[status] - {"deployed"}
        assert f"Status of {ref}: {status} →" in screen_text(app)
        assert f"{status} → {offered[0]}   y: change" in screen_text(app)
        await pilot.press("j", "enter")  # enter only shows the move: it takes y to make it
        assert app.results == [] and isinstance(app.screen, StatusPicker)
        assert f"{status} → {offered[1]}   y: change · escape: cancel" in screen_text(app)
        await pilot.press("y")
    assert app.results == [offered[1]]
    reg.set_status(ref, app.results[0])  # what the app does with the answer: the store agrees
    assert reg.get(ref).status == offered[1]


@pilot_test
async def test_status_picker_escape_after_enter_changes_nothing(reg: Registry) -> None:
    app = await run_keys(StatusPicker(reg, "sentiment:v1"), "enter", "enter", "escape")
    assert app.results == [None]


@pilot_test
async def test_environment_picker_starts_on_current(reg: Registry) -> None:
    app = Host(EnvironmentPicker(reg, "staging"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert options_of(app) == ["production", "staging", "canary"]
        text = screen_text(app)
        assert "production  ⚠ protected" in text and "● staging" in text
        await pilot.press("enter")
        assert app.results == ["staging"]
    app = await run_keys(EnvironmentPicker(reg, "staging"), "down", "enter")
    assert app.results == ["canary"]
    app = await run_keys(EnvironmentPicker(reg, None), "escape")
    assert app.results == [None]

