"""One version's card: what it is, its metrics with their history, params, training, data
lineage, model details, deploy history and safety verdict (``modelreg report REF``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from store.metric_history import all_series, drift
from store.metrics import lower_is_better
from store.quantities import show_duration

if TYPE_CHECKING:
    from store.registry import Registry


def report(registry: Registry, ref: str) -> dict[str, Any]:
    """Everything the card shows, as JSON-ready data."""
    v = registry.get(ref)
    model = registry.model(v.model)
    directions = registry.directions(v.model)
    drifting = drift(v, directions)
    metrics = []
    for name, points in all_series(v).items():
        metrics.append({"metric": name, "value": points[-1]["value"], "lower_is_better": lower_is_better(name, directions),
                        "history": [p["value"] for p in points], "drift": drifting.get(name)})
    history = [h for h in registry.history(v.model) if v.version in (h.get("to"), h.get("from"))]
    estimator = dict(v.estimator or {})
    return {
        "ref": v.ref, "status": v.status, "created_at": v.created_at, "registered_by": v.registered_by,
        "description": model.description, "owner": model.owner, "tags": list(v.tags), "notes": v.notes,
        "parent": v.parent, "children": [c.ref for c in registry.children(v.ref)],
        "live": [env for env, ver in registry.live_map(v.model).items() if ver == v.version],
        "metrics": metrics, "params": v.to_dict()["params"], "training": v.to_dict()["training"],
        "data_lineage": registry.data_lineage(v.ref),
        "model": {k: estimator[k] for k in ("class", "n_features_in_", "feature_names_in_", "classes_") if k in estimator},
        "artifacts": [{k: a.get(k) for k in ("path", "role", "name", "size", "sha256")} for a in v.artifacts],
        "safety": dict(v.scan) if v.scan else None, "source_file": v.source_file,
        "deploys": [{k: h.get(k) for k in ("at", "env", "action", "from", "to", "by")} for h in history],
    }


def _value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _training_value(key: str, value: Any) -> str:
    """Durations and costs as they were typed (``3h``, ``$0.80``), the rest as values."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if key == "duration":
            return show_duration(value)
        if key == "cost":
            return f"${value:.2f}"
    return _value(value)


def _sections(card: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(title, lines) for each part of the card that has something to say."""
    about = [f"status: {card['status']}" + (f", live in {', '.join(card['live'])}" if card["live"] else ""),
             f"registered {card['created_at']} by {card['registered_by']}"]
    about += [f"{k}: {card[k]}" for k in ("description", "owner", "notes", "parent", "source_file") if card[k]]
    if card["children"]:
        about.append(f"children: {', '.join(card['children'])}")
    if card["tags"]:
        about.append(f"tags: {', '.join(card['tags'])}")
    metrics = []
    for m in card["metrics"]:
        line = f"{m['metric']} {'↓' if m['lower_is_better'] else '↑'}: {_value(m['value'])}"
        if len(m["history"]) > 1:
            line += f" (history: {' → '.join(_value(x) for x in m['history'])})"
        if m["drift"]:
            line += f" ▼ {m['drift']['drop']:+.4g}"
        metrics.append(line)
    lineage = [f"{step['ref']}: {', '.join(step['training_data']) or '(no training data recorded)'}"
               + (f" @ {step['git_commit']}" if step["git_commit"] else "") for step in card["data_lineage"]]
    safety = card["safety"]
    verdict = [f"{safety.get('verdict')}: {safety.get('reason', '')}"] if safety else ["not scanned (run 'modelreg scan REF')"]
    deploys = [f"{d['at']}  {d['env']}  {d['action']}  {d['from'] or '—'} → {d['to'] or '—'}  by {d['by']}" for d in card["deploys"]]
    return [
        ("About", about),
        ("Metrics", metrics),
        ("Params", [f"{k}: {_value(v)}" for k, v in card["params"].items()]),
        ("Training", [f"{k}: {_training_value(k, v)}" for k, v in card["training"].items()]),
        ("Data lineage", lineage),
        ("Model", [f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in card["model"].items()]),
        ("Artifacts", [f"{a.get('role') or a.get('name') or 'file'}: {a['path']} (sha256 {(a.get('sha256') or '')[:12]})" for a in card["artifacts"]]),
        ("Safety", verdict),
        ("Deploy history", deploys or ["never deployed"]),
    ]


def to_text(card: dict[str, Any]) -> str:
    lines = [card["ref"]]
    for title, body in _sections(card):
        if body:
            lines += ["", title, *(f"  {line}" for line in body)]
    return "\n".join(lines) + "\n"


def to_markdown(card: dict[str, Any]) -> str:
    lines = [f"# {card['ref']}"]
    for title, body in _sections(card):
        if body:
            lines += ["", f"## {title}", "", *("- " + line.replace("|", "\\|") for line in body)]
    return "\n".join(lines) + "\n"
