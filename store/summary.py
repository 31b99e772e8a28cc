"""A short report of the registry or of one model, as data or Markdown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from store.errors import ModelregError

if TYPE_CHECKING:
    from store.registry import Registry


def summary(registry: Registry, model: str | None = None) -> dict[str, Any]:
    """Counts, best versions and what is live, for every model or one."""
    names = [model] if model else [m.name for m in registry.models()]
    rows = []
    for name in names:
        versions = registry.versions(name)
        metric = registry.primary_metric(name)
        try:
            best = registry.best(name) if metric else None
        except ModelregError:
            best = None
        statuses: dict[str, int] = {}
        for v in versions:
            statuses[v.status] = statuses.get(v.status, 0) + 1
        rows.append(
            {
                "model": name,
                "versions": len(versions),
                "latest": versions[-1].version if versions else None,
                "primary_metric": metric,
                "best": best.version if best else None,
                "best_value": best.metrics.get(metric) if best and metric else None,
                "statuses": statuses,
                "live": registry.live_map(name),
                "missing": sum(v.missing for v in versions),
            }
        )
    return {"models": rows, "total_versions": sum(r["versions"] for r in rows)}


def _counts(report: dict[str, Any]) -> str:
    """``1 model, 2 versions``: singular for one."""
    models, versions = len(report["models"]), report["total_versions"]
    return f"{models} model{'' if models == 1 else 's'}, {versions} version{'' if versions == 1 else 's'}"


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Model registry: {_counts(report)}",
        "",
        "| model | versions | latest | best | live | statuses |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["models"]:
        best = f"{row['best']} ({row['primary_metric']}={row['best_value']:.4g})" if row["best"] else "—"
        live = ", ".join(f"{env}: {v}" for env, v in row["live"].items()) or "—"
        statuses = ", ".join(f"{k} {n}" for k, n in sorted(row["statuses"].items()))
        lines.append(f"| {_cell(row['model'])} | {row['versions']} | {row['latest'] or '—'} | {best} | {live} | {statuses} |")
    return "\n".join(lines) + "\n"


def to_text(report: dict[str, Any]) -> str:
    lines = [_counts(report)]
    for row in report["models"]:
        best = f"best {row['best']} {row['primary_metric']}={row['best_value']:.4g}" if row["best"] else "no metrics"
        live = "; ".join(f"{env}: {v}" for env, v in row["live"].items())
        missing = f"; {row['missing']} missing" if row["missing"] else ""
        lines.append(f"  {row['model']}: {row['versions']} versions, latest {row['latest'] or '—'}, {best}" + (f"; live {live}" if live else "") + missing)
    return "\n".join(lines) + "\n"


def _cell(value: str) -> str:
    return value.replace("|", "\\|")
