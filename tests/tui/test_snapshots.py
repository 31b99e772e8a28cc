"""Snapshot tests of every pane and screen at 80×24 and 160×48 (pytest-textual-snapshot).

The scenes, their fixed data and frozen clock live in tui/screenshots.py, which also
writes the README's screenshots. After an intended change to the look, review and
accept the new images with:

    python -m pytest tests/tui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from typing import Any

import pytest

from tui.screenshots import SCENES, SIZES, Scene, make_app, play, scene_registry


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("scene", SCENES, ids=[s.name for s in SCENES])
def test_snapshot(scene: Scene, size: tuple[int, int], snap_compare: Any) -> None:
    with scene_registry() as registry:
        assert snap_compare(make_app(registry), terminal_size=size, run_before=lambda pilot: play(pilot, scene))
