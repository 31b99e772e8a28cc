"""Side-by-side comparison of two or more versions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from store.errors import BadReference
from store.metrics import is_improvement, lower_is_better
from store.signatures import differences

if TYPE_CHECKING:
    from store.registry import Registry

_MISSING = object()


def compare(registry: Registry, refs: list[str]) -> dict[str, Any]:
    """Metrics with absolute and relative change against the first version, and whether
    each change is an improvement; params added, removed and changed; tags, status, artifacts."""
    if len(refs) < 2:
        raise BadReference("compare needs at least two versions, e.g. 'modelreg compare sentiment v1 v2'")
    versions = [registry.get(ref) for ref in refs]
    base = versions[0]
    directions = registry.directions(base.model)
    metric_names = list(dict.fromkeys(name for v in versions for name in v.metrics))
    metrics = []
    for name in metric_names:
        first = base.metrics.get(name)
        row: dict[str, Any] = {"metric": name, "lower_is_better": lower_is_better(name, directions), "values": []}
        for v in versions:
            value = v.metrics.get(name)
            cell: dict[str, Any] = {"ref": v.ref, "value": value, "delta": None, "relative": None, "improved": None}
            if value is not None and first is not None and v is not base:
                cell["delta"] = value - first
                cell["relative"] = (value - first) / abs(first) if first else None
                cell["improved"] = is_improvement(name, first, value, directions)
            row["values"].append(cell)
        metrics.append(row)
    return {
        "versions": [v.ref for v in versions],
        "metrics": metrics,
        "params": [_param_changes(base.params, v.params) | {"ref": v.ref} for v in versions[1:]],
        "training": [_param_changes(base.training, v.training) | {"ref": v.ref} for v in versions[1:]],
        "extra": [_param_changes(base.extra, v.extra) | {"ref": v.ref} for v in versions[1:]],
        "training_data": {v.ref: list(v.training_data) for v in versions},
        "signatures": {v.ref: v.to_dict()["signature"] for v in versions},
        "signature_changes": [{"ref": v.ref, "changes": found} for v in versions[1:] if (found := differences(base.signature, v.signature))],
        "all_params": _all_params(versions),
        "tags": {v.ref: list(v.tags) for v in versions},
        "status": {v.ref: v.status for v in versions},
        "artifacts": {v.ref: [{"path": a["path"], "size": a.get("size"), "sha256": a.get("sha256")} for a in v.artifacts] for v in versions},
    }


def _param_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {
        "added": {k: new[k] for k in new if k not in old},
        "removed": {k: old[k] for k in old if k not in new},
        "changed": {k: {"from": old[k], "to": new[k]} for k in old if k in new and old[k] != new[k]},
    }


def _all_params(versions: list[Any]) -> list[dict[str, Any]]:
    names = list(dict.fromkeys(name for v in versions for name in v.params))
    rows = []
    for name in names:
        values = [v.params.get(name, _MISSING) for v in versions]
        differs = any(value != values[0] for value in values)
        rows.append({"param": name, "values": [None if x is _MISSING else x for x in values], "differs": differs})
    return rows


# -- one metric's verdict, and the comparison as Markdown or CSV ---------------------------------------


def only_metric(result: dict[str, Any], metric: str) -> dict[str, Any]:
    """The row of ``metric``; an unknown metric is one line naming those compared."""
    for row in result["metrics"]:
        if row["metric"] == metric:
            return row
    known = ", ".join(r["metric"] for r in result["metrics"]) or "none"
    raise BadReference(f"none of {', '.join(result['versions'])} has the metric '{metric}'; they have {known}")


def verdicts(result: dict[str, Any], metric: str) -> list[str]:
    """One line per version after the first: ``✓ improvement: +0.0531 (+6.45%)``, ``✗ regression: …``,
    ``= no change``, or why there is nothing to judge."""
    row = only_metric(result, metric)
    lines = []
    for cell in row["values"][1:]:
        head = f"{metric} {result['versions'][0]} → {cell['ref']}: "
        if cell["delta"] is None:
            lines.append(head + "— cannot judge (a version lacks the metric)")
            continue
        rel = f" ({cell['relative']:+.2%})" if cell["relative"] is not None else ""
        word = {True: "✓ improvement", False: "✗ regression", None: "= no change"}[cell["improved"]]
        lines.append(head + (word if cell["improved"] is None else f"{word}: {cell['delta']:+.4g}{rel}"))
    return lines


def _cell(value: Any) -> str:
    return "" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))


def rows(result: dict[str, Any]) -> list[list[str]]:
    """The comparison as a header and rows: metrics, then params, training fields and extra that differ."""
    refs = result["versions"]
    table = [["field", *refs]]
    for row in result["metrics"]:
        table.append([f"{row['metric']} {'↓' if row['lower_is_better'] else '↑'}", *(_cell(c["value"]) for c in row["values"])])
    for row in result["all_params"]:
        if row["differs"]:
            table.append([f"params.{row['param']}", *(_cell(v) for v in row["values"])])
    for section in ("training", "extra"):
        names = list(dict.fromkeys(k for change in result[section] for part in ("added", "removed", "changed") for k in change[part]))
        for name in names:
            table.append([f"{section}.{name}", *(_cell(_value_in(result, section, name, ref)) for ref in refs)])
    data = result["training_data"]
    if len({tuple(v) for v in data.values()}) > 1:
        table.append(["training_data", *(", ".join(data[ref]) for ref in refs)])
    return table


def _value_in(result: dict[str, Any], section: str, name: str, ref: str) -> Any:
    base = result["versions"][0]
    for change in result[section]:
        if change["ref"] == ref:
            if name in change["added"]:
                return change["added"][name]
            if name in change["changed"]:
                return change["changed"][name]["to"]
            if name in change["removed"]:
                return None
            return _base_value(result, section, name)
    return _base_value(result, section, name) if ref == base else None


def _base_value(result: dict[str, Any], section: str, name: str) -> Any:
    for change in result[section]:
        if name in change["removed"]:
            return change["removed"][name]
        if name in change["changed"]:
            return change["changed"][name]["from"]
    return None


def to_markdown(result: dict[str, Any], metric: str | None = None) -> str:
    table = rows(result)
    if metric is not None:
        table = [table[0], *(r for r in table[1:] if r[0].rsplit(" ", 1)[0] == metric)]
    escape = lambda text: str(text).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(escape(c) for c in table[0]) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(escape(c) for c in r) + " |" for r in table[1:]]
    if metric is not None:
        lines += ["", *verdicts(result, metric)]
    return "\n".join(lines) + "\n"


def to_csv(result: dict[str, Any], metric: str | None = None) -> str:
    import csv
    import io

    table = rows(result)
    if metric is not None:
        table = [table[0], *(r for r in table[1:] if r[0].rsplit(" ", 1)[0] == metric)]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[c.removesuffix(" ↑").removesuffix(" ↓") if i == 0 else c for i, c in enumerate(r)] for r in table])
    return out.getvalue()
