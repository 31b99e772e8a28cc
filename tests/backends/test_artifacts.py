"""The artifact store behind the seam, against a real S3 (moto's server): register s3:// paths,
write-once uploads, verified downloads, the cache, and the one-line errors. Hostile cases first."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
from pathlib import Path

import joblib
import pytest

from store.artifacts import content_hash
from store.backends.artifacts import ArtifactStore, FileArtifacts
from store.backends.objects.cache import cache_root
from store.errors import ArtifactError, DeployError, UnsafeArtifact
from store.registry import Registry


def _joblib_bytes(tmp_path: Path, value: object = None) -> bytes:
    path = tmp_path / "made.joblib"
    joblib.dump(value if value is not None else {"weights": [1.0, 2.0, 3.0], "name": "tiny"}, path)
    return path.read_bytes()


class _Evil:
    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, ("echo owned",))


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    registry = Registry(tmp_path / "registry")
    yield registry
    registry.close()


def _cached_objects() -> list[Path]:
    folder = cache_root() / "objects"
    return sorted(folder.iterdir()) if folder.is_dir() else []


# -- hostile cases ----------------------------------------------------------------------------------


def test_a_tampered_object_is_refused_after_download_and_never_cached(reg: Registry, s3, tmp_path: Path) -> None:
    fs = s3.server.filesystem()
    fs.pipe_file(f"{s3.name}/model.joblib", _joblib_bytes(tmp_path))
    version = reg.register("m", s3.url("model.joblib"))
    for entry in _cached_objects():  # another machine: nothing cached yet
        import shutil
        shutil.rmtree(entry)
    fs.pipe_file(f"{s3.name}/model.joblib", _joblib_bytes(tmp_path, {"weights": [6.0, 6.0, 6.0], "name": "evil"}))
    with pytest.raises(ArtifactError, match="refusing s3://.*tampered") as error:
        reg.load(version.ref)
    assert "\n" not in str(error.value)
    assert _cached_objects() == []
    assert not any((cache_root() / "tmp").iterdir())  # the refused download left nothing behind


def test_a_key_holding_other_bytes_is_never_overwritten(reg: Registry, s3, tmp_path: Path) -> None:
    ours = tmp_path / "ours.bin"
    ours.write_bytes(b"our weights" * 1000)
    sha = content_hash(ours)
    fs = s3.server.filesystem()
    fs.pipe_file(f"{s3.name}/store/sha256/{sha}", b"somebody else's bytes")
    with pytest.raises(ArtifactError, match="already exists with other bytes; modelreg never overwrites"):
        reg.artifacts.put(ours, sha, to=s3.url("store"))
    assert fs.cat_file(f"{s3.name}/store/sha256/{sha}") == b"somebody else's bytes"


def test_a_key_holding_the_same_bytes_is_kept_as_it_is(reg: Registry, s3, tmp_path: Path) -> None:
    ours = tmp_path / "ours.bin"
    ours.write_bytes(b"our weights" * 1000)
    sha = content_hash(ours)
    fs = s3.server.filesystem(version_aware=True)
    fs.make_bucket_versioned(s3.name)  # every write would leave a version behind
    url = reg.artifacts.put(ours, sha, to=s3.url("store"))
    assert reg.artifacts.put(ours, sha, to=s3.url("store")) == url == s3.url(f"store/sha256/{sha}")
    assert len(fs.object_version_info(f"{s3.name}/store/sha256/{sha}")) == 1  # written once


@pytest.mark.parametrize("url", ["s3://{b}/../x.joblib", "s3://{b}/a/./x.joblib", "s3://{b}//x.joblib",
                                 "s3://../x.joblib", "s3://{b}/a\\..\\x.joblib", "s3://{b}/a\x01b.joblib",
                                 "ftp://{b}/x.joblib"])
def test_odd_urls_are_refused_in_one_line_before_anything_is_read(reg: Registry, s3, url: str) -> None:
    with pytest.raises(ArtifactError) as error:
        reg.register("m", url.format(b=s3.name))
    assert "\n" not in str(error.value) and ("s3://" in str(error.value) or "ftp" in str(error.value))
    assert reg.models() == []


def test_a_symlink_planted_in_the_cache_is_replaced_by_the_verified_bytes(reg: Registry, s3, tmp_path: Path) -> None:
    data = _joblib_bytes(tmp_path)
    s3.server.filesystem().pipe_file(f"{s3.name}/model.joblib", data)
    version = reg.register("m", s3.url("model.joblib"))
    cached = reg.artifacts.materialize(version.artifacts[0])
    decoy = tmp_path / "decoy.joblib"
    decoy.write_bytes(b"x" * len(data))
    cached.unlink()
    cached.symlink_to(decoy)
    again = reg.artifacts.materialize(version.artifacts[0])
    assert not again.is_symlink() and again.read_bytes() == data
    assert reg.load(version.ref) == {"weights": [1.0, 2.0, 3.0], "name": "tiny"}


def test_a_cache_folder_that_is_a_symlink_is_refused_in_one_line(reg: Registry, s3, tmp_path: Path) -> None:
    s3.server.filesystem().pipe_file(f"{s3.name}/model.joblib", _joblib_bytes(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cache_root().mkdir(parents=True)
    (cache_root() / "objects").symlink_to(elsewhere)
    with pytest.raises(ArtifactError, match="is a symlink or not a folder"):
        reg.register("m", s3.url("model.joblib"))
    assert list(elsewhere.iterdir()) == []


def test_a_version_still_uploading_is_refused_by_deploy_in_one_line(tmp_path: Path, s3, capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    reg = Registry(tmp_path / "registry")
    (reg.path / "config.json").write_text(json.dumps({"artifact_store": "s3://no-such-bucket/models"}))
    reg.close()
    reg = Registry(tmp_path / "registry")
    weights = tmp_path / "weights.gguf"
    weights.write_bytes(b"gguf" * 1000)
    with pytest.raises(ArtifactError, match="m:v1 is registered but its artifacts are not all uploaded"):
        reg.register("m", weights)
    assert reg.get("m:v1").uploading
    with pytest.raises(DeployError) as error:
        reg.deploy("m:v1")
    assert "still uploading" in str(error.value) and "\n" not in str(error.value)
    assert reg.live_map("m") == {}
    assert main(["--registry", str(reg.path), "info", "m:v1"]) == 0
    assert "UPLOADING: not deployable until its artifacts are on object storage" in capsys.readouterr().out
    (reg.path / "config.json").write_text(json.dumps({"artifact_store": s3.url("models")}))
    reg.close()
    reg = Registry(tmp_path / "registry")
    done = reg.upload("m:v1")  # the retry the message names
    assert not done.uploading
    assert done.artifacts[0]["url"] == s3.url(f"models/sha256/{content_hash(weights)}")
    assert reg.deploy("m:v1")["to"] == "v1"
    reg.close()


# -- one clear line for what the user must fix ----------------------------------------------------------


def test_a_missing_extra_names_the_extra_to_install(reg: Registry, s3, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fsspec", None)  # as if modelreg[s3] were not installed
    with pytest.raises(ArtifactError, match=r"s3:// artifacts need the optional extra: pip install 'modelreg\[s3\]'"):
        reg.register("m", s3.url("model.joblib"))


def test_wrong_credentials_say_so(reg: Registry, s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s3.server.filesystem().pipe_file(f"{s3.name}/model.joblib", _joblib_bytes(tmp_path))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(ArtifactError, match="access denied .*check the credentials") as error:
        reg.register("m", s3.url("model.joblib"))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("where", ["{b}/nothing-here.joblib", "no-such-bucket-x/model.joblib"])
def test_a_missing_bucket_or_key_says_so(reg: Registry, s3, where: str) -> None:
    with pytest.raises(ArtifactError, match="does not exist \\(check the bucket and key\\)"):
        reg.register("m", "s3://" + where.format(b=s3.name))


# -- what works --------------------------------------------------------------------------------------


def test_every_backend_exposes_an_artifact_store(registry: Registry) -> None:
    assert isinstance(registry.backend.artifacts, ArtifactStore)
    assert registry.artifacts is registry.backend.artifacts


def test_register_an_s3_path_records_checks_and_loads_it(reg: Registry, s3, tmp_path: Path) -> None:
    data = _joblib_bytes(tmp_path)
    s3.server.filesystem().pipe_file(f"{s3.name}/models/model.joblib", data)
    version = reg.register("m", s3.url("models/model.joblib"))
    (artifact,) = version.artifacts
    assert artifact["path"] == s3.url("models/model.joblib")
    assert artifact["size"] == len(data) and artifact["sha256"] == hashlib.sha256(data).hexdigest()
    assert artifact["kind"] == "file" and artifact["framework"] == "sklearn"
    assert version.scan["safe"] is True
    assert reg.load(version.ref) == {"weights": [1.0, 2.0, 3.0], "name": "tiny"}
    assert reg.check_artifacts("m") == [{"ref": version.ref, "missing": False, "reason": None}]
    entry = reg.deploy(version.ref)
    linked = reg.path / "deploy" / "production" / "m" / "model.joblib"
    assert entry["to"] == version.version and linked.read_bytes() == data


def test_a_folder_on_s3_is_one_artifact_hashed_like_a_local_folder(reg: Registry, s3, tmp_path: Path) -> None:
    local = tmp_path / "adapter"
    (local / "sub").mkdir(parents=True)
    (local / "adapter_config.json").write_text('{"r": 8}')
    (local / "sub" / "weights.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    fs = s3.server.filesystem()
    fs.put(str(local), f"{s3.name}/adapter", recursive=True)
    version = reg.register("m", s3.url("adapter/"))
    (artifact,) = version.artifacts
    assert artifact["kind"] == "dir" and artifact["sha256"] == content_hash(local)
    assert artifact["framework"] == "peft"
    (path,) = reg.load(version.ref)
    assert (path / "adapter_config.json").read_text() == '{"r": 8}'


def test_uploaded_artifacts_load_from_the_bucket_once_the_originals_are_gone(tmp_path: Path, s3) -> None:
    reg = Registry(tmp_path / "registry")
    (reg.path / "config.json").write_text(json.dumps({"artifact_store": s3.url("team/models")}))
    reg.close()
    reg = Registry(tmp_path / "registry")
    model = tmp_path / "run" / "model.joblib"
    model.parent.mkdir()
    model.write_bytes(_joblib_bytes(tmp_path))
    version = reg.register("m", model)
    assert not version.uploading
    url = version.artifacts[0]["url"]
    assert s3.server.filesystem().cat_file(url.removeprefix("s3://")) == model.read_bytes()
    model.unlink()  # the training host rotated its checkpoint
    assert reg.load(version.ref) == {"weights": [1.0, 2.0, 3.0], "name": "tiny"}
    reg.close()


def test_modelreg_artifact_store_wins_over_config_json(tmp_path: Path, s3, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / "config.json").write_text(json.dumps({"artifact_store": s3.url("from-config")}))
    monkeypatch.setenv("MODELREG_ARTIFACT_STORE", s3.url("from-variable") + "/")
    reg = Registry(tmp_path / "registry")
    model = tmp_path / "model.joblib"
    model.write_bytes(_joblib_bytes(tmp_path))
    version = reg.register("m", model)
    assert version.artifacts[0]["url"] == s3.url(f"from-variable/sha256/{content_hash(model)}")
    reg.close()


def test_the_cli_registers_and_shows_an_s3_path(tmp_path: Path, s3) -> None:
    from tui.cli import main

    s3.server.filesystem().pipe_file(f"{s3.name}/model.joblib", _joblib_bytes(tmp_path))
    Registry(tmp_path / "registry").close()
    assert main(["--registry", str(tmp_path / "registry"), "register", "m", s3.url("model.joblib")]) == 0
    with Registry(tmp_path / "registry") as reg:
        assert reg.get("m:latest").artifacts[0]["path"] == s3.url("model.joblib")


def test_local_files_are_read_where_they_are(reg: Registry, artifact: Path) -> None:
    """Today's behaviour: no copy, no download, no cache."""
    version = reg.register("m", artifact)
    assert reg.artifacts.materialize(version.artifacts[0]) == artifact
    assert isinstance(reg.artifacts, FileArtifacts) and reg.artifacts._remote is None
    assert not cache_root().exists()


def test_fsspec_is_imported_only_when_a_url_is_used() -> None:
    import subprocess

    code = ("import sys, store, store.registry, tui.cli\n"
            "from store.registry import Registry\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fsspec', 's3fs', 'botocore', 'aiobotocore')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_watchers_versions_upload_with_the_sha256_it_computed(tmp_path: Path, s3) -> None:
    """A checkpoint the watcher registers appears first, marked uploading until its bytes are on S3."""
    import time

    from store.watch import Watcher

    path = tmp_path / "registry"
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"artifact_store": s3.url("team"), "watch": {"poll_interval": 0.1}}))
    reg = Registry(path)
    runs = tmp_path / "runs"
    runs.mkdir()
    watcher = Watcher(reg, [runs], poll=True, settle=0.3)
    watcher.start()
    try:
        assert watcher.idle(20)
        checkpoint = runs / "model-epoch1.gguf"
        checkpoint.write_bytes(os.urandom(1 << 20))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            reg.refresh()
            found = reg.find()
            if found and not found[0].uploading and found[0].artifacts and found[0].artifacts[0].get("url"):
                break
            time.sleep(0.05)
    finally:
        watcher.stop()
    (version,) = reg.find()
    sha = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert not version.uploading and version.artifacts[0]["sha256"] == sha
    assert version.artifacts[0]["url"] == s3.url(f"team/sha256/{sha}")
    assert s3.server.filesystem().cat_file(f"{s3.name}/team/sha256/{sha}") == checkpoint.read_bytes()
    assert reg.deploy(version.ref)["ok"]
    reg.close()


def test_an_s3_file_can_be_attached_with_a_role(reg: Registry, s3, tmp_path: Path, artifact: Path) -> None:
    s3.server.filesystem().pipe_file(f"{s3.name}/evil.pkl", pickle.dumps(_Evil()))
    s3.server.filesystem().pipe_file(f"{s3.name}/model.joblib", _joblib_bytes(tmp_path))
    version = reg.register("m", {"weights": s3.url("model.joblib")})
    assert version.artifacts[0]["role"] == "weights" and version.scan["safe"]
    attached = reg.update(version.ref, artifacts=[s3.url("evil.pkl")])
    assert [a["path"] for a in attached.artifacts] == [s3.url("model.joblib"), s3.url("evil.pkl")]
    assert attached.scan["safe"] is False  # judged on the downloaded bytes, the worse verdict wins


def test_the_same_bytes_under_two_names_share_one_cache_entry(reg: Registry, s3, tmp_path: Path) -> None:
    data = _joblib_bytes(tmp_path)
    for name in ("a.joblib", "b.joblib"):
        s3.server.filesystem().pipe_file(f"{s3.name}/{name}", data)
    first = reg.register("m", s3.url("a.joblib"))
    second = reg.register("m", s3.url("b.joblib"))
    (entry,) = _cached_objects()
    assert sorted(p.name for p in entry.iterdir()) == ["a.joblib", "b.joblib"]
    assert reg.load(first.ref) == reg.load(second.ref) == {"weights": [1.0, 2.0, 3.0], "name": "tiny"}


def test_a_cached_copy_of_the_wrong_size_is_fetched_again(reg: Registry, s3, tmp_path: Path) -> None:
    data = _joblib_bytes(tmp_path)
    s3.server.filesystem().pipe_file(f"{s3.name}/model.joblib", data)
    version = reg.register("m", s3.url("model.joblib"))
    cached = reg.artifacts.materialize(version.artifacts[0])
    cached.write_bytes(data[:-10])  # damaged on this disk
    assert reg.artifacts.materialize(version.artifacts[0]).read_bytes() == data


def test_a_folder_in_the_cache_holding_a_symlink_is_fetched_again(reg: Registry, s3, tmp_path: Path) -> None:
    local = tmp_path / "adapter"
    local.mkdir()
    (local / "adapter_config.json").write_text('{"r": 8}')
    s3.server.filesystem().put(str(local), f"{s3.name}/adapter", recursive=True)
    version = reg.register("m", s3.url("adapter"))
    cached = reg.artifacts.materialize(version.artifacts[0])
    (cached / "adapter_config.json").unlink()
    (cached / "adapter_config.json").symlink_to("/etc/hostname")
    again = reg.artifacts.materialize(version.artifacts[0])
    assert not (again / "adapter_config.json").is_symlink()
    assert (again / "adapter_config.json").read_text() == '{"r": 8}'


@pytest.mark.parametrize("url, extra, module, protocol", [("gs://bucket/model.joblib", "gcs", "gcsfs", "gcs"),
                                                      ("az://container/model.joblib", "azure", "adlfs", "az")])
def test_other_stores_name_their_own_extra_when_it_is_missing(reg: Registry, url: str, extra: str, module: str,
                                                              protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    classes = importlib.import_module("fsspec.registry")._registry  # fsspec keeps the classes it imported
    monkeypatch.setitem(sys.modules, module, None)  # as if modelreg[gcs] / modelreg[azure] were not installed
    monkeypatch.delitem(classes, protocol, raising=False)
    with pytest.raises(ArtifactError, match=rf"need the optional extra: pip install 'modelreg\[{extra}\]'"):
        reg.register("m", url)


def test_aws_endpoint_url_s3_wins_over_aws_endpoint_url(reg: Registry, s3, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    s3.server.filesystem().pipe_file(f"{s3.name}/model.joblib", _joblib_bytes(tmp_path))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.server.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    assert reg.register("m", s3.url("model.joblib")).artifacts[0]["size"] > 0


def test_artifact_store_sets_config_json_keeping_its_other_settings(tmp_path: Path, s3, capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from tui.cli import main

    home = tmp_path / "registry"
    Registry(home).close()
    (home / "config.json").write_text(json.dumps({"environments": ["production", "canary"], "deploy_hook": "true"}))
    cli = ["--registry", str(home)]
    assert main([*cli, "artifact-store"]) == 0
    assert "No artifact store" in capsys.readouterr().out
    assert main([*cli, "artifact-store", s3.url("models") + "/"]) == 0
    assert f"in {home / 'config.json'}" in capsys.readouterr().out
    assert json.loads((home / "config.json").read_text()) == {
        "environments": ["production", "canary"], "deploy_hook": "true", "artifact_store": s3.url("models")}
    assert main([*cli, "artifact-store"]) == 0
    assert capsys.readouterr().out.strip() == f"{s3.url('models')} (from {home / 'config.json'})"
    model = tmp_path / "model.joblib"
    model.write_bytes(_joblib_bytes(tmp_path))
    with Registry(home) as reg:
        assert reg.register("m", model).artifacts[0]["url"] == s3.url(f"models/sha256/{content_hash(model)}")
    monkeypatch.setenv("MODELREG_ARTIFACT_STORE", s3.url("mine"))
    assert main([*cli, "artifact-store"]) == 0
    assert capsys.readouterr().out.strip() == f"{s3.url('mine')} (from MODELREG_ARTIFACT_STORE)"
    assert main([*cli, "artifact-store", s3.url("models")]) == 0  # set again: the variable still wins, and is named
    assert capsys.readouterr().out.splitlines()[-1] == f"On this machine MODELREG_ARTIFACT_STORE wins: {s3.url('mine')}"
    monkeypatch.delenv("MODELREG_ARTIFACT_STORE")
    assert main([*cli, "artifact-store", "--unset"]) == 0
    assert json.loads((home / "config.json").read_text()) == {"environments": ["production", "canary"], "deploy_hook": "true"}


def test_artifact_store_writes_a_linked_config_json_where_it_is(tmp_path: Path) -> None:
    from tui.cli import main

    home = tmp_path / "registry"
    Registry(home).close()
    dotfiles = tmp_path / "dotfiles" / "config.json"
    dotfiles.parent.mkdir()
    dotfiles.write_text('{"deploy_hook": "true"}')
    (home / "config.json").unlink(missing_ok=True)
    (home / "config.json").symlink_to(dotfiles)
    assert main(["--registry", str(home), "artifact-store", "s3://bucket/models"]) == 0
    assert (home / "config.json").is_symlink()
    assert json.loads(dotfiles.read_text()) == {"deploy_hook": "true", "artifact_store": "s3://bucket/models"}


@pytest.mark.parametrize("args, words", [
    (["bucket/prefix"], ["'bucket/prefix' is not a storage URL", "s3://BUCKET/KEY"]),
    ([""], ["'' is not a storage URL"]),
    (["ftp://host/models"], ["does not read ftp://", "s3://"]),
    (["s3://b/../../etc"], ["'..'"]),
    (["s3://b/p", "--unset"], ["a URL or --unset, not both"]),
])
def test_a_bad_artifact_store_is_one_line_and_writes_nothing(tmp_path: Path, args: list[str], words: list[str]) -> None:
    import subprocess

    home = tmp_path / "registry"
    Registry(home).close()
    (home / "config.json").write_text('{"deploy_hook": "true"}')
    result = subprocess.run([sys.executable, "-m", "tui.cli", "--registry", str(home), "artifact-store", *args],
                            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=60)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in lines[0]
    assert (home / "config.json").read_text() == '{"deploy_hook": "true"}'


def test_read_only_shows_the_artifact_store_but_refuses_to_set_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    home = tmp_path / "registry"
    Registry(home).close()
    assert main(["--registry", str(home), "--read-only", "artifact-store"]) == 0
    assert main(["--registry", str(home), "--read-only", "artifact-store", "s3://b/p"]) == 1
    assert "--read-only: 'artifact-store' would change the registry" in capsys.readouterr().err
    assert not (home / "config.json").exists() or "artifact_store" not in (home / "config.json").read_text()
