"""Another tool's metadata JSON for one model, mapped onto a version (``register --metadata``).

Understood shapes (the rest is kept in ``extra``, nothing is dropped):

* Exoplanet-style: flat ``accuracy``, ``precision``, ``recall``, ``f1_score`` ...,
  ``hyperparameters``, ``training_info``, ``feature_columns``, ``class_distribution``;
* AFS-style: ``evaluation_scores`` (nested, e.g. ROUGE), ``base_model``, ``duration_hours``,
  ``cost_usd``, ``training_data_sources``, ``parent_version``, ``tags``, ``notes``, ``git_commit``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from store.errors import BadMetadata
from store.transfer.importers import TRAINING_ALIASES, DURATION_UNITS, split_metrics, training_fields
from store.metrics import to_number
from store.registry import TRAINING_FIELDS
from store.watch.sidecar import load_json
from store.values import jsonable

_METRIC_SECTIONS = ("metrics", "evaluation_scores", "evaluation", "scores", "eval_results")
_PARAM_SECTIONS = ("hyperparameters", "params", "parameters", "hparams")
_TRAINING_SECTIONS = ("training_info", "training", "training_config")
_TEXT_FIELDS = {"notes": "notes", "git_commit": "git_commit", "commit": "git_commit"}
_LIST_FIELDS = {"tags": "tags", "training_data_sources": "training_data", "training_data": "training_data", "datasets": "training_data"}
_PARENT_FIELDS = ("parent", "parent_version", "parent_model")
# Top-level numbers that describe the run, not its quality.
_NOT_METRICS = {*TRAINING_FIELDS, *TRAINING_ALIASES, *DURATION_UNITS, "version", "n_features", "random_state", "seed"}


def read_metadata(path: str | os.PathLike[str], model: str | None = None) -> dict[str, Any]:
    """The keyword arguments for ``Registry.register`` that a foreign metadata file gives."""
    data = load_json(path, str(path))
    if not isinstance(data, Mapping):
        raise BadMetadata(f"{path}: expected an object {{...}} at the top level")
    return map_metadata(data, str(path), model)


def map_metadata(data: Mapping[str, Any], where: str = "metadata", model: str | None = None) -> dict[str, Any]:
    """``metrics``, ``params``, ``training``, fields such as ``tags`` and ``parent``, and ``extra``
    (everything not understood, under its own key)."""
    data = dict(data)
    metrics: dict[str, float] = {}
    extra: dict[str, Any] = {}
    for key in _METRIC_SECTIONS:
        if isinstance(data.get(key), Mapping):
            found, other = split_metrics(data.pop(key))  # nested scores flattened with dots: rouge.rouge1
            metrics.update(found)
            if other:
                extra[key] = other
    params: dict[str, Any] = {}
    for key in _PARAM_SECTIONS:
        if isinstance(data.get(key), Mapping):
            params.update(jsonable(data.pop(key)))
    training: dict[str, Any] = {}
    for key in _TRAINING_SECTIONS:
        if isinstance(data.get(key), Mapping):
            known, rest = training_fields(data.pop(key))
            training.update(known)
            if rest:
                extra[key] = rest
    loose = {k: data.pop(k) for k in list(data) if k in TRAINING_FIELDS or k in TRAINING_ALIASES or k in DURATION_UNITS}
    known, rest = training_fields(loose)
    training = {**known, **training}  # a training section wins over a loose top-level field
    extra.update(rest)
    result: dict[str, Any] = {}
    for key, field in _TEXT_FIELDS.items():
        if isinstance(data.get(key), str):
            result[field] = data.pop(key)
    for key, field in _LIST_FIELDS.items():
        value = data.get(key)
        if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            result.setdefault(field, [])
            result[field] += [value] if isinstance(value, str) else value
            data.pop(key)
    for key in _PARENT_FIELDS:
        value = data.get(key)
        if isinstance(value, str) and value.strip() and (":" in value or model):
            result["parent"] = value if ":" in value else f"{model}:{value}"  # a bare version: of this model
            data.pop(key)
            break
    for key in list(data):
        number = to_number(data[key]) if not isinstance(data[key], str) else None
        if number is not None and key not in _NOT_METRICS:
            metrics[key] = number
            data.pop(key)
    extra.update(jsonable(data))
    if not (metrics or params or training or result or extra):
        raise BadMetadata(f"{where}: holds nothing to record")
    return {"metrics": metrics, "params": params, "training": training, **result, "extra": extra}
