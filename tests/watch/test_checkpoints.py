"""What counts as a checkpoint under a watched folder, and what its name and framework files say."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from store.watch.checkpoints import (
    MODEL_EXTENSIONS,
    CheckpointRules,
    checkpoint_for,
    is_checkpoint_dir,
    is_ignored,
    is_model_file,
    is_temporary,
    model_name_for,
    parse_lightning_name,
    read_framework_files,
    run_key,
    scan_tree,
    step_of,
    strip_counters,
)
from store.errors import ConfigError

TRAINER_STATE = {
    "best_metric": 0.9124,
    "best_model_checkpoint": "out/sentiment/checkpoint-500",
    "epoch": 1.0,
    "eval_steps": 500,
    "global_step": 500,
    "is_hyper_param_search": False,
    "is_local_process_zero": True,
    "is_world_process_zero": True,
    "log_history": [
        {"epoch": 0.5, "grad_norm": 3.12, "learning_rate": 4.5e-05, "loss": 0.6931, "step": 250},
        {"epoch": 0.5, "eval_accuracy": 0.871, "eval_loss": 0.3561, "eval_runtime": 12.1,
         "eval_samples_per_second": 206.6, "eval_steps_per_second": 6.5, "step": 250},
        {"epoch": 1.0, "grad_norm": 2.71, "learning_rate": 4.0e-05, "loss": 0.4123, "step": 500},
        {"epoch": 1.0, "eval_accuracy": 0.9124, "eval_f1": 0.9087, "eval_loss": 0.2845, "eval_runtime": 12.3,
         "eval_samples_per_second": 203.2, "eval_steps_per_second": 6.4, "step": 500},
    ],
    "logging_steps": 250,
    "max_steps": 1500,
    "num_input_tokens_seen": 0,
    "num_train_epochs": 3,
    "save_steps": 500,
    "total_flos": 1.21e15,
    "train_batch_size": 16,
    "trial_name": None,
    "trial_params": None,
}
HF_CONFIG = {
    "_name_or_path": "distilbert-base-uncased",
    "activation": "gelu",
    "architectures": ["DistilBertForSequenceClassification"],
    "dim": 768,
    "id2label": {"0": "NEGATIVE", "1": "POSITIVE"},
    "model_type": "distilbert",
    "n_layers": 6,
    "problem_type": "single_label_classification",
    "torch_dtype": "float32",
    "transformers_version": "4.44.2",
    "vocab_size": 30522,
}
ADAPTER_CONFIG = {
    "base_model_name_or_path": "meta-llama/Llama-3.2-1B",
    "bias": "none",
    "lora_alpha": 16,
    "lora_dropout": 0.05,
    "peft_type": "LORA",
    "r": 8,
    "target_modules": ["q_proj", "v_proj"],
    "task_type": "CAUSAL_LM",
}


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def hf_checkpoint(folder: Path, step: int = 500) -> Path:
    """A folder laid out like Hugging Face Trainer's checkpoint-N/."""
    state = dict(TRAINER_STATE, global_step=step)
    touch(folder / "trainer_state.json", json.dumps(state, indent=2).encode())
    touch(folder / "config.json", json.dumps(HF_CONFIG, indent=2).encode())
    touch(folder / "model.safetensors", b"\0" * 64)
    touch(folder / "optimizer.pt", b"\0" * 32)
    touch(folder / "training_args.bin", b"\0" * 16)
    touch(folder / "rng_state.pth", b"\0" * 8)
    touch(folder / "tokenizer.json", b"{}")
    return folder


# --- rules and configuration ---------------------------------------------------------------------


@pytest.mark.parametrize("ext", MODEL_EXTENSIONS)
def test_every_model_extension_is_a_model_file(ext: str) -> None:
    assert is_model_file(f"runs/model{ext}")
    assert is_model_file(f"runs/MODEL{ext.upper()}")


@pytest.mark.parametrize("name", ["notes.txt", "train.py", "config.json", "model.pkl.json", "model.pt.tmp", "model", "pt"])
def test_other_names_are_not_model_files(name: str) -> None:
    assert not is_model_file(name)


def test_from_config_defaults_and_values() -> None:
    assert CheckpointRules.from_config({}) == CheckpointRules()
    assert CheckpointRules.from_config(None) == CheckpointRules()
    rules = CheckpointRules.from_config(
        {"include": ["*.weights"], "ignore": ["wandb"], "settle_seconds": 2, "chain_parents": False, "paths": ["x"]}
    )
    assert rules == CheckpointRules(include=("*.weights",), ignore=("wandb",), settle_seconds=2.0, chain_parents=False)
    assert is_model_file("net.weights", rules) and not is_model_file("net.pt", rules)
    assert CheckpointRules().settle_seconds == 1.0 and CheckpointRules().chain_parents is True


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"include": "*.pt"}, "include"),
        ({"include": ["*.pt", 3]}, "include"),
        ({"ignore": [""]}, "ignore"),
        ({"ignore": {"a": 1}}, "ignore"),
        ({"settle_seconds": "1"}, "settle_seconds"),
        ({"settle_seconds": -1}, "settle_seconds"),
        ({"settle_seconds": True}, "settle_seconds"),
        ({"chain_parents": "yes"}, "chain_parents"),
    ],
)
def test_from_config_rejects_bad_values_in_one_line(config: dict, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        CheckpointRules.from_config(config)
    assert f"watch.{key}" in str(error.value) and "\n" not in str(error.value)


def test_from_config_rejects_a_non_object() -> None:
    with pytest.raises(ConfigError, match="watch must be an object"):
        CheckpointRules.from_config(["*.pt"])  # type: ignore[arg-type]


# --- temporary and ignored paths -----------------------------------------------------------------

TEMP_NAMES = [
    "model.pt.tmp", "model.pt.TMP", "model.pt.partial", "model.pt.part", "model.pt.crdownload", ".model.pt.swp",
    "model.pt.swp", "tmp-checkpoint-5", ".~lock.model.pt", "~model.pt", ".model.pt", ".cache", "model.pt~",
]


@pytest.mark.parametrize("name", TEMP_NAMES)
def test_temporary_names_at_any_depth(tmp_path: Path, name: str) -> None:
    assert is_temporary(tmp_path / name, tmp_path)
    assert is_temporary(tmp_path / "runs" / name, tmp_path)
    assert is_temporary(tmp_path / "runs" / name / "model.safetensors", tmp_path)
    assert is_temporary(tmp_path / name / "a" / "b" / "model.pt", tmp_path)


def test_only_components_below_the_root_count(tmp_path: Path) -> None:
    root = tmp_path / ".cache" / "tmp-checkpoint-1" / "runs"
    assert not is_temporary(root / "sentiment" / "model.pt", root)
    assert is_temporary(root / "sentiment" / ".git" / "model.pt", root)
    assert not is_temporary(root / "checkpoint-500" / "model.safetensors", root)


def test_temporary_paths_are_never_checkpoints(tmp_path: Path) -> None:
    hf_checkpoint(tmp_path / "tmp-checkpoint-5")
    touch(tmp_path / "model.pt.tmp")
    touch(tmp_path / ".hidden" / "model.pt")
    touch(tmp_path / "runs" / ".model.pt")
    assert checkpoint_for(tmp_path / "tmp-checkpoint-5" / "model.safetensors", tmp_path) is None
    assert checkpoint_for(tmp_path / "tmp-checkpoint-5", tmp_path) is None
    assert checkpoint_for(tmp_path / "model.pt.tmp", tmp_path) is None
    assert checkpoint_for(tmp_path / ".hidden" / "model.pt", tmp_path) is None
    assert checkpoint_for(tmp_path / "runs" / ".model.pt", tmp_path) is None
    assert scan_tree(tmp_path) == []


def test_ignore_globs_by_name_and_by_path(tmp_path: Path) -> None:
    rules = CheckpointRules(ignore=("wandb", "*.onnx", "runs/scratch", "*/optimizer.pt"))
    keep = touch(tmp_path / "runs" / "a" / "model.pt")
    touch(tmp_path / "runs" / "a" / "model.onnx")
    touch(tmp_path / "runs" / "wandb" / "latest" / "model.pt")
    touch(tmp_path / "runs" / "scratch" / "model.pt")
    touch(tmp_path / "runs" / "optimizer.pt")
    also = touch(tmp_path / "runs" / "b" / "scratch" / "model.pt")  # "runs/scratch" is anchored at the root
    assert scan_tree(tmp_path, rules) == [keep, also]
    assert is_ignored(tmp_path / "runs" / "wandb" / "latest" / "model.pt", tmp_path, rules)
    assert is_ignored(tmp_path / "runs" / "scratch" / "model.pt", tmp_path, rules)
    assert not is_ignored(keep, tmp_path, rules)
    assert not is_model_file("model.onnx", rules)
    for path in (tmp_path / "runs" / "a" / "model.onnx", tmp_path / "runs" / "wandb" / "latest" / "model.pt",
                 tmp_path / "runs" / "scratch" / "model.pt", tmp_path / "runs" / "optimizer.pt"):
        assert checkpoint_for(path, tmp_path, rules) is None, path
    assert checkpoint_for(keep, tmp_path, rules) == keep


# --- checkpoint folders ------------------------------------------------------------------------


def test_hugging_face_checkpoint_folder(tmp_path: Path) -> None:
    assert is_checkpoint_dir(hf_checkpoint(tmp_path / "checkpoint-500"))


@pytest.mark.parametrize("marker", ["modelreg.json", "metadata.json", "trainer_state.json", "config.json", "adapter_config.json"])
def test_any_marker_with_a_model_file_makes_a_checkpoint_folder(tmp_path: Path, marker: str) -> None:
    touch(tmp_path / "ckpt" / marker, b"{}")
    assert not is_checkpoint_dir(tmp_path / "ckpt")  # a marker alone is not a checkpoint
    touch(tmp_path / "ckpt" / "weights.bin")
    assert is_checkpoint_dir(tmp_path / "ckpt")


def test_folders_that_are_not_checkpoints(tmp_path: Path) -> None:
    touch(tmp_path / "plain" / "a.pt")
    touch(tmp_path / "plain" / "b.pt")
    touch(tmp_path / "writing" / "config.json", b"{}")
    touch(tmp_path / "writing" / "model.safetensors.tmp")  # still being written
    touch(tmp_path / "nested" / "config.json", b"{}")
    touch(tmp_path / "nested" / "sub" / "model.pt")  # the model must sit in the folder itself
    touch(tmp_path / "named" / "config.json" / "x")  # a folder named like a marker is not one
    touch(tmp_path / "named" / "model.pt")
    for name in ("plain", "writing", "nested", "named", "missing"):
        assert not is_checkpoint_dir(tmp_path / name), name
    assert not is_checkpoint_dir(touch(tmp_path / "file.pt"))


def test_checkpoint_for_each_kind_of_path(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    folder = hf_checkpoint(root / "sentiment" / "checkpoint-500")
    touch(folder / "extra" / "head.safetensors")
    plain = touch(root / "resnet" / "resnet-epoch3.pt")
    touch(root / "resnet" / "resnet-epoch3.pt.json", b"{}")
    touch(root / "resnet" / "notes.txt")
    touch(root / "docs" / "modelreg.json", b"{}")  # a folder sidecar in a folder without models
    # Everything in or about the checkpoint folder belongs to the folder.
    for path in (folder / "model.safetensors", folder / "trainer_state.json", folder / "config.json",
                 folder / "extra" / "head.safetensors", folder / "extra", folder / "model.safetensors.json",
                 folder / "gone.bin", folder):
        assert checkpoint_for(path, root) == folder, path
    assert checkpoint_for(plain, root) == plain
    assert checkpoint_for(root / "resnet" / "resnet-epoch3.pt.json", root) == plain
    assert checkpoint_for(root / "resnet" / "resnet-epoch3.pt.meta.json", root) == plain
    # A sidecar written before its model still names the model it describes.
    assert checkpoint_for(root / "resnet" / "resnet-epoch4.pt.json", root) == root / "resnet" / "resnet-epoch4.pt"
    # A deleted model file is judged by its name.
    assert checkpoint_for(root / "resnet" / "deleted.pkl", root) == root / "resnet" / "deleted.pkl"
    for path in (root / "resnet" / "notes.txt", root / "docs" / "modelreg.json", root / "resnet", root / "docs",
                 root / "resnet" / "notes.txt.json", root, tmp_path / "elsewhere" / "model.pt", tmp_path):
        assert checkpoint_for(path, root) is None, path


def test_the_outermost_checkpoint_folder_wins(tmp_path: Path) -> None:
    outer = hf_checkpoint(tmp_path / "checkpoint-500")
    inner = hf_checkpoint(outer / "best")
    assert checkpoint_for(inner / "model.safetensors", tmp_path) == outer
    assert checkpoint_for(inner, tmp_path) == outer
    assert scan_tree(tmp_path) == [outer]


def test_the_watched_root_can_itself_be_a_checkpoint(tmp_path: Path) -> None:
    root = hf_checkpoint(tmp_path / "checkpoint-500")
    assert checkpoint_for(root / "model.safetensors", root) == root
    assert checkpoint_for(root, root) == root
    assert scan_tree(root) == [root]


def test_custom_include_glob_reaches_sidecars_and_folders(tmp_path: Path) -> None:
    rules = CheckpointRules.from_config({"include": ["*.weights"]})
    touch(tmp_path / "a" / "net.weights")
    touch(tmp_path / "a" / "net.pt")
    touch(tmp_path / "b" / "metadata.json", b"{}")
    touch(tmp_path / "b" / "net.weights")
    assert scan_tree(tmp_path, rules) == [tmp_path / "a" / "net.weights", tmp_path / "b"]
    assert checkpoint_for(tmp_path / "a" / "net.weights.json", tmp_path, rules) == tmp_path / "a" / "net.weights"
    assert checkpoint_for(tmp_path / "a" / "net.pt", tmp_path, rules) is None


# --- scanning ----------------------------------------------------------------------------------


def test_scan_tree_on_a_nested_tree(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    expected = [
        hf_checkpoint(root / "sentiment" / "checkpoint-500"),
        hf_checkpoint(root / "sentiment" / "checkpoint-1000"),
        touch(root / "sentiment" / "export" / "model.onnx"),
        touch(root / "vision" / "lightning_logs" / "version_0" / "checkpoints" / "epoch=2-step=300.ckpt"),
        touch(root / "vision" / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"),
        touch(root / "z-tabular" / "model_step_2.pkl"),
        touch(root / "z-tabular" / "model_step_10.pkl"),
    ]
    touch(root / "z-tabular" / "model_step_10.pkl.json", b"{}")
    touch(root / "z-tabular" / "train.log")
    touch(root / "sentiment" / "tmp-checkpoint-1500" / "model.safetensors")
    touch(root / "sentiment" / "checkpoint-1000" / "sub" / "more.pt")  # inside a checkpoint folder
    touch(root / ".git" / "objects" / "model.pt")
    (root / "vision" / "loop").symlink_to(root, target_is_directory=True)  # must not be followed
    (root / "vision" / "linked.pt").symlink_to(root / "z-tabular" / "model_step_2.pkl")
    expected.append(root / "vision" / "linked.pt")
    found = scan_tree(root)
    assert sorted(found) == sorted(expected)
    # Natural order: step 500 before 1000, step 2 before 10.
    assert found.index(root / "sentiment" / "checkpoint-500") < found.index(root / "sentiment" / "checkpoint-1000")
    assert found.index(root / "z-tabular" / "model_step_2.pkl") < found.index(root / "z-tabular" / "model_step_10.pkl")
    # scan_tree and checkpoint_for agree on every file in the tree.
    for dirpath, _, names in os.walk(root):
        for name in names:
            owner = checkpoint_for(Path(dirpath) / name, root)
            assert owner is None or owner in found, (dirpath, name)


def test_scan_tree_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert scan_tree(tmp_path / "nope") == []


def test_scan_tree_with_50000_files(tmp_path: Path) -> None:
    started = time.perf_counter()
    expected = []
    for d in range(500):
        folder = tmp_path / f"run{d:03d}" / "logs"
        folder.mkdir(parents=True)
        for i in range(96):
            (folder / f"event{i}.log").touch()
        for i in range(2):
            path = folder / f"model_step_{i}.pt"
            path.touch()
            expected.append(path)
        (folder / "model.pt.tmp").touch()
        if d % 10 == 0:
            (folder / "config.json").write_text("{}")  # makes the folder one checkpoint
            expected = [p for p in expected if p.parent != folder] + [folder]
        else:
            (folder / "other.json").touch()
    built = time.perf_counter()
    found = scan_tree(tmp_path)
    took = time.perf_counter() - built
    print(f"\ncreated 50,000 files in {built - started:.2f}s; scan_tree took {took * 1000:.0f} ms")
    assert sorted(found) == sorted(expected)
    assert len(found) == 450 * 2 + 50


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "sidecar", "expected"),
    [
        ("sentiment/v1/model.pkl", None, "sentiment"),
        ("sentiment/checkpoint-500", None, "sentiment"),
        ("resnet-epoch3.pt", None, "resnet"),
        ("model_step_1000.pkl", None, "model"),
        ("bert_base-step-20.safetensors", None, "bert_base"),
        ("checkpoint-500", None, "runs"),
        ("epoch=3-step=1000-val_loss=0.12.ckpt", None, "runs"),
        ("last.ckpt", None, "runs"),
        ("my model (final)!.pt", None, "my-model-final"),
        ("exp 1/model.pt", None, "exp-1"),
        ("sentiment/v1/model.pkl", "fraud-detector", "fraud-detector"),
        ("model.pkl", "bad name: x/y", "bad-name-x-y"),
        ("ünïcode.pt", None, "n-code"),
        ("___.pt", None, "runs"),
    ],
)
def test_model_name_for(tmp_path: Path, relative: str, sidecar: str | None, expected: str) -> None:
    root = tmp_path / "runs"
    assert model_name_for(root / relative, root, sidecar) == expected


def test_model_name_when_the_root_is_generic_or_is_the_checkpoint(tmp_path: Path) -> None:
    root = tmp_path / "sentiment" / "checkpoints"
    assert model_name_for(root / "checkpoint-500", root) == "sentiment"
    folder = hf_checkpoint(tmp_path / "sentiment" / "checkpoint-500")
    assert model_name_for(folder, folder) == "sentiment"
    assert model_name_for(tmp_path / "a" / "b" / "resnet-epoch3.pt", tmp_path / "elsewhere") == "resnet"


def test_model_names_are_valid(tmp_path: Path) -> None:
    from store.values import NAME

    for name in ("-x-.pt", "a" * 300 + ".pt", "..pt", "日本.pt", "x:y.pt"):
        result = model_name_for(tmp_path / "root" / name, tmp_path / "root")
        assert NAME.match(result), (name, result)


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("resnet-epoch3", "resnet"),
        ("model_step_1000", "model"),
        ("model-epoch3-step100", "model"),
        ("checkpoint-500", ""),
        ("global_step500", ""),
        ("epoch=3-step=1000-val_loss=0.12", ""),
        ("resnet-epoch=3-step=10", "resnet"),
        ("last-v1", "last"),
        ("resnet50", "resnet50"),
        ("bert-v2", "bert-v2"),
        ("model.3", "model"),
    ],
)
def test_strip_counters(stem: str, expected: str) -> None:
    assert strip_counters(stem) == expected


@pytest.mark.parametrize(
    ("name", "step"),
    [
        ("checkpoint-500", 500),
        ("checkpoint_7", 7),
        ("step=1000.ckpt", 1000),
        ("step_1000.pt", 1000),
        ("model_step_1000.pkl", 1000),
        ("global_step1200.pt", 1200),
        ("iter-30.pth", 30),
        ("epoch=3.ckpt", 3),
        ("epoch=3-step=1000-val_loss=0.12.ckpt", 1000),
        ("resnet-epoch3.pt", 3),
        ("model-7.pt", 7),
        ("model.pkl", None),
        ("resnet50.pt", None),
        ("last.ckpt", None),
        ("last-v1.ckpt", None),
    ],
)
def test_step_of(name: str, step: int | None) -> None:
    assert step_of(Path("runs") / name) == step


def test_run_keys_group_the_checkpoints_of_a_run(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    a500 = hf_checkpoint(root / "sentiment" / "checkpoint-500")
    a1000 = hf_checkpoint(root / "sentiment" / "checkpoint-1000")
    b500 = hf_checkpoint(root / "other" / "checkpoint-500")
    assert run_key(a500, root) == run_key(a1000, root) != run_key(b500, root)
    assert run_key(root / "m" / "model_step_1.pkl", root) == run_key(root / "m" / "model_step_20.pkl", root)
    assert run_key(root / "m" / "model_step_1.pkl", root) != run_key(root / "m" / "optimizer_step_1.pkl", root)
    assert run_key(root / "m" / "model_step_1.pkl", root) != run_key(root / "m" / "model_step_1.onnx", root)
    assert run_key(root / "l" / "epoch=1-step=10.ckpt", root) == run_key(root / "l" / "epoch=2-step=20-val_loss=0.3.ckpt", root)
    # A watcher orders one run's checkpoints by step to chain them.
    run = sorted([a1000, a500], key=step_of)
    assert run == [a500, a1000]


# --- Lightning names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("epoch=3-step=1000-val_loss=0.12.ckpt", {"epoch": 3, "step": 1000, "metrics": {"val_loss": 0.12}}),
        ("epoch=3.ckpt", {"epoch": 3, "metrics": {}}),
        ("last.ckpt", {"last": True, "metrics": {}}),
        ("last-v1.ckpt", {"last": True, "metrics": {}}),
        ("epoch=0-step=479-v1.ckpt", {"epoch": 0, "step": 479, "metrics": {}}),
        ("epoch=3-val/acc=0.9.ckpt", {"epoch": 3, "metrics": {"val/acc": 0.9}}),
        ("epoch=3-val%2Facc=0.91.ckpt", {"epoch": 3, "metrics": {"val/acc": 0.91}}),
        ("step=20-val_loss=-0.5-lr=1e-05.ckpt", {"step": 20, "metrics": {"val_loss": -0.5, "lr": 1e-05}}),
        ("resnet-epoch=2-train.acc=0.75.ckpt", {"epoch": 2, "metrics": {"train.acc": 0.75}}),
        ("epoch=x-loss=nan-acc=inf-note=abc.ckpt", {"metrics": {}}),
        ("model.pt", {"metrics": {}}),
    ],
)
def test_parse_lightning_name(name: str, expected: dict) -> None:
    assert parse_lightning_name(name) == expected


# --- framework files ---------------------------------------------------------------------------


def test_read_framework_files_from_a_trainer_checkpoint(tmp_path: Path) -> None:
    info = read_framework_files(hf_checkpoint(tmp_path / "checkpoint-500"))
    assert info == {
        "framework": "transformers",
        "architecture": "DistilBertForSequenceClassification",
        "model_type": "distilbert",
        "base_model": "distilbert-base-uncased",
        "global_step": 500,
        "epoch": 1.0,
        "best_metric": 0.9124,
        "best_model_checkpoint": "out/sentiment/checkpoint-500",
        "metrics": {"accuracy": 0.9124, "f1": 0.9087, "loss": 0.2845, "train_loss": 0.4123},
        "problems": [],
    }


def test_read_framework_files_from_a_peft_adapter(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoint-200"
    touch(folder / "adapter_config.json", json.dumps(ADAPTER_CONFIG).encode())
    touch(folder / "adapter_model.safetensors")
    assert is_checkpoint_dir(folder)
    info = read_framework_files(folder)
    assert info == {"framework": "peft", "base_model": "meta-llama/Llama-3.2-1B", "peft_type": "LORA", "metrics": {}, "problems": []}


def test_read_framework_files_of_a_folder_without_them(tmp_path: Path) -> None:
    assert read_framework_files(tmp_path) == {"metrics": {}, "problems": []}
    touch(tmp_path / "config.json", b'{"lr": 0.1, "layers": [64, 64]}')  # a training script's own config
    assert read_framework_files(tmp_path) == {"metrics": {}, "problems": []}


def test_a_run_without_evaluation_keeps_the_training_loss(tmp_path: Path) -> None:
    state = {"global_step": 10, "log_history": [{"loss": 2.5, "step": 5}, {"loss": 1.5, "step": 10},
                                                {"train_runtime": 3.2, "train_loss": 2.0, "step": 10}]}
    touch(tmp_path / "trainer_state.json", json.dumps(state).encode())
    assert read_framework_files(tmp_path)["metrics"] == {"train_loss": 1.5}


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("trainer_state.json", b'{"global_step": 5,', "trainer_state.json: not valid JSON"),
        ("config.json", b"[1, 2]", "config.json: expected an object"),
        ("adapter_config.json", b"\xff\xfe", "adapter_config.json: not UTF-8"),
        ("trainer_state.json", b'{"global_step": "five"}', 'global_step is "five", expected a whole number'),
        ("trainer_state.json", b'{"epoch": NaN}', "epoch is NaN, expected a number"),
        ("trainer_state.json", b'{"log_history": {"a": 1}}', "log_history is not a list"),
        ("config.json", b'{"model_type": 7}', "model_type is 7, expected text"),
    ],
)
def test_malformed_framework_files_give_problems_not_exceptions(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    touch(tmp_path / name, content)
    info = read_framework_files(tmp_path, label="runs/checkpoint-5")
    assert len(info["problems"]) == 1
    problem = info["problems"][0]
    assert problem.startswith(f"runs/checkpoint-5/{name}: ") and expected in problem and "\n" not in problem


def test_nan_losses_in_the_log_history_are_skipped(tmp_path: Path) -> None:
    touch(tmp_path / "trainer_state.json",
          b'{"log_history": [{"loss": 0.9}, {"loss": NaN}, {"eval_loss": Infinity, "eval_acc": 0.5}, "junk"]}')
    info = read_framework_files(tmp_path)
    assert info["metrics"] == {"acc": 0.5, "train_loss": 0.9}
    assert info["problems"] == []


def test_unreadable_framework_files_give_problems(tmp_path: Path) -> None:
    (tmp_path / "trainer_state.json").mkdir()
    os.mkfifo(tmp_path / "config.json")
    (tmp_path / "adapter_config.json").symlink_to(tmp_path / "adapter_config.json")  # a loop: ELOOP
    info = read_framework_files(tmp_path)
    assert len(info["problems"]) == 3
    assert all("\n" not in p and p.endswith("; ignored") for p in info["problems"])
