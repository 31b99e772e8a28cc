"""What a sidecar may hold: its names and limits, the keys modelreg knows or reserves, and the
:class:`Sidecar` it reads into (the format itself is described in ``store.watch.sidecar``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from store.lifecycle import STATUSES

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
    "source_sha256", "claim",
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


def show_value(value: Any) -> str:
    """A value as JSON for a one-line message, cut at 60 characters."""
    if isinstance(value, _NonFinite):
        return value.text
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
