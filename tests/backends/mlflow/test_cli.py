"""``--registry http://HOST:PORT`` on a real MLflow server: the commands, one-line refusals, and
what plain MLflow clients and hand-edited tags look like through modelreg."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.backends.mlflow.backend import MlflowBackend
from store.registry import Registry
from tests.servers import VENV, free_port
from tests.servers.mlflow import fresh_prefix

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def cli(mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    prefix = fresh_prefix()
    env = {**os.environ, "MODELREG_MLFLOW_PREFIX": prefix, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    monkeypatch.setenv("MODELREG_MLFLOW_PREFIX", prefix)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def run(*args: str, registry: str | None = mlflow_server, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        where = ["--registry", registry] if registry else []
        return subprocess.run([sys.executable, "-m", "tui.cli", *where, *args], capture_output=True, text=True,
                              cwd=REPO, env={**env, **(extra_env or {})}, timeout=120)

    run.url, run.prefix = mlflow_server, prefix  # type: ignore[attr-defined]
    return run


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_register_deploy_rollback_history_through_the_command_line(cli, artifact: Path) -> None:
    assert cli("register", "m", str(artifact), "--metric", "acc=0.9").returncode == 0
    assert cli("register", "m", str(artifact), "--metric", "acc=0.8").returncode == 0
    listing = cli("versions", "m")
    assert "v1" in listing.stdout and "v2" in listing.stdout, listing.stderr
    for ref in ("m:v1", "m:v2"):
        done = cli("deploy", ref, "--trust")
        assert done.returncode == 0, done.stderr
    assert cli("rollback", "m").returncode == 0
    history = cli("history").stdout
    assert history.count("production") == 3 and "rollback" in history
    status = cli("status").stdout
    assert "production" in status and "v1" in status
    # MODELREG_HOME names the server as well as --registry does
    home = cli("versions", "m", registry=None, extra_env={"MODELREG_HOME": cli.url})
    assert "v2" in home.stdout, home.stderr
    # and what an MLflow user sees: the alias, the tags
    with Registry(cli.url) as registry:
        assert registry.live_map("m") == {"production": "v1"}
        assert registry.get("m:v1").metrics == {"acc": 0.9}


def test_an_unreachable_server_is_one_line(cli) -> None:
    one_line_error(cli("list", registry=f"http://127.0.0.1:{free_port()}"), "cannot reach the MLflow server", "connection refused")


def test_a_server_that_is_not_mlflow_is_one_line(cli) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        one_line_error(cli("list", registry=f"http://127.0.0.1:{server.server_port}"), "is not an MLflow tracking server")
    finally:
        server.shutdown()


class _Guarded(http.server.BaseHTTPRequestHandler):
    """A server behind a token, as MLflow behind an authenticating proxy answers."""

    seen: list[str] = []

    def do_GET(self) -> None:
        _Guarded.seen.append(self.headers.get("Authorization", ""))
        self.send_response(401)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_credentials_are_mlflows_own_variables_and_a_refusal_is_one_line(cli) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Guarded)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        one_line_error(cli("list", registry=url, extra_env={"MLFLOW_TRACKING_TOKEN": "s3cret"}),
                       "needs credentials", "MLFLOW_TRACKING_TOKEN")
        one_line_error(cli("list", registry=url, extra_env={"MLFLOW_TRACKING_USERNAME": "ana", "MLFLOW_TRACKING_PASSWORD": "pw"}),
                       "HTTP 401")
    finally:
        server.shutdown()
    assert _Guarded.seen[0] == "Bearer s3cret" and _Guarded.seen[-1] == "Basic YW5hOnB3"


def test_commands_that_cannot_exist_on_a_server_say_so(cli) -> None:
    one_line_error(cli("doctor"), "is an MLflow server")
    one_line_error(cli("init"), "needs no init")


def test_a_version_from_a_plain_mlflow_client_shows_its_runs_metrics(cli, tmp_path: Path) -> None:
    script = f"""
import mlflow
from mlflow import MlflowClient
mlflow.set_tracking_uri({cli.url!r})
mlflow.set_experiment({cli.prefix + 'exp'!r})
with mlflow.start_run() as run:
    mlflow.log_metric("rmse", 0.25)
    mlflow.log_param("depth", 7)
client = MlflowClient()
client.create_registered_model({cli.prefix + 'plain'!r})
mv = client.create_model_version({cli.prefix + 'plain'!r}, f"runs:/{{run.info.run_id}}/model", run.info.run_id, tags={{"team": "ml"}})
client.set_registered_model_alias({cli.prefix + 'plain'!r}, "champion", mv.version)
"""
    made = subprocess.run([str(VENV / "bin" / "python"), "-c", script], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    with Registry(cli.url) as registry:
        [version] = registry.versions("plain")
        assert version.version == "v1" and version.status == "completed"
        assert version.metrics == {"rmse": 0.25} and version.params == {"depth": "7"}
        assert version.extra["mlflow_tags"] == {"team": "ml"}
        assert registry.live_map("plain") == {"champion": "v1"}  # an alias is an environment
    shown = cli("info", "plain:v1")
    assert "rmse" in shown.stdout and "0.25" in shown.stdout, shown.stderr


def test_a_tag_that_is_not_json_is_reported_and_shown_as_text(cli, artifact: Path) -> None:
    with Registry(cli.url) as registry:
        registry.register("m", [artifact], notes="first")
    backend = MlflowBackend(cli.url, prefix=cli.prefix)
    # as someone would in MLflow's UI: a modelreg tag that is not JSON, and a status that is not text
    ref = {"name": cli.prefix + "m", "version": "1"}
    backend.client.post("model-versions/set-tag", {**ref, "key": "modelreg.notes", "value": "edited {by hand"})
    backend.client.post("model-versions/set-tag", {**ref, "key": "modelreg.status", "value": "[1, 2]"})
    backend.close()
    listing = cli("versions", "m")
    assert listing.returncode == 0 and "v1" in listing.stdout
    assert "modelreg.notes is not JSON" in listing.stderr and "modelreg.status is not text" in listing.stderr
    with Registry(cli.url) as registry:
        version = registry.get("m:v1")
        assert version.notes == "edited {by hand" and version.status == "completed"


def test_history_entries_that_are_not_modelregs_are_left_out_and_reported(cli, artifact: Path) -> None:
    with Registry(cli.url) as registry:
        registry.register("m", [artifact])
        registry.deploy("m:v1", trust=True)
    backend = MlflowBackend(cli.url, prefix=cli.prefix)
    backend.client.post("model-versions/create", {"name": backend.replica.history_model, "source": "modelreg://x/y",
                                                  "tags": [{"key": "modelreg.entry", "value": "{not json"}]})
    backend.close()
    shown = cli("history")
    assert shown.returncode == 0 and shown.stdout.count("production") == 1
    assert "not a modelreg history entry" in shown.stderr


def test_an_alias_moved_in_mlflow_is_recorded_before_the_next_deploy(cli, artifact: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from store.backends.mlflow import switching

    with Registry(cli.url) as registry:
        for _ in range(3):
            registry.register("m", [artifact], scan={"safe": True, "verdict": "safe", "reason": "scanned"})
        registry.deploy("m:v1")
    backend = MlflowBackend(cli.url, prefix=cli.prefix)
    backend.client.post("registered-models/alias", {"name": cli.prefix + "m", "alias": "production", "version": "2"})
    backend.close()
    monkeypatch.setattr(switching, "SETTLED", 0.0)  # the log has been quiet long enough
    with Registry(cli.url) as registry:
        assert registry.live_map("m") == {"production": "v2"}  # MLflow's word: an alias is what is live
        registry.deploy("m:v3")
        steps = [(h["action"], h["from"], h["to"]) for h in registry.history("m")]
        # the outside move is recorded; this node's own deploy link, still at v1, was stale: it followed
        # v2 with no entry of its own (on a shared backend, only switches are recorded)
        assert steps == [("deploy", None, "v1"), ("outside", "v1", "v2"), ("deploy", "v2", "v3")]
        assert registry.live_map("m") == {"production": "v3"}


def test_modelreg_watch_registers_into_the_server(cli, tmp_path: Path) -> None:
    import signal

    from tests.watch.test_watch_cli import read_line_with

    runs = tmp_path / "runs"
    runs.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "--registry", cli.url, "watch", str(runs), "--settle", "0.2", "--model", "wm"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        read_line_with(process, "watching", timeout=60)
        (runs / "weights-step-10.safetensors").write_bytes(b"w" * 1000)
        assert "wm:v1" in read_line_with(process, "registered", timeout=60)
        (runs / "weights-step-10.safetensors.json").write_text(json.dumps({"metrics": {"f1": 0.7}}))
        assert "wm:v1" in read_line_with(process, "updated", timeout=60)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in stderr
    with Registry(cli.url) as registry:
        assert registry.get("wm:v1").metrics == {"f1": 0.7}


def test_a_command_naming_a_version_sees_a_plain_clients_tag_edits_a_reopen_cannot(cli, artifact: Path) -> None:
    assert cli("register", "m", str(artifact), "--notes", "first").returncode == 0
    assert cli("info", "m:v1").returncode == 0  # the saved replica is now caught up
    client = MlflowBackend(cli.url, prefix=cli.prefix).client
    ref = {"name": cli.prefix + "m", "version": "1"}
    # as a plain MLflow client or MLflow's UI would: MLflow moves no timestamp for these
    client.post("model-versions/set-tag", {**ref, "key": "team", "value": "ml"})
    client.post("model-versions/set-tag", {**ref, "key": "modelreg.notes", "value": '"checked by hand"'})
    client.close()
    shown = cli("info", "m:v1", "--json")
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    version = json.loads(shown.stdout)
    assert version["notes"] == "checked by hand" and version["extra"]["mlflow_tags"] == {"team": "ml"}
    assert "checked by hand" in cli("info", "m:latest").stdout
