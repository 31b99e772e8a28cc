"""Safety commands: scan a pickle/joblib file or version, and load a version safely."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from store.deploy import loading
from store.errors import ArtifactError
from store.safety import ScanResult, scan_file, scan_paths
from tui.commands import open_registry
from tui.output import emit, emit_json


def add_commands(commands: Any) -> None:
    help = ("judge a pickle/joblib/PyTorch/safetensors file or folder (PATH) or a version's artifacts (REF) with the "
            "restricted loader, running nothing outside its allow-list")
    p = commands.add_parser("scan", help=help, description=help + "; exit status 1 unless it is safe")
    p.set_defaults(run=cmd_scan)
    p.add_argument("target", metavar="PATH|REF")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")

    help = "load a version: the estimator of a scikit-learn/joblib artifact (restricted loader), else its paths"
    p = commands.add_parser("load", help=help, description=help)
    p.set_defaults(run=cmd_load)
    p.add_argument("ref")
    p.add_argument("--trust", action="store_true", help="load with plain joblib.load (runs whatever the file says)")
    p.add_argument("--name", help="which of the version's saved objects (or artifact file name) to load")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _looks_like_path(target: str) -> bool:
    return "/" in target or "\\" in target or loading.is_pickle_file(target)


def cmd_scan(args: argparse.Namespace) -> int:
    path = Path(args.target)
    if path.is_file():
        result, ref = scan_file(path), None
    elif path.is_dir():  # a checkpoint folder: every pickle, PyTorch and safetensors file in it
        result, ref = scan_paths([str(path)]), None
    elif _looks_like_path(args.target):
        raise ArtifactError(f"no file {args.target}; give a pickle/joblib file or a version like MODEL:VERSION")
    else:
        with open_registry(args) as registry:
            path, result = loading.scan_version(registry, args.target, store=not args.read_only)
            ref = registry.resolve(args.target)
    if args.json:
        emit_json({"ref": ref, "path": str(path), **result.to_dict()})
    else:
        _print_scan(path, result, ref)
    return 0 if result.safe else 1


def _print_scan(path: Path, result: ScanResult, ref: str | None) -> None:
    emit(f"{result.verdict.upper()}  {path}" + (f"  ({ref})" if ref else ""))
    emit(f"  {result.reason}")
    if result.imports:
        emit(f"  imports ({len(result.imports)}):")
        for name in result.imports:
            emit(f"    {name}")


def cmd_load(args: argparse.Namespace) -> int:
    from store.safety.estimators import describe

    with open_registry(args) as registry:
        ref = registry.resolve(args.ref)
        loaded = loading.load(registry, ref, trust=args.trust, name=args.name)
        version = registry.get(ref)
    if isinstance(loaded, list):
        if args.json:
            emit_json({"ref": ref, "paths": [str(p) for p in loaded]})
        else:
            emit(f"{ref}: not a scikit-learn/joblib artifact; its files are:")
            for path in loaded:
                emit(f"  {path}")
        return 0
    info = describe(loaded)
    scan = version.scan or {}
    if args.json:
        emit_json({"ref": ref, "path": version.artifacts[0]["path"], "scan": scan, "estimator": info})
        return 0
    emit(f"Loaded {ref}: {info['class']} from {version.artifacts[0]['path']}")
    emit(f"  safety scan: {scan.get('verdict')}" + ("" if scan.get("safe") else " (loaded because of --trust)"))
    for key, value in info.get("params", {}).items():
        emit(f"  {key}: {value}")
    return 0
