"""The same promises on every object store modelreg reads: ``s3://`` (moto), ``gs://``
(gcp-storage-emulator) and ``az://`` (Azurite), each a real server. Hostile cases first."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import joblib
import pytest

from store.artifacts import content_hash
from store.backends.objects.cache import cache_root
from store.errors import ArtifactError, DeployError, UnsafeArtifact
from store.registry import Registry
from tests.servers.buckets import Bucket

TINY = {"weights": [1.0, 2.0, 3.0], "name": "tiny"}


class _Evil:
    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, ("echo owned",))


def joblib_bytes(tmp_path: Path, value: object = TINY) -> bytes:
    path = tmp_path / "made.joblib"
    joblib.dump(value, path)
    return path.read_bytes()


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    registry = Registry(tmp_path / "registry")
    yield registry
    registry.close()


def forget_downloads() -> None:
    """As another machine: nothing in the download cache."""
    if (cache_root() / "objects").is_dir():
        shutil.rmtree(cache_root() / "objects")


# -- hostile cases ----------------------------------------------------------------------------------


def test_a_tampered_object_is_refused_after_download_and_never_cached(reg: Registry, bucket: Bucket, tmp_path: Path) -> None:
    bucket.fs.pipe_file(bucket.path("model.joblib"), joblib_bytes(tmp_path))
    version = reg.register("m", bucket.url("model.joblib"))
    forget_downloads()
    bucket.fs.pipe_file(bucket.path("model.joblib"), joblib_bytes(tmp_path, {"weights": [6.0, 6.0, 6.0], "name": "evil"}))
    with pytest.raises(ArtifactError, match="tampered") as error:
        reg.load(version.ref)
    assert "\n" not in str(error.value) and bucket.url("model.joblib") in str(error.value)
    assert not (cache_root() / "objects").is_dir() or not any((cache_root() / "objects").iterdir())


def test_an_unsafe_pickle_is_judged_by_the_same_scan(reg: Registry, bucket: Bucket) -> None:
    bucket.fs.pipe_file(bucket.path("evil.pkl"), pickle.dumps(_Evil()))
    version = reg.register("m", bucket.url("evil.pkl"))
    assert version.scan["safe"] is False and "system" in version.scan["reason"]
    with pytest.raises(UnsafeArtifact):
        reg.load(version.ref)
    with pytest.raises(DeployError, match="safety scan"):
        reg.deploy(version.ref)


def test_a_key_holding_other_bytes_is_never_overwritten(reg: Registry, bucket: Bucket, tmp_path: Path) -> None:
    ours = tmp_path / "ours.bin"
    ours.write_bytes(b"our weights" * 1000)
    sha = content_hash(ours)
    bucket.fs.pipe_file(bucket.path(f"store/sha256/{sha}"), b"somebody else's bytes")
    with pytest.raises(ArtifactError, match="already exists with other bytes; modelreg never overwrites"):
        reg.artifacts.put(ours, sha, to=bucket.url("store"))
    assert bucket.fs.cat_file(bucket.path(f"store/sha256/{sha}")) == b"somebody else's bytes"


def test_odd_keys_are_refused_in_one_line_before_anything_is_read(reg: Registry, bucket: Bucket) -> None:
    for key in ("../x.joblib", "a/./x.joblib", "/x.joblib", "a\\..\\x.joblib", "a\x01b.joblib"):
        with pytest.raises(ArtifactError) as error:
            reg.register("m", bucket.url(key))
        assert "\n" not in str(error.value) and f"{bucket.scheme}://" in str(error.value)
    assert reg.models() == []


@pytest.mark.parametrize("where", ["{b}/nothing-here.joblib", "no-such-bucket-x/model.joblib"])
def test_a_missing_bucket_or_key_says_so_in_one_line(reg: Registry, bucket: Bucket, where: str) -> None:
    with pytest.raises(ArtifactError, match="does not exist \\(check the bucket and key\\)") as error:
        reg.register("m", f"{bucket.scheme}://" + where.format(b=bucket.name))
    assert "\n" not in str(error.value)
    assert reg.models() == []


# -- what works --------------------------------------------------------------------------------------


def test_a_url_is_recorded_checked_loaded_and_deployed(reg: Registry, bucket: Bucket, tmp_path: Path) -> None:
    data = joblib_bytes(tmp_path)
    bucket.fs.pipe_file(bucket.path("models/model.joblib"), data)
    version = reg.register("m", bucket.url("models/model.joblib"))
    (artifact,) = version.artifacts
    assert artifact["path"] == bucket.url("models/model.joblib")
    assert artifact["size"] == len(data) and artifact["sha256"] == hashlib.sha256(data).hexdigest()
    assert artifact["framework"] == "sklearn" and version.scan["safe"] is True
    forget_downloads()
    assert reg.load(version.ref) == TINY
    assert reg.check_artifacts("m", verify=True) == [{"ref": version.ref, "missing": False, "reason": None}]
    assert reg.deploy(version.ref)["to"] == version.version
    assert (reg.path / "deploy" / "production" / "m" / "model.joblib").read_bytes() == data


def test_a_folder_is_one_artifact_hashed_like_a_local_folder(reg: Registry, bucket: Bucket, tmp_path: Path) -> None:
    local = tmp_path / "adapter"
    (local / "sub").mkdir(parents=True)
    (local / "adapter_config.json").write_text('{"r": 8}')
    (local / "sub" / "weights.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    for file in (local / "adapter_config.json", local / "sub" / "weights.safetensors"):
        bucket.fs.pipe_file(bucket.path("adapter/" + file.relative_to(local).as_posix()), file.read_bytes())
    version = reg.register("m", bucket.url("adapter/"))
    (artifact,) = version.artifacts
    assert artifact["kind"] == "dir" and artifact["sha256"] == content_hash(local) and artifact["framework"] == "peft"
    forget_downloads()
    (path,) = reg.load(version.ref)
    assert (path / "adapter_config.json").read_text() == '{"r": 8}'


def test_a_removed_object_shows_as_missing_in_check(reg: Registry, bucket: Bucket, tmp_path: Path) -> None:
    bucket.fs.pipe_file(bucket.path("model.joblib"), joblib_bytes(tmp_path))
    version = reg.register("m", bucket.url("model.joblib"))
    bucket.fs.rm(bucket.path("model.joblib"))
    (row,) = reg.check_artifacts("m")
    assert row["missing"] and row["reason"] == f"artifact {bucket.url('model.joblib')} is missing"
    assert reg.get(version.ref).missing


def test_local_files_upload_under_their_sha256_once_and_load_when_the_originals_are_gone(
        tmp_path: Path, bucket: Bucket) -> None:
    home = tmp_path / "registry"
    Registry(home).close()
    (home / "config.json").write_text(json.dumps({"artifact_store": bucket.url("team/models")}))
    model = tmp_path / "run" / "model.joblib"
    model.parent.mkdir()
    model.write_bytes(joblib_bytes(tmp_path))
    digest = content_hash(model)
    with Registry(home) as reg:
        version = reg.register("m", model)
        assert not version.uploading and version.artifacts[0]["url"] == bucket.url(f"team/models/sha256/{digest}")
        assert bucket.fs.cat_file(bucket.path(f"team/models/sha256/{digest}")) == model.read_bytes()
        assert reg.register("m", model).artifacts[0]["url"] == version.artifacts[0]["url"]  # the same bytes: kept
        model.unlink()  # the training host rotated its checkpoint
        forget_downloads()
        assert reg.load(version.ref) == TINY


@pytest.mark.parametrize("bucket", ["s3", "az"], indirect=True)  # gcp-storage-emulator checks no credentials
def test_wrong_credentials_say_so_and_name_the_stores_own_variables(reg: Registry, bucket: Bucket, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    bucket.fs.pipe_file(bucket.path("model.joblib"), joblib_bytes(tmp_path))
    if bucket.scheme == "s3":
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        named = "AWS_ACCESS_KEY_ID"
    else:
        good = bucket.server.connection_string
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", good.replace("AccountKey=Eby8", "AccountKey=Xby8"))
        named = "AZURE_STORAGE_CONNECTION_STRING"
    with pytest.raises(ArtifactError, match="access denied") as error:
        reg.register("m", bucket.url("model.joblib"))
    assert "\n" not in str(error.value) and named in str(error.value) and "check the credentials" in str(error.value)
