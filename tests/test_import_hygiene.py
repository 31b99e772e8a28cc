"""store/ is the headless core: importing it must not pull in the UI or heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules_after(statement: str) -> set[str]:
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def _store_modules() -> list[str]:
    files = (p.relative_to(ROOT).with_suffix("") for p in (ROOT / "store").rglob("*.py"))
    return sorted(".".join(f.parts[:-1] if f.name == "__init__" else f.parts) for f in files)


def test_store_never_imports_textual_or_tui() -> None:
    statement = "\n".join(f"import {name}" for name in ["store", *_store_modules()])
    loaded = _modules_after(statement)
    assert not {m for m in loaded if m == "textual" or m.startswith(("textual.", "tui"))}


def test_import_store_stays_light() -> None:
    loaded = _modules_after("import store")
    heavy = {"sklearn", "textual", "watchdog", "numpy", "scipy", "joblib"}
    assert not heavy & {m.split(".")[0] for m in loaded}


def test_store_sources_do_not_mention_tui() -> None:
    for path in (ROOT / "store").rglob("*.py"):
        text = path.read_text()
        assert "import textual" not in text and "from textual" not in text, path
        assert "import tui" not in text and "from tui" not in text, path
