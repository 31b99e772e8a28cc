"""A team on an MLflow server with its artifacts on S3 (moto): two nodes, each a real ``modelreg``
process with its own cache folder, node B never able to read node A's files.

Node A registers local files; the version appears on the server marked uploading (node B sees the
mark and its deploy is refused) while A's upload is held at a proxy in front of S3; once released,
the files are on S3 under their sha256 and the mark is gone. Node B then loads, checks, deploys and
follows the version from the bucket, and the bytes it serves are A's, by sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import joblib
import pytest
from sklearn.linear_model import LogisticRegression

from tests.servers.held import HeldProxy
from tests.servers.mlflow import fresh_prefix

REPO = Path(__file__).resolve().parents[3]
Node = Callable[..., subprocess.CompletedProcess]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mlflow_version(url: str, name: str, number: int = 1) -> dict:
    """What a plain MLflow client sees of a version (REST ``model-versions/get``)."""
    query = urllib.parse.urlencode({"name": name, "version": number})
    with urllib.request.urlopen(f"{url}/api/2.0/mlflow/model-versions/get?{query}", timeout=10) as answer:
        return json.load(answer)["model_version"]


class Team:
    """Two nodes on one MLflow server and one bucket: each its own caches, environment and files."""

    def __init__(self, url: str, s3, root: Path) -> None:
        self.url, self.s3, self.prefix = url, s3, fresh_prefix()
        self.root = root
        self.env = {name: {**os.environ, **s3.server.env, "MODELREG_MLFLOW_PREFIX": self.prefix,
                           "XDG_CACHE_HOME": str(root / name / "cache"),
                           "MODELREG_CACHE": str(root / name / "downloads")} for name in ("a", "b")}
        for env in self.env.values():
            env.pop("MODELREG_ARTIFACT_STORE", None)

    def run(self, node: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, cwd=REPO, timeout=180,
                              env={**self.env[node], **(env or {})})

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "tui.cli", "--registry", self.url, *args]

    def home(self, node: str) -> Path:
        """Where this node keeps the registry's per-machine folder (config.json, replica, links)."""
        from store.backends.mlflow.opening import local_home

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("XDG_CACHE_HOME", self.env[node]["XDG_CACHE_HOME"])
            return local_home(self.url, self.prefix)

    def info(self, node: str, ref: str) -> dict:
        shown = self.run(node, "info", ref, "--json")
        assert shown.returncode == 0, shown.stderr
        return json.loads(shown.stdout)


@pytest.fixture
def team(mlflow_server: str, s3, tmp_path: Path) -> Iterator[Team]:
    yield Team(mlflow_server, s3, tmp_path)


def one_line(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def estimator_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(LogisticRegression(C=0.5).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]), path)
    return path


def wait(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}", pytrace=False)


def test_node_a_uploads_node_b_loads_checks_deploys_and_follows_by_sha256(team: Team) -> None:
    s3 = team.s3
    (team.home("a") / "config.json").parent.mkdir(parents=True, exist_ok=True)
    (team.home("a") / "config.json").write_text(json.dumps({"artifact_store": s3.url("team/models")}))
    files = team.root / "a" / "files"
    model = estimator_file(files / "model.joblib")
    weights = files / "weights.gguf"
    weights.write_bytes(os.urandom(3 << 20))
    sums = {"model.joblib": sha256(model), "weights.gguf": sha256(weights)}

    proxy = HeldProxy(int(urllib.parse.urlsplit(s3.server.endpoint).port or 0))
    registering = None
    try:
        held = {**team.env["a"], "AWS_ENDPOINT_URL": proxy.url}
        registering = subprocess.Popen(team.argv("register", "m", str(model), str(weights)), cwd=REPO, env=held,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait(proxy.arrived.is_set, "node A's upload to reach S3", timeout=120)
        # Held mid-upload (s3fs waits 15 s for an answer, then retries: node B's two commands fit well within),
        # the version is on the server already, marked, and node B sees the mark.
        seen = team.info("b", "m:v1")
        assert seen["uploading"] is True and all("url" not in a for a in seen["artifacts"])
        one_line(team.run("b", "deploy", "m:v1"), "cannot deploy m:v1", "still uploading")
        proxy.release()
        out, err = registering.communicate(timeout=120)
        assert registering.returncode == 0, err
    finally:
        proxy.close()
        if registering is not None and registering.poll() is None:
            registering.kill()

    shutil.rmtree(files)  # node B has no way to A's files: only the bucket holds them now
    version = team.info("b", "m:v1")
    assert not version["uploading"]
    fs = s3.server.filesystem()
    for artifact in version["artifacts"]:
        name = Path(artifact["path"]).name
        assert artifact["sha256"] == sums[name]
        assert artifact["url"] == s3.url(f"team/models/sha256/{sums[name]}")  # content-addressed
        assert hashlib.sha256(fs.cat_file(artifact["url"][len("s3://"):])).hexdigest() == sums[name]

    # What a plain MLflow client sees: the source names A's file, the artifacts tag carries the URL.
    answer = mlflow_version(team.url, team.prefix + "m")
    assert answer["source"] == f"modelreg://{os.uname().nodename}{files / 'model.joblib'}"
    tags = {t["key"]: t["value"] for t in answer["tags"]}
    assert "modelreg.uploading" not in tags
    tagged = json.loads(tags["modelreg.artifacts"])
    assert [(a["url"], a["sha256"]) for a in tagged] == [(a["url"], a["sha256"]) for a in version["artifacts"]]

    loaded = team.run("b", "load", "m:v1", "--name", "model.joblib", "--json")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["estimator"]["class"].endswith("LogisticRegression")
    objects = team.root / "b" / "downloads" / "objects"
    assert sha256(objects / sums["model.joblib"] / "model.joblib") == sums["model.joblib"]
    checked = team.run("b", "check", "--verify")
    assert checked.returncode == 0 and "0 missing" in checked.stdout, checked.stdout + checked.stderr
    deployed = team.run("b", "deploy", "m:v1")
    assert deployed.returncode == 0 and "production (nothing) → v1" in deployed.stdout, deployed.stderr

    serving = team.root / "b" / "serving"
    followed = team.run("b", "follow", "--env", "production", "--dir", str(serving), "--once")
    assert followed.returncode == 0, followed.stdout + followed.stderr
    live = serving / "deploy" / "production" / "m"
    assert {p.name: sha256(p) for p in live.iterdir()} == sums
    assert not (team.root / "a" / "downloads").exists()  # node A never downloaded: it had the files


def test_node_b_registers_with_the_team_variable_and_node_a_loads_it(team: Team) -> None:
    """``MODELREG_ARTIFACT_STORE`` instead of a config.json in the node's cache folder."""
    team.env["b"]["MODELREG_ARTIFACT_STORE"] = team.s3.url("team/models")
    model = estimator_file(team.root / "b" / "files" / "model.joblib")
    digest = sha256(model)
    made = team.run("b", "register", "m", str(model))
    assert made.returncode == 0, made.stderr
    assert not (team.home("b") / "config.json").exists()
    shutil.rmtree(model.parent)
    version = team.info("a", "m:v1")
    assert not version["uploading"] and version["artifacts"][0]["url"] == team.s3.url(f"team/models/sha256/{digest}")
    loaded = team.run("a", "load", "m:v1", "--json")
    assert loaded.returncode == 0, loaded.stderr
    assert sha256(team.root / "a" / "downloads" / "objects" / digest / "model.joblib") == digest


def test_a_failed_upload_stays_marked_and_modelreg_upload_finishes_it(team: Team) -> None:
    store = {"MODELREG_ARTIFACT_STORE": team.s3.url("team/models")}
    model = estimator_file(team.root / "a" / "files" / "model.joblib")
    refused = team.run("a", "register", "m", str(model), env={**store, "AWS_SECRET_ACCESS_KEY": "wrong"})
    one_line(refused, "m:v1 is registered but its artifacts are not all uploaded", "modelreg upload m:v1")
    assert team.info("b", "m:v1")["uploading"] is True
    one_line(team.run("b", "deploy", "m:v1"), "still uploading")
    retried = team.run("a", "upload", "m:v1", env=store)
    assert retried.returncode == 0, retried.stderr
    shutil.rmtree(model.parent)
    version = team.info("b", "m:v1")
    assert not version["uploading"] and version["artifacts"][0]["url"] == team.s3.url(f"team/models/sha256/{version['artifacts'][0]['sha256']}")
    assert team.run("b", "deploy", "m:v1").returncode == 0


def test_a_checkpoint_node_as_watcher_registers_is_uploaded_under_its_sha256_and_followed_by_node_b(team: Team) -> None:
    import signal

    from tests.watch.test_watch_cli import read_line_with

    runs = team.root / "a" / "runs"
    runs.mkdir(parents=True)
    env = {**team.env["a"], "MODELREG_ARTIFACT_STORE": team.s3.url("team")}
    watcher = subprocess.Popen(team.argv("watch", str(runs), "--settle", "0.2", "--model", "wm"), cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoint = runs / "model-epoch1.gguf"
    try:
        read_line_with(watcher, "watching", timeout=60)
        checkpoint.write_bytes(os.urandom(1 << 20))
        digest = sha256(checkpoint)
        assert "wm:v1" in read_line_with(watcher, "registered", timeout=60)
        wait(lambda: bool(team.info("b", "wm:v1")["artifacts"][0].get("url")), "node B to see wm:v1 uploaded")
        watcher.send_signal(signal.SIGINT)
        _, err = watcher.communicate(timeout=30)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert "Traceback" not in err
    shutil.rmtree(runs)
    version = team.info("b", "wm:v1")
    assert not version["uploading"] and version["artifacts"][0]["sha256"] == digest
    assert version["artifacts"][0]["url"] == team.s3.url(f"team/sha256/{digest}")
    assert team.run("b", "deploy", "wm:v1").returncode == 0
    serving = team.root / "b" / "serving"
    followed = team.run("b", "follow", "--env", "production", "--dir", str(serving), "--once")
    assert followed.returncode == 0, followed.stdout + followed.stderr
    assert sha256(serving / "deploy" / "production" / "wm" / checkpoint.name) == digest


def test_a_node_without_an_artifact_store_is_told_its_files_stay_on_it(team: Team) -> None:
    model = estimator_file(team.root / "a" / "files" / "model.joblib")
    made = team.run("a", "register", "m", str(model))
    assert made.returncode == 0 and made.stderr.count("\n") == 1, made.stderr
    assert "m:v1's files stay on this machine" in made.stderr and "MODELREG_ARTIFACT_STORE" in made.stderr
    stored = team.run("a", "register", "m", str(model), env={"MODELREG_ARTIFACT_STORE": team.s3.url("team")})
    assert stored.returncode == 0 and stored.stderr == "", stored.stderr
    assert "url" not in team.info("b", "m:v1")["artifacts"][0] and not team.info("b", "m:v1").get("uploading")


def test_a_bad_team_variable_is_one_line(team: Team) -> None:
    one_line(team.run("a", "list", env={"MODELREG_ARTIFACT_STORE": "bucket/prefix"}),
             "MODELREG_ARTIFACT_STORE", "s3://BUCKET/PREFIX")


def test_an_s3_url_registered_on_the_server_is_its_mlflow_source(team: Team) -> None:
    s3 = team.s3
    model = estimator_file(team.root / "upstream" / "model.joblib")
    digest = sha256(model)
    url = s3.url("published/model.joblib")
    s3.server.filesystem().put_file(str(model), url[len("s3://"):])
    made = team.run("a", "register", "m", url)
    assert made.returncode == 0, made.stderr
    version = team.info("b", "m:v1")
    assert version["artifacts"][0]["path"] == url and version["artifacts"][0]["sha256"] == digest
    assert not version.get("uploading")
    assert mlflow_version(team.url, team.prefix + "m")["source"] == url  # an MLflow client can fetch it

    loaded = team.run("b", "load", "m:v1", "--json")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["estimator"]["class"].endswith("LogisticRegression")
    assert team.run("b", "deploy", "m:v1").returncode == 0
    serving = team.root / "b" / "serving"
    followed = team.run("b", "follow", "--env", "production", "--dir", str(serving), "--once")
    assert followed.returncode == 0, followed.stdout + followed.stderr
    assert sha256(serving / "deploy" / "production" / "m" / "model.joblib") == digest


def test_the_teams_store_set_once_on_the_server_is_used_by_every_node(team: Team) -> None:
    s3 = team.s3
    made = team.run("a", "artifact-store", s3.url("team/shared") + "/")
    assert made.returncode == 0 and "for every machine on this server" in made.stdout, made.stderr
    assert not (team.home("a") / "config.json").exists()  # kept on the server, not on node A
    shown = team.run("b", "artifact-store")
    assert shown.stdout.strip() == f"{s3.url('team/shared')} (from the registry's server (for the whole team))", shown.stderr
    model = estimator_file(team.root / "b" / "files" / "model.joblib")
    digest = sha256(model)
    registered = team.run("b", "register", "m", str(model))
    assert registered.returncode == 0 and registered.stderr == "", registered.stderr  # no "files stay" note
    shutil.rmtree(model.parent)
    version = team.info("a", "m:v1")
    assert not version["uploading"] and version["artifacts"][0]["url"] == s3.url(f"team/shared/sha256/{digest}")
    assert team.run("a", "load", "m:v1", "--json").returncode == 0
    # a machine set apart: its own config.json wins there, and setting the team's store says so
    (team.home("a") / "config.json").write_text(json.dumps({"artifact_store": s3.url("node-a")}))
    again = team.run("a", "artifact-store", s3.url("team/other"))
    assert again.returncode == 0 and f"On this machine {team.home('a') / 'config.json'} wins: {s3.url('node-a')}" in again.stdout
    assert team.run("b", "artifact-store").stdout.startswith(s3.url("team/other") + " ")
    # removed for the team: node B (reopening from its saved replica) is told its files stay with it
    (team.home("a") / "config.json").unlink()
    assert team.run("a", "artifact-store", "--unset").returncode == 0
    other = estimator_file(team.root / "b" / "files" / "other.joblib")
    again = team.run("b", "register", "m", str(other))
    assert again.returncode == 0 and "m:v2's files stay on this machine" in again.stderr
    assert "modelreg artifact-store s3://BUCKET/PREFIX" in again.stderr


def test_the_teams_store_is_not_set_by_a_bad_url_or_read_only(team: Team) -> None:
    one_line(team.run("a", "artifact-store", "team/models"), "not a storage URL", "s3://BUCKET/KEY")
    one_line(team.run("a", "--read-only", "artifact-store", team.s3.url("x")), "--read-only")
    assert team.run("b", "artifact-store").stdout.startswith("No artifact store")


def test_only_a_good_artifact_store_is_taken_from_the_server(team: Team) -> None:
    """Anyone who may write the server can tag its settings model: a deploy hook there is never run,
    and a store that is not a URL is a warning that leaves the command able to set it right."""
    from store.backends.mlflow.backend import MlflowBackend
    from store.backends.mlflow.settings import SETTINGS_MODEL

    backend = MlflowBackend(team.url, prefix=team.prefix)
    backend.put_setting("artifact_store", team.s3.url("team"))
    name = team.prefix + SETTINGS_MODEL
    marker = team.root / "owned"
    for key, value in (("modelreg.deploy_hook", f"touch {marker}"), ("modelreg.artifact_store", "../../etc")):
        backend.client.post("registered-models/set-tag", {"name": name, "key": key, "value": value})
    backend.close()
    model = estimator_file(team.root / "a" / "files" / "model.joblib")
    assert team.run("a", "register", "m", str(model)).returncode == 0
    deployed = team.run("a", "deploy", "m:v1")
    assert deployed.returncode == 0, deployed.stderr
    assert not marker.exists()
    shown = team.run("a", "artifact-store")
    assert shown.returncode == 0 and shown.stdout.startswith("No artifact store")
    assert "the team's artifact store on the server is not usable" in shown.stderr
    fixed = team.run("a", "artifact-store", team.s3.url("team"))
    assert fixed.returncode == 0, fixed.stderr
    assert team.run("b", "artifact-store").stderr == ""
