"""A version's MLflow run, where MLflow users read metrics and params: modelreg's edits reach it too.

Only versions that have a run (a plain MLflow client's, usually) are touched; modelreg's own versions
keep their fields in tags (:mod:`store.backends.mlflow.mapping`). A reader takes the run's latest
metrics over modelreg's, so a metric modelreg records is logged at the latest step the run has for
it, with a later time, making it the run's latest value. MLflow refuses to change a logged param:
only params the run does not have yet are logged, and modelreg's own values win on reading.
"""

from __future__ import annotations

import posixpath
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from store.backends.mlflow.backend import MlflowBackend

_NAME = re.compile(r"[/\w.\- :]{1,250}")  # MLflow's rule for metric and param names (off Windows)
_BATCH = 100  # MLflow's most params per log-batch request
_PARAM_VALUE = 6000


def loggable(name: str) -> bool:
    """Whether MLflow takes ``name`` as a metric or param name (other names stay in modelreg's tags)."""
    return bool(_NAME.fullmatch(name)) and posixpath.normpath(name) == name and not name.startswith(("/", ".."))


def log(backend: MlflowBackend, run_id: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Callable[[], Any] | None:
    """Log to ``run_id`` the metrics and new params that go from ``old`` to ``new`` (version documents);
    the undo that logs the old metric values back, or None when nothing was logged."""
    run = backend.replica.run(run_id) or {}
    if not run or run.get("info", {}).get("lifecycle_stage") == "deleted":
        return None  # gone, or not readable (MLflow logs to active runs only): modelreg's tags keep the values
    data = run.get("data", {})
    steps = {m["key"]: (int(m.get("step", 0)), int(m.get("timestamp", 0))) for m in data.get("metrics", ()) if "key" in m}
    logged_params = {p["key"] for p in data.get("params", ()) if "key" in p}
    before, after = old.get("metrics") or {}, new.get("metrics") or {}
    changed = {k: v for k, v in after.items() if before.get(k) != v and loggable(k)}
    params = {k: str(v) for k, v in (new.get("params") or {}).items()
              if k not in logged_params and loggable(k) and len(str(v)) <= _PARAM_VALUE}
    if not changed and not params:
        return None

    def points(values: Mapping[str, Any]) -> list[dict[str, Any]]:
        now = int(time.time() * 1000)
        return [{"key": k, "value": float(v), "step": steps.get(k, (0, 0))[0], "timestamp": max(now, steps.get(k, (0, 0))[1] + 1)}
                for k, v in values.items()]

    batch = [{"key": k, "value": v} for k, v in params.items()]
    metrics = points(changed)
    for start in range(0, max(len(batch), 1), _BATCH):
        body: dict[str, Any] = {"run_id": run_id, "params": batch[start:start + _BATCH]}
        if start == 0:
            body["metrics"] = metrics
        backend.client.post("runs/log-batch", body)
    backend.replica.runs.pop(run_id, None)  # read again: its latest values are now these
    restore = {k: before[k] for k in changed if k in before}

    def undo() -> None:
        if restore:
            backend.client.post("runs/log-batch", {"run_id": run_id, "metrics": points(restore)})
        backend.replica.runs.pop(run_id, None)

    return undo

