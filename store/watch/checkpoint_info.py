"""What a checkpoint says about itself (metrics, framework, step, epoch), as ``Registry.register`` takes it.

One reader for the watcher (:mod:`store.watch.intake`) and ``modelreg register``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from store.watch.checkpoints import PathLike, parse_lightning_name, read_framework_files, step_of


def checkpoint_metadata(path: PathLike, framework: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a checkpoint says about itself, as ``Registry.register`` takes it: ``metrics``,
    ``training`` (framework, base_model), ``extra`` (step, epoch) and ``problems``.

    One reader for the watcher and ``modelreg register``: a Lightning file name
    (``epoch=3-step=1000-val_loss=0.12.ckpt``), the framework files of a folder
    (``framework``, from :func:`read_framework_files`; read here when None), and a step
    number in the name (``checkpoint-500``).
    """
    path = Path(path)
    metrics: dict[str, Any] = {}
    training: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    problems: list[str] = []
    name = path.name
    if "=" in name or name.lower().startswith("last"):
        info = parse_lightning_name(name)
        metrics.update(info.get("metrics", {}))
        extra.update({k: info[k] for k in ("step", "epoch") if k in info})
    if framework is None and path.is_dir():
        framework = read_framework_files(path)
    if framework:
        training.update({k: framework[k] for k in ("framework", "base_model") if framework.get(k)})
        metrics.update(framework.get("metrics", {}))
        if "global_step" in framework:
            extra["step"] = framework["global_step"]
        if "epoch" in framework:
            extra["epoch"] = framework["epoch"]
        problems.extend(framework.get("problems", ()))
    if "step" not in extra and (step := step_of(path)) is not None:
        extra["step"] = step
    return {"metrics": metrics, "training": training, "extra": extra, "problems": problems}
