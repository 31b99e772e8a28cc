"""Deploy, rollback, history and missing artifacts, on real files (store/deploy.py, store/pinning.py)."""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path

import pytest

from store.deploy import deploy as deploy_module
from store.errors import BadTransition, DeployError, UnknownVersion
from store.registry import Registry
from tui.cli import main


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def register(reg: Registry, tmp_path: Path, n: int, model: str = "m", **kwargs) -> list[Path]:
    """Versions v1..vn of ``model``, each a file runs/<model>/vK/model.bin holding b"weights-K".

    The fake weights start with a byte that is no pickle opcode: raw blobs, which the safety
    scan passes (a blob starting with an opcode is "not judged" and refused without --trust)."""
    paths = []
    for k in range(1, n + 1):
        path = write(tmp_path / "runs" / model / f"v{k}" / "model.bin", f"weights-{k}".encode() * 100)
        reg.register(model, [path], **kwargs)
        paths.append(path)
    return paths


def served(reg: Registry, model: str = "m", env: str = "production", name: str = "model.bin") -> bytes:
    """What a serving process reads through the deploy link."""
    return (reg.path / "deploy" / env / model / name).read_bytes()


def configure(reg_path: Path, **settings) -> Registry:
    reg_path.mkdir(parents=True, exist_ok=True)
    (reg_path / "config.json").write_text(json.dumps(settings))
    return Registry(reg_path)


def statuses(reg: Registry, model: str = "m") -> dict[str, str]:
    return {v.version: v.status for v in reg.versions(model)}


# -- deploying ----------------------------------------------------------------------------------------


def test_deploy_switches_link_records_history_and_statuses(registry: Registry, tmp_path: Path) -> None:
    register(registry, tmp_path, 2)
    first = registry.deploy("m:v1")
    assert first["from"] is None and first["to"] == "v1" and first["ok"] and first["action"] == "deploy"
    assert served(registry) == b"weights-1" * 100
    second = registry.deploy("m:v2")
    assert (second["from"], second["to"], second["env"]) == ("v1", "v2", "production")
    assert served(registry) == b"weights-2" * 100
    assert statuses(registry) == {"v1": "completed", "v2": "deployed"}
    assert registry.live("m").version == "v2" and registry.live_map("m") == {"production": "v2"}
    assert registry.get("m:production").version == "v2" and registry.resolve("m:production") == "m:v2"
    [one, two] = registry.history("m")
    assert one["seq"] < two["seq"] and set(two) >= {"seq", "env", "model", "from", "to", "action", "by", "at", "hook", "ok", "reason"}
    assert "@" in two["by"] and two["hook"] is None
    live = next(iter(registry.live_entries()))
    assert Path(live["path"]).read_bytes() == b"weights-2" * 100 and Path(live["path"]).name == "model.bin"


def test_a_live_version_is_never_removed_even_with_force(registry: Registry, tmp_path: Path) -> None:
    """Removing what serves would leave the link serving a version the registry no longer names, and
    nothing in the history saying so."""
    register(registry, tmp_path, 2)
    registry.deploy("m:v2")
    for force in (False, True):
        with pytest.raises(Exception, match="m:v2 is live in production; deploy another version there"):
            registry.remove("m:v2", force=force)
    assert served(registry) == b"weights-2" * 100 and registry.live("m").version == "v2"
    assert len(registry.history("m")) == 1
    registry.deploy("m:v1")
    registry.remove("m:v2")  # no longer live: removed, and its name retired
    assert registry.register("m").version == "v3"
    assert [e["to"] for e in registry.history("m")] == ["v2", "v1"]


def test_remove_force_of_a_live_version_is_one_line_and_changes_nothing(local_registry: Registry, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    register(local_registry, tmp_path, 1)
    local_registry.deploy("m:v1")
    local_registry.close()
    assert main(["--registry", str(local_registry.path), "remove", "m:v1", "--force"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "m:v1 is live in production" in err and "Traceback" not in err
    reopened = Registry(local_registry.path)
    assert reopened.get("m:v1").status == "deployed" and served(reopened) == b"weights-1" * 100


def test_doctor_reports_deploy_links_moved_or_deleted_by_hand_and_fix_brings_them_back(
        local_registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    register(local_registry, tmp_path, 2)
    local_registry.deploy("m:v1")
    local_registry.deploy("m:v2")
    path, link = local_registry.path, local_registry.path / "deploy" / "production" / "m"
    local_registry.close()

    def doctor(*flags: str) -> tuple[int, list[str]]:
        code = main(["--registry", str(path), "doctor", *flags])
        return code, capsys.readouterr().out.splitlines()

    assert doctor() == (0, ["ok: no problems found"])
    link.unlink()
    code, lines = doctor()
    assert code == 1 and lines[0] == ("problem: deploy/production/m is gone, but m:v2 is live in production: "
                                      "serving finds nothing there")
    assert not link.exists()  # reported, nothing changed
    assert doctor("--fix")[1][0].startswith("fixed: deploy/production/m is gone")
    assert served(Registry(path)) == b"weights-2" * 100 and doctor() == (0, ["ok: no problems found"])

    os.remove(link)
    os.symlink("../../pinned/releases/m/v1", link)  # switched back by hand
    code, lines = doctor()
    assert code == 1 and lines[0] == "problem: deploy/production/m serves m:v1, but the registry says m:v2 is live in production"
    assert doctor("--fix")[0] == 0
    reopened = Registry(path)
    assert reopened.live("m").version == "v1" and reopened.history("m")[-1]["action"] == "repair"

    os.remove(link)
    os.symlink("/srv/elsewhere/model", link)
    code, lines = doctor("--fix")
    assert code == 1 and lines[0].startswith("problem: deploy/production/m points outside modelreg's releases")


def test_environments_are_independent(registry: Registry, tmp_path: Path) -> None:
    register(registry, tmp_path, 2)
    registry.deploy("m:v1", "production")
    registry.deploy("m:v1", "staging")
    registry.deploy("m:v2", "staging")
    assert registry.live_map("m") == {"production": "v1", "staging": "v2"}
    assert registry.get("m:staging").version == "v2" and registry.get("m:production").version == "v1"
    # v1 left staging but is still live in production: it stays deployed.
    assert statuses(registry) == {"v1": "deployed", "v2": "deployed"}
    assert [e["to"] for e in registry.history(env="staging")] == ["v1", "v2"]
    with pytest.raises(DeployError, match="unknown environment 'prod'.*production, staging"):
        registry.deploy("m:v2", "prod")


def test_redeploying_the_live_version_changes_nothing(registry: Registry, tmp_path: Path) -> None:
    register(registry, tmp_path, 1)
    registry.deploy("m:v1")
    again = registry.deploy("m:v1")
    assert again["unchanged"] and len(registry.history()) == 1


@pytest.mark.parametrize("status", ["draft", "archived"])
def test_refuses_draft_and_archived(registry: Registry, tmp_path: Path, status: str) -> None:
    register(registry, tmp_path, 1, status=status)
    with pytest.raises(DeployError, match=f"cannot deploy m:v1: it is {status};.*modelreg status m:v1 completed") as error:
        registry.deploy("m:v1")
    assert "\n" not in str(error.value)
    assert registry.history() == [] and not (registry.path / "deploy" / "production" / "m").exists()


def test_refuses_missing_and_changed_artifacts(registry: Registry, tmp_path: Path) -> None:
    paths = register(registry, tmp_path, 3)
    paths[0].unlink()
    with pytest.raises(DeployError, match="cannot deploy m:v1: artifact .*model.bin is missing"):
        registry.deploy("m:v1")
    paths[1].write_bytes(b"retrained in place")
    with pytest.raises(DeployError, match="cannot deploy m:v2: artifact .* changed since it was registered"):
        registry.deploy("m:v2")
    # Same size and modification time: only --verify (a re-hash) notices.
    stat = paths[2].stat()
    paths[2].write_bytes(b"X" * stat.st_size)
    os.utime(paths[2], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(DeployError, match="its sha256 differs"):
        registry.deploy("m:v3", verify=True)
    assert registry.history() == []
    registry.deploy("m:v3")  # the quick check is satisfied
    assert registry.live("m").version == "v3"


def test_unhashed_artifacts_are_hashed_when_pinned(registry: Registry, tmp_path: Path) -> None:
    path = write(tmp_path / "big" / "model.bin", b"wyz" * 1000)
    registry.register("m", [path], hash_artifacts=False)
    registry.deploy("m:v1")
    [artifact] = registry.get("m:v1").artifacts
    assert artifact["sha256"] and (registry.path / "pinned" / "objects" / artifact["sha256"]).exists()


# -- pinning ------------------------------------------------------------------------------------------


def test_pins_are_hard_links_and_survive_deleting_the_originals(registry: Registry, tmp_path: Path) -> None:
    paths = register(registry, tmp_path, 2)
    registry.deploy("m:v1")
    registry.deploy("m:v2")
    pinned = registry.path / "deploy" / "production" / "m" / "model.bin"
    assert os.stat(pinned).st_ino == paths[1].stat().st_ino  # same filesystem: a hard link, no copy
    for path in paths:
        path.unlink()  # checkpoint rotation
    assert served(registry) == b"weights-2" * 100
    registry.rollback("m")
    assert served(registry) == b"weights-1" * 100
    registry.deploy("m:v2")  # an explicit deploy works from the pin too
    assert served(registry) == b"weights-2" * 100
    assert [r["missing"] for r in registry.check_artifacts("m")] == [False, False]


def test_pins_are_by_content_and_idempotent(registry: Registry, tmp_path: Path) -> None:
    a = write(tmp_path / "a" / "model.bin", b"wxyz" * 50)
    b = write(tmp_path / "b" / "model.bin", b"wxyz" * 50)
    os.utime(b, (1_700_000_000, 1_700_000_000))  # same content, another file
    registry.register("m", [a])
    registry.register("m", [b])
    for ref in ("m:v1", "m:v2", "m:v1", "m:v2"):
        registry.deploy(ref)
    objects = list((registry.path / "pinned" / "objects").iterdir())
    assert len(objects) == 1 and objects[0].read_bytes() == b"wxyz" * 50
    assert served(registry) == b"wxyz" * 50


def test_directory_artifacts_are_pinned_recursively(registry: Registry, tmp_path: Path) -> None:
    ckpt = tmp_path / "out" / "checkpoint-500"
    write(ckpt / "config.json", b'{"layers": 2}')
    write(ckpt / "weights" / "part-1.bin", b"w" * 1000)
    write(ckpt / "weights" / "part-2.bin", b"W" * 1000)
    registry.register("llm", [ckpt])
    registry.deploy("llm:v1")
    link = registry.path / "deploy" / "production" / "llm" / "checkpoint-500"
    for path in ckpt.rglob("*"):
        path.unlink() if path.is_file() else None
    assert (link / "config.json").read_bytes() == b'{"layers": 2}'
    assert (link / "weights" / "part-2.bin").read_bytes() == b"W" * 1000
    assert registry.check_artifacts("llm") == [{"ref": "llm:v1", "missing": False, "reason": None}]


def test_copy_fallback_across_filesystems(registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = register(registry, tmp_path, 1)
    ckpt = tmp_path / "out" / "ckpt"
    write(ckpt / "a.bin", b"z" * 100)
    registry.register("m", [ckpt])

    def cross_device(*args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    registry.deploy("m:v1")
    pinned = registry.path / "deploy" / "production" / "m" / "model.bin"
    assert os.stat(pinned).st_ino != paths[0].stat().st_ino and os.stat(pinned).st_nlink == 1
    assert os.stat(pinned).st_mtime == paths[0].stat().st_mtime  # kept, so the change check still works
    registry.deploy("m:v2")
    assert (registry.path / "deploy" / "production" / "m" / "ckpt" / "a.bin").read_bytes() == b"z" * 100
    paths[0].unlink()
    registry.rollback("m")
    assert served(registry) == b"weights-1" * 100


def test_a_pin_rewritten_in_place_is_noticed(registry: Registry, tmp_path: Path) -> None:
    paths = register(registry, tmp_path, 2)
    registry.deploy("m:v1")
    registry.deploy("m:v2")
    paths[0].write_bytes(b"overwritten in place, through the shared inode")
    with pytest.raises(DeployError, match="cannot roll back to m:v1: artifact .* changed since it was registered .*, and the pinned copy of model.bin changed since it was pinned"):
        registry.rollback("m")
    assert registry.live("m").version == "v2"


# -- the hook -----------------------------------------------------------------------------------------


HOOK_ENV = "MODELREG_MODEL MODELREG_VERSION MODELREG_ENV MODELREG_ARTIFACT MODELREG_REGISTRY MODELREG_PREVIOUS MODELREG_ACTION"


def dump_env_hook(out: Path) -> str:
    code = f"import json, os; json.dump({{k: os.environ.get(k) for k in {HOOK_ENV.split()!r}}} | {{'content': open(os.environ['MODELREG_ARTIFACT'], 'rb').read().decode()}}, open({str(out)!r}, 'w'))"
    return f"{sys.executable} -c {json.dumps(code)} && echo reloaded"


def test_hook_sees_the_deploy_in_its_environment(tmp_path: Path) -> None:
    seen = tmp_path / "seen.json"
    reg = configure(tmp_path / "reg", deploy_hook=dump_env_hook(seen))
    register(reg, tmp_path, 2)
    reg.deploy("m:v1")
    entry = reg.deploy("m:v2")
    env = json.loads(seen.read_text())
    assert env["MODELREG_MODEL"] == "m" and env["MODELREG_VERSION"] == "v2" and env["MODELREG_ENV"] == "production"
    assert env["MODELREG_PREVIOUS"] == "v1" and env["MODELREG_ACTION"] == "deploy"
    assert Path(env["MODELREG_REGISTRY"]) == reg.path.absolute() and env["content"] == "weights-2" * 100
    assert entry["hook"]["returncode"] == 0 and "reloaded" in entry["hook"]["output"]
    reg.close()


def test_hook_failure_keeps_the_previous_version_live(tmp_path: Path) -> None:
    reg = configure(tmp_path / "reg", deploy_hook='echo "checking $MODELREG_VERSION"; echo "health check failed: 503" >&2; exit 3')
    register(reg, tmp_path, 2)
    reg.config = reg.config.__class__()  # no hook for the first deploy
    reg.deploy("m:v1")
    reg.config = reg.config.__class__.load(reg.path)
    with pytest.raises(DeployError) as error:
        reg.deploy("m:v2")
    message = str(error.value)
    assert "\n" not in message and "m:v2 was not deployed in production" in message
    assert "exited with 3 (health check failed: 503)" in message and "v1 is still live" in message
    assert served(reg) == b"weights-1" * 100 and reg.live("m").version == "v1"
    assert statuses(reg) == {"v1": "deployed", "v2": "completed"}
    failed = reg.history("m")[-1]
    assert failed["ok"] is False and failed["to"] == "v2" and "exited with 3" in failed["reason"]
    assert failed["hook"]["returncode"] == 3 and "checking v2" in failed["hook"]["output"]
    # A failed attempt is not a switch: a rollback still has nothing before v1.
    with pytest.raises(DeployError, match="no earlier version"):
        reg.rollback("m")
    reg.close()


def test_hook_failure_on_first_deploy_leaves_nothing_live(tmp_path: Path) -> None:
    reg = configure(tmp_path / "reg", deploy_hook="exit 1")
    register(reg, tmp_path, 1)
    with pytest.raises(DeployError, match="nothing is still live"):
        reg.deploy("m:v1")
    assert not os.path.lexists(reg.path / "deploy" / "production" / "m") and reg.live("m") is None
    reg.close()


def test_hook_timeout(tmp_path: Path) -> None:
    reg = configure(tmp_path / "reg", deploy_hook="sleep 30", hook_timeout=0.3)
    register(reg, tmp_path, 1)
    with pytest.raises(DeployError, match="timed out after 0.3s"):
        reg.deploy("m:v1")
    assert reg.history()[-1]["reason"].startswith("the deploy hook timed out")
    reg.close()


def test_hook_is_never_taken_from_metadata(registry: Registry, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write(tmp_path / "x" / "model.bin", b"w")
    registry.register("m", [path], deploy_hook=f"touch {marker}", hook=f"touch {marker}")
    registry.deploy("m:v1")
    assert not marker.exists()


# -- rollback -----------------------------------------------------------------------------------------


def test_rollback_walks_back_and_deprecates(registry: Registry, tmp_path: Path) -> None:
    register(registry, tmp_path, 3)
    for ref in ("m:v1", "m:v2", "m:v3"):
        registry.deploy(ref)
    entry = registry.rollback("m")
    assert (entry["action"], entry["from"], entry["to"]) == ("rollback", "v3", "v2")
    assert statuses(registry) == {"v1": "completed", "v2": "deployed", "v3": "deprecated"}
    assert registry.rollback("m")["to"] == "v1" and served(registry) == b"weights-1" * 100
    assert statuses(registry) == {"v1": "deployed", "v2": "deprecated", "v3": "deprecated"}
    with pytest.raises(DeployError, match="cannot roll back m in production: no earlier version was live there before v1"):
        registry.rollback("m")
    # A new deploy starts a new walk: rollback returns to v1, never to the rolled-back v2 or v3.
    registry.deploy("m:v3")
    assert registry.rollback("m")["to"] == "v1"


def test_rollback_skips_redeploys_and_archived(registry: Registry, tmp_path: Path) -> None:
    register(registry, tmp_path, 4)
    for ref in ("m:v1", "m:v2", "m:v3", "m:v2", "m:v4"):
        registry.deploy(ref)
    assert registry.rollback("m")["to"] == "v2"
    registry.set_status("m:v1", "archived")
    assert registry.rollback("m")["to"] == "v3"  # v2 was live before v3's redeploy; v1 is archived
    with pytest.raises(DeployError, match="no earlier version"):
        registry.rollback("m")


def test_rollback_refuses_when_nothing_is_live(registry: Registry, tmp_path: Path) -> None:
    register(registry, tmp_path, 1)
    with pytest.raises(DeployError, match="nothing of 'm' is live in production"):
        registry.rollback("m")
    with pytest.raises(UnknownVersion, match="nothing of 'm' is live in production"):
        registry.get("m:production")


# -- missing artifacts --------------------------------------------------------------------------------


def test_check_marks_missing_versions_and_they_can_be_archived(registry: Registry, tmp_path: Path) -> None:
    paths = register(registry, tmp_path, 3)
    registry.deploy("m:v3")
    paths[0].unlink()
    paths[2].unlink()  # pinned by its deploy: not missing
    rows = registry.check_artifacts()
    assert [(r["ref"], r["missing"]) for r in rows] == [("m:v1", True), ("m:v2", False), ("m:v3", False)]
    assert "is missing" in rows[0]["reason"]
    assert registry.get("m:v1").missing and [v.version for v in registry.versions("m")] == ["v1", "v2", "v3"]
    assert registry.set_status("m:v1", "archived").status == "archived"
    write(paths[0], b"weights-1" * 100)
    os.utime(paths[0], (registry.get("m:v1").artifacts[0]["mtime"],) * 2)
    registry.check_artifacts("m")
    assert not registry.get("m:v1").missing


def test_set_status_cannot_reach_deployed(registry: Registry, tmp_path: Path) -> None:
    register(registry, tmp_path, 1)
    with pytest.raises(Exception, match="use 'modelreg deploy m:v1'"):
        registry.set_status("m:v1", "deployed")
    registry.deploy("m:v1")
    with pytest.raises(Exception, match="is live in production"):
        registry.set_status("m:v1", "completed")
    with pytest.raises(Exception, match="is live in production"):
        registry.set_status("m:v1", "archived")
    registry.deploy("m:v1", "staging")
    with pytest.raises(BadTransition, match="cannot go from draft to deployed"):
        registry.register("m", status="draft") and registry.update("m:v2", status="deployed")


# -- repair -------------------------------------------------------------------------------------------


def test_interrupted_switch_is_completed_on_open(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "reg")
    register(reg, tmp_path, 2)
    reg.deploy("m:v1")
    reg.deploy("m:v2")
    reg.rollback("m")  # v1 live, v2 deprecated; both pinned
    # What a process killed right after switching back to v2 leaves behind:
    link = reg.path / "deploy" / "production" / "m"
    intent = {"env": "production", "model": "m", "from": "v1", "to": "v2", "action": "deploy", "by": "ana@gpu1",
              "at": "2026-11-23T09:00:00+00:00", "pid": 4242, "previous_target": os.readlink(link)}
    (reg.path / "pinned" / "pending.json").write_text(json.dumps(intent))
    os.replace(_symlink(link.parent, "../../pinned/releases/m/v2"), link)
    reg.close()
    with Registry(tmp_path / "reg") as reopened:
        last = reopened.history("m")[-1]
        assert (last["action"], last["from"], last["to"], last["ok"], last["by"]) == ("deploy", "v1", "v2", True, "ana@gpu1")
        assert "pid 4242" in last["reason"] and last["hook"] is None
        assert reopened.live("m").version == "v2" and statuses(reopened) == {"v1": "completed", "v2": "deployed"}
        assert not (reopened.path / "pinned" / "pending.json").exists()


def test_a_link_switched_behind_the_registrys_back_is_recorded(registry: Registry, tmp_path: Path) -> None:
    register(registry, tmp_path, 2)
    registry.deploy("m:v1")
    registry.deploy("m:v2", "staging")
    link = registry.path / "deploy" / "production" / "m"
    os.replace(_symlink(link.parent, "../../pinned/releases/m/v2"), link)
    registry.deploy("m:v1", "staging")  # every deploy reconciles the links first
    if registry.backend.shared:
        # several machines, each with its own links: this one's disagreeing link is stale, so it
        # follows what is live, and the history keeps only the real switches
        assert [(h["action"], h["to"]) for h in registry.history(env="production")] == [("deploy", "v1")]
        assert registry.live_map("m") == {"production": "v1", "staging": "v1"}
        assert os.readlink(link).endswith("/m/v1")
        return
    repair = registry.history(env="production")[-1]
    assert (repair["action"], repair["from"], repair["to"]) == ("repair", "v1", "v2")
    assert registry.live_map("m") == {"production": "v2", "staging": "v1"}
    assert registry.rollback("m")["to"] == "v1"


def _symlink(folder: Path, target: str) -> Path:
    temporary = folder / ".test-link"
    temporary.unlink(missing_ok=True)
    os.symlink(target, temporary)
    return temporary


def test_pending_file_without_a_switch_is_dropped(registry: Registry, tmp_path: Path) -> None:
    register(registry, tmp_path, 2)
    registry.deploy("m:v1")
    intent = {"env": "production", "model": "m", "from": "v1", "to": "v2", "action": "deploy", "by": "x", "at": "y"}
    (registry.path / "pinned" / "pending.json").write_text(json.dumps(intent))
    assert deploy_module.repair(registry) == []
    assert registry.live("m").version == "v1" and len(registry.history()) == 1


# -- the command line ---------------------------------------------------------------------------------


def test_cli_deploy_rollback_history_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Registry(tmp_path / "reg").close()

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--registry", str(tmp_path / "reg"), *args])
        out, err = capsys.readouterr()
        return code, out, err

    paths = []
    for k in (1, 2, 3):
        paths.append(write(tmp_path / "runs" / f"v{k}" / "model.bin", b"w" * k))
        assert run("register", "sentiment", str(paths[-1]))[0] == 0
    assert run("deploy", "sentiment:v2") == (0, "sentiment: production (nothing) → v2\n", "")
    assert run("deploy", "sentiment:v3", "--env", "production")[1] == "sentiment: production v2 → v3\n"
    assert run("rollback", "sentiment")[1] == "sentiment: production v3 → v2 (rolled back; v3 deprecated)\n"
    code, out, err = run("rollback", "sentiment")
    assert code == 1 and out == "" and err.count("\n") == 1 and "no earlier version was live there before v2" in err
    code, out, err = run("deploy", "sentiment:v1", "--env", "prod")
    assert code == 1 and "unknown environment 'prod'" in err
    code, out, _ = run("history", "sentiment")
    assert out.splitlines()[0].split()[:4] == ["#", "WHEN", "ENV", "MODEL"] and len(out.splitlines()) == 4
    entries = json.loads(run("history", "--env", "production", "--json")[1])
    assert [(e["from"], e["to"]) for e in entries] == [(None, "v2"), ("v2", "v3"), ("v3", "v2")]
    assert json.loads(run("status", "--json")[1]) == {"sentiment": {"production": "v2"}}
    assert "production" in run("status")[1]
    paths[0].unlink()
    code, out, _ = run("check")
    assert code == 0 and "sentiment:v1: MISSING" in out and "1 missing" in out
    assert json.loads(run("deploy", "sentiment:v3", "--json")[1])["to"] == "v3"


def test_imported_history_does_not_steer_rollback(registry: Registry, tmp_path: Path) -> None:
    register(registry, tmp_path, 2)
    registry.deploy("m:v2")
    # What importing another registry's bundle adds.
    registry.append_history({"seq": None, "env": "production", "model": "m", "from": None, "to": "v1",
                             "action": "deploy", "by": "x@y", "at": "2025-01-01", "hook": None,
                             "ok": True, "reason": None, "imported": True})
    with pytest.raises(DeployError, match="no earlier version"):
        registry.rollback("m")


def test_a_relative_registry_path_gives_absolute_live_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    seen = tmp_path / "seen.json"
    reg = configure(Path("reg"), deploy_hook=dump_env_hook(seen))
    register(reg, tmp_path, 1)
    reg.deploy("m:v1")
    live = next(iter(reg.backend.storage.table("live").values()))
    assert Path(live["path"]).is_absolute() and json.loads(seen.read_text())["content"] == "weights-1" * 100
    reg.close()


def test_hook_failure_on_rollback_keeps_the_current_version(tmp_path: Path) -> None:
    reg = configure(tmp_path / "reg", deploy_hook='[ "$MODELREG_ACTION" = deploy ] || { echo "refusing $MODELREG_ACTION"; exit 7; }')
    register(reg, tmp_path, 2)
    reg.deploy("m:v1")
    reg.deploy("m:v2")
    with pytest.raises(DeployError, match="m:v1 was not rolled back to in production: the deploy hook exited with 7 \\(refusing rollback\\); v2 is still live"):
        reg.rollback("m")
    assert served(reg) == b"weights-2" * 100 and statuses(reg) == {"v1": "completed", "v2": "deployed"}
    assert reg.history()[-1]["action"] == "rollback" and reg.history()[-1]["ok"] is False
    reg.close()


@pytest.mark.parametrize("config", [
    {"environments": ["production", "staging"], "default_environment": "prodution"},
    {"environments": [], "default_environment": "nope"},
])
def test_a_typo_in_default_environment_is_refused_and_creates_no_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str], config: dict) -> None:
    home = tmp_path / "reg"
    registry = Registry(home)
    artifact = tmp_path / "m.safetensors"
    artifact.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    registry.register("m", [artifact], "v1")
    registry.release()
    (home / "config.json").write_text(json.dumps(config))
    before = {p.name: p.read_bytes() for p in home.iterdir() if p.is_file()}
    assert main(["--registry", str(home), "deploy", "m:v1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "default_environment" in err[0] and repr(config["default_environment"]) in err[0], err
    assert {p.name: p.read_bytes() for p in home.iterdir() if p.is_file()} == before
    assert not (home / "deploy").exists() or not any((home / "deploy").iterdir())
