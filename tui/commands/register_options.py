"""What ``modelreg register`` gathers beyond metrics and params: training fields with units,
artifacts with roles, a foreign metadata file, and what a checkpoint folder says about itself."""

from __future__ import annotations

import argparse
import inspect
import math
from pathlib import Path
from typing import Any

from store.watch.checkpoint_info import checkpoint_metadata
from store.errors import BadMetadata
from store.foreign_metadata import read_metadata
from store.quantities import parse_cost, parse_duration
from store.registry import Registry

# (option, training field, how its text becomes a value)
TRAINING_OPTIONS: tuple[tuple[str, str, Any], ...] = (
    ("--framework", "framework", str),
    ("--base-model", "base_model", str),
    ("--samples", "samples", int),
    ("--epochs", "epochs", float),
    ("--batch-size", "batch_size", int),
    ("--learning-rate", "learning_rate", float),
    ("--duration", "duration", parse_duration),
    ("--cost", "cost", parse_cost),
    ("--hardware", "hardware", str),
)
_HELP = {"duration": "how long training took: 3h, 90m, 1h30m or seconds", "cost": "what training cost: $0.80 or 12.5 (USD)"}


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training")
    for option, field, _ in TRAINING_OPTIONS:
        group.add_argument(option, dest=f"train_{field}", metavar=field.upper(), help=_HELP.get(field))
    parser.add_argument("--artifact", action="append", default=[], metavar="ROLE=PATH",
                        help="an artifact with a role: gguf=model.gguf, lora=adapter/ (find role:gguf)")
    parser.add_argument("--metadata", metavar="FILE", help="another tool's metadata JSON (Exoplanet, AFS shapes)")


def training_from_args(args: argparse.Namespace) -> dict[str, Any]:
    training = {}
    for option, field, convert in TRAINING_OPTIONS:
        raw = getattr(args, f"train_{field}", None)
        if raw is None:
            continue
        try:
            value = convert(raw)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(raw)
        except ValueError:
            raise BadMetadata(f"bad {option} {raw!r}: give a number") from None
        training[field] = int(value) if isinstance(value, float) and field == "epochs" and value == int(value) else value
    return training


def artifacts_from_args(args: argparse.Namespace) -> list[Any]:
    """The plain paths, then the ``(role, path)`` pairs of ``--artifact``."""
    entries: list[Any] = list(args.paths)
    for pair in args.artifact:
        role, sep, path = pair.partition("=")
        if not sep or not role.strip() or not path.strip():
            raise BadMetadata(f"bad --artifact '{pair}': write ROLE=PATH, e.g. gguf=model.gguf")
        entries.append((role.strip(), path.strip()))
    return entries


def gathered(args: argparse.Namespace) -> dict[str, Any]:
    """Register keywords from, weakest first: a checkpoint folder's own files, ``--metadata``,
    then the options given (``--metric``, ``--param``, ``--epochs``...), which win."""
    found: dict[str, Any] = {"metrics": {}, "params": {}, "training": {}, "extra": {}, "problems": []}
    folders = [Path(p) for p in args.paths if Path(p).is_dir()]
    if len(args.paths) == 1 and folders:  # one checkpoint folder: read it as the watcher does
        read = checkpoint_metadata(folders[0])
        for key in ("metrics", "training", "extra", "problems"):
            _merge(found, key, read[key])
    if args.metadata:
        meta = read_metadata(args.metadata, args.model)
        for key, value in meta.items():
            _merge(found, key, value)
    _merge(found, "training", training_from_args(args))
    # A foreign key named like a register parameter (an AFS "version", "status") is kept, renamed.
    taken = set(inspect.signature(Registry.register).parameters)
    found["extra"] = {(f"original_{k}" if k in taken else k): v for k, v in found["extra"].items()}
    return found


def _merge(found: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, dict):
        found[key] = {**found.get(key, {}), **value}
    elif isinstance(value, list):
        found[key] = [*found.get(key, []), *value]
    elif value not in (None, ""):
        found[key] = value
