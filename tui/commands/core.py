"""Registry commands: init, register, list, versions, info, score, tag, status, model, remove,
find, best, compare, tree, lineage, summary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import humanize

from store.choosing import common_metric, value_of
from store.compare import only_metric, verdicts
from store.compare import to_csv as compare_csv
from store.compare import to_markdown as compare_markdown
from store import versions as version_rules
from store.errors import ModelregError
from store.lineage import render_tree
from store.backends.local.location import init_registry, is_registry, remote_url
from store.records import Version
from store.uploading import needs_upload
from store.references import split_ref
from store.registry import Registry
from store.metric_history import all_series, drift, live_drift
from store.signatures import describe as describe_signature
from store.summary import to_markdown, to_text
from tui.catalog import sparkline
from tui.commands import open_registry, parse_pairs, register_options
from tui.output import emit, emit_json, plural, size, table, warn


def add_commands(commands: Any) -> None:
    def command(name: str, help: str, run: Any, json_flag: bool = False) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help, description=help)
        parser.set_defaults(run=run)
        if json_flag:
            parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
        return parser

    p = command("init", "create a registry (.modelreg/) in DIR (default: here)", cmd_init)
    p.add_argument("dir", nargs="?")

    p = command("register", "register a new version of MODEL from artifact files or folders", cmd_register, True)
    p.add_argument("model")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("--version", help="explicit version (default: the next in the model's scheme)")
    bump = p.add_mutually_exclusive_group()
    bump.add_argument("--minor", action="store_const", const="minor", dest="bump", help="bump the minor number")
    bump.add_argument("--major", action="store_const", const="major", dest="bump", help="bump the major number")
    p.add_argument("--parent", metavar="REF", help="the version this one was trained from, e.g. base:v4")
    p.add_argument("--metric", action="append", default=[], metavar="K=V")
    p.add_argument("--param", action="append", default=[], metavar="K=V")
    p.add_argument("--tag", action="append", default=[], metavar="TAG")
    p.add_argument("--data", action="append", default=[], metavar="NAME", help="training data used")
    p.add_argument("--git-commit", metavar="SHA")
    p.add_argument("--notes", metavar="TEXT")
    p.add_argument("--status", help="initial status (default: completed; not deployed: use 'modelreg deploy')")
    p.add_argument("--extra", action="append", default=[], metavar="K=V", help="any other metadata")
    register_options.add_options(p)

    command("list", "list models with their version count, latest and best versions", cmd_list, True)

    p = command("versions", "list the versions of MODEL", cmd_versions, True)
    p.add_argument("model")
    p.add_argument("--last", type=int, metavar="N", help="only the newest N versions")

    p = command("info", "everything about a model or a version (REF = MODEL or MODEL:VERSION)", cmd_info, True)
    p.add_argument("ref")

    p = command("score", "add or update metrics of a version: score REF K=V...", cmd_score, True)
    p.add_argument("ref")
    p.add_argument("pairs", nargs="+", metavar="K=V")

    for name, help in (("tag", "add tags to a version"), ("untag", "remove tags from a version")):
        p = command(name, help, cmd_tag, True)
        p.add_argument("ref")
        p.add_argument("tags", nargs="+", metavar="TAG")
        p.set_defaults(remove=name == "untag")

    p = command(
        "status",
        "no REF: what is live where; REF: a version's status; REF STATUS: change it",
        cmd_status,
        True,
    )
    p.add_argument("ref", nargs="?")
    p.add_argument("status", nargs="?")

    p = command("model", "show or change a model's metadata", cmd_model, True)
    p.add_argument("name")
    p.add_argument("--description")
    p.add_argument("--owner")
    p.add_argument("--tag", action="append", metavar="TAG", help="replace the model's tags")
    p.add_argument("--notes")
    p.add_argument("--primary-metric", metavar="METRIC")
    p.add_argument("--direction", action="append", default=[], metavar="METRIC=min|max")
    p.add_argument("--scheme", metavar="FIRST", help="the first version of a new model, which sets its scheme: v1.0, 1.0.0, v1")

    p = command("remove", "remove a version registered by mistake (files on disk are kept)", cmd_remove, True)
    p.add_argument("ref")
    p.add_argument("--force", action="store_true", help="even if it has children (a live version is never removed: deploy another first)")

    p = command("find", "find versions across models with a filter expression", cmd_find, True)
    p.add_argument("expr", nargs="*", metavar="TERM", help="quote it for the shell: 'accuracy>0.9 tag:baseline or status:deployed'")
    p.add_argument("--model")
    p.add_argument("--tag", action="append", default=[], metavar="TAG")
    p.add_argument("--status")
    p.add_argument("--limit", type=int, metavar="N", help="the newest N matches (by registration time)")
    p.add_argument("--oldest", action="store_true", help="with --limit: the oldest N instead")

    p = command("best", "the best version of MODEL (or of all models: --all) by a metric", cmd_best, True)
    p.add_argument("model", nargs="?")
    p.add_argument("--all", action="store_true", help="the best version across every model")
    p.add_argument("--metric", help="a metric, or a training field such as training.cost")

    p = command("compare", "compare versions side by side: compare MODEL V1 V2 [V3...]", cmd_compare, True)
    p.add_argument("model")
    p.add_argument("versions", nargs="+", metavar="VERSION")
    p.add_argument("--metric", help="only this metric, with a verdict line: improvement or regression")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--markdown", action="store_true", help="a Markdown table")
    shape.add_argument("--csv", action="store_true", help="CSV: a row per metric or field that differs")

    p = command("tree", "the version tree of MODEL", cmd_tree, True)
    p.add_argument("model")

    p = command("lineage", "ancestors, descendants and data lineage of a version", cmd_lineage, True)
    p.add_argument("ref")

    p = command("summary", "a short report of the registry or one model", cmd_summary, True)
    p.add_argument("model", nargs="?")
    p.add_argument("--markdown", action="store_true")


# -- helpers --------------------------------------------------------------------------------


def _age(iso: str) -> str:
    from datetime import datetime, timezone

    try:
        return humanize.naturaltime(datetime.now(timezone.utc) - datetime.fromisoformat(iso))
    except ValueError:
        return iso


def _size(version: Version) -> str:
    return size(version.size) if version.artifacts else ""


def _marks(registry: Registry, version: Version, live: dict[str, str]) -> str:
    marks = [f"live:{env}" for env, v in live.items() if v == version.version]
    if version.missing:
        marks.append("MISSING")
    if version.unsafe:
        marks.append("UNSAFE")
    if version.problems:
        marks.append("!problems")
    return " ".join(marks)


def _print_version(v: Version, registry: Registry) -> None:
    emit(f"{v.ref}  [{v.status}]")
    emit(f"  registered {_age(v.created_at)} by {v.registered_by}")
    if v.parent:
        emit(f"  parent: {v.parent}")
    kids = registry.children(v.ref)
    if kids:
        emit(f"  children: {', '.join(k.ref for k in kids)}")
    live = [env for env, ver in registry.live_map(v.model).items() if ver == v.version]
    if live:
        emit(f"  live in: {', '.join(live)}")
    if v.metrics:
        emit("  metrics:")
        drifting = drift(v, registry.directions(v.model))
        for key, points in all_series(v).items():
            line = f"    {key}: {points[-1]['value']}"
            if len(points) > 1:
                line += f"  {sparkline([p['value'] for p in points], None)} ({len(points)} values)"
            if key in drifting:
                line += f"  ▼ {drifting[key]['drop']:+.4g}"
            emit(line)
    for title, section in (("params", v.params), ("training", v.training), ("extra", v.extra)):
        if section:
            emit(f"  {title}:")
            for key, value in section.items():
                emit(f"    {key}: {value}")
    if v.training_data:
        emit(f"  training data: {', '.join(v.training_data)}")
    if v.git_commit:
        emit(f"  git commit: {v.git_commit}")
    if v.tags:
        emit(f"  tags: {', '.join(v.tags)}")
    if v.notes:
        emit(f"  notes: {v.notes}")
    for a in v.artifacts:
        shown = size(a.get("size") or 0)
        digest = (a.get("sha256") or "hashing…")[:12]
        role = f"{a['role']}: " if a.get("role") else ""
        emit(f"  artifact: {role}{a['path']} ({a.get('kind')}, {shown}, sha256 {digest}, {a.get('framework') or 'unknown'})")
        if a.get("url"):
            emit(f"    uploaded: {a['url']}")
    if v.scan:
        emit(f"  safety scan: {v.scan.get('verdict')} — {v.scan.get('reason', '')}")
    if v.estimator:
        emit(f"  estimator: {v.estimator.get('class')} (sklearn {v.estimator.get('sklearn_version')})")
    for a in v.artifacts:
        if a.get("name"):
            emit(f"  object {a['name']}: {(a.get('estimator') or {}).get('class', 'unknown')} (load(ref, name='{a['name']}'))")
    if v.signature:
        emit(f"  signature: {describe_signature(v.signature)}")
    if v.source_file:
        emit(f"  source script: {v.source_file} (sha256 {(v.source_sha256 or '')[:12]})")
    if v.missing:
        emit("  MISSING: its artifacts are no longer on disk")
    if v.uploading:
        emit(f"  UPLOADING: not deployable until its artifacts are on object storage ('modelreg upload {v.ref}' retries)")
    for problem in v.problems:
        emit(f"  problem: {problem}")
    if v.source:
        emit(f"  metadata from: {v.source}")


# -- commands --------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    if (url := remote_url(args.registry)) is not None:
        raise ModelregError(f"{url} is an MLflow server: it needs no init; use it with --registry {url}")
    path = init_registry(args.dir) if args.registry is None else Path(args.registry).expanduser()
    existed = is_registry(path)
    Registry(path, create=True).close()
    emit(f"{'Using existing' if existed else 'Created'} registry at {path}")
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    if args.status == "deployed":  # 'deployed' without a live link would claim a deploy that never ran its checks
        raise ModelregError("a version becomes deployed only through 'modelreg deploy': register it, then deploy it")
    with open_registry(args, create=True) as registry:
        found = register_options.gathered(args)  # folder files, --metadata, training options
        extra = {**found.pop("extra"), **parse_pairs(args.extra, "--extra value")}
        given = {"tags": args.tag, "training_data": args.data}
        for key in ("tags", "training_data"):
            given[key] = [*found.pop(key, []), *given[key]]
        version = registry.register(
            args.model,
            register_options.artifacts_from_args(args),
            args.version,
            metrics={**found.pop("metrics"), **parse_pairs(args.metric, "--metric")},
            params={**found.pop("params"), **parse_pairs(args.param, "--param")},
            training=found.pop("training"),
            parent=args.parent or found.pop("parent", None),
            git_commit=args.git_commit or found.pop("git_commit", None),
            notes=args.notes or found.pop("notes", None),
            status=args.status,
            bump=args.bump or "patch",
            problems=found.pop("problems"),
            **given,
            **extra,
        )
        if args.json:
            emit_json(version.to_dict())
        else:
            emit(f"Registered {version.ref}")
        if registry.backend.shared and not registry.config.artifact_store and any(needs_upload(a) for a in version.artifacts):
            # on a shared server, files only this machine can read: said, never silent
            print(f"modelreg: note: {version.ref}'s files stay on this machine, where other nodes cannot read them; "
                  "to upload them, set the team's store with 'modelreg artifact-store s3://BUCKET/PREFIX' "
                  "(or MODELREG_ARTIFACT_STORE on this machine)", file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        rows = []
        live_all = registry.live_map()
        for model in registry.models():
            versions = registry.versions(model.name)
            metric = registry.primary_metric(model.name)
            try:
                best = registry.best(model.name) if metric else None
            except ModelregError:
                best = None
            rows.append(
                {
                    "model": model.name,
                    "versions": len(versions),
                    "latest": versions[-1].version if versions else None,
                    "best": best.version if best else None,
                    "metric": metric,
                    "best_value": best.metrics.get(metric) if best and metric else None,
                    "live": live_all.get(model.name, {}),
                }
            )
        if args.json:
            emit_json(rows)
        elif not rows:
            emit(f"No models yet in {registry.path}. Register one with 'modelreg register MODEL PATH'.")
        else:
            table(
                ["MODEL", "VERSIONS", "LATEST", "BEST", "METRIC", "VALUE", "LIVE"],
                [
                    [r["model"], r["versions"], r["latest"], r["best"], r["metric"], r["best_value"], " ".join(f"{e}:{v}" for e, v in r["live"].items())]
                    for r in rows
                ],
            )
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    if args.last is not None and args.last < 1:
        raise ModelregError(f"--last {args.last}: give a number of versions, 1 or more")
    with open_registry(args) as registry:
        versions = registry.versions(args.model)
        if args.last is not None:  # the newest N, still in version order
            newest = {v.ref for v in sorted(versions, key=lambda v: v.created_at)[-args.last:]}
            versions = [v for v in versions if v.ref in newest]
        if args.json:
            emit_json([v.to_dict() for v in versions])
            return 0
        live = registry.live_map(args.model)
        metric_names = list(dict.fromkeys(m for v in versions for m in v.metrics))[:4]
        table(
            ["VERSION", "STATUS", "AGE", "SIZE", *[m.upper() for m in metric_names], "TAGS", "MARKS"],
            [
                [v.version, v.status, _age(v.created_at), _size(v), *[v.metrics.get(m) for m in metric_names], v.tags, _marks(registry, v, live)]
                for v in versions
            ],
        )
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        model, version = split_ref(args.ref)
        if version is None:
            info = registry.model(model)
            versions = registry.versions(model)
            if args.json:
                emit_json(info.to_dict() | {"versions": [v.version for v in versions], "live": registry.live_map(model)})
                return 0
            emit(f"{info.name}: {plural(len(versions), 'version')}")
            for key in ("description", "owner", "notes"):
                if getattr(info, key):
                    emit(f"  {key}: {getattr(info, key)}")
            if info.tags:
                emit(f"  tags: {', '.join(info.tags)}")
            emit(f"  primary metric: {registry.primary_metric(model) or '—'}")
            for env, v in registry.live_map(model).items():
                emit(f"  live in {env}: {v}")
            if versions:
                emit(f"  versions: {', '.join(v.version for v in versions)}")
            return 0
        v = registry.get(args.ref)
        if args.json:
            emit_json(v.to_dict() | {"children": [c.ref for c in registry.children(v.ref)]})
        else:
            _print_version(v, registry)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        v = registry.score(args.ref, **parse_pairs(args.pairs, "metric"))
        emit_json(v.to_dict()) if args.json else emit(f"Scored {v.ref}: " + ", ".join(f"{k}={val}" for k, val in v.metrics.items()))
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        absent: list[str] = []
        if args.remove:
            before = registry.get(args.ref)
            absent = [t for t in dict.fromkeys(args.tags) if t not in before.tags]
            if len(absent) == len(set(args.tags)):
                raise ModelregError(f"{before.ref} has no tag {_quoted(absent)}: nothing removed (its tags: {', '.join(before.tags) or 'none'})")
        v = registry.untag(args.ref, *args.tags) if args.remove else registry.tag(args.ref, *args.tags)
        if args.json:
            emit_json(v.to_dict())
        else:
            emit(f"{v.ref} tags: {', '.join(v.tags) or '(none)'}" + (f" (it had no tag {_quoted(absent)})" if absent else ""))
    return 0


def _quoted(names: list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def cmd_status(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        if args.ref is None:
            live = registry.live_map()
            if args.json:
                emit_json(live)
            elif not live:
                emit("Nothing is deployed yet. Deploy a version with 'modelreg deploy MODEL:VERSION'.")
            else:
                table(["MODEL", "ENVIRONMENT", "VERSION"], [[m, e, v] for m, envs in sorted(live.items()) for e, v in envs.items()])
                for row in live_drift(registry):  # a live version getting worse on successive evaluations
                    emit(f"▼ {row['ref']} ({row['env']}) {row['metric']} {row['drop']:+.4g}: {row['from']:.4g} → {row['to']:.4g}")
            return 0
        v = registry.get(args.ref) if args.status is None else registry.set_status(args.ref, args.status)
        emit_json({"ref": v.ref, "status": v.status}) if args.json else emit(f"{v.ref}: {v.status}")
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        directions = parse_pairs(args.direction, "--direction")
        changes = dict(description=args.description, owner=args.owner, tags=args.tag, notes=args.notes, primary_metric=args.primary_metric, directions=directions, scheme=args.scheme)
        if args.scheme is not None:
            version_rules.validate_scheme(args.scheme)  # before the model is made for it
            registry.ensure_model(args.name)  # a model may be named before its first version
        if any(v not in (None, {}) for v in changes.values()):
            model = registry.update_model(args.name, **changes)
        else:
            model = registry.model(args.name)
        metric = args.primary_metric
        if metric and (known := registry.versions(args.name)) and not any(metric in v.metrics for v in known):
            names = sorted({name for v in known for name in v.metrics})
            warn(f"no version of {args.name} has a metric '{metric}' yet (they have {', '.join(names) or 'none'}); "
                 "'best' ranks by it once one does")
        if args.json:
            emit_json(model.to_dict())
        else:
            emit(f"{model.name}")
            for key, value in model.to_dict().items():
                if key != "name" and value:
                    emit(f"  {key}: {_as_text(value)}")
    return 0


def _as_text(value: Any) -> str:
    """``{'loss': 'min'}`` -> ``loss=min``; ``['a', 'b']`` -> ``a, b``: text, never Python's repr."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={_as_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_as_text(v) for v in value)
    return str(value)


def cmd_remove(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        v = registry.remove(args.ref, force=args.force)
        emit_json(v.to_dict()) if args.json else emit(f"Removed {v.ref} from the registry (its files were not touched)")
    return 0


def cmd_find(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        # One argument or several, the words make one expression: 'accuracy>0.9 tag:x' == accuracy>0.9 tag:x.
        expr = " ".join(args.expr)
        if args.limit is not None and args.limit < 1:
            raise ModelregError(f"--limit {args.limit}: give a number of versions, 1 or more")
        found = registry.find(expr or None, model=args.model, tags=args.tag, status=args.status)
        if args.limit is not None:  # the newest N by registration time, newest first (--oldest: the other end)
            found = sorted(found, key=lambda v: v.created_at, reverse=not args.oldest)[: args.limit]
        if args.json:
            emit_json([v.to_dict() for v in found])
            return 0
        if not found:
            emit("No versions match.")
            return 0
        metric_names = list(dict.fromkeys(m for v in found for m in v.metrics))[:4]
        table(
            ["REF", "STATUS", "AGE", *[m.upper() for m in metric_names], "TAGS"],
            [[v.ref, v.status, _age(v.created_at), *[v.metrics.get(m) for m in metric_names], v.tags] for v in found],
        )
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    if (args.model is None) == (not args.all):
        raise ModelregError("name a MODEL, or pass --all for the best across every model")
    with open_registry(args) as registry:
        if args.all:
            v = registry.best_overall(args.metric)
            metric = args.metric or common_metric(registry)
        else:
            v = registry.best(args.model, args.metric)
            metric = args.metric or registry.primary_metric(args.model)
        emit_json(v.to_dict()) if args.json else emit(f"{v.ref}  {metric}={value_of(v, metric or '')}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    refs = [v if ":" in v else f"{args.model}:{v}" for v in args.versions]
    with open_registry(args) as registry:
        result = registry.compare(refs)
    if args.metric is not None:
        only_metric(result, args.metric)  # an unknown metric is one line, whatever the output
    if args.json:
        emit_json(result | ({"verdicts": verdicts(result, args.metric)} if args.metric else {}))
        return 0
    if args.markdown or args.csv:
        print((compare_markdown if args.markdown else compare_csv)(result, args.metric), end="")
        return 0
    if args.metric is not None:
        result = result | {"metrics": [only_metric(result, args.metric)]}
    rows = []
    for row in result["metrics"]:
        cells: list[Any] = [row["metric"] + (" ↓" if row["lower_is_better"] else " ↑")]
        for cell in row["values"]:
            value = "—" if cell["value"] is None else f"{cell['value']:.4g}"
            if cell["delta"] is not None:
                rel = f" {cell['relative']:+.1%}" if cell["relative"] is not None else ""
                mark = {True: " better", False: " worse", None: " same"}[cell["improved"]]
                value += f" ({cell['delta']:+.4g}{rel}{mark})"
            cells.append(value)
        rows.append(cells)
    table(["METRIC", *result["versions"]], rows)
    for change in result["params"]:
        parts = [f"+{k}={v}" for k, v in change["added"].items()]
        parts += [f"-{k}={v}" for k, v in change["removed"].items()]
        parts += [f"{k}: {c['from']} → {c['to']}" for k, c in change["changed"].items()]
        emit(f"params {result['versions'][0]} → {change['ref']}: {'; '.join(parts) or 'same'}")
    for section in ("training", "extra"):
        for change in result[section]:
            parts = [f"+{k}={v}" for k, v in change["added"].items()]
            parts += [f"-{k}={v}" for k, v in change["removed"].items()]
            parts += [f"{k}: {c['from']} → {c['to']}" for k, c in change["changed"].items()]
            if parts:
                emit(f"{section} {result['versions'][0]} → {change['ref']}: {'; '.join(parts)}")
    for change in result["signature_changes"]:
        emit(f"⚠ signature {result['versions'][0]} → {change['ref']}: {'; '.join(change['changes'])}")
    data = result["training_data"]
    if len({tuple(v) for v in data.values()}) > 1:
        emit("training data: " + "; ".join(f"{ref} [{', '.join(d) or '—'}]" for ref, d in data.items()))
    emit("status: " + ", ".join(f"{ref} {s}" for ref, s in result["status"].items()))
    emit("tags: " + ", ".join(f"{ref} [{' '.join(t)}]" for ref, t in result["tags"].items()))
    if args.metric is not None:
        for line in verdicts(result, args.metric):
            emit(line)
    return 0


def cmd_tree(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        roots = registry.tree(args.model)
        live = registry.live_map(args.model)
        if args.json:
            emit_json(_tree_json(roots))
            return 0

        def label(v: Version) -> str:
            metric = registry.primary_metric(v.model)
            value = f" {metric}={v.metrics[metric]:.4g}" if metric in v.metrics else ""
            where = "".join(f" ●{env}" for env, ver in live.items() if ver == v.version)
            return f"{v.version} [{v.status}]{value}{where}"

        for line in render_tree(roots, label):
            emit(line)
    return 0


def _tree_json(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"ref": n["version"].ref, "external_parent": n["external_parent"], "children": _tree_json(n["children"])}
        for n in nodes
    ]


def cmd_lineage(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        v = registry.get(args.ref)
        ancestors = registry.ancestors(v.ref)
        descendants = registry.descendants(v.ref)
        data = registry.data_lineage(v.ref)
        if args.json:
            emit_json({"ref": v.ref, "ancestors": [a.ref for a in ancestors], "descendants": [d.ref for d in descendants], "data": data})
            return 0
        emit(" ← ".join([v.ref, *(a.ref for a in ancestors)]))
        emit(f"descendants: {', '.join(d.ref for d in descendants) or 'none'}")
        emit("data lineage:")
        for step in data:
            commit = f" @ {step['git_commit']}" if step["git_commit"] else ""
            emit(f"  {step['ref']}: {', '.join(step['training_data']) or '(no training data recorded)'}{commit}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    with open_registry(args) as registry:
        report = registry.summary(args.model)
    if args.json:
        emit_json(report)
    elif args.markdown:
        print(to_markdown(report), end="")
    else:
        emit(to_text(report).rstrip("\n"))
    return 0
