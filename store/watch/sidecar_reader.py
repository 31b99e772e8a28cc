"""Reading a sidecar's JSON field by field: each value checked and cleaned, each bad one reported as
a problem and dropped, never a reason to lose the rest.
"""

from __future__ import annotations

import math
from typing import Any

from store.errors import BadMetadata, BadVersion
from store.signatures import checked as checked_signature
from store.values import NAME
from store.versions import validate as validate_version
from store.watch.sidecar_format import KNOWN_KEYS, MAX_DEPTH, MAX_TEXT, RESERVED_KEYS, SIDECAR_STATUSES, Sidecar, TRAINING_KEYS, _DROP, _NonFinite, _PARENT, show_value


def _float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


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
