"""Migration both ways: a bundle exported from a local registry imports into an MLflow server, and
one exported from the server imports into a local registry, keeping versions, lineage, metrics and
the deploy history."""

from __future__ import annotations

import json
from pathlib import Path

from store.backends.mlflow.backend import MlflowBackend
from store.registry import Registry
from store.transfer.bundle import export_bundle, import_bundle
from tests.servers.mlflow import fresh_prefix

SCANNED = {"safe": True, "verdict": "safe", "reason": "scanned"}
KEPT = ("version", "status", "metrics", "params", "tags", "parent", "training", "training_data", "notes", "git_commit")


def build_source(tmp_path: Path) -> Registry:
    runs = tmp_path / "runs"
    runs.mkdir()
    reg = Registry(tmp_path / "local")
    for i in (1, 2):
        (runs / f"base{i}.pkl").write_bytes(b"base" * 100 * i)
    reg.register("base", runs / "base1.pkl", "v1", metrics={"accuracy": 0.81}, params={"C": 1.0}, tags=["baseline"],
                 training={"framework": "sklearn", "samples": 150}, training_data=["iris"], scan=SCANNED)
    reg.register("base", runs / "base2.pkl", "v2", parent="base:v1", metrics={"accuracy": 0.86}, notes="better",
                 git_commit="abc1234", scan=SCANNED)
    (runs / "chat.gguf").write_bytes(b"GGUF" * 1000)
    reg.register("chat", runs / "chat.gguf", "1.0.0", parent="base:v2", metrics={"bleu": 21.5}, params={"lora": {"r": 16}},
                 scan=SCANNED)
    reg.update_model("base", description="the base model", owner="ana", primary_metric="accuracy")
    reg.deploy("base:v1", trust=True)
    reg.deploy("base:v2", trust=True)
    reg.rollback("base")
    return reg


def shape(reg: Registry) -> dict[str, object]:
    versions = {f"{v.model}:{v.version}": {k: json.loads(json.dumps(getattr(v, k), default=dict)) for k in KEPT}
                for m in reg.models() for v in reg.versions(m.name)}
    history = [(h["model"], h["env"], h["from"], h["to"], h["action"], h["by"], h["at"]) for h in reg.history()]
    model = reg.model("base")
    return {"versions": versions, "history": history, "model": (model.description, model.owner, model.primary_metric)}


def test_local_to_mlflow_and_back_keeps_versions_lineage_metrics_and_history(mlflow_server: str, tmp_path: Path) -> None:
    source = build_source(tmp_path)
    expected = shape(source)
    assert len(expected["history"]) == 3 and len(expected["versions"]) == 3  # type: ignore[arg-type]
    export_bundle(source, tmp_path / "out.tar", everything=True)
    source.close()

    server = Registry(tmp_path / "server-home", backend=MlflowBackend(mlflow_server, prefix=fresh_prefix()))
    import_bundle(server, tmp_path / "out.tar")
    assert shape(server) == expected
    assert server.ancestors("chat:1.0.0")[0].ref == "base:v2"
    export_bundle(server, tmp_path / "back.tar", everything=True)
    server.close()

    back = Registry(tmp_path / "back")
    import_bundle(back, tmp_path / "back.tar")
    assert shape(back) == expected
    back.close()
