"""The files training frameworks write beside a checkpoint (Hugging Face's trainer_state.json,
config.json, adapter_config.json), read for what they say about the model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from store.errors import BadMetadata
from store.watch.checkpoint_names import PathLike
from store.watch.sidecar import MAX_TEXT, load_json, show_value

FRAMEWORK_FILES = ("trainer_state.json", "config.json", "adapter_config.json")
FRAMEWORK_MAX_BYTES = 64 << 20  # trainer_state.json grows with every logged step
# Speed figures that Trainer logs with every evaluation: not a measure of the model.
_EVAL_TIMINGS = frozenset({"runtime", "samples_per_second", "steps_per_second"})


def read_framework_files(folder: PathLike, label: str | None = None) -> dict[str, Any]:
    """What the framework files in a checkpoint folder say, as one flat dict.

    Keys, each present only when found: ``framework``, ``architecture``, ``model_type``,
    ``base_model``, ``peft_type`` (from config.json / adapter_config.json); ``global_step``,
    ``epoch``, ``best_metric``, ``best_model_checkpoint`` (trainer_state.json). Always:
    ``metrics`` (the last evaluation in trainer_state's log_history, ``eval_`` stripped, plus
    ``train_loss`` from the last training log) and ``problems`` (one line per unreadable file or
    bad field: a malformed file never raises).
    """
    folder = Path(folder)
    label = label or str(folder)
    result: dict[str, Any] = {"metrics": {}, "problems": []}
    readers = {"config.json": _read_config, "adapter_config.json": _read_adapter, "trainer_state.json": _read_trainer_state}
    for name, read in readers.items():
        path = folder / name
        if not os.path.lexists(path):
            continue
        where = f"{label}/{name}"
        try:
            data = load_json(path, where, FRAMEWORK_MAX_BYTES)
        except BadMetadata as error:
            result["problems"].append(f"{error}; ignored")
            continue
        if not isinstance(data, dict):
            result["problems"].append(f"{where}: expected an object {{...}} at the top level; ignored")
            continue
        read(data, result, where)
    return result


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None  # also NaN/Infinity, which load_json leaves as placeholders
    return value


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.replace("\0", "")[:MAX_TEXT]


def _take(result: dict[str, Any], key: str, value: Any, convert: Any, where: str, field: str, expected: str) -> None:
    if value is None:
        return
    converted = convert(value)
    if converted is None:
        result["problems"].append(f"{where}: {field} is {show_value(value)}, expected {expected}; ignored")
    else:
        result[key] = converted


def _read_config(data: dict[str, Any], result: dict[str, Any], where: str) -> None:
    if "_diffusers_version" in data:
        result["framework"] = "diffusers"
    elif any(key in data for key in ("architectures", "model_type", "transformers_version")):
        result["framework"] = "transformers"
    architectures = data.get("architectures")
    if isinstance(architectures, list) and architectures and _text(architectures[0]):
        result["architecture"] = _text(architectures[0])
    _take(result, "model_type", data.get("model_type"), _text, where, "model_type", "text")
    _take(result, "base_model", data.get("_name_or_path") or None, _text, where, "_name_or_path", "text")


def _read_adapter(data: dict[str, Any], result: dict[str, Any], where: str) -> None:
    # An adapter folder is a PEFT checkpoint, whatever config.json says about the base model.
    result["framework"] = "peft"
    _take(result, "base_model", data.get("base_model_name_or_path"), _text, where, "base_model_name_or_path", "text")
    _take(result, "peft_type", data.get("peft_type"), _text, where, "peft_type", "text")


def _read_trainer_state(data: dict[str, Any], result: dict[str, Any], where: str) -> None:
    result.setdefault("framework", "transformers")
    _take(result, "global_step", data.get("global_step"), _whole, where, "global_step", "a whole number")
    _take(result, "epoch", data.get("epoch"), _number, where, "epoch", "a number")
    _take(result, "best_metric", data.get("best_metric"), _number, where, "best_metric", "a number")
    best = data.get("best_model_checkpoint")
    _take(result, "best_model_checkpoint", best, _text, where, "best_model_checkpoint", "text")
    history = data.get("log_history", [])
    if not isinstance(history, list):
        result["problems"].append(f"{where}: log_history is not a list; ignored")
        return
    entries = [entry for entry in history if isinstance(entry, dict)]
    evaluation = next((e for e in reversed(entries) if any(k.startswith("eval_") for k in e)), None)
    if evaluation:
        for key, value in evaluation.items():
            name = key[len("eval_") :]
            if key.startswith("eval_") and name not in _EVAL_TIMINGS and _number(value) is not None:
                result["metrics"][name] = value
    training = next((e for e in reversed(entries) if _number(e.get("loss")) is not None), None)
    if training:
        result["metrics"]["train_loss"] = training["loss"]
