"""Importing other tools' files: an AFS registry.json with lineage.json, and an experiment_history.jsonl."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.errors import BundleError, ModelregError
from store.transfer.importers import detect, import_file
from store.registry import Registry
from tests.conftest import BACKENDS, backend_for
from tui.cli import main

DATA = Path(__file__).parent / "data"


@pytest.fixture(params=BACKENDS)
def reg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """Imports go through Registry's public API only, so they run over every backend."""
    registry = Registry(tmp_path / "reg", backend=backend_for(request))
    yield registry
    registry.close()


@pytest.fixture
def afs(tmp_path: Path) -> Path:
    """The AFS folder with the adapters and GGUF exports its registry.json names, except one GGUF never uploaded."""
    root = tmp_path / "afs"
    shutil.copytree(DATA / "afs", root)
    for model, version in [("support-intent", "v1"), ("support-intent", "v2"), ("support-intent", "v3"),
                           ("support-summarizer", "1.0.0"), ("support-summarizer", "1.1.0")]:
        adapter = root / "adapters" / model / version
        adapter.mkdir(parents=True)
        (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 16}))
        (adapter / "adapter_model.safetensors").write_bytes(f"{model}{version}".encode() * 200)
    (root / "exports").mkdir()
    for name in ("support-intent-v2.Q4_K_M.gguf", "support-summarizer-1.1.0.Q8_0.gguf"):
        (root / "exports" / name).write_bytes(b"GGUF\x03\x00\x00\x00" + name.encode() * 50)
    return root / "registry.json"


def state(reg: Registry) -> dict:
    reg.refresh()
    backend = reg.backend
    return {"models": dict(backend.models()), "versions": dict(backend.versions()), "history": dict(backend.history()),
            "live": dict(backend.live())}


def test_afs_registry_and_lineage(reg: Registry, afs: Path) -> None:
    assert detect(afs) == "afs"
    result = import_file(reg, afs)
    assert result.format == "afs"
    assert sorted(result.versions) == ["support-intent:v1", "support-intent:v2", "support-intent:v3",
                                       "support-summarizer:1.0.0", "support-summarizer:1.1.0"]
    assert any("does not exist" in w and "support-intent-v3.Q4_K_M.gguf" in w for w in result.warnings)
    assert any("0.9.0-rc1" in w for w in result.warnings)  # a lineage edge to a version AFS no longer lists

    v2 = reg.get("support-intent:v2")
    # evaluation_scores: nested dicts flattened with dots, numbers only; the rest kept in extra.
    assert v2.metrics["accuracy"] == 0.902 and v2.metrics["per_intent.refund.f1"] == 0.86
    assert v2.metrics["llm_judge.helpfulness"] == 7.9 and "llm_judge.passed" not in v2.metrics
    assert v2.extra["evaluation_scores"] == {"llm_judge.judge_model": "gpt-4o-2024-08-06", "llm_judge.passed": True}
    # training: known fields (and their common aliases) map; the rest go to extra.
    assert v2.training == {"base_model": "meta-llama/Meta-Llama-3-8B-Instruct", "learning_rate": 0.0001, "epochs": 3,
                           "batch_size": 8, "samples": 24576, "duration": 7733.2, "hardware": "1x A100 80GB"}
    assert v2.extra["training"] == {"gradient_accumulation_steps": 4, "lora_r": 32, "lora_alpha": 64,
                                    "lora_dropout": 0.05, "max_seq_length": 1024, "seed": 1234}
    # deployed=true is recorded, never made live.
    assert "afs-deployed" in v2.tags and v2.extra["afs_deployed"] is True and v2.extra["deployed_at"] == "2025-02-21T08:15:00Z"
    assert v2.status == "completed" and reg.live_map() == {}
    assert v2.training_data == ("tickets-2024-q4", "tickets-2025-01", "synthetic-faq")
    assert v2.git_commit == "b71c2d4" and v2.notes == "more data, r=32"
    assert v2.created_at == "2025-02-19T16:00:00+00:00"  # epoch seconds
    # Artifacts are referenced where they are, hashed like register does.
    assert [(a["role"], a["kind"], a["framework"]) for a in v2.artifacts] == [("lora", "dir", "peft"), ("gguf", "file", "gguf")]
    assert all(len(a["sha256"]) == 64 for a in v2.artifacts) and not v2.missing
    assert reg.versions_with_artifact(afs.parent / "exports" / "support-intent-v2.Q4_K_M.gguf")[0].ref == v2.ref

    v3 = reg.get("support-intent:v3")
    assert v3.missing and v3.artifacts[1]["sha256"] is None and "did not exist" in v3.problems[0]
    assert v3.status == "training" and v3.extra["wandb_run"] == "support/intent-sft/runs/8k2j1x"
    assert v3.created_at == "2025-04-11T17:03:55.120000+00:00"
    # Lineage: parent_version and lineage.json, across models.
    assert [v.ref for v in reg.ancestors("support-summarizer:1.1.0")] == [
        "support-summarizer:1.0.0", "support-intent:v2", "support-intent:v1"]
    assert reg.model("support-intent").owner == "ml-platform"
    assert reg.get("support-intent:v1").training_data == ("tickets-2024-q4", "synthetic-faq")


def test_reimporting_is_refused_or_skipped(reg: Registry, afs: Path) -> None:
    import_file(reg, afs)
    before = state(reg)
    with pytest.raises(BundleError, match=r"support-intent:v1, support-intent:v2.* already exist.*--skip-existing"):
        import_file(reg, afs)
    assert state(reg) == before
    again = import_file(reg, afs, skip_existing=True)
    assert again.versions == [] and len(again.skipped) == 5 and state(reg) == before


def test_afs_list_variant_and_other_lineage_shapes(reg: Registry, tmp_path: Path) -> None:
    folder = tmp_path / "afs-lists"
    folder.mkdir()
    (folder / "registry.json").write_text(json.dumps({"models": [
        {"name": "ner", "versions": [
            {"version": "v1", "evaluation_scores": {"f1": 0.8}, "created_at": "2025-01-01T00:00:00Z"},
            {"version": "v2", "evaluation_scores": {"f1": 0.84}, "training": {"lr": 0.001, "optimizer": "adam"}},
            {"version": "v3", "evaluation_scores": {"f1": "n/a"}},
        ]},
        {"name": "ner-small", "versions": [{"version": "v1", "evaluation_scores": {"f1": 0.79}}]},
    ]}))
    (folder / "lineage.json").write_text(json.dumps({"ner:v2": {"parent": "v1"}, "ner-small:v1": {"parents": ["ner:v2", "ner:v3"]},
                                                     "ner:v3": {"parent": "ner:v2"}}))
    import_file(reg, folder)  # a folder holding registry.json is found too
    assert reg.get("ner:v2").parent == "ner:v1" and reg.get("ner:v2").training == {"learning_rate": 0.001}
    assert reg.get("ner:v2").extra == {"training": {"optimizer": "adam"}}
    assert reg.get("ner-small:v1").parent == "ner:v2" and reg.get("ner-small:v1").extra["other_parents"] == ["ner:v3"]
    assert reg.get("ner:v3").metrics == {} and reg.get("ner:v3").extra["evaluation_scores"] == {"f1": "n/a"}

    (folder / "lineage.json").write_text(json.dumps({"ner:v1": ["ner:v9"]}))  # parent -> children
    (folder / "registry.json").write_text(json.dumps({"models": {"ner": {"versions": {"v9": {}}}}}))
    import_file(reg, folder / "registry.json")
    assert reg.get("ner:v9").parent == "ner:v1"


def test_a_parent_nowhere_to_be_found_is_refused(reg: Registry, tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"models": {"chat": {"versions": {"v2": {"parent_version": "v1"}, "v3": {"parent_version": "v2"}}}}}))
    with pytest.raises(BundleError, match=r"parent chat:v1 of chat:v2 is neither in registry.json nor in this registry"):
        import_file(reg, path)
    assert state(reg)["versions"] == {}
    reg.register("chat", [], "v1")
    import_file(reg, path)
    assert [v.ref for v in reg.ancestors("chat:v3")] == ["chat:v2", "chat:v1"]


def test_experiment_history(reg: Registry, tmp_path: Path) -> None:
    history = tmp_path / "sentiment" / "experiment_history.jsonl"
    history.parent.mkdir()
    shutil.copy(DATA / "experiments" / "sentiment" / "experiment_history.jsonl", history)
    assert detect(history) == "experiments"
    result = import_file(reg, history)
    assert result.versions == ["sentiment:v1", "sentiment:v2", "sentiment:v3", "sentiment:v4"]

    v3 = reg.get("sentiment:v3")
    assert v3.metrics["accuracy"] == 0.902 and v3.metrics["per_label.neutral.f1"] > 0.8
    assert v3.metrics["per_label.positive.support"] == 655
    assert v3.params["optimizer.lr"] == 2e-05 and v3.params["optimizer.schedule.type"] == "linear"
    assert v3.params["labels"] == ["negative", "neutral", "positive"] and v3.params["model.name"] == "roberta-base"
    assert v3.created_at == "2025-03-05T22:17:03.550871+00:00"
    assert v3.git_commit == "1ab44c0" and v3.tags == ("roberta",)
    assert v3.extra["host"] == "gpu-box-1" and v3.extra["wandb"] == {"project": "sentiment", "run": "f83kd0"}
    assert v3.extra["metrics"] == {"confusion_matrix": [[380, 22, 10], [30, 181, 22], [8, 25, 622]]}
    # A timestamp without a zone is the local time of the machine that wrote it.
    local = datetime.fromisoformat("2025-03-07T08:00:00").astimezone(timezone.utc).isoformat()
    v4 = reg.get("sentiment:v4")
    assert v4.created_at == local and v4.parent == "sentiment:v3" and v4.notes == "longer schedule"
    assert reg.get("sentiment:v2").parent == "sentiment:v1"
    assert reg.best("sentiment", "macro_f1").version == "v4"


def test_a_malformed_line_is_named_and_nothing_is_imported(reg: Registry, tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    good = (DATA / "experiments" / "sentiment" / "experiment_history.jsonl").read_text().splitlines()
    path.write_text("\n".join([good[0], good[1], '{"version": "v3", "timestamp": "2025-03-05T22:17:03", "config": {', good[3]]) + "\n")
    with pytest.raises(ModelregError, match=r"runs.jsonl line 3: not valid JSON") as caught:
        import_file(reg, path, model="sentiment")
    assert "\n" not in str(caught.value) and state(reg)["versions"] == {}

    path.write_text(good[0] + "\n\n" + good[0] + "\n")
    with pytest.raises(ModelregError, match=r"version v1 appears on lines 1 and 3"):
        import_file(reg, path, format="experiments", model="sentiment")
    path.write_text('{"timestamp": 1}\n')
    with pytest.raises(ModelregError, match=r"line 1: an experiment must be an object with a 'version'"):
        import_file(reg, path, model="sentiment")


def test_formats_that_are_not_ours_are_named(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "reg")  # the local backend's own registry.json
    reg.register("m", [], "v1")
    reg.close()
    with pytest.raises(ModelregError, match="modelreg registry's own file; export it"):
        detect(reg.path / "registry.json")
    odd = tmp_path / "notes.txt"
    odd.write_text("just some notes\n")
    with pytest.raises(ModelregError, match=r"cannot tell the format of .*notes.txt; pass --format"):
        detect(odd)


def test_import_from_the_command_line(afs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = str(tmp_path / "cli-reg")
    assert main(["--registry", registry, "init"]) == 0
    capsys.readouterr()
    assert main(["--registry", registry, "import", str(afs)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Imported 5 versions of 2 models from registry.json (afs)")
    assert "note: support-intent:v3: artifact" in out

    history = DATA / "experiments" / "sentiment" / "experiment_history.jsonl"
    assert main(["--registry", registry, "import", str(history), "--model", "reviews", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["versions"][0] == "reviews:v1"

    assert main(["--registry", registry, "import", str(afs), "--model", "x"]) == 1
    assert "--model names the model of an experiment history" in capsys.readouterr().err
    assert main(["--registry", registry, "import", str(tmp_path / "nope.json")]) == 1
    assert capsys.readouterr().err.count("\n") == 1
