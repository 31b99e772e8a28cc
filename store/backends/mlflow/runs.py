"""A version's MLflow run, where MLflow users read metrics and params: modelreg's edits reach it too.

Only versions that have a run (a plain MLflow client's, usually) are touched; modelreg's own versions
keep their fields in tags (:mod:`store.backends.mlflow.mapping`). A reader takes, per metric, the
newer of the run's latest value and modelreg's last recorded one, and a metric modelreg records is
logged at the latest step the run has for it, with a later time, so it is the run's latest value
too. MLflow refuses to change a logged param: only params the run does not have yet are logged, and
modelreg's own values win on reading.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from store.backends.mlflow.client import ApiError

if TYPE_CHECKING:
    from store.backends.mlflow.backend import MlflowBackend

_NAME = re.compile(r"[/\w.\- :]{1,250}")  # MLflow's rule for metric and param names (off Windows)
_BATCH, _METRICS = 100, 900  # MLflow's most params, and (with them) entries, per log-batch request
_PARAM_VALUE = 6000


def loggable(name: str) -> bool:
    """Whether MLflow takes ``name`` as a metric or param name (other names stay in modelreg's tags)."""
    return bool(_NAME.fullmatch(name)) and posixpath.normpath(name) == name and not name.startswith(("/", ".."))


def log(backend: MlflowBackend, run_id: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Log to ``run_id`` the metrics and new params that go from ``old`` to ``new`` (version documents),
    the transaction's undo (logging the old values back) registered first.

    Best effort: the version's tags hold every value already, and a reader takes whichever of the
    run's and modelreg's values is newer, so a run MLflow will not log to (deleted, not ours to
    write, a param logged meanwhile) leaves the edit whole. A run that other versions share is left
    alone: a value for this version would show on theirs."""
    if any(d["mlflow"].get("run_id") == run_id and d is not old for d in backend.versions().values()):
        return
    backend.replica.runs.pop(run_id, None)  # its latest steps as they are now, not as first read
    run = backend.replica.run(run_id) or {}
    if not run or run.get("info", {}).get("lifecycle_stage") == "deleted":
        return
    data = run.get("data", {})
    steps = {m["key"]: (int(m.get("step", 0)), int(m.get("timestamp", 0))) for m in data.get("metrics", ()) if "key" in m}
    logged_params = {p["key"] for p in data.get("params", ()) if "key" in p}
    before, after = _mapping(old.get("metrics")), _mapping(new.get("metrics"))
    changed = {k: f for k, v in after.items() if before.get(k) != v and loggable(k) and (f := _float(v)) is not None}
    params = {k: t for k, v in _mapping(new.get("params")).items()
              if k not in logged_params and loggable(k) and len(t := v if isinstance(v, str) else json.dumps(v)) <= _PARAM_VALUE}
    if not changed and not params:
        return
    stamps: dict[str, int] = {}

    def points(values: Mapping[str, float]) -> list[dict[str, Any]]:
        now = int(time.time() * 1000)
        for k in values:  # later than anything logged for it before, ours included (an undo must win too)
            stamps[k] = max(now, steps.get(k, (0, 0))[1] + 1, stamps.get(k, 0) + 1)
        return [{"key": k, "value": v, "step": steps.get(k, (0, 0))[0], "timestamp": stamps[k]} for k, v in values.items()]

    restore = {k: f for k in changed if (f := _float(before.get(k))) is not None}
    if restore:
        backend._undo.append(lambda: _post(backend, run_id, points(restore), []))
    _post(backend, run_id, points(changed), [{"key": k, "value": v} for k, v in params.items()])


def _post(backend: MlflowBackend, run_id: str, metrics: list[dict[str, Any]], params: list[dict[str, Any]]) -> None:
    """``runs/log-batch`` within MLflow's limits per request; a refusal is left at that (see :func:`log`)."""
    try:
        while metrics or params:
            body = {"run_id": run_id, "metrics": metrics[:_METRICS], "params": params[:_BATCH]}
            backend.client.post("runs/log-batch", body)
            metrics, params = metrics[_METRICS:], params[_BATCH:]
    except ApiError:
        pass
    finally:
        backend.replica.runs.pop(run_id, None)  # read again: its latest values


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}  # a tag edited by hand may hold anything


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
