"""Writing a model's versions as an ``experiment_history.jsonl``: the format
``store.transfer.importers.experiments_plan`` reads, so an export imports back to the same versions."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.durable import fsync_dir, fsync_file
from store.errors import BadMetadata

if TYPE_CHECKING:
    from store.records import Version
    from store.registry import Registry


def experiment(v: Version) -> dict[str, Any]:
    """One line of the history: version, timestamp, config (params), metrics (all under ``overall``,
    dotted names kept), and metadata (git commit, notes, tags, parent, status, training, training
    data, then ``extra``)."""
    metadata: dict[str, Any] = dict(v.to_dict()["extra"])
    for key, value in (("git_commit", v.git_commit), ("notes", v.notes), ("tags", list(v.tags)), ("parent_version", _parent(v)),
                       ("status", v.status), ("training", v.to_dict()["training"]), ("training_data", list(v.training_data))):
        if value:
            metadata[key] = value
    return {"version": v.version, "timestamp": v.created_at, "config": v.to_dict()["params"],
            "metrics": {"overall": dict(v.metrics)}, "metadata": metadata}


def _parent(v: Version) -> str | None:
    """A parent of the same model as its bare version, so the history imports under another name too."""
    if v.parent and v.parent.startswith(f"{v.model}:"):
        return v.parent.split(":", 1)[1]
    return v.parent


def export_experiments(registry: Registry, out: str | os.PathLike[str], model: str | None = None) -> tuple[str, int]:
    """Write ``model``'s versions (the only model when None) to ``out``, oldest first, atomically;
    returns (model, number of versions)."""
    if model is None:
        names = [m.name for m in registry.models()]
        if len(names) != 1:
            raise BadMetadata(f"an experiment history holds one model; name it: export --format experiments MODEL {out} (models: {', '.join(names[:8]) or 'none'})")
        model = names[0]
    versions = registry.versions(model)
    if not versions:
        raise BadMetadata(f"'{model}' has no versions to export")
    path = Path(out).expanduser()
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            for v in versions:
                handle.write(json.dumps(experiment(v), ensure_ascii=False) + "\n")
        fsync_file(tmp)
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise BadMetadata(f"cannot write {path}: {error.strerror or error}") from None
    fsync_dir(path.parent)
    return model, len(versions)
