"""What a checkpoint's path says: the model's name (counters and Lightning's ``key=value`` parts
stripped), the training run it belongs to, and its step.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

MODEL_EXTENSIONS = (
    ".pkl", ".joblib", ".pt", ".pth", ".ckpt", ".safetensors", ".bin",
    ".h5", ".keras", ".onnx", ".gguf", ".npz", ".msgpack",
)
# Generic stems that say nothing about the model: name it after its folder instead.
_GENERIC = frozenset({"", "checkpoint", "checkpoints", "ckpt", "last", "best", "final", "latest", "epoch", "step"})
_COUNTER_WORD = r"(?:global[-_]?step|steps?|epochs?|ep|iter(?:ation)?s?|it|ckpt|checkpoint)"
_TRAILING_COUNTER = re.compile(rf"(?:[-_.]{_COUNTER_WORD}?[-_=]?|^{_COUNTER_WORD}[-_=]?)\d+$", re.IGNORECASE)
_LIGHTNING_KEY = re.compile(r"(?:^|-)([A-Za-z_][A-Za-z0-9_./%]*)=")
_LIGHTNING_LAST = re.compile(r"last(?:-v\d+)?", re.IGNORECASE)
_LIGHTNING_COPY = re.compile(r"-v\d+$")  # Lightning adds -v1, -v2 when a name is taken
_STEP = re.compile(r"(?:^|[^A-Za-z])(?:global[-_]?step|steps?|iter(?:ation)?s?|it)[-_=]?(\d+)", re.IGNORECASE)
_CHECKPOINT_NUMBER = re.compile(r"(?:^|[^A-Za-z])(?:checkpoint|ckpt)[-_=]?(\d+)", re.IGNORECASE)
_EPOCH = re.compile(r"(?:^|[^A-Za-z])(?:epochs?|ep)[-_=]?(\d+)", re.IGNORECASE)
_TRAILING_NUMBER = re.compile(r"(?:^|[-_.])(\d+)$")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_DIGITS = re.compile(r"(\d+)")

PathLike = str | os.PathLike[str]


def _parts_below(path: PathLike, root: PathLike) -> tuple[str, ...] | None:
    try:
        return Path(path).relative_to(root).parts
    except ValueError:
        return None


def _natural(text: str) -> tuple[Any, ...]:
    # split() puts text at even and numbers at odd positions, so comparisons never mix types.
    pieces = _DIGITS.split(text)
    pieces[1::2] = map(int, pieces[1::2])
    return tuple(pieces)


def _split_name(path: PathLike) -> tuple[str, str]:
    """(stem, extension) of a checkpoint's name; a folder has no extension."""
    name = os.path.basename(os.fspath(path))
    if os.path.isdir(path):
        return name, ""
    stem, ext = os.path.splitext(name)
    return (stem, ext) if stem else (name, "")


def strip_counters(stem: str) -> str:
    """A stem without its step, epoch and numeric suffixes: ``resnet-epoch3`` -> ``resnet``,
    ``model_step_1000`` -> ``model``, ``epoch=3-step=1000-val_loss=0.12`` -> ``""``."""
    if _LIGHTNING_LAST.fullmatch(stem):
        return "last"
    if match := _LIGHTNING_KEY.search(stem):
        stem = stem[: match.start()]
    while True:
        shorter = _TRAILING_COUNTER.sub("", stem)
        if shorter == stem:
            return stem.rstrip("-_.")
        stem = shorter


def _sanitize(name: str) -> str:
    return _UNSAFE_NAME.sub("-", name).strip("._-")[:128].strip("._-")


def model_name_for(checkpoint: PathLike, root: PathLike, sidecar_model: str | None = None) -> str:
    """The model a checkpoint is a version of.

    The sidecar's ``model`` if given; else the first folder below ``root``
    (``runs/sentiment/ckpt/model.pt`` under ``runs`` -> ``sentiment``); else the name without
    extension and step/epoch/numeric suffixes (``resnet-epoch3.pt`` -> ``resnet``), or the
    root folder's name when that says nothing (``checkpoint-500/``, ``last.ckpt``).
    Always a valid model name: anything but letters, digits and ``._-`` becomes ``-``.
    """
    if sidecar_model and (name := _sanitize(sidecar_model)):
        return name
    root = Path(root)
    parts = _parts_below(checkpoint, root)
    if parts and len(parts) >= 2 and (name := _sanitize(parts[0])):
        return name
    stem, _ = _split_name(checkpoint)
    base = strip_counters(stem)
    if base.lower() in _GENERIC or not _sanitize(base):
        # The checkpoint is the root itself, or sits right in it: the folder names the model.
        folder = root.parent if not parts else root
        base = folder.name
        if strip_counters(base).lower() in _GENERIC:
            base = folder.parent.name
    return _sanitize(base) or "model"


def run_key(checkpoint: PathLike, root: PathLike) -> str:
    """A key shared by the checkpoints of one run: same folder, same name once the step and
    epoch numbers are removed (``checkpoint-500`` and ``checkpoint-1000``; ``model_step_1.pkl``
    and ``model_step_2.pkl``). The extension is part of the key, so an ONNX export is its own run."""
    parts = _parts_below(checkpoint, root)
    if parts:
        parent = "/".join(parts[:-1])
    else:
        parent = os.fspath(Path(checkpoint).parent)
    stem, ext = _split_name(checkpoint)
    return f"{parent}/{strip_counters(stem)}{ext.lower()}"


def step_of(checkpoint: PathLike) -> int | None:
    """The step (or, failing that, epoch or trailing number) in a checkpoint's name, for ordering a run.

    ``checkpoint-500`` -> 500, ``step=1000``/``step_1000``/``global_step1000`` -> 1000,
    ``epoch=3`` -> 3, ``model-7.pt`` -> 7; None when the name has no number.
    """
    stem, _ = _split_name(checkpoint)
    if "=" in stem:
        info = parse_lightning_name(stem)
        for key in ("step", "epoch"):
            if key in info:
                return info[key]
    for pattern in (_STEP, _CHECKPOINT_NUMBER, _EPOCH, _TRAILING_NUMBER):
        if match := pattern.search(stem):
            return int(match.group(1))
    return None


def parse_lightning_name(name: str) -> dict[str, Any]:
    """What a PyTorch Lightning checkpoint name says.

    ``epoch=3-step=1000-val_loss=0.12.ckpt`` -> ``{"epoch": 3, "step": 1000, "metrics": {"val_loss": 0.12}}``.
    ``last.ckpt`` (and ``last-v1.ckpt``) add ``"last": True``. Metric keys may hold ``/``
    (``val/acc=0.9``), also escaped as ``%2F``; the ``-v1`` Lightning adds to a taken name is dropped.
    """
    stem = name[: -len(ext)] if (ext := os.path.splitext(name)[1].lower()) in MODEL_EXTENSIONS else name
    result: dict[str, Any] = {}
    if _LIGHTNING_LAST.fullmatch(stem):
        result["last"] = True
    matches = list(_LIGHTNING_KEY.finditer(stem))
    metrics: dict[str, float] = {}
    for i, match in enumerate(matches):
        key = unquote(match.group(1))
        end = matches[i + 1].start() if i + 1 < len(matches) else len(stem)
        raw = stem[match.end() : end]
        if i + 1 == len(matches):
            raw = _LIGHTNING_COPY.sub("", raw)
        if key in ("epoch", "step"):
            if raw.isdigit():
                result[key] = int(raw)
            continue
        try:
            value = float(raw)
        except ValueError:
            continue
        if value == value and abs(value) != float("inf"):
            metrics[key] = value
    result["metrics"] = metrics
    return result
