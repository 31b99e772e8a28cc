"""Where the registry is: a path named outright must be a registry, for every command.

``--registry PATH`` or ``MODELREG_HOME`` naming a path that does not exist, or an
ordinary folder, is refused with the exact fix; only the implicit default is created.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.registry import Registry
from tui.cli import main

ROOT = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("reliability_worker.py")

COMMANDS = [
    ("list",), ("versions", "m"), ("info", "m:v1"), ("register", "m"), ("score", "m:v1", "a=1"),
    ("tag", "m:v1", "x"), ("untag", "m:v1", "x"), ("status",), ("status", "m:v1", "archived"),
    ("model", "m", "--owner", "ana"), ("remove", "m:v1"), ("find",), ("best", "m"), ("compare", "m", "v1", "v2"),
    ("tree", "m"), ("lineage", "m:v1"), ("summary",), ("deploy", "m:v1"), ("rollback", "m"), ("history",),
    ("check",), ("load", "m:v1"), ("scan", "m:v1"), ("export", "--all", "OUT"), ("import", "IN"), ("watch", "RUNS"),
    ("doctor",), ("doctor", "--fix"), (), ("--read-only",),  # () and --read-only: the app
]


def snapshot_tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(folder.rglob("*"))}


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _args(command: tuple[str, ...], tmp_path: Path) -> list[str]:
    runs = tmp_path / "runs"
    runs.mkdir(exist_ok=True)
    (tmp_path / "bundle.json").write_text("{}")
    swap = {"OUT": str(tmp_path / "out.tar"), "IN": str(tmp_path / "bundle.json"), "RUNS": str(runs)}
    return [swap.get(a, a) for a in command]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c[:2]) or "app")
@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_a_named_path_that_is_not_a_registry_is_refused_by_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: tuple[str, ...], kind: str
) -> None:
    target = tmp_path / "somewhere"
    if kind == "folder":
        target.mkdir()
        (target / "notes.txt").write_text("mine")
    argv = ["--registry", str(target), *_args(command, tmp_path)]
    before = snapshot_tree(tmp_path)
    code = main(argv)
    _, err = capsys.readouterr()
    line = one_error_line(err)
    assert code != 0
    assert f"'modelreg init {target}' creates {target}/.modelreg; then pass --registry {target}/.modelreg" in line
    assert ("does not exist" if kind == "missing" else "ordinary folder") in line
    assert snapshot_tree(tmp_path) == before  # nothing created, nothing written


def test_modelreg_home_follows_the_same_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELREG_HOME", str(tmp_path / "home"))
    assert main(["register", "m"]) != 0
    assert "does not exist" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "home").exists()
    assert main(["init", str(tmp_path)]) == 0
    monkeypatch.setenv("MODELREG_HOME", str(tmp_path / ".modelreg"))
    assert main(["register", "m"]) == 0
    assert "Registered m:v1" in capsys.readouterr().out


def test_init_then_the_path_it_printed_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "proj")]) == 0
    assert f"registry at {tmp_path}/proj/.modelreg" in capsys.readouterr().out
    # The folder that holds a registry: the message names the registry inside it.
    assert main(["--registry", str(tmp_path / "proj"), "list"]) != 0
    line = one_error_line(capsys.readouterr().err)
    assert f"did you mean --registry {tmp_path}/proj/.modelreg?" in line
    # A .modelreg that does not exist yet: init its parent.
    assert main(["--registry", str(tmp_path / "other" / ".modelreg"), "register", "m"]) != 0
    assert f"'modelreg init {tmp_path}/other' creates it" in one_error_line(capsys.readouterr().err)
    assert main(["--registry", str(tmp_path / "proj" / ".modelreg"), "register", "m"]) == 0
    # --registry X init creates exactly X, as asked.
    assert main(["--registry", str(tmp_path / "exact"), "init"]) == 0
    assert Registry(tmp_path / "exact", create=False).models() == []


def test_only_the_implicit_default_is_created_on_first_use(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["register", "m"]) == 0
    assert (tmp_path / "xdg" / "modelreg" / "registry.json").exists()


def test_registry_and_json_after_the_subcommand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reg = str(tmp_path / "reg")
    Registry(reg).close()
    assert main(["register", "m", "--registry", reg, "--metric", "acc=0.5"]) == 0
    capsys.readouterr()
    assert main(["list", "--registry", reg, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["model"] == "m"
    assert main(["--json", "--registry", reg, "versions", "m"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["ref"] == "m:v1"
    # After the command it wins over one given before it.
    assert main(["--registry", str(tmp_path / "nope"), "list", "--registry", reg, "--json"]) == 0


def test_an_empty_snapshot_is_named_not_retried_forever(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reg = Registry(tmp_path / "reg")
    reg.register("m")
    reg.close()
    (tmp_path / "reg" / "registry.json").write_bytes(b"")
    assert main(["--registry", str(tmp_path / "reg"), "list"]) != 0
    line = one_error_line(capsys.readouterr().err)
    assert "kept changing" not in line and "registry.json is empty" in line and "modelreg doctor" in line


# -- permissions (run as user nobody) -------------------------------------------------------------


@pytest.fixture
def closed_registry() -> Iterator[Path]:
    """A registry nobody may not look into (pytest's tmp_path is closed to nobody altogether)."""
    directory = Path(tempfile.mkdtemp(prefix="modelreg-perm-"))
    directory.chmod(0o755)
    reg = Registry(directory / "registry")
    reg.register("m")
    reg.close()
    (directory / "registry").chmod(0o700)
    yield directory / "registry"
    shutil.rmtree(directory)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become user nobody")
@pytest.mark.parametrize("argv", [["list"], ["register", "m"], ["info", "m:v1", "--json"], []], ids=["list", "register", "info", "app"])
def test_an_unreadable_registry_is_one_line_and_a_failure(closed_registry: Path, argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(WORKER), "cli-as-nobody", "--registry", str(closed_registry), *argv],
        capture_output=True, text=True, timeout=60, cwd=ROOT, stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    line = one_error_line(done.stderr)
    assert line.startswith("modelreg: error: cannot open the registry at") and "Permission denied" in line
