"""Bundles: export a registry's models to one archive and import them elsewhere, safely."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from store.transfer.bundle import export_bundle, import_bundle
from store.errors import BundleError
from store.registry import Registry
from tui.cli import main

# What an import may change on a version: where its artifacts live, and the import marker.
ARTIFACT_KEYS_KEPT = ("kind", "size", "sha256", "framework")


@pytest.fixture
def source(open_registry: Callable[[str], Registry], tmp_path: Path) -> Registry:
    return fill(open_registry("source"), tmp_path)


@pytest.fixture
def local_source(tmp_path: Path) -> Iterator[Registry]:
    """The same registry, on this machine's backend: for the command line, which opens it by its folder."""
    reg = fill(Registry(tmp_path / "source"), tmp_path)
    yield reg
    reg.close()


def fill(reg: Registry, tmp_path: Path) -> Registry:
    """Give ``reg`` lineage across models, a folder artifact, statuses, tags and deploy history."""
    runs = tmp_path / "runs"
    (runs / "base").mkdir(parents=True)
    (runs / "base" / "model.pkl").write_bytes(b"\x80\x04base-weights" * 500)
    adapter = runs / "chat-v1-adapter"
    (adapter / "tokenizer").mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 16, "lora_alpha": 32}))
    (adapter / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 64)
    (adapter / "tokenizer" / "vocab.txt").write_text("hello\nworld\n")
    (runs / "chat-v2.gguf").write_bytes(b"GGUF" + b"\x01" * 4000)

    reg.register("base", runs / "base" / "model.pkl", "v1", metrics={"accuracy": 0.81}, params={"C": 1.0},
                 tags=["baseline"], training={"framework": "sklearn", "samples": 150}, training_data=["iris"])
    reg.update_model("base", description="the base model", owner="ana", primary_metric="accuracy")
    reg.register("chat", adapter, "v1", parent="base:v1", metrics={"eval_loss": 1.93, "bleu": 21.5},
                 params={"lora": {"r": 16}}, tags=["lora", "candidate"], notes="first adapter",
                 git_commit="abc1234", status="completed", hardware_note="A100 x2")
    reg.register("chat", runs / "chat-v2.gguf", "v2", parent="chat:v1", metrics={"eval_loss": 1.71})
    # Deploy history and a live entry, written through the deploy's entry point (no link: that is deploy's).
    for day, (old, new) in enumerate([(None, "v1"), ("v1", "v2")], start=1):
        reg.switch_live("chat", "production", expected=old, to=new,
                        entry={"env": "production", "model": "chat", "from": old, "to": new, "action": "deploy",
                               "by": "ana@gpu1", "at": f"2026-11-2{day}T10:00:00+00:00", "hook": None, "ok": True,
                               "reason": None}, live_fields={"path": str(runs / "chat-v2.gguf")})
    reg.append_history({"env": "production", "model": "other", "from": None, "to": "v9", "action": "deploy",
                        "by": "x@y", "at": "2026-11-23T00:00:00+00:00", "hook": None, "ok": True, "reason": None})
    reg.set_status("chat:v1", "deprecated")
    return reg


@pytest.fixture
def target(open_registry: Callable[[str], Registry]) -> Registry:
    return open_registry("target")


def docs(reg: Registry) -> dict[str, dict]:
    reg.refresh()
    return {f"{d['model']}:{d['version']}": d for d in reg.all_version_docs()}


def history(reg: Registry) -> list[dict]:
    reg.refresh()
    return sorted(reg.history_entries(), key=lambda d: d["seq"])


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


def test_round_trip_keeps_everything(source: Registry, target: Registry, tmp_path: Path) -> None:
    out = tmp_path / "all.modelreg.tar.gz"
    exported = export_bundle(source, out, everything=True)
    assert exported.versions == ["base:v1", "chat:v1", "chat:v2"] and exported.history == 2 and exported.artifacts == 3
    with tarfile.open(out) as tar:
        assert tar.getnames()[0] == "manifest.json"

    result = import_bundle(target, out)
    assert result.versions == ["base:v1", "chat:v1", "chat:v2"] and result.history == 2

    before, after = docs(source), docs(target)
    assert set(after) == set(before)
    for ref, old in before.items():
        new = dict(after[ref])
        assert new.pop("imported")["from"] == out.name
        for key in set(old) | set(new):
            if key not in ("artifacts", "mlflow"):  # "mlflow": the server's own number and source, given anew
                assert new.get(key) == old.get(key), (ref, key)
        for old_art, new_art in zip(old["artifacts"], new["artifacts"], strict=True):
            assert {k: new_art[k] for k in ARTIFACT_KEYS_KEPT} == {k: old_art[k] for k in ARTIFACT_KEYS_KEPT}
            assert new_art["imported_from"] == old_art["path"]
            path = Path(new_art["path"])
            assert path.is_relative_to(target.path / "artifacts" / "imported")
            assert target.versions_with_artifact(path)[0].ref == ref
    # A folder artifact keeps its tree and bytes; the status, lineage and model metadata survive.
    adapter = Path(after["chat:v1"]["artifacts"][0]["path"])
    assert (adapter / "tokenizer" / "vocab.txt").read_text() == "hello\nworld\n"
    assert target.get("chat:v2").status == "deployed" and target.get("chat:v1").status == "deprecated"
    assert [v.ref for v in target.ancestors("chat:v2")] == ["chat:v1", "base:v1"]
    assert target.model("base").owner == "ana" and target.model("base").primary_metric == "accuracy"
    assert after["chat:v2"]["imported"]["was_live_in"] == ["production"]
    # History comes along marked as imported; nothing is made live.
    assert [(h["from"], h["to"], h["imported"]) for h in history(target)] == [(None, "v1", True), ("v1", "v2", True)]
    assert target.live_map() == {}


def test_conflicts_are_refused_before_anything_is_written(source: Registry, target: Registry, tmp_path: Path) -> None:
    out = tmp_path / "all.tar"
    export_bundle(source, out, everything=True)
    target.register("chat", [], "v2", notes="someone else's v2")
    state, token = docs(target), target.token()
    with pytest.raises(BundleError, match=r"chat:v2 already exist.*never overwritten"):
        import_bundle(target, out)
    assert docs(target) == state and target.token() == token
    assert files_under(target.path / "artifacts" / "imported") == set()

    # Opting in imports the rest; a second run then has nothing left to add.
    result = import_bundle(target, out, skip_existing=True)
    assert result.skipped == ["chat:v2"] and result.versions == ["base:v1", "chat:v1"]
    assert target.get("chat:v2").notes == "someone else's v2"
    again = import_bundle(target, out, skip_existing=True)
    assert again.versions == [] and again.history == 0


def test_a_parent_outside_bundle_and_target_is_refused(source: Registry, target: Registry, tmp_path: Path) -> None:
    alone = tmp_path / "v2.tar"
    export_bundle(source, alone, ["chat:v2"])
    with pytest.raises(BundleError, match=r"parent chat:v1 of chat:v2 is neither in v2.tar nor in this registry"):
        import_bundle(target, alone)
    assert docs(target) == {}

    family = tmp_path / "family.tar"
    assert export_bundle(source, family, ["chat:latest"], with_parents=True).versions == ["base:v1", "chat:v1", "chat:v2"]
    import_bundle(target, family)
    assert target.get("chat:v2").parent == "chat:v1"


def test_a_parent_removed_at_the_source_travels_as_a_retired_name(source: Registry, target: Registry,
                                                                  tmp_path: Path) -> None:
    """remove --force of a parent leaves its child naming it: --with-parents cannot bring it, and the
    import must neither refuse the bundle nor let a later version take the name."""
    source.remove("chat:v1", force=True)
    bundle = tmp_path / "orphan.tar"
    assert export_bundle(source, bundle, ["chat:v2"], with_parents=True).versions == ["chat:v2"]
    import_bundle(target, bundle)
    assert target.get("chat:v2").parent == "chat:v1" and target.model("chat").retired == ("v1",)
    assert target.register("chat").version == "v3"

    again = Registry(tmp_path / "has-chat")  # a target with its own 'chat', which could give v1 away
    again.register("chat")
    again.remove("chat:v1")  # ...unless it retired the name itself
    import_bundle(again, bundle)
    assert again.get("chat:v2").parent == "chat:v1"
    other = Registry(tmp_path / "other-chat")
    other.register("chat", version="v0")
    with pytest.raises(BundleError, match=r"parent chat:v1 of chat:v2 is neither in orphan.tar nor in this registry"):
        import_bundle(other, bundle)


def test_missing_artifacts_are_refused_or_exported_as_metadata(source: Registry, target: Registry, tmp_path: Path) -> None:
    Path(source.get("chat:v2").artifacts[0]["path"]).unlink()
    with pytest.raises(BundleError, match=r"cannot export chat:v2: its artifact .*chat-v2.gguf is missing; pass --allow-missing"):
        export_bundle(source, tmp_path / "x.tar", ["chat"])
    assert not (tmp_path / "x.tar").exists()

    result = export_bundle(source, tmp_path / "x.tar", ["chat"], with_parents=True, allow_missing=True)
    assert result.missing == ["chat:v2"]
    import_bundle(target, tmp_path / "x.tar")
    assert target.get("chat:v2").missing and not target.get("chat:v1").missing


def test_a_changed_artifact_is_not_exported(source: Registry, tmp_path: Path) -> None:
    Path(source.get("base:v1").artifacts[0]["path"]).write_bytes(b"retrained")
    with pytest.raises(BundleError, match=r"cannot export base:v1: its artifact .* changed since it was registered"):
        export_bundle(source, tmp_path / "x.tar", ["base"])


def _rebuild(bundle: Path, out: Path, extra: list[tuple[tarfile.TarInfo, bytes | None]], tamper: str | None = None,
             edit: dict | None = None) -> Path:
    """A copy of ``bundle`` with ``extra`` entries appended, the artifact ``tamper`` overwritten,
    and the JSON documents in ``edit`` changed by their functions."""
    with tarfile.open(bundle) as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if tamper and member.name.startswith(tamper) and member.isfile():
                data = b"X" * len(data)
            if edit and member.name in edit:
                data = json.dumps(edit[member.name](json.loads(data))).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
        for info, data in extra:
            dst.addfile(info, io.BytesIO(data) if data is not None else None)
    return out


def _entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes | None = b"pwned", link: str = "") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if data is not None and kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


SHA = "a" * 64


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (_entry("../evil"), "entry '../evil' points outside the bundle"),
        (_entry(f"artifacts/{SHA}/../../../evil"), "points outside the bundle"),
        (_entry("/tmp/evil-abs"), "entry '/tmp/evil-abs' points outside the bundle"),
        (_entry(f"artifacts/{SHA}/model.pkl", tarfile.SYMTYPE, link="/etc/passwd"), "is a link"),
        (_entry(f"artifacts/{SHA}/model.pkl", tarfile.LNKTYPE, link="/etc/passwd"), "is a link"),
        (_entry(f"artifacts/{SHA}/null", tarfile.CHRTYPE), "is a special file"),
        (_entry("notes.txt"), "unexpected entry 'notes.txt'"),
    ],
)
def test_unsafe_entries_refuse_the_whole_bundle(source: Registry, target: Registry, tmp_path: Path, entry, message: str) -> None:
    good = tmp_path / "good.tar"
    export_bundle(source, good, everything=True)
    bad = _rebuild(good, tmp_path / "bad.tar", [entry])
    with pytest.raises(BundleError, match=message):
        import_bundle(target, bad)
    assert docs(target) == {}
    assert files_under(target.path / "artifacts") <= {"imported"}
    assert not (tmp_path / "evil").exists() and not Path("/tmp/evil-abs").exists()


def test_corrupt_bundles_are_one_line_errors(source: Registry, target: Registry, tmp_path: Path) -> None:
    good = tmp_path / "good.tar.gz"
    export_bundle(source, good, everything=True)
    raw = good.read_bytes()
    cases = {
        "truncated.tar.gz": raw[: len(raw) // 2],
        "garbage.tar": b"this is not an archive at all" * 40,
        "empty.tar": b"",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(BundleError) as caught:
            import_bundle(target, tmp_path / name)
        assert "\n" not in str(caught.value) and name in str(caught.value)
    # A plain tar cut inside an artifact's bytes fails at extraction, still before anything is registered.
    plain = tmp_path / "plain.tar"
    export_bundle(source, plain, everything=True)
    cut = tmp_path / "cut.tar"
    cut.write_bytes(plain.read_bytes()[: plain.stat().st_size - 6000])
    with pytest.raises(BundleError, match="corrupt or truncated|truncated or damaged"):
        import_bundle(target, cut)
    assert docs(target) == {} and files_under(target.path / "artifacts") <= {"imported"}


def test_an_artifact_that_fails_its_hash_registers_nothing(source: Registry, target: Registry, tmp_path: Path) -> None:
    good = tmp_path / "good.tar"
    export_bundle(source, good, everything=True)
    sha = source.get("chat:v2").artifacts[0]["sha256"]
    bad = _rebuild(good, tmp_path / "tampered.tar", [], tamper=f"artifacts/{sha}")
    with pytest.raises(BundleError, match=r"does not match its sha256"):
        import_bundle(target, bad)
    assert docs(target) == {} and files_under(target.path / "artifacts") <= {"imported"}


def test_export_and_import_from_the_command_line(
    local_source: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "chat.tar"
    local_source.close()
    assert main(["--registry", str(local_source.path), "export", "chat", str(out), "--with-parents"]) == 0
    assert "Exported 3 versions of 2 models" in capsys.readouterr().out

    # A relative --registry still records absolute artifact paths.
    monkeypatch.chdir(tmp_path)
    target = "cli-target"
    assert main(["--registry", target, "init"]) == 0
    capsys.readouterr()
    assert main(["--registry", target, "import", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "bundle" and report["versions"] == ["base:v1", "chat:v1", "chat:v2"]
    with Registry(tmp_path / target) as imported:
        path = Path(imported.get("chat:v1").artifacts[0]["path"])
        assert path.is_absolute() and (path / "tokenizer" / "vocab.txt").is_file()

    assert main(["--registry", target, "import", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("modelreg: error: base:v1, chat:v1, chat:v2 already exist") and err.count("\n") == 1

    assert main(["--registry", str(local_source.path), "export", "--all", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["--registry", str(local_source.path), "export", "nope", str(tmp_path / "n.tar")]) == 1
    assert "unknown model 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("manifest.json", lambda m: {**m, "format_version": 99}, "uses bundle format 99; this modelreg reads up to 1"),
        ("manifest.json", lambda m: {**m, "format": "zip"}, "is not a modelreg bundle"),
        ("versions.json", lambda vs: [{**vs[0], "status": "shipped"}, *vs[1:]], "a version document is invalid"),
        ("versions.json", lambda vs: [{**vs[0], "version": "../v1"}, *vs[1:]], "a version document is invalid"),
        ("history.json", lambda hs: [{"model": "chat", "seq": 1}], "a history entry lacks action, at, env, from, ok, to"),
    ],
)
def test_damaged_documents_are_refused(source: Registry, target: Registry, tmp_path: Path, name: str, change, message: str) -> None:
    good = tmp_path / "good.tar"
    export_bundle(source, good, everything=True)
    with pytest.raises(BundleError, match=message):
        import_bundle(target, _rebuild(good, tmp_path / "bad.tar", [], edit={name: change}))
    assert docs(target) == {} and files_under(target.path / "artifacts") <= {"imported"}
