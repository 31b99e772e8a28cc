"""A version that has an MLflow run, on a real server: the run's metrics, params and the version's own
tags stay shown after modelreg edits it, and the metrics modelreg records reach the run, where MLflow
users look for them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from store.backends.mlflow.backend import MlflowBackend
from store.registry import Registry
from tests.servers.mlflow import fresh_prefix


class Server:
    """A plain MLflow client's view of the server (REST, as ``MlflowClient`` does it)."""

    def __init__(self, url: str, prefix: str) -> None:
        self.backend = MlflowBackend(url, prefix=prefix)
        self.client, self.prefix = self.backend.client, prefix

    def run(self, metrics: dict[str, float], params: dict[str, str], *, step: int = 0) -> str:
        millis = int(time.time() * 1000)
        run_id = self.client.post("runs/create", {"experiment_id": "0", "start_time": millis})["run"]["info"]["run_id"]
        self.log(run_id, metrics, step=step)
        self.client.post("runs/log-batch", {"run_id": run_id, "params": [{"key": k, "value": v} for k, v in params.items()]})
        return run_id

    def log(self, run_id: str, metrics: dict[str, float], *, step: int = 0) -> None:
        millis = int(time.time() * 1000)
        points = [{"key": k, "value": v, "timestamp": millis, "step": step} for k, v in metrics.items()]
        self.client.post("runs/log-batch", {"run_id": run_id, "metrics": points})

    def version(self, model: str, run_id: str, tags: dict[str, str]) -> None:
        name = self.prefix + model
        self.client.post("registered-models/create", {"name": name})
        self.client.post("model-versions/create", {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id,
                                                   "tags": [{"key": k, "value": v} for k, v in tags.items()]})

    def run_metrics(self, run_id: str) -> dict[str, float]:
        data = self.client.get("runs/get", run_id=run_id)["run"]["data"]
        return {m["key"]: m["value"] for m in data.get("metrics", ())}

    def run_params(self, run_id: str) -> dict[str, str]:
        data = self.client.get("runs/get", run_id=run_id)["run"]["data"]
        return {p["key"]: p["value"] for p in data.get("params", ())}


@pytest.fixture
def server(mlflow_server: str) -> Iterator[Server]:
    made = Server(mlflow_server, fresh_prefix())
    yield made
    made.backend.close()


@pytest.fixture
def machine(mlflow_server: str, server: Server, tmp_path: Path) -> Callable[[str], Registry]:
    """A registry on the server as a machine sees it; each machine name has its own local folder and
    saved replica, so a new name reads everything from the server."""

    def open_on(name: str) -> Registry:
        home = tmp_path / name
        return Registry(home, backend=MlflowBackend(mlflow_server, prefix=server.prefix, saved=home / "replica.json"))

    return open_on


def shown(registry: Registry, ref: str) -> dict[str, Any]:
    version = registry.get(ref)
    return {"status": version.status, "metrics": version.metrics, "params": version.params,
            "tags": version.tags, "mlflow_tags": version.extra.get("mlflow_tags")}


def test_a_run_backed_version_keeps_its_runs_values_and_tags_after_modelreg_edits_it(server: Server, machine) -> None:
    run_id = server.run({"rmse": 0.25}, {"depth": "7"})
    server.version("plain", run_id, {"team": "ml"})
    with machine("a") as registry:
        before = shown(registry, "plain:v1")
        assert before["metrics"] == {"rmse": 0.25} and before["params"] == {"depth": "7"}
        registry.set_status("plain:v1", "deprecated")
        registry.tag("plain:v1", "reviewed")
        registry.update("plain:v1", notes="checked by hand")
        after = shown(registry, "plain:v1")
    # another machine, reading only the server: the edits, and still the run's values and the MLflow tags
    with machine("b") as registry:
        fresh = shown(registry, "plain:v1")
        assert registry.get("plain:v1").notes == "checked by hand"
    for seen in (after, fresh):
        assert seen == {"status": "deprecated", "metrics": {"rmse": 0.25}, "params": {"depth": "7"},
                        "tags": ("reviewed",), "mlflow_tags": {"team": "ml"}}


def test_metrics_modelreg_records_for_a_run_backed_version_are_logged_to_its_run(server: Server, machine) -> None:
    # the training logged rmse at step 40: modelreg's later value must still be the run's latest
    run_id = server.run({"rmse": 0.25}, {"depth": "7"}, step=40)
    server.version("plain", run_id, {})
    with machine("a") as registry:
        registry.score("plain:v1", auc=0.8, rmse=0.2)
        assert registry.get("plain:v1").metrics == {"rmse": 0.2, "auc": 0.8}
    assert server.run_metrics(run_id) == {"rmse": 0.2, "auc": 0.8}
    with machine("b") as registry:
        assert registry.get("plain:v1").metrics == {"rmse": 0.2, "auc": 0.8}


def test_the_run_has_the_last_word_on_its_metrics_after_modelreg_wrote_them(server: Server, machine) -> None:
    run_id = server.run({"rmse": 0.25}, {})
    server.version("plain", run_id, {})
    with machine("a") as registry:
        registry.score("plain:v1", auc=0.8)
    server.log(run_id, {"rmse": 0.125}, step=50)  # the training went on after modelreg's edit
    with machine("b") as registry:
        assert registry.get("plain:v1").metrics == {"rmse": 0.125, "auc": 0.8}


def test_params_modelreg_changes_win_and_new_ones_reach_the_run(server: Server, machine) -> None:
    # MLflow's params cannot change once logged: a changed one is modelreg's, a new one is logged too
    run_id = server.run({}, {"depth": "7"})
    server.version("plain", run_id, {})
    with machine("a") as registry:
        registry.update("plain:v1", params={"depth": "8", "seed": "3"})
    assert server.run_params(run_id) == {"depth": "7", "seed": "3"}
    with machine("b") as registry:
        assert registry.get("plain:v1").params == {"depth": "8", "seed": "3"}


def test_a_version_whose_run_was_deleted_shows_its_tags_and_modelregs_later_values(server: Server, machine) -> None:
    run_id = server.run({"rmse": 0.25, "mae": 0.5}, {})
    server.version("plain", run_id, {"team": "ml"})
    server.client.post("runs/delete", {"run_id": run_id})
    with machine("a") as registry:
        registry.score("plain:v1", auc=0.8, rmse=0.2)  # MLflow logs to active runs only: kept in modelreg's tags
    assert server.run_metrics(run_id) == {"rmse": 0.25, "mae": 0.5}
    with machine("b") as registry:
        version = registry.get("plain:v1")
        assert version.metrics == {"rmse": 0.2, "mae": 0.5, "auc": 0.8} and version.extra["mlflow_tags"] == {"team": "ml"}


def test_an_edit_stands_when_mlflow_refuses_to_log_it_to_the_run(server: Server, machine,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from store.backends.mlflow.client import ApiError, RestClient

    run_id = server.run({"rmse": 0.25}, {})
    server.version("plain", run_id, {})
    original = RestClient.post

    def refusing(self: RestClient, endpoint: str, body: Any, **options: Any) -> Any:
        if endpoint == "runs/log-batch":
            raise ApiError("PERMISSION_DENIED: not yours", "PERMISSION_DENIED", 403)
        return original(self, endpoint, body, **options)

    with machine("a") as registry:
        monkeypatch.setattr(RestClient, "post", refusing)
        assert registry.score("plain:v1", rmse=0.2).metrics == {"rmse": 0.2}
        monkeypatch.setattr(RestClient, "post", original)
    assert server.run_metrics(run_id) == {"rmse": 0.25}
    with machine("b") as registry:  # modelreg's value is newer than the run's
        assert registry.get("plain:v1").metrics == {"rmse": 0.2}


def test_a_run_two_versions_share_is_left_alone(server: Server, machine) -> None:
    run_id = server.run({"rmse": 0.25}, {})
    server.version("plain", run_id, {})
    server.client.post("model-versions/create", {"name": server.prefix + "plain", "source": f"runs:/{run_id}/model",
                                                 "run_id": run_id})
    with machine("a") as registry:
        registry.score("plain:v2", rmse=0.2)
    assert server.run_metrics(run_id) == {"rmse": 0.25}  # v1 would show v2's value otherwise
    with machine("b") as registry:
        assert registry.get("plain:v1").metrics == {"rmse": 0.25} and registry.get("plain:v2").metrics == {"rmse": 0.2}


def test_hand_edited_fields_and_huge_values_are_no_traceback(server: Server, machine) -> None:
    run_id = server.run({}, {})
    server.version("plain", run_id, {"modelreg.metrics": "[1, 2]", "modelreg.params": '"text"'})
    with machine("a") as registry:
        problems = registry.problems()
        assert any("modelreg.metrics is not a JSON object; left out" in line for line in problems), problems
        assert any("modelreg.params is not a JSON object; left out" in line for line in problems), problems
        registry.score("plain:v1", big=10 ** 400, auc=0.5)
        registry.update("plain:v1", params={"layers": [64, 32], "flag": True})
    assert server.run_metrics(run_id) == {"auc": 0.5}  # 10**400 is no double: kept in modelreg's tag only
    assert server.run_params(run_id) == {"layers": "[64, 32]", "flag": "true"}


def test_a_metric_name_mlflow_refuses_stays_in_modelregs_tags(server: Server, machine) -> None:
    run_id = server.run({"rmse": 0.25}, {})
    server.version("plain", run_id, {})
    with machine("a") as registry:
        registry.score("plain:v1", **{"top@5": 0.9, "auc": 0.8})
    assert server.run_metrics(run_id) == {"rmse": 0.25, "auc": 0.8}
    with machine("b") as registry:
        assert registry.get("plain:v1").metrics == {"rmse": 0.25, "auc": 0.8, "top@5": 0.9}


def test_the_versions_mlflow_tags_are_read_from_the_tags_not_copied_into_modelregs(server: Server, machine) -> None:
    run_id = server.run({}, {})
    server.version("plain", run_id, {"team": "ml"})
    with machine("a") as registry:
        registry.update("plain:v1", extra={"owner": "ana"})
    answer = server.client.get("model-versions/get", name=server.prefix + "plain", version="1")["model_version"]
    assert {t["key"]: t["value"] for t in answer["tags"]}["modelreg.extra"] == '{"owner":"ana"}'
    server.client.delete("model-versions/delete-tag", {"name": server.prefix + "plain", "version": "1", "key": "team"})
    with machine("b") as registry:
        assert registry.get("plain:v1").extra == {"owner": "ana"}


def test_mlflow_tags_carried_by_a_new_version_become_its_tags_but_never_mlflows_or_modelregs(server: Server, machine,
                                                                                             artifact: Path) -> None:
    carried = {"team": "ml", "modelreg.status": '"deployed"', "mlflow.user": "eve", "modelreg:pending": "{}"}
    with machine("a") as registry:  # as an import from another registry brings them
        registry.register("m", [artifact], mlflow_tags=carried, owner="ana")  # keyword arguments are extra
    answer = server.client.get("model-versions/get", name=server.prefix + "m", version="1")["model_version"]
    tags = {t["key"]: t["value"] for t in answer["tags"]}
    assert tags.get("team") == "ml" and "mlflow.user" not in tags and "modelreg:pending" not in tags
    assert "modelreg.status" not in tags or tags["modelreg.status"] != '"deployed"'
    assert tags["modelreg.extra"] == '{"owner":"ana"}'
    with machine("b") as registry:
        version = registry.get("m:v1")
        assert version.status != "deployed" and version.extra == {"owner": "ana", "mlflow_tags": {"team": "ml"}}
