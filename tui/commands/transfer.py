"""Moving models between registries and in from other tools: export, import."""

from __future__ import annotations

import argparse
from typing import Any


from store.transfer.bundle import ImportResult, export_bundle
from store.errors import BundleError
from store.experiments_export import export_experiments
from store.transfer.importers import FORMATS, import_file
from tui.commands import open_registry
from tui.output import emit, emit_json, size


def add_commands(commands: Any) -> None:
    p = commands.add_parser(
        "export",
        help="write models or versions to one portable bundle: export REF|MODEL... OUT, or export --all OUT",
        description="Write models or versions, their deploy history and their artifacts to one tar archive "
        "(gzip-compressed when OUT ends in .gz or .tgz).",
    )
    p.set_defaults(run=cmd_export)
    p.usage = "modelreg export [options] REF|MODEL [REF|MODEL...] OUT\n       modelreg export [options] --all OUT"
    p.add_argument("items", nargs="+", metavar="ITEM", help="what to export (MODEL or MODEL:VERSION), then the bundle to write")
    p.add_argument("--all", action="store_true", help="export every model")
    p.add_argument("--with-parents", action="store_true", help="also export the ancestors of what is named, across models")
    p.add_argument("--allow-missing", action="store_true", help="export versions whose artifacts are gone, metadata only")
    p.add_argument("--format", choices=("bundle", "experiments"), default="bundle",
                   help="experiments: one model's versions as an experiment_history.jsonl (metadata only)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")

    p = commands.add_parser(
        "import",
        help="import a modelreg bundle, an AFS registry.json or an experiment_history.jsonl",
        description="Bring versions into this registry from a bundle or another tool's files. Existing versions "
        "are never overwritten: the import is refused, or with --skip-existing they are left out.",
    )
    p.set_defaults(run=cmd_import)
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", choices=FORMATS, help="the file's format (default: detected)")
    p.add_argument("--model", help="experiments: the model name (default: the file's folder or name)")
    p.add_argument("--skip-existing", action="store_true", help="leave out versions the registry already has")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def cmd_export(args: argparse.Namespace) -> int:
    *refs, out = args.items
    if args.format == "experiments":
        return _export_experiments(args, refs, out)
    if args.all and refs:
        raise BundleError(f"--all exports everything; drop {' '.join(refs)} or drop --all")
    with open_registry(args) as registry:
        result = export_bundle(
            registry, out, refs, everything=args.all, with_parents=args.with_parents, allow_missing=args.allow_missing
        )
    if args.json:
        emit_json(result.to_dict())
        return 0
    shown = size(result.bytes)
    emit(
        f"Exported {_count(result.versions, 'version')} of {_count(result.models, 'model')}, "
        f"{_count(result.history, 'history entry', 'history entries')} and {_count(result.artifacts, 'artifact')} "
        f"to {result.path} ({shown})"
    )
    if result.missing:
        emit(f"  without artifacts (missing on disk): {', '.join(result.missing)}")
    return 0


def _export_experiments(args: argparse.Namespace, refs: list[str], out: str) -> int:
    if args.all or len(refs) > 1 or any(":" in r for r in refs):
        raise BundleError("an experiment history holds one model: export --format experiments [MODEL] OUT.jsonl")
    with open_registry(args) as registry:
        model, count = export_experiments(registry, out, refs[0] if refs else None)
    if args.json:
        emit_json({"model": model, "versions": count, "path": out})
    else:
        emit(f"Exported {_count(count, 'version')} of {model} to {out} (import it with 'modelreg import {out} --model {model}')")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    with open_registry(args, create=True) as registry:
        result = import_file(registry, args.file, format=args.format, model=args.model, skip_existing=args.skip_existing)
    if args.json:
        emit_json(result.to_dict())
    else:
        _report(result)
    return 0


def _count(items: Any, one: str, many: str | None = None) -> str:
    n = items if isinstance(items, int) else len(items)
    return f"{n} {one if n == 1 else many or one + 's'}"


def _report(result: ImportResult) -> None:
    emit(
        f"Imported {_count(result.versions, 'version')} of {_count(result.models, 'model')} from {result.source} ({result.format})"
        + (f", {_count(result.history, 'history entry', 'history entries')}" if result.history else "")
        + (f", {_count(result.artifacts, 'artifact')}" if result.artifacts else "")
    )
    if result.skipped:
        emit(f"  skipped, already present: {', '.join(result.skipped)}")
    for warning in result.warnings:
        emit(f"  note: {warning}")
