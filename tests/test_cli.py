"""The modelreg command line: each registry command, its --json output and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from store.registry import Registry
from tui.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    registry = tmp_path / "reg"
    Registry(registry).close()  # a path named with --registry must already be a registry

    def invoke(*args: str) -> tuple[int, str, str]:
        code = main(["--registry", str(registry), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def run_json(run, *args: str):
    code, out, err = run(*args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_register_list_versions_info(run, artifact: Path) -> None:
    code, out, _ = run("register", "sentiment", str(artifact), "--metric", "accuracy=0.9", "--param", "lr=0.01",
                       "--tag", "baseline", "--notes", "first", "--data", "imdb", "--extra", "gpu=A100")
    assert code == 0 and "Registered sentiment:v1" in out
    run("register", "sentiment", "--metric", "accuracy=0.95", "--parent", "sentiment:v1")
    [row] = run_json(run, "list")
    assert row["model"] == "sentiment" and row["versions"] == 2 and row["best"] == "v2"
    versions = run_json(run, "versions", "sentiment")
    assert [v["version"] for v in versions] == ["v1", "v2"]
    info = run_json(run, "info", "sentiment:v1")
    assert info["params"] == {"lr": 0.01} and info["extra"] == {"gpu": "A100"} and info["children"] == ["sentiment:v2"]
    code, out, _ = run("info", "sentiment:v1")
    assert "accuracy: 0.9" in out and "children: sentiment:v2" in out
    code, out, _ = run("versions", "sentiment")
    assert out.splitlines()[0].split()[:4] == ["VERSION", "STATUS", "AGE", "SIZE"]
    model = run_json(run, "info", "sentiment")
    assert model["versions"] == ["v1", "v2"]


def test_score_tag_status_model_remove(run) -> None:
    run("register", "m", "--metric", "acc=0.5")
    assert run_json(run, "score", "m:v1", "acc=0.7", "f1=0.6")["metrics"] == {"acc": 0.7, "f1": 0.6}
    assert run_json(run, "tag", "m:v1", "x", "y")["tags"] == ["x", "y"]
    assert run_json(run, "untag", "m:v1", "x")["tags"] == ["y"]
    assert run_json(run, "status", "m:v1", "deprecated")["status"] == "deprecated"
    assert run_json(run, "model", "m", "--owner", "ana", "--direction", "acc=min")["directions"] == {"acc": "min"}
    code, out, _ = run("remove", "m:v1")
    assert code == 0 and "Removed m:v1" in out
    assert run_json(run, "versions", "m") == []


def test_find_best_compare_tree_lineage_summary(run) -> None:
    run("register", "base", "--metric", "accuracy=0.7", "--data", "crawl")
    run("register", "chat", "--metric", "accuracy=0.8", "--metric", "loss=0.4", "--parent", "base:v1", "--data", "dialogs")
    run("register", "chat", "--metric", "accuracy=0.9", "--metric", "loss=0.5", "--parent", "chat:v1", "--param", "lr=0.1")
    assert [v["ref"] for v in run_json(run, "find", "accuracy>0.75")] == ["chat:v1", "chat:v2"]
    assert run_json(run, "best", "chat", "--metric", "loss")["version"] == "v1"
    result = run_json(run, "compare", "chat", "v1", "v2")
    assert result["versions"] == ["chat:v1", "chat:v2"]
    code, out, _ = run("compare", "chat", "v1", "v2")
    assert "better" in out and "worse" in out and "+lr=0.1" in out
    code, out, _ = run("tree", "chat")
    assert out.splitlines() == ["v1 [completed] accuracy=0.8  (from base:v1)", "└── v2 [completed] accuracy=0.9"]
    lineage = run_json(run, "lineage", "chat:v2")
    assert lineage["ancestors"] == ["chat:v1", "base:v1"]
    assert [d["training_data"] for d in lineage["data"]] == [[], ["dialogs"], ["crawl"]]
    code, out, _ = run("summary", "--markdown")
    assert out.startswith("# Model registry: 2 models, 3 versions") and "| chat | 2 |" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["info", "nope:v1"], "unknown model 'nope'"),
        (["register", "m", "--version", "bad version"], "bad version 'bad version'"),
        (["register", "m", "--metric", "acc"], "bad --metric 'acc'"),
        (["find", "accuracy>>1"], "accuracy>>1"),
        (["register", "m", "/does/not/exist.pt"], "does not exist"),
        (["compare", "m", "v1"], "at least two versions"),
        (["status", "m:v1", "flying"], "unknown"),
    ],
)
def test_user_mistakes_are_one_line_errors(run, args: list[str], message: str) -> None:
    run("register", "m")
    code, out, err = run(*args)
    assert code == 1 and out == ""
    assert message in err and err.count("\n") == 1 and err.startswith("modelreg: error: ")


def test_installed_command_prints_no_traceback(tmp_path: Path) -> None:
    Registry(tmp_path / "reg").close()
    env = {**os.environ, "MODELREG_HOME": str(tmp_path / "reg")}
    for args in (["info", "ghost:v1"], ["frobnicate"], ["register"], ["versions", "x:y:z"]):
        proc = subprocess.run([sys.executable, "-m", "tui.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True)
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_init_creates_dot_modelreg_found_from_subfolders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert (tmp_path / ".modelreg" / "registry.json").exists()
    (tmp_path / "src").mkdir()
    monkeypatch.chdir(tmp_path / "src")
    assert main(["register", "m"]) == 0
    capsys.readouterr()
    assert main(["versions", "m", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["ref"] == "m:v1"


def test_control_characters_in_names_are_printed_literally(run) -> None:
    run("register", "m", "--notes", "\x1b[31mred\x1b[0m [bold]x[/bold]")
    code, out, _ = run("info", "m:v1")
    assert "\x1b" not in out and "\\x1b[31mred" in out and "[bold]x[/bold]" in out


def test_find_keeps_a_quoted_shell_argument_as_one_term(run) -> None:
    run("register", "m", "--notes", "the learning rate was too high")
    run("register", "m", "--notes", "rate limited learning")
    assert [v["ref"] for v in run_json(run, "find", "notes~learning rate")] == ["m:v1"]
    assert [v["ref"] for v in run_json(run, "find", "learning rate")] == ["m:v1"]  # one quoted phrase
    assert [v["ref"] for v in run_json(run, "find", "learning", "rate")] == ["m:v1", "m:v2"]  # two words
