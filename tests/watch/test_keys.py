"""The content key of a watched checkpoint (store/watch/keys.py): the same for one checkpoint seen from two
mounts of a share, different for a rewritten or copied one; and the watcher's use of it: a second watcher
of the same files (another mount path) registers nothing, says so once, and leaves the first one's record alone."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from store.registry import Registry
from store.watch import WatchEvent
from store.watch.keys import checkpoint_key
from tests.watch.test_watch import Events, make_registry, quiesce, versions, wait_until, watching


def already(events: Events) -> list[WatchEvent]:
    """The "already registered ... (by another watcher)" lines (other info lines say what is watched)."""
    return [e for e in events.of("info") if "already registered" in e.message]


@pytest.fixture
def share(tmp_path: Path) -> tuple[Path, Path]:
    """One shared folder as two nodes see it: mounted at /…/share and at /…/elsewhere/mnt (a link here)."""
    real = tmp_path / "share" / "runs"
    (real / "exp" / "seed1").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "share", tmp_path / "elsewhere" / "mnt")
    return real, tmp_path / "elsewhere" / "mnt" / "runs"


def test_one_checkpoint_has_one_key_from_two_mount_paths(share: tuple[Path, Path]) -> None:
    a, b = share
    (a / "exp" / "seed1" / "ckpt-100.pt").write_bytes(b"w" * 1000)
    key_a = checkpoint_key(str(a / "exp" / "seed1" / "ckpt-100.pt"), str(a))
    key_b = checkpoint_key(str(b / "exp" / "seed1" / "ckpt-100.pt"), str(b))
    assert key_a is not None and key_a.startswith("watch1:") and key_a == key_b
    # a folder checkpoint too, and its sidecar (metadata, not content) leaves its key alone
    folder = a / "exp" / "checkpoint-500"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"s" * 300)
    (folder / "config.json").write_text("{}")
    before = checkpoint_key(str(folder), str(a))
    (folder / "modelreg.json").write_text('{"metrics": {"f1": 0.5}}')
    assert checkpoint_key(str(folder), str(a)) == before == checkpoint_key(str(b / "exp" / "checkpoint-500"), str(b))
    (folder / "model.safetensors").write_bytes(b"t" * 300)
    later = os.stat(folder / "config.json").st_mtime_ns + 1  # rewritten: the folder's newest file is newer
    os.utime(folder / "model.safetensors", ns=(later, later))
    assert checkpoint_key(str(folder), str(a)) != before


def test_a_rewritten_or_copied_checkpoint_has_another_key(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    (root / "run1").mkdir(parents=True)
    (root / "run2").mkdir()
    path = root / "run1" / "model.pt"
    path.write_bytes(b"a" * 100)
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    first = checkpoint_key(str(path), str(root))
    path.write_bytes(b"b" * 100)  # same size, new content: a new modification time
    os.utime(path, ns=(1_700_000_000_000_000_001, 1_700_000_000_000_000_001))  # one nanosecond later is enough
    assert checkpoint_key(str(path), str(root)) != first
    copy = root / "run2" / "model.pt"
    shutil.copy2(path, copy)  # the same bytes and time in another run folder: another checkpoint
    assert os.stat(copy).st_mtime_ns == os.stat(path).st_mtime_ns
    assert checkpoint_key(str(copy), str(root)) != checkpoint_key(str(path), str(root))
    assert checkpoint_key(str(root / "run1" / "gone.pt"), str(root)) is None


def test_a_rescan_after_a_restart_registers_nothing_new(tmp_path: Path) -> None:
    registry = make_registry(tmp_path)
    root = tmp_path / "runs"
    root.mkdir()
    for step in range(3):
        (root / f"model-step-{step}.pt").write_bytes(bytes([step]) * 500)
    with watching(registry, root, "inotify") as (watcher, events):
        assert wait_until(lambda: len(events.of("registered")) == 3)
        quiesce(watcher)
    keys = {v.ref: registry.version_doc(v.ref)["content_key"] for v in versions(registry)}
    assert len(set(keys.values())) == 3
    with Registry(registry.path) as again, watching(again, root, "poll") as (watcher, events):
        watcher.rescan()
        quiesce(watcher)
        assert events.of("registered") == events.of("updated") == already(events) == []
        assert {v.ref: again.version_doc(v.ref)["content_key"] for v in versions(again)} == keys
    registry.close()


def test_a_second_watcher_on_another_mount_registers_nothing_and_leaves_the_record(tmp_path: Path, share: tuple[Path, Path]) -> None:
    a, b = share
    for step in range(4):
        (a / "exp" / "seed1" / f"ckpt-{step}.pt").write_bytes(bytes([step + 1]) * 700)
    first, second = make_registry(tmp_path), Registry(tmp_path / "registry")
    try:
        with watching(first, a, "inotify") as (watcher, events):
            assert wait_until(lambda: len(events.of("registered")) == 4)
            quiesce(watcher)
        records = {v.ref: [dict(x) for x in v.artifacts] for v in versions(first)}
        assert all(r[0]["path"].startswith(str(a)) and r[0]["sha256"] for r in records.values())
        with watching(second, b, "poll") as (watcher, events):  # node B: the same files at another path
            assert wait_until(lambda: len(already(events)) == 4)
            quiesce(watcher)
            watcher.rescan()  # seen again in the same run: said once, nothing done
            quiesce(watcher)
            said = [e.message for e in already(events)]
            assert events.of("registered") == [] and len(said) == 4
            assert all("already registered from" in m and "(by another watcher)" in m for m in said)
            assert sorted(e.ref for e in already(events)) == sorted(records)
            # rewritten in place while node A is away: node B registers the new content, once
            target = a / "exp" / "seed1" / "ckpt-3.pt"
            target.write_bytes(b"new" * 300)
            assert wait_until(lambda: len(events.of("registered")) == 1, timeout=30)
            quiesce(watcher)
            assert "replaces the earlier content of" in events.of("registered")[0].message
        with watching(first, a, "inotify") as (watcher, events):  # node A back: that is B's version, said so
            watcher.rescan()
            quiesce(watcher)
            assert events.of("registered") == [] and len(already(events)) == 1
        now = versions(first)
        assert len(now) == 5
        # node B's record is on the new version only; node A's four records are as A wrote them
        for version in now:
            if version.ref in records:
                assert [dict(x) for x in version.artifacts] == records[version.ref]
            else:
                assert version.artifacts[0]["path"] == str(b / "exp" / "seed1" / "ckpt-3.pt")
    finally:
        first.close()
        second.close()


def test_a_version_left_without_its_file_is_completed_by_a_later_watcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = make_registry(tmp_path)
    root = tmp_path / "runs"
    root.mkdir()
    path = root / "model-step-1.onnx"
    path.write_bytes(b"x" * 300)
    # what a watcher killed between its two writes leaves behind: the version with the key, no artifact record
    left = registry.register("m", [], content_key=checkpoint_key(str(path), str(root)), claim="its own", source=False)
    with watching(registry, root, "inotify", model="m") as (watcher, events):  # made a moment ago: maybe still at it
        quiesce(watcher)
        assert [e.ref for e in already(events)] == [left.ref] and events.of("registered") == []
    assert registry.get(left.ref).artifacts == ()
    monkeypatch.setattr("store.watch.deciding.ORPHANED_AFTER", 0.0)  # as if two minutes had passed
    with watching(registry, root, "inotify", model="m") as (watcher, events):
        quiesce(watcher)
        assert [e.message for e in events.of("registered")] == [
            f"{left.ref}  from {path}  (left without its file by a watcher that stopped)"]
    assert [v.ref for v in versions(registry)] == [left.ref]
    assert registry.get(left.ref).artifacts[0]["path"] == str(path) and registry.get(left.ref).artifacts[0]["sha256"]
    registry.close()
