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

from store.errors import ConfigError
# Names and framework files have modules of their own; their public names are importable from here too.
from store.watch.checkpoint_names import (  # noqa: F401
    MODEL_EXTENSIONS, PathLike, _natural, _parts_below, model_name_for, parse_lightning_name, run_key, step_of,
    strip_counters,
)
from store.watch.framework_files import FRAMEWORK_FILES, FRAMEWORK_MAX_BYTES, read_framework_files  # noqa: F401
from store.watch.sidecar import FOLDER_SIDECARS, sidecar_subject

MARKERS = FOLDER_SIDECARS + FRAMEWORK_FILES
# Names that writers use while a file is still being written, and dotfiles. A name below
# the watched root matching any of these hides itself and everything under it.
TEMPORARY = (
    "*.tmp", "*.temp", "*.partial", "*.part", "*.crdownload", "*.incomplete", "*.swp", "*~",
    "tmp-checkpoint-*", ".~*", "~*", ".*",
)

_TEMPORARY = re.compile("|".join(fnmatch.translate(p) for p in TEMPORARY), re.IGNORECASE)
_NEVER = re.compile(r"(?!)")


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


def scan_tree(root: PathLike, rules: CheckpointRules = DEFAULT_RULES, unreadable: list[str] | None = None) -> list[Path]:
    """Every checkpoint under ``root`` (the root itself may be one), in natural path order.

    Does not descend into checkpoint folders, temporary or ignored folders, or symlinked
    folders (which could loop); symlinked model files count. Folders this user may not
    list are added to ``unreadable``, so that the caller can say so.
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
        except PermissionError:
            # lost+found, root's own at every ext4 mount point, holds no training output.
            if unreadable is not None and os.path.basename(folder) != "lost+found":
                unreadable.append(folder)
            continue
        except OSError:
            continue  # vanished: nothing to register there
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
