"""Which paths under a watched folder are model checkpoints, and what their names tell us.

A checkpoint is either a *model file* (a name matching the include globs, by default the
model extensions below) or a *checkpoint folder*: a folder holding model files plus a
sidecar (``modelreg.json``, ``metadata.json``) or a framework file (``trainer_state.json``,
``config.json``, ``adapter_config.json``), such as Hugging Face Trainer's ``checkpoint-500/``.
A checkpoint folder is one checkpoint: the files inside it never count on their own.

Temporary names are never checkpoints, and neither is anything below a temporary folder
(``tmp-checkpoint-5/model.safetensors``): see :data:`TEMPORARY`.

Everything here is pure: names, folder listings and small JSON files. The watcher that
reacts to file events and registers versions is built on top.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from store.errors import BadMetadata, ConfigError
from store.watch.sidecar import FOLDER_SIDECARS, MAX_TEXT, load_json, show_value, sidecar_subject

MODEL_EXTENSIONS = (
    ".pkl", ".joblib", ".pt", ".pth", ".ckpt", ".safetensors", ".bin",
    ".h5", ".keras", ".onnx", ".gguf", ".npz", ".msgpack",
)
FRAMEWORK_FILES = ("trainer_state.json", "config.json", "adapter_config.json")
MARKERS = FOLDER_SIDECARS + FRAMEWORK_FILES
# Names that writers use while a file is still being written, and dotfiles. A name below
# the watched root matching any of these hides itself and everything under it.
TEMPORARY = (
    "*.tmp", "*.temp", "*.partial", "*.part", "*.crdownload", "*.incomplete", "*.swp", "*~",
    "tmp-checkpoint-*", ".~*", "~*", ".*",
)
FRAMEWORK_MAX_BYTES = 64 << 20  # trainer_state.json grows with every logged step

_TEMPORARY = re.compile("|".join(fnmatch.translate(p) for p in TEMPORARY), re.IGNORECASE)
_NEVER = re.compile(r"(?!)")
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
# Speed figures that Trainer logs with every evaluation: not a measure of the model.
_EVAL_TIMINGS = frozenset({"runtime", "samples_per_second", "steps_per_second"})

PathLike = str | os.PathLike[str]


def _patterns(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(p, str) and p for p in value):
        raise ConfigError(f"watch.{key} must be a list of glob patterns such as [\"*.pt\"], not {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class CheckpointRules:
    """What counts as a checkpoint, and how the watcher treats one.

    Globs ignore case. ``include`` globs match file names. ``ignore`` globs without a ``/``
    match any file or folder name below the watched root (``"wandb"``, ``"*.old"``); with a
    ``/`` they match the path relative to the root (``"runs/scratch"``, ``"*/optimizer.pt"``).
    """

    include: tuple[str, ...] = tuple(f"*{ext}" for ext in MODEL_EXTENSIONS)
    ignore: tuple[str, ...] = ()
    settle_seconds: float = 1.0  # quiet time before a changing checkpoint is read
    chain_parents: bool = True  # make each checkpoint the child of the previous one in its run

    def __post_init__(self) -> None:
        object.__setattr__(self, "include", _patterns(self.include, "include"))
        object.__setattr__(self, "ignore", _patterns(self.ignore, "ignore"))

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> CheckpointRules:
        """Rules from the ``watch`` section of the config; other keys there belong to the watcher.

        Raises :class:`ConfigError` (one line) for a value of the wrong kind.
        """
        config = config or {}
        if not isinstance(config, Mapping):
            raise ConfigError(f"watch must be an object, not {config!r}")
        defaults = cls()
        settle = config.get("settle_seconds", defaults.settle_seconds)
        if not isinstance(settle, (int, float)) or isinstance(settle, bool) or not 0 <= settle <= 3600:
            raise ConfigError(f"watch.settle_seconds must be a number of seconds from 0 to 3600, not {settle!r}")
        chain = config.get("chain_parents", defaults.chain_parents)
        if not isinstance(chain, bool):
            raise ConfigError(f"watch.chain_parents must be true or false, not {chain!r}")
        return cls(
            include=_patterns(config.get("include", defaults.include), "include"),
            ignore=_patterns(config.get("ignore", defaults.ignore), "ignore"),
            settle_seconds=float(settle),
            chain_parents=chain,
        )

    # cached_property writes to the instance __dict__ directly, so it works on a frozen dataclass.
    @cached_property
    def _include(self) -> re.Pattern[str]:
        return _compile(self.include)

    @cached_property
    def _ignore_names(self) -> re.Pattern[str]:
        return _compile([p for p in self.ignore if "/" not in p])

    @cached_property
    def _ignore_paths(self) -> re.Pattern[str]:
        return _compile([p.strip("/") for p in self.ignore if "/" in p])


def _compile(patterns: Sequence[str]) -> re.Pattern[str]:
    if not patterns:
        return _NEVER
    return re.compile("|".join(fnmatch.translate(p) for p in patterns), re.IGNORECASE)


DEFAULT_RULES = CheckpointRules()


def _parts_below(path: PathLike, root: PathLike) -> tuple[str, ...] | None:
    try:
        return Path(path).relative_to(root).parts
    except ValueError:
        return None


def _hidden(parts: Sequence[str], rules: CheckpointRules) -> bool:
    """Whether any of these components (below the root) is temporary or ignored."""
    for i, part in enumerate(parts):
        if _TEMPORARY.match(part) or rules._ignore_names.match(part):
            return True
        if rules.ignore and rules._ignore_paths.match("/".join(parts[: i + 1])):
            return True
    return False


def is_temporary(path: PathLike, root: PathLike) -> bool:
    """True if the path, or any folder between ``root`` and it, has a temporary name or is a dotfile.

    A path outside ``root`` is judged by its own name only.
    """
    parts = _parts_below(path, root)
    if parts is None:
        parts = (Path(path).name,)
    return any(_TEMPORARY.match(part) for part in parts)


def is_ignored(path: PathLike, root: PathLike, rules: CheckpointRules = DEFAULT_RULES) -> bool:
    """True if an ignore glob matches the path or any folder between ``root`` and it."""
    parts = _parts_below(path, root)
    if parts is None:
        parts = (Path(path).name,)
    return any(
        rules._ignore_names.match(part) or rules._ignore_paths.match("/".join(parts[: i + 1]))
        for i, part in enumerate(parts)
    )


def is_model_file(path: PathLike, rules: CheckpointRules = DEFAULT_RULES) -> bool:
    """True if the name matches an include glob and is neither temporary nor ignored by name.

    Judged by the name alone, so it also answers for a file that was just deleted.
    """
    name = os.path.basename(os.fspath(path))
    return bool(rules._include.match(name)) and not _TEMPORARY.match(name) and not rules._ignore_names.match(name)


def is_sidecar(path: str | os.PathLike[str], rules: CheckpointRules | None = None) -> bool:
    """True for ``modelreg.json``, ``metadata.json``, and ``X.json`` / ``X.meta.json`` where X is a model file name."""
    path = Path(path)
    if path.name in FOLDER_SIDECARS:
        return True
    subject = sidecar_subject(path)
    return subject is not None and is_model_file(subject, rules or CheckpointRules())


def _holds_checkpoint(files: Sequence[str], rules: CheckpointRules) -> bool:
    """Whether a folder with these regular files is a checkpoint folder."""
    return any(name in MARKERS for name in files) and any(is_model_file(name, rules) for name in files)


def is_checkpoint_dir(path: PathLike, rules: CheckpointRules = DEFAULT_RULES) -> bool:
    """True if the folder holds a model file plus a sidecar or a framework file.

    Looks only at the folder's own entries (not at its name: temporary folder names are
    for :func:`checkpoint_for` and :func:`scan_tree`, which know the watched root).
    """
    # Most folders have no marker: a few stats are cheaper than listing a big folder.
    if not any(os.path.isfile(os.path.join(path, marker)) for marker in MARKERS):
        return False
    try:
        with os.scandir(path) as entries:
            return any(is_model_file(entry.name, rules) and _is_file(entry) for entry in entries)
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def checkpoint_for(path: PathLike, root: PathLike, rules: CheckpointRules = DEFAULT_RULES) -> Path | None:
    """The checkpoint that a path named in a file event belongs to, or None.

    A file or folder inside a checkpoint folder gives the outermost such folder (the root
    itself included); a checkpoint folder gives itself; a model file gives itself; a file
    sidecar ``X.json`` or ``X.meta.json`` gives ``X`` when X is a model file name (whether or
    not X exists yet). Temporary, ignored and outside-the-root paths give None. A path that
    no longer exists is judged by its name.
    """
    path, root = Path(path), Path(root)
    parts = _parts_below(path, root)
    if parts is None or _hidden(parts, rules):
        return None
    folder = root
    for part in ("", *parts[:-1]):
        folder = folder / part if part else folder
        if is_checkpoint_dir(folder, rules):
            return folder
    if not parts:
        return None
    if os.path.isdir(path):
        return path if is_checkpoint_dir(path, rules) else None
    if is_model_file(path, rules):
        return path
    subject = sidecar_subject(path)
    if subject is not None and subject != path.parent and is_model_file(subject, rules):
        return subject
    return None


def scan_tree(root: PathLike, rules: CheckpointRules = DEFAULT_RULES) -> list[Path]:
    """Every checkpoint under ``root`` (the root itself may be one), in natural path order.

    Does not descend into checkpoint folders, temporary or ignored folders, or symlinked
    folders (which could loop); symlinked model files count.
    """
    include, ignore_names, ignore_paths = rules._include.match, rules._ignore_names.match, rules._ignore_paths.match
    check_paths = any("/" in p for p in rules.ignore)
    found: list[str] = []
    stack = [(os.fspath(root), "")]
    while stack:
        folder, relative = stack.pop()
        try:
            with os.scandir(folder) as entries:
                listing = list(entries)
        except OSError:
            continue  # vanished or unreadable: nothing to register there
        files: list[str] = []
        folders: list[tuple[str, str]] = []
        for entry in listing:
            name = entry.name
            if _TEMPORARY.match(name) or ignore_names(name):
                continue
            below = f"{relative}/{name}" if relative else name
            if check_paths and ignore_paths(below):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    folders.append((entry.path, below))
                elif entry.is_file():
                    files.append(name)
            except OSError:
                continue
        if _holds_checkpoint(files, rules):
            found.append(folder)
            continue
        found.extend(os.path.join(folder, name) for name in files if include(name))
        stack.extend(folders)
    found.sort(key=_natural)
    return [Path(p) for p in found]


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
