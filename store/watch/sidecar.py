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
import os
import stat
from pathlib import Path
from typing import Any

from store.errors import BadMetadata
# The format's names and the reader have modules of their own; everything stays importable from here.
from store.watch.sidecar_format import (  # noqa: F401
    FILE_SIDECAR_SUFFIXES, FOLDER_SIDECARS, KNOWN_KEYS, MAX_BYTES, MAX_DEPTH, MAX_TEXT, RESERVED_KEYS, SIDECAR_STATUSES,
    TRAINING_KEYS, Sidecar, _NonFinite, show_value,
)
from store.watch.sidecar_reader import _Reader, _float


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
