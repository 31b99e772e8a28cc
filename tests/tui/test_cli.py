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

ROOT = Path(__file__).resolve().parents[2]


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


def test_read_only_refuses_every_command_that_writes_and_runs_the_rest(run, artifact: Path, tmp_path: Path) -> None:
    run("register", "m", str(artifact), "--metric", "acc=0.5")
    before = run_json(run, "info", "m:v1")
    refused = [("tag", "m:v1", "x"), ("untag", "m:v1", "x"), ("score", "m:v1", "acc=0.9"), ("status", "m:v1", "deprecated"),
               ("model", "m", "--owner", "ana"), ("model", "m", "--tag", "t"), ("remove", "m:v1"), ("register", "m"),
               ("deploy", "m:v1"), ("rollback", "m"), ("check",), ("doctor", "--fix"),
               ("attach", "m:v1", str(artifact))]
    for args in refused:
        code, out, err = run("--read-only", *args)
        assert code == 1 and out == "", args
        assert err == f"modelreg: error: --read-only: '{args[0]}' would change the registry; run it without --read-only\n"
    assert run_json(run, "info", "m:v1") == before and run_json(run, "history") == []
    for args in [("info", "m:v1"), ("versions", "m"), ("status", "m:v1"), ("model", "m"), ("find", "acc>0.1"),
                 ("scan", str(artifact)), ("scan", "m:v1"), ("doctor",), ("history",)]:
        code, out, err = run("--read-only", *args)
        assert "--read-only" not in err and out, args
    with Registry(tmp_path / "reg") as registry:  # (the fixture's registry) forget the verdict registering stored
        registry.update("m:v1", scan=None)
    code, out, _ = run("--read-only", "scan", "m:v1")
    assert "m:v1" in out and run_json(run, "info", "m:v1")["scan"] is None  # reported, not stored
    run("scan", "m:v1")
    assert run_json(run, "info", "m:v1")["scan"] is not None  # stored without the flag


def test_typos_in_names_and_numbers_are_one_line_not_silently_kept(run, tmp_path: Path) -> None:
    run("register", "m", "--metric", "acc=0.5")
    for args, line in [
        (("follow", "nosuch", "--dir", str(tmp_path / "host"), "--once"), "unknown model 'nosuch'"),
        (("follow", "m", "--env", "prod", "--dir", str(tmp_path / "host"), "--once"), "unknown environment 'prod'"),
        (("model", "fresh", "--scheme", "banana"), "bad scheme 'banana': the first version needs a number"),
        (("register", "m", "--samples", "-5"), "bad training samples -5"),
        (("metrics", "m:v1", "acuracy"), "m:v1 has no metric 'acuracy'; it has acc"),
        (("register", "m", "--epochs", "nan"), "bad --epochs 'nan': give a number"),
        (("register", "m", "--learning-rate", "inf"), "bad --learning-rate 'inf': give a number"),
    ]:
        code, out, err = run(*args)
        assert code == 1 and line in err and err.count("\n") == 1 and out == "", (args, err)
    assert not (tmp_path / "host").exists()
    assert [m["model"] for m in run_json(run, "list")] == ["m"]  # the bad scheme made no model
    assert [v["version"] for v in run_json(run, "versions", "m")] == ["v1"]
    code, out, err = run("model", "m", "--primary-metric", "acuracy")
    assert code == 0 and err == ("modelreg: warning: no version of m has a metric 'acuracy' yet (they have acc); "
                                 "'best' ranks by it once one does\n")
    code, out, err = run("model", "m", "--primary-metric", "acc")
    assert code == 0 and err == ""


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
        (["register", "m", "--status", "deployed"], "deployed only through 'modelreg deploy'"),
    ],
)
def test_user_mistakes_are_one_line_errors(run, args: list[str], message: str) -> None:
    run("register", "m")
    code, out, err = run(*args)
    assert code == 1 and out == ""
    assert message in err and err.count("\n") == 1 and err.startswith("modelreg: error: ")


def test_register_as_deployed_is_refused_and_registers_nothing(run) -> None:
    run("register", "other")
    code, _, err = run("register", "m", "--status", "deployed")
    assert code == 1 and "modelreg deploy" in err
    code, _, err = run("versions", "m")
    assert code == 1 and "unknown model 'm'" in err


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


def test_find_reads_one_argument_with_spaces_as_the_same_expression_as_several(run) -> None:
    run("register", "m", "--metric", "accuracy=0.999", "--tag", "sweep", "--notes", "the learning rate was too high")
    run("register", "m", "--metric", "accuracy=0.999", "--notes", "rate limited learning")
    run("register", "m", "--metric", "accuracy=0.5", "--tag", "sweep")
    assert [v["ref"] for v in run_json(run, "find", "accuracy>0.995 tag:sweep")] == ["m:v1"]
    assert [v["ref"] for v in run_json(run, "find", "accuracy>0.995", "tag:sweep")] == ["m:v1"]
    assert [v["ref"] for v in run_json(run, "find", "(accuracy>0.995 or tag:sweep) not notes~rate")] == ["m:v3"]
    assert [v["ref"] for v in run_json(run, "find", "learning rate")] == ["m:v1", "m:v2"]  # two words
    assert [v["ref"] for v in run_json(run, "find", 'notes~"learning rate"')] == ["m:v1"]  # a quoted phrase


@pytest.mark.parametrize(
    "args, message",
    [(["accuracy>0.9 and"], "'and' needs a term on each side"), (["accuracy>0.9", "and"], "'and' needs a term on each side"),
     (["(accuracy>0.5"], "'(' is never closed"), (["accuracy>0.5)"], "')' closes nothing")],
)
def test_find_refuses_an_incomplete_expression_with_one_line(run, args: list[str], message: str) -> None:
    run("register", "m", "--metric", "accuracy=0.9")
    code, out, err = run("find", *args)
    assert code == 1 and out == "" and "No versions match" not in out
    assert message in err and err.count("\n") == 1

def test_history_of_an_unknown_environment_is_refused_as_deploy_refuses_it(run) -> None:
    run("register", "m")
    code, out, err = run("history", "--env", "prod")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "unknown environment 'prod'" in err and "production, staging" in err
    _, _, deploy_err = run("deploy", "m:v1", "--env", "prod")
    assert deploy_err == err  # word for word what deploy says
    code, out, _ = run("history", "--env", "staging")  # known, nothing deployed yet
    assert code == 0 and "No deploys yet" in out


def test_untag_of_an_absent_tag_says_so(run) -> None:
    run("register", "m", "--tag", "a", "--tag", "b")
    code, out, err = run("untag", "m:v1", "zz")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "m:v1 has no tag 'zz': nothing removed (its tags: a, b)" in err
    code, out, _ = run("untag", "m:v1", "a", "zz")
    assert code == 0 and out.strip() == "m:v1 tags: b (it had no tag 'zz')"
    assert run_json(run, "info", "m:v1")["tags"] == ["b"]


def test_model_prints_directions_and_lists_as_text(run) -> None:
    run("register", "m", "--metric", "loss=0.1")
    code, out, _ = run("model", "m", "--direction", "loss=min", "--direction", "acc=max", "--tag", "nlp", "--tag", "prod")
    assert code == 0
    assert "  directions: loss=min, acc=max" in out.splitlines() and "  tags: nlp, prod" in out.splitlines()
    assert "{" not in out and "[" not in out


@pytest.mark.parametrize("where", ["file", "under-a-file"])
def test_demo_on_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("not a folder")
    if where == "under-a-file":
        target = target / "demo"
    assert main(["demo", str(target), "--no-ui", "--count", "1"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("modelreg: error: ")
    assert ("is a file" if where == "file" else "cannot make the demo in") in err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become user nobody")
def test_demo_in_an_unwritable_folder_is_one_line() -> None:
    # As user nobody (CI runs as root, who may write anywhere), in a folder nobody may not write.
    import shutil
    import tempfile

    locked = Path(tempfile.mkdtemp(prefix="modelreg-locked-"))
    locked.chmod(0o555)
    worker = Path(__file__).parents[1] / "backends" / "local" / "reliability_worker.py"
    try:
        done = subprocess.run([sys.executable, str(worker), "cli-as-nobody", "demo", str(locked / "demo"), "--no-ui",
                               "--count", "1"], capture_output=True, text=True, timeout=60, cwd=ROOT,
                              stdin=subprocess.DEVNULL)
    finally:
        locked.chmod(0o755)
        shutil.rmtree(locked)
    assert done.returncode == 1 and done.stdout == "", done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "cannot make the demo in" in done.stderr and "ermission denied" in done.stderr


def test_demo_on_a_file_prints_no_traceback_from_the_installed_command(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("not a folder")
    proc = subprocess.run([sys.executable, "-m", "tui.cli", "demo", str(target), "--no-ui"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_counts_of_one_are_singular(run, artifact: Path) -> None:
    run("register", "m", str(artifact))
    assert run("info", "m")[1].splitlines()[0] == "m: 1 version"
    assert run("check")[1].startswith("Checked 1 version: 0 missing")
    run("register", "m")
    assert run("info", "m")[1].splitlines()[0] == "m: 2 versions"
    assert run("summary")[1].splitlines()[0] == "1 model, 2 versions"
    assert run("summary", "--markdown")[1].startswith("# Model registry: 1 model, 2 versions\n")
