"""Sidecar metadata: a small JSON file next to a checkpoint that says what it is.

For a model file ``X`` the sidecar is ``X.json`` or ``X.meta.json`` (``model.pkl.json``);
for a checkpoint folder it is ``modelreg.json`` or ``metadata.json`` inside the folder.
Every key is optional. A full example::

    {
      "model": "sentiment",
      "version": "v3",
      "parent": "sentiment:v2",
      "status": "completed",
      "base_model": "distilbert-base-uncased",
      "framework": "transformers",
      "metrics": {"accuracy": 0.931, "f1": 0.927, "val_loss": 0.214},
      "params": {"learning_rate": 3e-05, "max_length": 256, "warmup_ratio": 0.1, "optimizer": "adamw"},
      "training": {
        "samples": 25000,
        "epochs": 3,
        "batch_size": 32,
        "learning_rate": 3e-05,
        "duration_s": 1843.5,
        "cost_usd": 4.2,
        "hardware": "1x A100 80GB"
      },
      "training_data": ["imdb-train-v2", "s3://datasets/imdb/unsup-2024.parquet"],
      "git_commit": "3f2c9ab",
      "tags": ["baseline", "distilbert"],
      "notes": "Warm-started from v2 with a longer max_length.",
      "step": 2346,
      "epoch": 3,
      "dataset_sha256": "9b1c0e7d4f2a",
      "extra": {"wandb_run": "sentiment/3kq9x2"}
    }

``hyperparameters`` is accepted for ``params``; ``training.duration`` and ``training.cost``
for ``duration_s`` and ``cost_usd``. Unknown keys (``dataset_sha256`` above) and the keys of
``extra`` are kept in the version's ``extra``; unknown keys inside ``training`` are kept in
``extra`` as ``training.<key>``.

A sidecar is untrusted input. A bad field is dropped and noted in ``problems`` as one line
naming the file and the field; only a file that cannot be used at all (unreadable, not JSON,
not an object, over 1 MiB) raises :class:`BadMetadata`. Text is kept literally, without NUL
bytes and cut at 10,000 characters; NaN and Infinity are dropped wherever they appear.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store.errors import BadMetadata, BadVersion
from store.lifecycle import STATUSES
from store.signatures import checked as checked_signature
from store.values import NAME
from store.versions import validate as validate_version

MAX_BYTES = 1 << 20
MAX_TEXT = 10_000
MAX_DEPTH = 64
FOLDER_SIDECARS = ("modelreg.json", "metadata.json")
# Longest first, so that "X.meta.json" describes X and not "X.meta".
FILE_SIDECAR_SUFFIXES = (".meta.json", ".json")

# The sidecar's spelling -> the version document's training field.
TRAINING_KEYS = {
    "samples": "samples",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "learning_rate": "learning_rate",
    "duration": "duration",
    "duration_s": "duration",
    "cost": "cost",
    "cost_usd": "cost",
    "hardware": "hardware",
}
KNOWN_KEYS = frozenset({
    "model", "version", "parent", "base_model", "framework", "metrics", "params", "hyperparameters",
    "training", "training_data", "git_commit", "tags", "status", "notes", "step", "epoch", "extra", "signature",
})
# Set by modelreg itself, or parameters of Registry.register: a sidecar must not supply them,
# or an extra key could pose as a safety scan, an artifact list or a registration time.
RESERVED_KEYS = frozenset({
    "artifacts", "estimator", "scan", "source", "problems", "bump", "hash_artifacts",
    "created_at", "registered_by", "missing", "ref", "self", "content_key", "estimators", "source_file",
    "source_sha256",
})
# "deployed" comes only from a deploy, which also switches the live link.
SIDECAR_STATUSES = tuple(status for status in STATUSES if status != "deployed")
_PARENT = re.compile(r"[A-Za-z0-9._+:-]{1,200}")


class _NonFinite:
    """Stands in for NaN, Infinity or an overflowing number until it is reported and dropped."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


_DROP = object()


@dataclass(frozen=True)
class Sidecar:
    """What a sidecar says, every field checked. ``problems`` lists what was dropped, one line each."""

    model: str | None = None
    version: str | None = None
    parent: str | None = None
    base_model: str | None = None
    framework: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    training_data: list[str] = field(default_factory=list)
    git_commit: str | None = None
    tags: list[str] = field(default_factory=list)
    status: str | None = None
    notes: str | None = None
    step: int | None = None
    epoch: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    source: str | None = None
    signature: dict[str, Any] | None = None

    def to_register_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Registry.register`` (artifacts not included), only the fields set.

        ``framework`` and ``base_model`` go into ``training``; ``step``, ``epoch`` and the extra
        keys become extra keyword arguments, which the registry keeps in ``extra``.
        """
        kwargs: dict[str, Any] = {}
        for name in ("model", "version", "parent", "status", "git_commit", "notes"):
            if (value := getattr(self, name)) is not None:
                kwargs[name] = value
        for name in ("metrics", "params", "tags", "training_data"):
            if value := getattr(self, name):
                kwargs[name] = _copy(value)
        training = {"framework": self.framework, "base_model": self.base_model, **self.training}
        training = {key: value for key, value in training.items() if value is not None}
        if training:
            kwargs["training"] = training
        if self.source:
            kwargs["source"] = self.source
        if self.signature:
            kwargs["signature"] = _copy(self.signature)
        if self.problems:
            kwargs["problems"] = list(self.problems)
        kwargs.update(_copy(self.extra))
        if self.step is not None:
            kwargs["step"] = self.step
        if self.epoch is not None:
            kwargs["epoch"] = self.epoch
        return kwargs


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def sidecar_subject(path: str | os.PathLike[str]) -> Path | None:
    """What a sidecar-named path would describe: its folder for ``modelreg.json`` or
    ``metadata.json``, ``X`` for ``X.json`` or ``X.meta.json``; None for other names."""
    path = Path(path)
    name = path.name
    if name in FOLDER_SIDECARS:
        return path.parent
    for suffix in FILE_SIDECAR_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return path.with_name(name[: -len(suffix)])
    return None


def sidecar_for(checkpoint: str | os.PathLike[str]) -> Path | None:
    """The sidecar of a checkpoint, if one exists: ``X.json`` then ``X.meta.json`` for a file X,
    ``modelreg.json`` then ``metadata.json`` inside a folder.

    Anything at that name counts, even a folder or a pipe, so that :func:`read_sidecar`
    can say what is wrong with it instead of the sidecar being silently ignored.
    """
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        candidates = [checkpoint / name for name in FOLDER_SIDECARS]
    else:
        candidates = [checkpoint.with_name(checkpoint.name + suffix) for suffix in (".json", ".meta.json")]
    return next((path for path in candidates if os.path.lexists(path)), None)


def load_json(path: str | os.PathLike[str], label: str | None = None, max_bytes: int = MAX_BYTES) -> Any:
    """Parse a JSON file safely: a regular file only (never blocks on a pipe), at most ``max_bytes``.

    NaN, Infinity and numbers too large for a float come back as placeholders that
    :func:`read_sidecar` reports; other callers treat them as "not a number".
    Raises :class:`BadMetadata` (one line, starting with ``label``) when the file is unusable.
    """
    label = label or str(path)
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise BadMetadata(f"{label}: the file vanished before it could be read") from None
    except PermissionError:
        raise BadMetadata(f"{label}: permission denied; make the file readable") from None
    except OSError as error:
        raise BadMetadata(f"{label}: cannot be read ({error.strerror or error})") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise BadMetadata(f"{label}: is a folder, not a JSON file")
        if not stat.S_ISREG(mode):
            raise BadMetadata(f"{label}: is not a regular file (a pipe, socket or device?)")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise BadMetadata(f"{label}: cannot be read ({error.strerror or error})") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise BadMetadata(f"{label}: larger than the {_size(max_bytes)} limit")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadMetadata(f"{label}: not UTF-8 text (bad byte at offset {error.start})") from None
    try:
        return json.loads(text, parse_constant=_NonFinite, parse_float=_float)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise BadMetadata(f"{label}: not valid JSON ({error.msg} at {where})") from None
    except RecursionError:
        raise BadMetadata(f"{label}: nested too deeply to be metadata") from None


def _float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def _size(count: int) -> str:
    return f"{count / (1 << 20):g} MiB" if count >= 1 << 20 else f"{count} bytes"


def read_sidecar(path: str | os.PathLike[str], label: str | None = None) -> Sidecar:
    """Read and check a sidecar. ``label`` names the file in messages (default: the path).

    Raises :class:`BadMetadata` only when the whole file is unusable; a bad field is
    dropped and described in ``Sidecar.problems`` instead.
    """
    label = label or str(path)
    try:
        raw = load_json(path, label)
    except BadMetadata as error:
        raise BadMetadata(f"{error}; fix the sidecar or remove it") from None
    if not isinstance(raw, dict):
        raise BadMetadata(
            f"{label}: the top level is {_kind(raw)}, expected an object {{...}}; fix the sidecar or remove it"
        )
    return _Reader(label).read(raw, source=str(path))


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return "a number"


def show_value(value: Any) -> str:
    """A value as JSON for a one-line message, cut at 60 characters."""
    if isinstance(value, _NonFinite):
        return value.text
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _non_negative(value: Any) -> bool:
    return _is_number(value) and value >= 0


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _model_name(value: Any) -> bool:
    return isinstance(value, str) and NAME.match(value) is not None


def _reference(value: Any) -> bool:
    return isinstance(value, str) and _PARENT.fullmatch(value) is not None


class _Reader:
    """Checks one sidecar's fields, collecting a problem line for everything it drops."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.problems: list[str] = []

    def problem(self, where: str, value: Any, expected: str) -> None:
        self.problems.append(f"{self.label}: {where} is {show_value(value)}, expected {expected}; ignored")

    def note(self, text: str) -> None:
        self.problems.append(f"{self.label}: {text}")

    def clean(self, value: Any, where: str, depth: int = 0) -> Any:
        """A copy without NaN/Infinity or NUL bytes, with text capped; _DROP for a dropped value."""
        if isinstance(value, _NonFinite):
            self.problem(where, value, "a finite number")
            return _DROP
        if isinstance(value, str):
            return self.text(value, where)
        if isinstance(value, (dict, list)) and depth >= MAX_DEPTH:
            self.note(f"{where} is nested deeper than {MAX_DEPTH} levels; ignored")
            return _DROP
        if isinstance(value, dict):
            result = {}
            for key, item in value.items():
                key = key.replace("\0", "")[:MAX_TEXT]
                item = self.clean(item, f"{where}.{key}" if where else key, depth + 1)
                if item is not _DROP:
                    result[key] = item
            return result
        if isinstance(value, list):
            items = (self.clean(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))
            return [item for item in items if item is not _DROP]
        return value

    def text(self, value: str, where: str) -> str:
        value = value.replace("\0", "")
        if len(value) > MAX_TEXT:
            self.note(f"{where} is {len(value):,} characters long; kept the first {MAX_TEXT:,}")
            value = value[:MAX_TEXT]
        return value

    def read(self, raw: dict[str, Any], source: str) -> Sidecar:
        data = self.clean(raw, "")
        fields: dict[str, Any] = {"source": source}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key in RESERVED_KEYS:
                self.note(f"{key} is set by modelreg, not by a sidecar; ignored")
            elif key not in KNOWN_KEYS:
                extra[key] = value
        fields["model"] = self.checked(data, "model", _model_name, "a model name (letters, digits, . _ -)")
        fields["version"] = self.version(data)
        fields["parent"] = self.checked(data, "parent", _reference, "a reference such as sentiment:v2")
        statuses = ", ".join(SIDECAR_STATUSES)
        fields["status"] = self.checked(data, "status", lambda v: v in SIDECAR_STATUSES, f"one of {statuses}")
        for key in ("base_model", "framework", "git_commit", "notes"):
            fields[key] = self.checked(data, key, lambda v: isinstance(v, str), "text")
        if isinstance(fields["git_commit"], str):
            fields["git_commit"] = fields["git_commit"].strip() or None
        fields["step"] = self.checked(data, "step", _whole, "a whole number >= 0")
        fields["epoch"] = self.checked(data, "epoch", _non_negative, "a number >= 0")
        fields["metrics"] = self.metrics(data)
        params = self.mapping(data, "hyperparameters")
        params.update(self.mapping(data, "params"))
        fields["params"] = params
        fields["training"] = self.training(data, extra)
        fields["training_data"] = self.texts(data, "training_data", allow_one=True)
        if data.get("signature") is not None:
            try:
                fields["signature"] = checked_signature(data["signature"], self.label)
            except BadMetadata as error:
                self.problems.append(f"{error}; ignored")
        fields["tags"] = self.texts(data, "tags", allow_one=False)
        for key, value in self.mapping(data, "extra").items():
            if key in KNOWN_KEYS or key in RESERVED_KEYS:
                self.note(f"extra.{key} has the name of a version field; ignored")
            else:
                extra[key] = value
        return Sidecar(**fields, extra=extra, problems=self.problems)

    def checked(self, data: dict[str, Any], key: str, ok: Any, expected: str) -> Any:
        if key not in data or data[key] is None:
            return None
        if ok(data[key]):
            return data[key]
        self.problem(key, data[key], expected)
        return None

    def version(self, data: dict[str, Any]) -> str | None:
        value = data.get("version")
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        try:
            if not isinstance(value, str):
                raise BadVersion("not text")
            return validate_version(value)
        except BadVersion:
            self.problem("version", data["version"], "a version such as v3 or 1.2.0 (letters, digits, . _ + -)")
            return None

    def mapping(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key)
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        self.problem(key, value, "an object {...}")
        return {}

    def metrics(self, data: dict[str, Any]) -> dict[str, float]:
        result = {}
        for name, value in self.mapping(data, "metrics").items():
            if not name:
                self.problem("a metric name", name, "a non-empty name")
            elif _is_number(value):
                result[name] = value
            else:
                self.problem(f"metrics.{name}", value, "a number")
        return result

    def training(self, data: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        checks = {
            "samples": (_whole, "a whole number >= 0"),
            "epochs": (_non_negative, "a number >= 0"),
            "batch_size": (lambda v: _whole(v) and v > 0, "a whole number > 0"),
            "learning_rate": (_non_negative, "a number >= 0"),
            "duration": (_non_negative, "a number of seconds >= 0"),
            "cost": (_non_negative, "a number >= 0"),
            "hardware": (lambda v: isinstance(v, str), "text"),
        }
        result: dict[str, Any] = {}
        given = self.mapping(data, "training")
        # duration_s and cost_usd win over their short aliases: their unit is explicit.
        for key in sorted(given, key=lambda k: k in ("duration_s", "cost_usd")):
            value = given[key]
            target = TRAINING_KEYS.get(key)
            if target is None:
                extra[f"training.{key}"] = value
            elif value is None:
                continue
            elif checks[target][0](value):
                result[target] = value
            else:
                self.problem(f"training.{key}", value, checks[target][1])
        return result

    def texts(self, data: dict[str, Any], key: str, allow_one: bool) -> list[str]:
        value = data.get(key)
        if value is None:
            return []
        if allow_one and isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.problem(key, value, "a list of text")
            return []
        result: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.problem(f"{key}[{i}]", item, "non-empty text")
            elif item not in result:
                result.append(item)
        return result
