"""Choosing and ordering (issue 12): best across models and by training fields, newest first,
a model's scheme, suffix ordering, metric directions, deprecating what a deploy replaces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from store.errors import BadMetadata
from store.metrics import lower_is_better
from store.registry import Registry
from store.versions import next_version, sort_key
from tui.cli import main


def run(reg: Path, *argv: str) -> int:
    return main(["--registry", str(reg), *argv])


def test_best_across_models_and_by_a_training_field(tmp_path: Path, capsys) -> None:
    reg_path = tmp_path / "reg"
    with Registry(reg_path) as reg:
        reg.register("a", metrics={"accuracy": 0.91}, training={"cost": 3.0, "duration": 100})
        reg.register("a", metrics={"accuracy": 0.95}, training={"cost": 9.0, "duration": 50})
        reg.register("b", metrics={"accuracy": 0.93, "loss": 0.2}, training={"cost": 1.5})
        reg.register("c", metrics={"loss": 0.1})
        assert reg.best_overall("accuracy").ref == "a:v2"
        assert reg.best_overall().ref == "a:v2"  # accuracy: the most common primary metric
        assert reg.best_overall("loss").ref == "c:v1"  # lower is better, across models
        assert reg.best("a", "training.cost").ref == "a:v1"  # cheaper wins
        assert reg.best("a", "training.duration").ref == "a:v2"
    assert run(reg_path, "best", "--all", "--metric", "accuracy") == 0
    assert capsys.readouterr().out.strip() == "a:v2  accuracy=0.95"
    assert run(reg_path, "best", "a", "--metric", "training.cost") == 0
    assert capsys.readouterr().out.strip() == "a:v1  training.cost=3.0"
    assert run(reg_path, "best") == 1
    assert "name a MODEL, or pass --all" in capsys.readouterr().err


def test_newest_first_where_people_expect_it(tmp_path: Path, capsys) -> None:
    reg_path = tmp_path / "reg"
    with Registry(reg_path) as reg:
        for i in range(5):
            reg.register("m", metrics={"accuracy": 0.8 + i / 100})
    assert run(reg_path, "versions", "m", "--last", "2", "--json") == 0
    assert [v["version"] for v in json.loads(capsys.readouterr().out)] == ["v4", "v5"]
    assert run(reg_path, "find", "accuracy>0.5", "--limit", "2", "--json") == 0
    assert [v["version"] for v in json.loads(capsys.readouterr().out)] == ["v5", "v4"]  # the newest two, newest first
    assert run(reg_path, "find", "accuracy>0.5", "--limit", "2", "--oldest", "--json") == 0
    assert [v["version"] for v in json.loads(capsys.readouterr().out)] == ["v1", "v2"]
    assert run(reg_path, "versions", "m", "--last", "0") == 1
    assert "--last 0" in capsys.readouterr().err


@pytest.mark.parametrize(("scheme", "expected"), [("v1.0", ["v1.0", "v1.1"]), ("1.0.0", ["1.0.0", "1.0.1"]), ("v1", ["v1", "v2"])])
def test_a_new_model_starts_in_the_scheme_named(tmp_path: Path, scheme: str, expected: list[str]) -> None:
    reg_path = tmp_path / "reg"
    Registry(reg_path).close()
    assert run(reg_path, "model", "m", "--scheme", scheme) == 0
    with Registry(reg_path) as reg:
        assert reg.model("m").scheme == scheme
        assert [reg.register("m").version for _ in expected] == expected
        with pytest.raises(BadMetadata, match="already has versions"):
            reg.update_model("m", scheme="2.0.0")


def test_a_suffix_that_is_not_a_prerelease_orders_after_its_release() -> None:
    versions = ["v1.6", "v1.5-retry", "v1.5.1", "v1.5", "v1.5-rc.1", "v1.5-beta2"]
    assert sorted(versions, key=sort_key) == ["v1.5-beta2", "v1.5-rc.1", "v1.5", "v1.5-retry", "v1.5.1", "v1.6"]
    assert next_version(["v1.5", "v1.5-retry"]) == "v1.6"
    assert next_version(["1.3.0-rc.2"]) == "1.3.0"  # a real prerelease still becomes its release


def test_metric_directions() -> None:
    for name in ("memory", "mem", "ram", "vram", "size", "memory_mb", "vram_gb", "peak_ram_gb", "model_size"):
        assert lower_is_better(name), name
    for name in ("throughput", "tokens_per_sec", "qps", "accuracy", "train_tokens_per_second"):
        assert not lower_is_better(name), name


@pytest.mark.parametrize("deprecate", [True, False])
def test_deprecate_replaced_option(tmp_path: Path, deprecate: bool) -> None:
    reg_path = tmp_path / "reg"
    reg_path.mkdir()
    (reg_path / "config.json").write_text(json.dumps({"deprecate_replaced": deprecate}))
    artifact = tmp_path / "w.bin"
    artifact.write_bytes(b"w")
    with Registry(reg_path) as reg:
        reg.register("m", [artifact])
        reg.register("m", [artifact])
        reg.deploy("m:v1", "production")
        reg.deploy("m:v2", "production")
        assert reg.get("m:v1").status == ("deprecated" if deprecate else "completed")
        reg.rollback("m", "production")  # a deprecated version can still be rolled back to
        assert reg.get("m:v1").status == "deployed"


def test_a_bad_deprecate_replaced_is_one_line(tmp_path: Path, capsys) -> None:
    reg_path = tmp_path / "reg"
    Registry(reg_path).close()
    (reg_path / "config.json").write_text(json.dumps({"deprecate_replaced": "yes"}))
    assert run(reg_path, "list") == 1
    assert "'deprecate_replaced' must be true or false" in capsys.readouterr().err


def _two_versions(reg_path: Path) -> None:
    with Registry(reg_path) as reg:
        reg.register("m", metrics={"accuracy": 0.823, "loss": 0.3}, params={"C": 1}, training={"epochs": 3},
                     training_data=["tickets-q3"], source=False)
        reg.register("m", metrics={"accuracy": 0.8761, "loss": 0.35}, params={"C": 2}, training={"epochs": 5},
                     training_data=["tickets-q3", "tickets-q4"], note="more data", source=False)


def test_compare_one_metric_with_a_verdict_and_every_section(tmp_path: Path, capsys) -> None:
    reg_path = tmp_path / "reg"
    _two_versions(reg_path)
    assert run(reg_path, "compare", "m", "v1", "v2", "--metric", "accuracy") == 0
    out = capsys.readouterr().out
    assert "accuracy m:v1 → m:v2: ✓ improvement: +0.0531 (+6.45%)" in out
    assert "loss" not in out  # only the metric asked for
    assert "training m:v1 → m:v2: epochs: 3 → 5" in out and "extra m:v1 → m:v2: +note=more data" in out
    assert "training data: m:v1 [tickets-q3]; m:v2 [tickets-q3, tickets-q4]" in out
    assert run(reg_path, "compare", "m", "v1", "v2", "--metric", "loss") == 0
    assert "loss m:v1 → m:v2: ✗ regression: +0.05 (+16.67%)" in capsys.readouterr().out
    assert run(reg_path, "compare", "m", "v1", "v2", "--metric", "f1") == 1
    assert "has the metric 'f1'; they have accuracy, loss" in capsys.readouterr().err


def test_compare_as_markdown_and_csv(tmp_path: Path, capsys) -> None:
    reg_path = tmp_path / "reg"
    _two_versions(reg_path)
    assert run(reg_path, "compare", "m", "v1", "v2", "--markdown") == 0
    assert capsys.readouterr().out == (
        "| field | m:v1 | m:v2 |\n|---|---|---|\n| accuracy ↑ | 0.823 | 0.8761 |\n| loss ↓ | 0.3 | 0.35 |\n"
        "| params.C | 1 | 2 |\n| training.epochs | 3 | 5 |\n| extra.note |  | more data |\n"
        "| training_data | tickets-q3 | tickets-q3, tickets-q4 |\n")
    assert run(reg_path, "compare", "m", "v1", "v2", "--csv", "--metric", "accuracy") == 0
    assert capsys.readouterr().out == "field,m:v1,m:v2\naccuracy,0.823,0.8761\n"


def test_report_card(tmp_path: Path, capsys) -> None:
    reg_path = tmp_path / "reg"
    _two_versions(reg_path)
    artifact = tmp_path / "w.bin"
    artifact.write_bytes(b"w")
    with Registry(reg_path) as reg:
        reg.update("m:v2", artifacts=[str(artifact)])
        reg.score("m:v2", accuracy=0.88)
        reg.deploy("m:v2", "production")
    assert run(reg_path, "report", "m:v2", "--markdown") == 0
    out = capsys.readouterr().out
    assert out.startswith("# m:v2\n\n## About\n\n- status: deployed, live in production\n")
    assert "- accuracy ↑: 0.88 (history: 0.8761 → 0.88)" in out
    assert "## Data lineage\n\n- m:v2: tickets-q3, tickets-q4\n" in out
    assert "## Safety\n\n- safe: " in out
    assert "production  deploy  — → v2" in out
    assert run(reg_path, "report", "m:v1") == 0
    assert "Deploy history\n  never deployed" in capsys.readouterr().out


def test_export_experiments_round_trips_through_the_importer(tmp_path: Path, capsys) -> None:
    reg_path = tmp_path / "reg"
    _two_versions(reg_path)
    with Registry(reg_path) as reg:
        reg.update("m:v2", parent="m:v1", tags=["candidate"], notes="second", git_commit="abc1234")
        reg.set_status("m:v1", "deprecated")
        before = [v.to_dict() for v in reg.versions("m")]
    out = tmp_path / "experiment_history.jsonl"
    assert run(reg_path, "export", "--format", "experiments", str(out)) == 0
    assert f"Exported 2 versions of m to {out}" in capsys.readouterr().out
    first = json.loads(out.read_text().splitlines()[0])
    assert first["version"] == "v1" and first["metrics"] == {"overall": {"accuracy": 0.823, "loss": 0.3}}
    other = tmp_path / "other"
    Registry(other).close()
    assert run(other, "import", str(out), "--model", "m") == 0
    with Registry(other) as reg:
        after = [v.to_dict() for v in reg.versions("m")]
    keep = ("version", "status", "created_at", "metrics", "params", "training", "training_data", "git_commit", "parent", "tags", "notes", "extra")
    assert [{k: v[k] for k in keep} for v in after] == [{k: v[k] for k in keep} for v in before]
