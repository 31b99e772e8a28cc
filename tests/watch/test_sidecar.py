"""Sidecar metadata: where it lives, what a full one says, and every way it can be wrong."""

from __future__ import annotations

import inspect
import json
import os
import socket
import textwrap
from pathlib import Path

import pytest

import store.watch.sidecar
from store.errors import BadMetadata
from store.registry import Registry
from store.watch.checkpoints import is_sidecar
from store.watch.sidecar import (
    KNOWN_KEYS,
    MAX_BYTES,
    MAX_TEXT,
    RESERVED_KEYS,
    Sidecar,
    read_sidecar,
    sidecar_for,
    sidecar_subject,
)


def documented_example() -> str:
    """The full example from store/sidecar.py's docstring (the one the README shows)."""
    doc = store.watch.sidecar.__doc__ or ""
    body = doc.split("A full example::\n", 1)[1]
    lines = []
    for line in body.splitlines()[1:]:
        if line and not line.startswith("    "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines)).strip()


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def one_line(message: str, name: str) -> None:
    assert "\n" not in message and name in message, message


# --- where sidecars live -----------------------------------------------------------------------


def test_sidecar_for_a_file(tmp_path: Path) -> None:
    model = write(tmp_path / "model.pkl", b"x")
    assert sidecar_for(model) is None
    meta = write(tmp_path / "model.pkl.meta.json", "{}")
    assert sidecar_for(model) == meta
    plain = write(tmp_path / "model.pkl.json", "{}")
    assert sidecar_for(model) == plain  # X.json first
    write(tmp_path / "model.json", "{}")  # the name without the extension is not a sidecar
    plain.unlink()
    meta.unlink()
    assert sidecar_for(model) is None


def test_sidecar_for_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoint-500"
    write(folder / "model.safetensors", b"x")
    write(tmp_path / "checkpoint-500.json", "{}")  # beside the folder does not count
    assert sidecar_for(folder) is None
    metadata = write(folder / "metadata.json", "{}")
    assert sidecar_for(folder) == metadata
    ours = write(folder / "modelreg.json", "{}")
    assert sidecar_for(folder) == ours


def test_sidecar_for_finds_a_sidecar_that_is_not_a_file(tmp_path: Path) -> None:
    model = write(tmp_path / "model.pkl", b"x")
    (tmp_path / "model.pkl.json").mkdir()
    assert sidecar_for(model) == tmp_path / "model.pkl.json"  # so that reading it can say what is wrong


def test_is_sidecar_and_subject() -> None:
    for name in ("model.pkl.json", "model.pkl.meta.json", "modelreg.json", "metadata.json", "w.SAFETENSORS.json"):
        assert is_sidecar(Path("runs") / name), name
    for name in ("config.json", "trainer_state.json", "model.json", "notes.txt.json", "model.pkl", ".json"):
        assert not is_sidecar(Path("runs") / name), name
    assert sidecar_subject("runs/a/model.pkl.meta.json") == Path("runs/a/model.pkl")
    assert sidecar_subject("runs/a/model.pkl.json") == Path("runs/a/model.pkl")
    assert sidecar_subject("runs/a/modelreg.json") == Path("runs/a")
    assert sidecar_subject("runs/a/model.pkl") is None


# --- the full example --------------------------------------------------------------------------


def test_the_documented_full_example(tmp_path: Path) -> None:
    path = write(tmp_path / "runs" / "model.pkl.json", documented_example())
    sidecar = read_sidecar(path)
    assert sidecar == Sidecar(
        model="sentiment",
        version="v3",
        parent="sentiment:v2",
        base_model="distilbert-base-uncased",
        framework="transformers",
        metrics={"accuracy": 0.931, "f1": 0.927, "val_loss": 0.214},
        params={"learning_rate": 3e-05, "max_length": 256, "warmup_ratio": 0.1, "optimizer": "adamw"},
        training={"samples": 25000, "epochs": 3, "batch_size": 32, "learning_rate": 3e-05,
                  "duration": 1843.5, "cost": 4.2, "hardware": "1x A100 80GB"},
        training_data=["imdb-train-v2", "s3://datasets/imdb/unsup-2024.parquet"],
        git_commit="3f2c9ab",
        tags=["baseline", "distilbert"],
        status="completed",
        notes="Warm-started from v2 with a longer max_length.",
        step=2346,
        epoch=3,
        extra={"dataset_sha256": "9b1c0e7d4f2a", "wandb_run": "sentiment/3kq9x2"},
        problems=[],
        source=str(path),
    )
    assert sidecar.to_register_kwargs() == {
        "model": "sentiment",
        "version": "v3",
        "parent": "sentiment:v2",
        "status": "completed",
        "git_commit": "3f2c9ab",
        "notes": "Warm-started from v2 with a longer max_length.",
        "metrics": {"accuracy": 0.931, "f1": 0.927, "val_loss": 0.214},
        "params": {"learning_rate": 3e-05, "max_length": 256, "warmup_ratio": 0.1, "optimizer": "adamw"},
        "tags": ["baseline", "distilbert"],
        "training_data": ["imdb-train-v2", "s3://datasets/imdb/unsup-2024.parquet"],
        "training": {"framework": "transformers", "base_model": "distilbert-base-uncased", "samples": 25000,
                     "epochs": 3, "batch_size": 32, "learning_rate": 3e-05, "duration": 1843.5, "cost": 4.2,
                     "hardware": "1x A100 80GB"},
        "source": str(path),
        "dataset_sha256": "9b1c0e7d4f2a",
        "wandb_run": "sentiment/3kq9x2",
        "step": 2346,
        "epoch": 3,
    }


def test_the_example_registers_into_a_real_registry(tmp_path: Path, registry: Registry) -> None:
    model = write(tmp_path / "runs" / "model.pkl", b"weights")
    kwargs = read_sidecar(write(tmp_path / "runs" / "model.pkl.json", documented_example())).to_register_kwargs()
    registry.register("sentiment", version="v2")
    kwargs.pop("model")
    version = registry.register("sentiment", [model], **kwargs)
    assert version.ref == "sentiment:v3" and version.parent == "sentiment:v2"
    assert version.metrics["accuracy"] == 0.931 and version.training["hardware"] == "1x A100 80GB"
    assert version.extra == {"dataset_sha256": "9b1c0e7d4f2a", "wandb_run": "sentiment/3kq9x2", "step": 2346, "epoch": 3}
    assert version.source == str(tmp_path / "runs" / "model.pkl.json")


def test_reserved_keys_cover_every_register_parameter() -> None:
    parameters = set(inspect.signature(Registry.register).parameters) - {"extra"}
    assert parameters <= KNOWN_KEYS | RESERVED_KEYS


def test_an_empty_sidecar_says_nothing(tmp_path: Path) -> None:
    sidecar = read_sidecar(write(tmp_path / "m.pt.json", "{}"))
    assert sidecar == Sidecar(source=str(tmp_path / "m.pt.json"))
    assert sidecar.to_register_kwargs() == {"source": str(tmp_path / "m.pt.json")}


def test_aliases_and_nulls(tmp_path: Path) -> None:
    path = write(tmp_path / "m.pt.json", json.dumps({
        "hyperparameters": {"lr": 0.1, "depth": 3},
        "params": {"depth": 5},
        "training": {"duration": 10, "duration_s": 12.5, "cost": 1, "cost_usd": 0.4, "gpus": 8, "hardware": None},
        "training_data": "imdb-train-v2",
        "notes": None,
        "version": 7,
        "git_commit": "  abc1234\n",
    }))
    sidecar = read_sidecar(path)
    assert sidecar.params == {"lr": 0.1, "depth": 5}  # params wins over hyperparameters
    assert sidecar.training == {"duration": 12.5, "cost": 0.4}
    assert sidecar.extra == {"training.gpus": 8}
    assert sidecar.training_data == ["imdb-train-v2"]
    assert sidecar.notes is None and sidecar.version == "7" and sidecar.git_commit == "abc1234"
    assert sidecar.problems == []


def test_text_is_kept_literally_without_nul_bytes_and_capped(tmp_path: Path) -> None:
    notes = "<b>$(rm -rf /)</b> {{x}} %s \x1b[31m " + "n" * (MAX_TEXT + 50)
    path = write(tmp_path / "m.pt.json", json.dumps({"notes": notes, "tags": ["a\u0000b"], "custom": {"k\u0000ey": "v\u0000al"}}))
    sidecar = read_sidecar(path)
    assert sidecar.notes == notes[:MAX_TEXT]
    assert sidecar.tags == ["ab"] and sidecar.extra == {"custom": {"key": "val"}}
    assert sidecar.problems == [f"{path}: notes is {len(notes):,} characters long; kept the first {MAX_TEXT:,}"]


def test_label_names_the_file_in_messages(tmp_path: Path) -> None:
    path = write(tmp_path / "m.pt.json", '{"metrics": {"accuracy": "high"}}')
    sidecar = read_sidecar(path, label="runs/a/model.pkl.json")
    assert sidecar.problems == ['runs/a/model.pkl.json: metrics.accuracy is "high", expected a number; ignored']
    with pytest.raises(BadMetadata, match=r"^runs/a/model.pkl.json: not valid JSON"):
        read_sidecar(write(tmp_path / "bad.json", "{"), label="runs/a/model.pkl.json")


# --- wrong types: the field is dropped and named -------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "where", "kept"),
    [
        ({"metrics": {"accuracy": "high", "f1": 0.9}}, "metrics", 'metrics.accuracy is "high", expected a number', {"f1": 0.9}),
        ({"metrics": {"accuracy": True}}, "metrics", "metrics.accuracy is true, expected a number", {}),
        ({"metrics": {"accuracy": None}}, "metrics", "metrics.accuracy is null, expected a number", {}),
        ({"metrics": {"nested": {"a": 1}}}, "metrics", 'metrics.nested is {"a": 1}, expected a number', {}),
        ({"metrics": [0.9]}, "metrics", "metrics is [0.9], expected an object", {}),
        ({"metrics": {"": 1}}, "metrics", 'a metric name is "", expected a non-empty name', {}),
        ({"params": "lr=0.1"}, "params", 'params is "lr=0.1", expected an object', {}),
        ({"hyperparameters": [1]}, "params", "hyperparameters is [1], expected an object", {}),
        ({"tags": "baseline"}, "tags", 'tags is "baseline", expected a list of text', []),
        ({"tags": ["ok", 5, "ok"]}, "tags", "tags[1] is 5, expected non-empty text", ["ok"]),
        ({"tags": [" ", "a"]}, "tags", 'tags[0] is " ", expected non-empty text', ["a"]),
        ({"training_data": {"a": 1}}, "training_data", 'training_data is {"a": 1}, expected a list of text', []),
        ({"training_data": ["imdb", None]}, "training_data", "training_data[1] is null, expected non-empty text", ["imdb"]),
        ({"version": "v 3"}, "version", 'version is "v 3", expected a version', None),
        ({"version": "latest"}, "version", 'version is "latest", expected a version', None),
        ({"version": 1.5}, "version", "version is 1.5, expected a version", None),
        ({"version": ["v3"]}, "version", 'version is ["v3"], expected a version', None),
        ({"model": "my model"}, "model", 'model is "my model", expected a model name', None),
        ({"model": 3}, "model", "model is 3, expected a model name", None),
        ({"parent": "sentiment v2"}, "parent", 'parent is "sentiment v2", expected a reference', None),
        ({"status": "shipped"}, "status", 'status is "shipped", expected one of draft, training', None),
        ({"status": "deployed"}, "status", 'status is "deployed", expected one of draft, training, completed, deprecated', None),
        ({"notes": ["a"]}, "notes", 'notes is ["a"], expected text', None),
        ({"git_commit": 1234}, "git_commit", "git_commit is 1234, expected text", None),
        ({"framework": {}}, "framework", "framework is {}, expected text", None),
        ({"step": -1}, "step", "step is -1, expected a whole number >= 0", None),
        ({"step": 1.5}, "step", "step is 1.5, expected a whole number", None),
        ({"epoch": "3"}, "epoch", 'epoch is "3", expected a number', None),
        ({"training": [1]}, "training", "training is [1], expected an object", {}),
        ({"training": {"samples": 1.5, "epochs": 3}}, "training", "training.samples is 1.5, expected a whole number", {"epochs": 3}),
        ({"training": {"batch_size": 0}}, "training", "training.batch_size is 0, expected a whole number > 0", {}),
        ({"training": {"duration_s": "1h"}}, "training", 'training.duration_s is "1h", expected a number of seconds', {}),
        ({"training": {"cost_usd": -2}}, "training", "training.cost_usd is -2, expected a number >= 0", {}),
        ({"training": {"hardware": 1}}, "training", "training.hardware is 1, expected text", {}),
        ({"extra": "x"}, "extra", 'extra is "x", expected an object', {}),
    ],
)
def test_a_wrong_field_is_dropped_with_one_problem(tmp_path: Path, data: dict, field: str, where: str, kept: object) -> None:
    path = write(tmp_path / "runs" / "model.pkl.json", json.dumps(data))
    sidecar = read_sidecar(path)
    assert len(sidecar.problems) == 1, sidecar.problems
    problem = sidecar.problems[0]
    assert problem.startswith(f"{path}: {where}") and problem.endswith("; ignored"), problem
    one_line(problem, str(path))
    assert getattr(sidecar, field) == kept
    assert sidecar.to_register_kwargs().get("problems") == [problem]


def test_every_other_field_survives_a_bad_one(tmp_path: Path) -> None:
    data = json.loads(documented_example())
    data["metrics"]["accuracy"] = "high"
    data["tags"] = "baseline"
    sidecar = read_sidecar(write(tmp_path / "m.pkl.json", json.dumps(data)))
    assert len(sidecar.problems) == 2
    assert sidecar.metrics == {"f1": 0.927, "val_loss": 0.214} and sidecar.tags == []
    assert sidecar.model == "sentiment" and sidecar.training["hardware"] == "1x A100 80GB"


def test_reserved_keys_are_refused(tmp_path: Path) -> None:
    data = {"scan": {"safe": True}, "artifacts": ["/etc/passwd"], "created_at": "1999", "extra": {"model": "x", "ok": 1}}
    path = write(tmp_path / "m.pkl.json", json.dumps(data))
    sidecar = read_sidecar(path)
    assert sidecar.extra == {"ok": 1}
    assert sorted(sidecar.problems) == sorted([
        f"{path}: scan is set by modelreg, not by a sidecar; ignored",
        f"{path}: artifacts is set by modelreg, not by a sidecar; ignored",
        f"{path}: created_at is set by modelreg, not by a sidecar; ignored",
        f"{path}: extra.model has the name of a version field; ignored",
    ])
    kwargs = sidecar.to_register_kwargs()
    assert not {"scan", "artifacts", "created_at"} & set(kwargs)


# --- NaN and Infinity: dropped wherever they appear ----------------------------------------------


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_non_finite_numbers_are_dropped_everywhere(tmp_path: Path, literal: str) -> None:
    text = (
        f'{{"metrics": {{"loss": {literal}, "acc": 0.5}}, "params": {{"layers": [64, {literal}, 32], "lr": 0.1}},'
        f' "epoch": {literal}, "custom": {{"deep": {{"x": {literal}}}}}}}'
    )
    path = write(tmp_path / "m.pkl.json", text)
    sidecar = read_sidecar(path)
    assert sidecar.metrics == {"acc": 0.5}
    assert sidecar.params == {"layers": [64, 32], "lr": 0.1}
    assert sidecar.epoch is None and sidecar.extra == {"custom": {"deep": {}}}
    assert sidecar.problems == [
        f"{path}: metrics.loss is {literal}, expected a finite number; ignored",
        f"{path}: params.layers[1] is {literal}, expected a finite number; ignored",
        f"{path}: epoch is {literal}, expected a finite number; ignored",
        f"{path}: custom.deep.x is {literal}, expected a finite number; ignored",
    ]
    json.dumps(sidecar.to_register_kwargs(), allow_nan=False)  # nothing non-finite is left


def test_very_deep_nesting_is_cut(tmp_path: Path) -> None:
    path = write(tmp_path / "m.pkl.json", '{"custom": ' + "[" * 200 + "]" * 200 + ', "model": "ok"}')
    sidecar = read_sidecar(path)
    assert sidecar.model == "ok"
    assert len(sidecar.problems) == 1 and "nested deeper than" in sidecar.problems[0]


# --- unusable files: BadMetadata, one line naming the file ---------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"model": "a",}', "not valid JSON (Expecting property name enclosed in double quotes at line 1 column 15)"),
        (b"", "not valid JSON"),
        (b"{'model': 'a'}", "not valid JSON"),
        (b"[1, 2, 3]", "the top level is a list, expected an object"),
        (b'"sentiment"', "the top level is text, expected an object"),
        (b"42", "the top level is a number, expected an object"),
        (b"null", "the top level is null, expected an object"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_unusable_content_raises_one_line(tmp_path: Path, content: bytes, expected: str) -> None:
    path = write(tmp_path / "runs" / "model.pkl.json", content)
    with pytest.raises(BadMetadata) as error:
        read_sidecar(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and expected in message, message
    assert message.endswith("; fix the sidecar or remove it")
    one_line(message, str(path))


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    assert read_sidecar(write(tmp_path / "m.pkl.json", b'\xef\xbb\xbf{"model": "a"}')).model == "a"


def test_too_big(tmp_path: Path) -> None:
    path = write(tmp_path / "m.pkl.json", b'{"notes": "' + b"x" * MAX_BYTES + b'"}')
    with pytest.raises(BadMetadata) as error:
        read_sidecar(path)
    assert "larger than the 1 MiB limit" in str(error.value)
    one_line(str(error.value), str(path))
    just_fits = write(tmp_path / "ok.pkl.json", b'{"n": 1' + b" " * (MAX_BYTES - 9) + b"}")
    assert just_fits.stat().st_size == MAX_BYTES - 1 and read_sidecar(just_fits).extra == {"n": 1}


def test_a_folder_named_like_the_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl.json"
    path.mkdir()
    with pytest.raises(BadMetadata, match="is a folder, not a JSON file") as error:
        read_sidecar(path)
    one_line(str(error.value), str(path))


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl.json"
    os.mkfifo(path)  # opening this for a plain read would wait forever for a writer
    with pytest.raises(BadMetadata, match="is not a regular file") as error:
        read_sidecar(path)
    one_line(str(error.value), str(path))


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.pkl.json"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(BadMetadata, match="cannot be read|not a regular file"):
            read_sidecar(path)
    finally:
        server.close()


def test_a_vanished_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl.json"
    with pytest.raises(BadMetadata, match="vanished") as error:
        read_sidecar(path)
    one_line(str(error.value), str(path))
    path.symlink_to(tmp_path / "gone.json")  # dangling: listed, but gone when read
    with pytest.raises(BadMetadata, match="vanished"):
        read_sidecar(path)


def test_an_unreadable_sidecar(tmp_path: Path) -> None:
    # Root reads any file regardless of its mode, so produce a real read failure another way:
    # a symlink that points at itself fails to open with ELOOP for every user.
    path = tmp_path / "model.pkl.json"
    path.symlink_to(path)
    with pytest.raises(BadMetadata, match=r"cannot be read \(Too many levels of symbolic links\)") as error:
        read_sidecar(path)
    one_line(str(error.value), str(path))
    locked = write(tmp_path / "locked.pkl.json", "{}")
    locked.chmod(0)
    try:
        if os.geteuid() != 0:  # as anyone but root, mode 000 really denies the read
            with pytest.raises(BadMetadata, match="permission denied"):
                read_sidecar(locked)
        else:
            assert read_sidecar(locked).problems == []
    finally:
        locked.chmod(0o644)
