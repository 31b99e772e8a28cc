"""``modelreg metrics`` (a metric's history) and ``modelreg evaluate`` (a new point of it)."""

from __future__ import annotations

import argparse
from typing import Any

from store.evaluation import KNOWN, evaluate
from store.metric_history import all_series
from tui.catalog import sparkline
from tui.commands import open_registry
from tui.output import emit, emit_json, fail, table


def add_commands(commands: Any) -> None:
    help = "the history of a version's metrics: every value, when, who, and the data it was measured on"
    p = commands.add_parser("metrics", help=help, description=help)
    p.set_defaults(run=cmd_metrics)
    p.add_argument("ref")
    p.add_argument("metric", nargs="?")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")

    help = "evaluate a scikit-learn version on data and record the metrics as new points of their history"
    p = commands.add_parser("evaluate", help=help, description=help)
    p.set_defaults(run=cmd_evaluate)
    p.add_argument("ref")
    p.add_argument("--data", required=True, metavar="FILE|sklearn:NAME", help="a CSV or NPZ file, or sklearn:iris, sklearn:wine...")
    p.add_argument("--target", metavar="COL", help="the CSV column holding the labels (default: the last)")
    p.add_argument("--metrics", metavar="M,M...", help=f"which to compute: {', '.join(KNOWN)}")
    p.add_argument("--trust", action="store_true", help="load with plain joblib.load (runs whatever the file says)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def cmd_metrics(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        v = registry.get(args.ref)
    history = all_series(v)
    if args.metric is not None:
        if args.metric not in history:
            return fail(f"{v.ref} has no metric '{args.metric}'; it has {', '.join(history) or 'none'}")
        history = {args.metric: history[args.metric]}
    if args.json:
        emit_json({"ref": v.ref, "metrics": history})
        return 0
    if not history:
        emit(f"{v.ref} has no metrics yet; add some with 'modelreg score' or 'modelreg evaluate'")
        return 0
    for name, points in history.items():
        emit(f"{name}  {sparkline([p['value'] for p in points], None)}  latest {points[-1]['value']:.4g}")
        table(["WHEN", "VALUE", "BY", "DATA"],
              [[p["at"], p["value"], p["by"], (p.get("data") or "")[:12]] for p in points])
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.metrics.split(",") if n.strip()] if args.metrics else None
    with open_registry(args) as registry:
        result = evaluate(registry, args.ref, args.data, target=args.target, metrics=names, trust=args.trust)
    if args.json:
        emit_json(result.to_dict())
        return 0
    emit(f"Evaluated {result.ref} on {args.data} ({result.rows} rows, sha256 {result.sha256[:12]})")
    for name, value in result.metrics.items():
        before = result.previous.get(name)
        change = "" if before is None else f"  ({value - before:+.4g} from {before:.4g})"
        emit(f"  {name}: {value:.4g}{change}")
    return 0
