"""A version's signature: what input it takes and what it gives back.

``{"inputs": {"names": [...], "dtypes": [...], "shape": [null, width]},
   "outputs": {"classes": [...]} or {"shape": [...]}, "source": "estimator" | "sidecar" | "MLmodel"}``,
each key present only when known. Captured from a scikit-learn estimator's description
(``feature_names_in_``, ``n_features_in_``, ``classes_``), read from a sidecar's ``signature``, or
from an MLflow ``MLmodel`` file among the artifacts. ``check_input`` refuses input that does not
match; ``differences`` says what changed between two versions.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from store.errors import BadMetadata
from store.values import jsonable

MLMODEL = "MLmodel"
_MAX_MLMODEL = 1 << 20
_QUOTED = re.compile(r"^\s+(inputs|outputs):\s*'(.*)'\s*$")


def from_estimator(info: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The signature a scikit-learn estimator's description gives, or None if it knows nothing."""
    if not info:
        return None
    inputs: dict[str, Any] = {}
    if info.get("feature_names_in_") and not info.get("n_feature_names"):  # all of them, not the first 100
        inputs["names"] = list(info["feature_names_in_"])
    if isinstance(info.get("n_features_in_"), int):
        inputs["shape"] = [None, info["n_features_in_"]]
    outputs: dict[str, Any] = {}
    if info.get("classes_") is not None and info.get("n_classes", 0) == len(info["classes_"]):
        outputs["classes"] = list(info["classes_"])
    if not inputs and not outputs:
        return None
    return {"inputs": inputs, "outputs": outputs, "source": "estimator"}


def from_objects(records: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The signature the objects saved in a version share (each artifact's own ``estimator``
    description); None when there are none, or they take different input."""
    found = [from_estimator(r.get("estimator")) for r in records if r.get("estimator")]
    if not found or any(s is None or s != found[0] for s in found):
        return None
    return found[0]


def checked(value: Any, where: str) -> dict[str, Any]:
    """A signature given by hand (a sidecar, ``register(signature=...)``), or a one-line error."""
    if not isinstance(value, Mapping) or not (isinstance(value.get("inputs"), Mapping) or isinstance(value.get("outputs"), Mapping)):
        raise BadMetadata(f"{where}: signature must be an object with 'inputs' and/or 'outputs', e.g. "
                          '{"inputs": {"names": ["age", "income"]}, "outputs": {"classes": [0, 1]}}')
    inputs = dict(value.get("inputs") or {})
    for key in ("names", "dtypes"):
        if key in inputs and not (isinstance(inputs[key], list) and all(isinstance(n, str) for n in inputs[key])):
            raise BadMetadata(f"{where}: signature inputs.{key} must be a list of text")
    if "shape" in inputs and not (isinstance(inputs["shape"], list) and all(n is None or isinstance(n, int) for n in inputs["shape"])):
        raise BadMetadata(f"{where}: signature inputs.shape must be a list of whole numbers or null, e.g. [null, 4]")
    if "names" in inputs and "shape" not in inputs:
        inputs["shape"] = [None, len(inputs["names"])]
    return {"inputs": jsonable(inputs), "outputs": jsonable(dict(value.get("outputs") or {})), "source": str(value.get("source") or "given")}


def from_mlmodel(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The signature in an MLflow ``MLmodel`` file (its ``signature:`` block), or None.

    MLflow writes ``inputs`` and ``outputs`` as JSON in single-quoted YAML strings: column specs
    (``[{"name": "x", "type": "double"}]``) or tensor specs (``[{"type": "tensor",
    "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}]``). Only that block is read."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(_MAX_MLMODEL)
    except (OSError, UnicodeDecodeError):
        return None
    specs: dict[str, Any] = {}
    inside = False
    for line in text.splitlines():
        if not line.startswith((" ", "\t")):
            inside = line.startswith("signature:")
            continue
        match = _QUOTED.match(line) if inside else None
        if match:
            try:
                specs[match.group(1)] = json.loads(match.group(2).replace("''", "'"))
            except ValueError:
                return None
    if not specs:
        return None
    return {"inputs": _spec(specs.get("inputs")), "outputs": _spec(specs.get("outputs")), "source": MLMODEL}


def _spec(columns: Any) -> dict[str, Any]:
    if not isinstance(columns, list) or not columns:
        return {}
    if all(isinstance(c, Mapping) and c.get("type") == "tensor" for c in columns):
        spec = columns[0].get("tensor-spec") or {}
        shape = [None if isinstance(n, int) and n < 0 else n for n in spec.get("shape") or []]
        return {k: v for k, v in (("dtypes", [str(spec.get("dtype"))] if spec.get("dtype") else None), ("shape", shape or None)) if v}
    names = [str(c.get("name")) for c in columns if isinstance(c, Mapping) and c.get("name") is not None]
    result: dict[str, Any] = {"dtypes": [str(c.get("type")) for c in columns if isinstance(c, Mapping)], "shape": [None, len(columns)]}
    if len(names) == len(columns):
        result["names"] = names
    return result


def from_artifacts(records: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The signature of the first ``MLmodel`` among the artifacts (a file, or one inside a folder)."""
    for record in records:
        path = Path(str(record.get("path", "")))
        candidate = path / MLMODEL if path.is_dir() else path
        if candidate.name == MLMODEL and candidate.is_file():
            found = from_mlmodel(candidate)
            if found:
                return found
    return None


def check_input(signature: Mapping[str, Any] | None, data: Any, ref: str) -> None:
    """Refuse ``data`` whose columns or width do not match ``ref``'s signature (one line)."""
    inputs = (signature or {}).get("inputs") or {}
    if not inputs:
        return
    columns = getattr(data, "columns", None)
    expected = inputs.get("names")
    if columns is not None and expected:
        given = [str(c) for c in columns]
        if given != list(expected):
            missing = [n for n in expected if n not in given]
            unknown = [n for n in given if n not in expected]
            detail = "; ".join(p for p in (f"missing {', '.join(missing)}" if missing else "", f"unexpected {', '.join(unknown)}" if unknown else "") if p) or "the same columns in another order"
            raise BadMetadata(f"input does not match {ref}'s signature: {detail} (expected {', '.join(expected)})")
    width = (inputs.get("shape") or [None, None])[-1]
    given_width = _width(data)
    if isinstance(width, int) and given_width is not None and given_width != width:
        raise BadMetadata(f"input does not match {ref}'s signature: {given_width} features per row, expected {width}")


def _width(data: Any) -> int | None:
    shape = getattr(data, "shape", None)
    if isinstance(shape, tuple) and len(shape) == 2:
        return int(shape[1])
    if isinstance(data, (list, tuple)) and data and isinstance(data[0], (list, tuple)):
        return len(data[0])
    return None


def differences(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[str]:
    """What changed from ``old`` to ``new``, one line each (empty when the same or unknown)."""
    if not old or not new:
        return []
    found = []
    a, b = old.get("inputs") or {}, new.get("inputs") or {}
    if a.get("names") and b.get("names") and a["names"] != b["names"]:
        added = [n for n in b["names"] if n not in a["names"]]
        removed = [n for n in a["names"] if n not in b["names"]]
        parts = [f"+{', +'.join(added)}" if added else "", f"-{', -'.join(removed)}" if removed else ""]
        found.append("input columns changed: " + ("; ".join(p for p in parts if p) or "same columns, another order"))
    width_a, width_b = (a.get("shape") or [None])[-1], (b.get("shape") or [None])[-1]
    if isinstance(width_a, int) and isinstance(width_b, int) and width_a != width_b:
        found.append(f"input width changed: {width_a} → {width_b} features")
    if a.get("dtypes") and b.get("dtypes") and a["dtypes"] != b["dtypes"]:
        found.append("input types changed")
    x, y = old.get("outputs") or {}, new.get("outputs") or {}
    if x.get("classes") is not None and y.get("classes") is not None and x["classes"] != y["classes"]:
        found.append(f"output classes changed: {_short(x['classes'])} → {_short(y['classes'])}")
    return found


def _short(values: list[Any]) -> str:
    return ", ".join(map(str, values[:6])) + ("…" if len(values) > 6 else "")


def describe(signature: Mapping[str, Any] | None) -> str:
    """One line: ``inputs 4 (sepal_length, …) → classes 0, 1, 2  [estimator]``."""
    if not signature:
        return ""
    inputs, outputs = signature.get("inputs") or {}, signature.get("outputs") or {}
    width = (inputs.get("shape") or [None])[-1]
    shown = f"inputs {width if width is not None else '?'}"
    if inputs.get("names"):
        shown += f" ({_short(inputs['names'])})"
    if outputs.get("classes") is not None:
        shown += f" → classes {_short(outputs['classes'])}"
    elif outputs.get("shape"):
        shown += f" → shape {outputs['shape']}"
    return f"{shown}  [{signature.get('source', '?')}]"
