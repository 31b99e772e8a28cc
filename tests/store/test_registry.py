"""The registry's Python API, on real registries on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tinydb import TinyDB

from store import Registry
from store.errors import (
    BadMetadata,
    BadReference,
    BadTransition,
    BadVersion,
    DuplicateVersion,
    FilterError,
    LineageError,
    UnknownModel,
    UnknownVersion,
)
from store.backends.local.location import find_registry
from store.summary import to_markdown


def test_register_records_artifacts_and_metadata(registry: Registry, artifact: Path) -> None:
    v = registry.register(
        "sentiment",
        [artifact],
        metrics={"accuracy": 0.91, "val_loss": 0.3},
        params={"lr": 0.001, "layers": [64, 32]},
        tags=["baseline"],
        training_data=["imdb-train"],
        git_commit="abc1234",
        notes="first try",
        training={"epochs": 3, "hardware": "A100"},
        dataset_card="cards/imdb.md",
    )
    assert v.ref == "sentiment:v1"
    assert v.status == "completed"
    assert "@" in v.registered_by
    [a] = v.artifacts
    assert a["path"] == str(artifact) and a["kind"] == "file" and a["size"] == 700
    assert len(a["sha256"]) == 64 and a["framework"] == "sklearn"
    assert v.extra == {"dataset_card": "cards/imdb.md"}
    assert registry.get("sentiment:v1") == v


def test_folder_artifact_is_one_record_with_total_size(registry: Registry, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoint-500"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"x" * 1000)
    [a] = registry.register("llm", [folder]).artifacts
    assert a["kind"] == "dir" and a["size"] == 1002 and a["framework"] == "transformers"


def test_missing_artifact_is_refused_and_nothing_is_registered(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="does not exist"):
        registry.register("m", [tmp_path / "nope.pt"])
    with pytest.raises(UnknownModel):
        registry.versions("m")


def test_auto_versions_follow_the_models_scheme(registry: Registry) -> None:
    assert [registry.register("a").version for _ in range(3)] == ["v1", "v2", "v3"]
    registry.register("b", version="v1.0")
    assert registry.register("b").version == "v1.1"
    registry.register("c", version="1.2.3")
    assert registry.register("c").version == "1.2.4"
    assert registry.register("c", bump="minor").version == "1.3.0"
    assert registry.register("c", bump="major").version == "2.0.0"


def test_ordering_is_natural_and_semantic(registry: Registry) -> None:
    for version in ["v10", "v2", "v1"]:
        registry.register("n", version=version)
    assert [v.version for v in registry.versions("n")] == ["v1", "v2", "v10"]
    for version in ["1.10.0", "1.2.0", "1.2.0-rc.1"]:
        registry.register("s", version=version)
    assert [v.version for v in registry.versions("s")] == ["1.2.0-rc.1", "1.2.0", "1.10.0"]
    assert registry.get("s:latest").version == "1.10.0"


def test_duplicate_version_is_refused_never_overwritten(registry: Registry) -> None:
    registry.register("m", version="v1", notes="original")
    with pytest.raises(DuplicateVersion, match="m:v1 already exists"):
        registry.register("m", version="v1", notes="impostor")
    assert registry.get("m:v1").notes == "original"


@pytest.mark.parametrize("bad", ["a b", "latest", "../x", "", "v1;rm"])
def test_bad_version_strings_are_refused(registry: Registry, bad: str) -> None:
    with pytest.raises(BadVersion):
        registry.register("m", version=bad)


@pytest.mark.parametrize("bad", ["a:b", "", "-x", "a/b"])
def test_bad_model_names_are_refused(registry: Registry, bad: str) -> None:
    with pytest.raises(BadMetadata, match="bad model name"):
        registry.register(bad)


def test_bad_metric_values_are_refused(registry: Registry) -> None:
    with pytest.raises(BadMetadata, match="metric 'acc'"):
        registry.register("m", metrics={"acc": float("nan")})
    with pytest.raises(BadMetadata, match="metric 'acc'"):
        registry.register("m", metrics={"acc": "high"})


def test_references(registry: Registry) -> None:
    for version, acc, loss in [("1.0.0", 0.8, 0.5), ("1.2.0", 0.9, 0.2), ("1.3.0", 0.85, 0.3), ("2.0.0", 0.7, 0.6)]:
        registry.register("m", version=version, metrics={"accuracy": acc, "loss": loss})
    assert registry.resolve("m") == "m:2.0.0"
    assert registry.resolve("m:latest") == "m:2.0.0"
    assert registry.resolve("m:best") == "m:1.2.0"
    assert registry.resolve("m:>=1.2,<2") == "m:1.3.0"
    assert registry.resolve("m:^1.2") == "m:1.3.0"
    assert registry.resolve("m:~1.2") == "m:1.2.0"
    assert registry.best("m", "loss").version == "1.2.0"
    with pytest.raises(UnknownVersion, match="no version of 'm' matches"):
        registry.resolve("m:>=3")
    with pytest.raises(UnknownVersion, match="unknown version m:9.9"):
        registry.get("m:9.9")
    with pytest.raises(UnknownModel, match="unknown model 'nope'"):
        registry.get("nope:v1")
    with pytest.raises(BadReference):
        registry.get("m:")
    with pytest.raises(UnknownVersion, match="nothing of 'm' is live in production"):
        registry.get("m:production")


def test_best_respects_direction_overrides_and_primary_metric(registry: Registry) -> None:
    registry.register("m", metrics={"score": 1.0})
    registry.register("m", metrics={"score": 2.0})
    assert registry.best("m").version == "v2"
    registry.update_model("m", directions={"score": "min"})
    assert registry.best("m").version == "v1"
    registry.update_model("m", primary_metric="other")
    with pytest.raises(UnknownVersion, match="no version of 'm' has the metric 'other'"):
        registry.best("m")


def test_lifecycle_transitions(registry: Registry) -> None:
    registry.register("m", status="draft")
    assert registry.set_status("m:v1", "training").status == "training"
    assert registry.set_status("m:v1", "archived").status == "archived"
    with pytest.raises(BadTransition, match="from archived it can go to: completed"):
        registry.set_status("m:v1", "deprecated")
    with pytest.raises(BadMetadata, match="modelreg deploy"):
        registry.set_status("m:v1", "deployed")
    with pytest.raises(BadTransition, match="unknown status 'gone'"):
        registry.set_status("m:v1", "gone")


def test_score_tag_untag_and_model_metadata(registry: Registry) -> None:
    registry.register("m", metrics={"acc": 0.5})
    assert registry.score("m:v1", acc=0.6, f1=0.7).metrics == {"acc": 0.6, "f1": 0.7}
    assert registry.tag("m:v1", "a", "b", "a").tags == ("a", "b")
    assert registry.untag("m:v1", "a").tags == ("b",)
    model = registry.update_model("m", description="sentiment", owner="ana", tags=["nlp"], notes="n")
    assert (model.description, model.owner, model.tags, model.notes) == ("sentiment", "ana", ("nlp",), "n")
    with pytest.raises(BadMetadata):
        registry.score("m:v1")


def test_update_merges_metadata_from_a_late_sidecar(registry: Registry) -> None:
    registry.register("m", metrics={"acc": 0.5}, params={"lr": 0.1})
    v = registry.update("m:v1", metrics={"f1": 0.4}, params={"depth": 3}, extra={"step": 10}, notes="late")
    assert v.metrics == {"acc": 0.5, "f1": 0.4}
    assert v.params == {"lr": 0.1, "depth": 3}
    assert v.extra == {"step": 10} and v.notes == "late"
    assert len(registry.versions("m")) == 1


def test_remove_refuses_parents_unless_forced_and_keeps_files(registry: Registry, artifact: Path) -> None:
    registry.register("m", [artifact])
    registry.register("m", parent="m:v1")
    with pytest.raises(LineageError, match="parent of m:v2"):
        registry.remove("m:v1")
    registry.remove("m:v1", force=True)
    assert [v.version for v in registry.versions("m")] == ["v2"]
    assert artifact.exists()
    assert registry.register("m").version == "v3"


def test_a_removed_versions_name_is_never_given_again(registry: Registry) -> None:
    """History, lineage and other people's notes name versions: m:v2 must not later mean other weights."""
    registry.register("m")
    registry.register("m")
    registry.remove("m:v2")
    assert registry.register("m").version == "v3"
    registry.remove("m:v3")
    registry.remove("m:v1")
    assert registry.register("m").version == "v4"  # with no versions left, still after the removed ones
    with pytest.raises(DuplicateVersion, match="m:v2 already exists or was removed; a version is never overwritten"):
        registry.register("m", version="v2")  # named outright: refused too
    registry.register("s", version="1.0.0")
    registry.remove("s:1.0.0")
    assert registry.register("s").version == "1.0.1"
    assert registry.model("m").name == "m"  # the model's own record still reads


def test_lineage_across_models_and_data(registry: Registry) -> None:
    registry.register("base", training_data=["web-crawl"])
    registry.register("base", parent="base:v1", training_data=["web-crawl-2"])
    registry.register("chat", parent="base:v2", training_data=["dialogs"], git_commit="c0ffee")
    registry.register("chat", parent="chat:v1", training_data=["dialogs-2"])
    assert [a.ref for a in registry.ancestors("chat:v2")] == ["chat:v1", "base:v2", "base:v1"]
    assert [d.ref for d in registry.descendants("base:v1")] == ["base:v2", "chat:v1", "chat:v2"]
    [root] = registry.tree("chat")
    assert root["version"].ref == "chat:v1" and root["external_parent"] == "base:v2"
    assert [c["version"].ref for c in root["children"]] == ["chat:v2"]
    data = registry.data_lineage("chat:v2")
    assert [(d["ref"], d["training_data"]) for d in data] == [
        ("chat:v2", ["dialogs-2"]),
        ("chat:v1", ["dialogs"]),
        ("base:v2", ["web-crawl-2"]),
        ("base:v1", ["web-crawl"]),
    ]


def test_parent_must_exist_and_cycles_are_impossible(registry: Registry) -> None:
    with pytest.raises(LineageError, match="parent nope:v1 of m:v1 does not exist"):
        registry.register("m", parent="nope:v1")
    registry.register("m")
    registry.register("m", parent="m:v1")
    with pytest.raises(LineageError, match="cycle"):
        registry.update("m:v1", parent="m:v2")
    assert registry.get("m:v1").parent is None


def test_find_with_filters_tags_status_and_callables(registry: Registry) -> None:
    registry.register("sentiment", metrics={"accuracy": 0.95}, params={"max_depth": 5}, tags=["prod"])
    registry.register("sentiment", metrics={"accuracy": 0.85}, status="draft")
    registry.register("vision", metrics={"accuracy": 0.97, "loss": 0.1})
    assert [v.ref for v in registry.find("accuracy>0.9")] == ["sentiment:v1", "vision:v1"]
    assert [v.ref for v in registry.find("params.max_depth=5")] == ["sentiment:v1"]
    assert [v.ref for v in registry.find("model:sent* or loss<0.3")] == ["sentiment:v1", "sentiment:v2", "vision:v1"]
    assert [v.ref for v in registry.find(tags=["prod"])] == ["sentiment:v1"]
    assert [v.ref for v in registry.find(status="draft")] == ["sentiment:v2"]
    assert [v.ref for v in registry.find(lambda d: d["model"] == "vision")] == ["vision:v1"]
    with pytest.raises(FilterError, match="accuracy>>0.9"):
        registry.find("accuracy>>0.9")


def test_compare_reports_deltas_directions_and_param_changes(registry: Registry) -> None:
    registry.register("m", metrics={"accuracy": 0.80, "loss": 0.50}, params={"lr": 0.1, "depth": 3}, tags=["a"])
    registry.register("m", metrics={"accuracy": 0.88, "loss": 0.60}, params={"lr": 0.01, "width": 8})
    result = registry.compare(["m:v1", "m:v2"])
    rows = {r["metric"]: r for r in result["metrics"]}
    acc = rows["accuracy"]["values"][1]
    assert acc["delta"] == pytest.approx(0.08) and acc["relative"] == pytest.approx(0.1) and acc["improved"] is True
    loss = rows["loss"]["values"][1]
    assert rows["loss"]["lower_is_better"] and loss["improved"] is False
    [params] = result["params"]
    assert params["added"] == {"width": 8} and params["removed"] == {"depth": 3}
    assert params["changed"] == {"lr": {"from": 0.1, "to": 0.01}}
    assert result["tags"] == {"m:v1": ["a"], "m:v2": []}
    with pytest.raises(BadReference):
        registry.compare(["m:v1"])


def test_summary_and_markdown(registry: Registry) -> None:
    registry.register("m", metrics={"accuracy": 0.9})
    registry.register("m", metrics={"accuracy": 0.95})
    report = registry.summary()
    [row] = report["models"]
    assert row["versions"] == 2 and row["best"] == "v2" and row["best_value"] == 0.95
    markdown = to_markdown(report)
    assert "| m | 2 | v2 | v2 (accuracy=0.95) |" in markdown


def test_a_second_registry_object_sees_changes_without_reopening(local_registry: Registry) -> None:
    registry = local_registry
    other = Registry(registry.path)
    registry.register("m", metrics={"acc": 0.5})
    assert other.get("m:v1").metrics == {"acc": 0.5}
    registry.score("m:v1", acc=0.6)
    assert other.get("m:v1").metrics == {"acc": 0.6}
    other.close()


def test_changes_since_names_exactly_what_changed(tmp_path: Path) -> None:
    writer, reader = Registry(tmp_path / "r"), Registry(tmp_path / "r")
    writer.register("m")
    token = reader.changes_since(reader.token()).token
    writer.register("m", metrics={"acc": 0.5})
    writer.tag("m:v1", "x")
    changes = reader.changes_since(token)
    assert not changes.reset
    assert {reader.backend.versions()[d]["version"] for d in changes.versions} == {"v1", "v2"}
    assert not reader.changes_since(changes.token)
    writer.backend.storage.compact()  # another process folding the journal is followed, not reloaded
    writer.register("m")
    changes = reader.changes_since(changes.token)
    assert not changes.reset and len(changes.versions) == 1


def test_state_survives_reopening_and_plain_tinydb_reads_it(local_registry: Registry, artifact: Path) -> None:
    registry = local_registry
    registry.register("m", [artifact], metrics={"acc": 0.5})
    registry.tag("m:v1", "x")
    path = registry.path
    registry.close()
    again = Registry(path)
    assert again.get("m:v1").tags == ("x",)
    again.close()
    docs = TinyDB(path / "registry.json").table("versions").all()
    assert [(d["model"], d["version"], d["tags"]) for d in docs] == [("m", "v1", ["x"])]


def test_estimator_registration_saves_and_describes(registry: Registry) -> None:
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_iris(return_X_y=True)
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    v = registry.register("iris", estimator=model, metrics={"accuracy": model.score(X, y)})
    assert v.params["n_estimators"] == 5 and v.params["max_depth"] == 3
    assert "RandomForestClassifier" in v.estimator["class"]
    assert v.estimator["n_features_in_"] == 4
    [a] = v.artifacts
    assert Path(a["path"]).is_relative_to(registry.path) and a["framework"] == "sklearn"
    json.dumps(v.to_dict())


def test_location_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    (project / ".modelreg").mkdir(parents=True)
    (project / "sub" / "deeper").mkdir(parents=True)
    assert find_registry(cwd=project / "sub" / "deeper") == (project / ".modelreg").resolve()
    assert find_registry("explicit", cwd=project) == Path("explicit")
    monkeypatch.setenv("MODELREG_HOME", str(tmp_path / "home"))
    assert find_registry(cwd=project) == tmp_path / "home"
    monkeypatch.delenv("MODELREG_HOME")
    assert find_registry(cwd=tmp_path) == tmp_path / "xdg" / "modelreg"
