"""Training fields, artifact roles, checkpoint folders and foreign metadata from the command line,
nested metrics flattened, and the AFS importer's metadata block and lineages (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from store.errors import BadMetadata
from store.transfer.importers import import_file
from store.quantities import parse_cost, parse_duration
from store.registry import Registry
from tui.cli import main


@pytest.fixture
def reg_path(tmp_path: Path) -> Path:
    Registry(tmp_path / "reg").close()
    return tmp_path / "reg"


def run(reg_path: Path, *argv: str) -> int:
    return main(["--registry", str(reg_path), *argv])


def test_units() -> None:
    assert parse_duration("3h") == 10800 and parse_duration("90m") == 5400 and parse_duration("1h30m") == 5400
    assert parse_duration("45s") == 45 and parse_duration("12.5") == 12.5
    assert parse_cost("$0.80") == 0.8 and parse_cost("12 USD") == 12
    with pytest.raises(BadMetadata, match="bad duration '3 parsecs'"):
        parse_duration("3 parsecs")
    with pytest.raises(BadMetadata, match="bad cost '€5'"):
        parse_cost("€5")


def test_training_options_with_units_and_roles(reg_path: Path, tmp_path: Path, capsys) -> None:
    gguf = tmp_path / "model.Q4.gguf"
    gguf.write_bytes(b"GGUF" * 10)
    lora = tmp_path / "adapter"
    lora.mkdir()
    (lora / "adapter_model.safetensors").write_bytes(b"x" * 8)
    assert run(reg_path, "register", "chat", "--artifact", f"gguf={gguf}", "--artifact", f"lora={lora}",
               "--framework", "peft", "--base-model", "llama-3-8b", "--samples", "18432", "--epochs", "3",
               "--batch-size", "8", "--learning-rate", "2e-4", "--duration", "3h", "--cost", "$0.80",
               "--hardware", "1x A100") == 0
    with Registry(reg_path) as reg:
        v = reg.get("chat:v1")
        assert dict(v.training) == {"framework": "peft", "base_model": "llama-3-8b", "samples": 18432, "epochs": 3,
                                    "batch_size": 8, "learning_rate": 2e-4, "duration": 10800, "cost": 0.8,
                                    "hardware": "1x A100"}
        assert [a["role"] for a in v.artifacts] == ["gguf", "lora"]
        reg.register("chat", [gguf])  # no role
        assert [x.ref for x in reg.find("role:gguf")] == ["chat:v1"]
        assert [x.ref for x in reg.find("role:lo*")] == ["chat:v1"]
    capsys.readouterr()
    assert run(reg_path, "find", "role:gguf") == 0
    assert "chat:v1" in capsys.readouterr().out
    assert run(reg_path, "info", "chat:v1") == 0
    assert f"artifact: gguf: {gguf}" in capsys.readouterr().out
    assert run(reg_path, "register", "chat", "--duration", "soon") == 1
    assert "bad duration 'soon'" in capsys.readouterr().err
    assert run(reg_path, "register", "chat", "--artifact", "just-a-path") == 1
    assert "bad --artifact 'just-a-path': write ROLE=PATH" in capsys.readouterr().err


def test_register_a_checkpoint_folder_reads_its_framework_files(reg_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "checkpoint-500"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "meta-llama/Llama-3-8B", "peft_type": "LORA"}))
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 500, "epoch": 1.5, "log_history": [
        {"loss": 0.9, "step": 400}, {"eval_loss": 0.42, "eval_accuracy": 0.88, "eval_runtime": 3.1, "step": 500}]}))
    (folder / "adapter_model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    assert run(reg_path, "register", "intent", str(folder), "--metric", "accuracy=0.9", "--epochs", "2") == 0
    with Registry(reg_path) as reg:
        v = reg.get("intent:v1")
    assert v.metrics == {"loss": 0.42, "accuracy": 0.9, "train_loss": 0.9}  # the option wins over the file
    assert v.training["framework"] == "peft" and v.training["base_model"] == "meta-llama/Llama-3-8B"
    assert v.training["epochs"] == 2
    assert v.extra["step"] == 500 and v.extra["epoch"] == 1.5


def test_foreign_metadata_exoplanet_shape(reg_path: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(b"w" * 10)
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({
        "model_name": "exoplanet-rf", "version": "1.0.0", "accuracy": 0.95, "precision": 0.94, "recall": 0.93,
        "f1_score": 0.935, "hyperparameters": {"n_estimators": 200, "max_depth": 12},
        "training_info": {"n_samples": 9564, "training_time": 41.5, "cv_folds": 5},
        "feature_columns": ["koi_period", "koi_depth"], "class_distribution": {"CONFIRMED": 2341, "FALSE POSITIVE": 4582},
    }))
    assert run(reg_path, "register", "exo", str(model), "--metadata", str(meta), "--param", "max_depth=10") == 0
    with Registry(reg_path) as reg:
        v = reg.get("exo:v1")
    assert v.metrics == {"accuracy": 0.95, "precision": 0.94, "recall": 0.93, "f1_score": 0.935}
    assert dict(v.params) == {"n_estimators": 200, "max_depth": 10}
    assert v.training["duration"] == 41.5
    assert v.extra["feature_columns"] == ["koi_period", "koi_depth"]
    assert v.extra["class_distribution"]["CONFIRMED"] == 2341
    assert v.extra["training_info"] == {"n_samples": 9564, "cv_folds": 5}
    assert v.extra["original_version"] == "1.0.0" and v.extra["model_name"] == "exoplanet-rf"


def test_foreign_metadata_afs_shape(reg_path: Path, tmp_path: Path) -> None:
    meta = tmp_path / "afs.json"
    meta.write_text(json.dumps({
        "base_model": "llama-3-8b", "evaluation_scores": {"rouge": {"rouge1": 0.41, "rougeL": 0.38}, "bleu": 0.22},
        "duration_hours": 2.5, "cost_usd": 4.1, "training_data_sources": ["tickets-q4"], "tags": ["lora"],
        "notes": "second try", "parent_version": "v1",
    }))
    assert run(reg_path, "register", "summ", "--metric", "accuracy=0.5") == 0
    assert run(reg_path, "register", "summ", "--metadata", str(meta)) == 0
    with Registry(reg_path) as reg:
        v = reg.get("summ:v2")
    assert v.metrics == {"rouge.rouge1": 0.41, "rouge.rougeL": 0.38, "bleu": 0.22}
    assert dict(v.training) == {"base_model": "llama-3-8b", "duration": 9000, "cost": 4.1}
    assert v.training_data == ("tickets-q4",) and v.tags == ("lora",) and v.notes == "second try"
    assert v.parent == "summ:v1"


def test_a_bad_metadata_file_is_one_line(reg_path: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert run(reg_path, "register", "m", "--metadata", str(bad)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.json" in err


def test_nested_metrics_are_flattened_everywhere(registry: Registry) -> None:
    v = registry.register("s", metrics={"rouge": {"rouge1": 0.4, "rougeL": {"f": 0.3}}, "bleu": 0.2})
    assert dict(v.metrics) == {"rouge.rouge1": 0.4, "rouge.rougeL.f": 0.3, "bleu": 0.2}
    v = registry.score(v.ref, per_class={"cat": 0.9})
    assert v.metrics["per_class.cat"] == 0.9
    with pytest.raises(BadMetadata, match="metric 'rouge.rouge2' is 'n/a'"):
        registry.register("s", metrics={"rouge": {"rouge2": "n/a"}})


def test_afs_importer_reads_the_metadata_block_lineages_and_duration_hours(registry: Registry, tmp_path: Path) -> None:
    folder = tmp_path / "afs"
    folder.mkdir()
    (folder / "registry.json").write_text(json.dumps({"models": {"summarizer": {
        "metadata": {"description": "ticket summaries", "owner": "nlp-team", "tags": ["llm"], "notes": "LoRA"},
        "versions": {"v1": {"evaluation_scores": {"rouge": {"rouge1": 0.4}}, "duration_hours": 1.5, "cost_usd": 2.0},
                     "v2": {"evaluation_scores": {"rouge": {"rouge1": 0.45}}}},
    }}}))
    (folder / "lineage.json").write_text(json.dumps({"lineages": {
        "summarizer:v2": {"parent_model": "summarizer", "parent_version": "v1", "relation": "continued"}}}))
    import_file(registry, folder / "registry.json", format="afs")
    model = registry.model("summarizer")
    assert (model.description, model.owner, model.tags, model.notes) == ("ticket summaries", "nlp-team", ("llm",), "LoRA")
    v1 = registry.get("summarizer:v1")
    assert v1.training["duration"] == 5400 and v1.training["cost"] == 2.0
    assert v1.metrics["rouge.rouge1"] == 0.4
    assert registry.get("summarizer:v2").parent == "summarizer:v1"
