"""RegistryStore behaviour on SQLite and PostgreSQL (every test runs on both via ``store``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from registry_service.domain import ModelVersion, RegisteredModel, Stage, VersionStatus
from registry_service.errors import Aborted, AlreadyExists, InvalidArgument, NotFound, RegistryError
from registry_service.store.registry_store import RegistryStore

Snapshot = tuple[list[RegisteredModel], list[ModelVersion]]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def snapshot(store: RegistryStore) -> Snapshot:
    """Everything a user can see: every model and every version, with tags and aliases."""
    return (
        store.search_registered_models(page_size=1000).items,
        store.search_model_versions(page_size=1000).items,
    )


@contextmanager
def rejected(store: RegistryStore, kind: type[RegistryError], field: str | None) -> Iterator[None]:
    """The block raises ``kind`` naming ``field`` and leaves the database as it was."""
    before = snapshot(store)
    with pytest.raises(kind) as info:
        yield
    assert type(info.value) is kind
    assert info.value.field == field
    assert snapshot(store) == before


def stages_of(store: RegistryStore, name: str) -> dict[int, Stage]:
    versions = store.search_model_versions(f"name = '{name}'", page_size=1000).items
    return {v.version: v.current_stage for v in versions}


def make_versions(store: RegistryStore, name: str, count: int) -> list[ModelVersion]:
    return [store.create_model_version(name, f"s3://bucket/{name}/{i}") for i in range(count)]


# -- registered models --------------------------------------------------------------------------


def test_create_registered_model_returns_and_stores_the_model(store: RegistryStore) -> None:
    before = now_ms()
    model = store.create_registered_model("fraud", tags={"team": "risk"}, description="first")
    after = now_ms()

    assert model.name == "fraud"
    assert model.description == "first"
    assert model.tags == {"team": "risk"}
    assert model.latest_versions == []
    assert model.aliases == {}
    assert before <= model.creation_timestamp <= after
    assert model.last_updated_timestamp == model.creation_timestamp
    assert store.get_registered_model("fraud") == model


def test_creating_an_existing_model_name_is_already_exists(store: RegistryStore) -> None:
    store.create_registered_model("fraud", description="original")
    with rejected(store, AlreadyExists, "name"):
        store.create_registered_model("fraud", description="second")
    assert store.get_registered_model("fraud").description == "original"


def test_get_missing_model_is_not_found(store: RegistryStore) -> None:
    store.create_registered_model("fraud")
    with pytest.raises(NotFound) as info:
        store.get_registered_model("fraudd")
    assert info.value.field == "name"


def test_rename_carries_versions_tags_and_aliases(store: RegistryStore) -> None:
    store.create_registered_model("old", tags={"team": "risk"}, description="d")
    store.create_model_version("old", "s3://b/1", tags={"v": "1"})
    store.create_model_version("old", "s3://b/2")
    store.transition_model_version_stage("old", 2, "Production")
    store.set_registered_model_alias("old", "champion", 2)

    renamed = store.rename_registered_model("old", "new")

    assert renamed.name == "new"
    assert renamed.tags == {"team": "risk"}
    assert renamed.description == "d"
    assert renamed.aliases == {"champion": 2}
    assert [(v.name, v.version, v.current_stage) for v in renamed.latest_versions] == [
        ("new", 1, Stage.NONE),
        ("new", 2, Stage.PRODUCTION),
    ]
    assert store.get_registered_model("new") == renamed
    assert store.get_model_version("new", 1).tags == {"v": "1"}
    assert store.get_model_version_by_alias("new", "champion").version == 2
    assert sorted(v.version for v in store.search_model_versions("name = 'new'").items) == [1, 2]
    with pytest.raises(NotFound):
        store.get_registered_model("old")
    with pytest.raises(NotFound):
        store.get_model_version("old", 1)
    # The counter moved with the model: numbering continues.
    assert store.create_model_version("new", "s3://b/3").version == 3


def test_rename_onto_an_existing_name_is_already_exists_and_changes_nothing(
    store: RegistryStore,
) -> None:
    store.create_registered_model("a", tags={"k": "a"})
    store.create_model_version("a", "s3://a/1")
    store.create_registered_model("b", tags={"k": "b"})
    with rejected(store, AlreadyExists, "new_name"):
        store.rename_registered_model("a", "b")
    assert store.get_registered_model("a").tags == {"k": "a"}
    assert store.get_registered_model("b").tags == {"k": "b"}


def test_rename_missing_model_is_not_found(store: RegistryStore) -> None:
    with rejected(store, NotFound, "name"):
        store.rename_registered_model("ghost", "new")


def test_update_registered_model_description(store: RegistryStore) -> None:
    store.create_registered_model("m", description="one")

    assert store.update_registered_model("m", "two").description == "two"
    assert store.get_registered_model("m").description == "two"
    assert store.update_registered_model("m", None).description == "two"
    assert store.get_registered_model("m").description == "two"
    assert store.update_registered_model("m", "").description == ""
    assert store.get_registered_model("m").description == ""


def test_update_missing_model_is_not_found(store: RegistryStore) -> None:
    with rejected(store, NotFound, "name"):
        store.update_registered_model("ghost", "d")


def test_delete_registered_model_removes_everything_under_it(store: RegistryStore) -> None:
    store.create_registered_model("m", tags={"team": "risk"}, description="d")
    make_versions(store, "m", 3)
    store.set_model_version_tag("m", 1, "k", "v")
    store.set_registered_model_alias("m", "champion", 2)
    store.create_registered_model("other", tags={"keep": "me"})
    store.create_model_version("other", "s3://other/1")
    store.set_registered_model_alias("other", "champion", 1)
    other_before = store.get_registered_model("other")

    store.delete_registered_model("m")

    with pytest.raises(NotFound):
        store.get_registered_model("m")
    assert [m.name for m in store.search_registered_models().items] == ["other"]
    assert [(v.name, v.version) for v in store.search_model_versions().items] == [("other", 1)]
    assert store.get_registered_model("other") == other_before

    again = store.create_registered_model("m")
    assert again.tags == {}
    assert again.aliases == {}
    assert again.latest_versions == []
    first = store.create_model_version("m", "s3://new/1")
    assert first.version == 1
    assert first.tags == {}
    assert first.aliases == []
    with pytest.raises(NotFound):
        store.get_model_version_by_alias("m", "champion")


def test_delete_missing_model_is_not_found(store: RegistryStore) -> None:
    store.create_registered_model("m")
    with rejected(store, NotFound, "name"):
        store.delete_registered_model("ghost")


# -- model versions -----------------------------------------------------------------------------


def test_version_numbers_count_up_per_model_independently(store: RegistryStore) -> None:
    store.create_registered_model("a")
    store.create_registered_model("b")
    numbers = [
        store.create_model_version("a", "s3://a").version,
        store.create_model_version("a", "s3://a").version,
        store.create_model_version("b", "s3://b").version,
        store.create_model_version("a", "s3://a").version,
        store.create_model_version("b", "s3://b").version,
    ]
    assert numbers == [1, 2, 1, 3, 2]


def test_version_numbers_are_never_reused_after_deleting_the_highest(
    store: RegistryStore,
) -> None:
    store.create_registered_model("m")
    make_versions(store, "m", 3)
    store.delete_model_version("m", 3)
    assert store.create_model_version("m", "s3://b").version == 4
    store.delete_model_version("m", 4)
    store.delete_model_version("m", 2)
    assert store.create_model_version("m", "s3://b").version == 5
    assert sorted(stages_of(store, "m")) == [1, 5]


def test_new_version_is_ready_in_stage_none(store: RegistryStore) -> None:
    store.create_registered_model("m")
    before = now_ms()
    version = store.create_model_version("m", "s3://bucket/model")
    after = now_ms()

    assert version.name == "m"
    assert version.version == 1
    assert version.current_stage == Stage.NONE
    assert version.status == VersionStatus.READY
    assert version.source == "s3://bucket/model"
    assert version.run_id == ""
    assert version.description == ""
    assert version.tags == {}
    assert version.aliases == []
    assert before <= version.creation_timestamp <= after
    assert version.last_updated_timestamp == version.creation_timestamp
    assert store.get_model_version("m", 1) == version


def test_create_version_of_missing_model_is_not_found_and_creates_nothing(
    store: RegistryStore,
) -> None:
    store.create_registered_model("m")
    with rejected(store, NotFound, "name"):
        store.create_model_version("ghost", "s3://b")
    # The failed call allocated nothing anywhere.
    assert store.create_model_version("m", "s3://b").version == 1


def test_create_version_stores_every_field(store: RegistryStore) -> None:
    store.create_registered_model("m")
    created = store.create_model_version(
        "m",
        "s3://bucket/model",
        run_id="run-1",
        tags={"a": "1", "b": "2"},
        run_link="https://tracking/run-1",
        description="a description\nwith two lines",
        experiment_id="42",
    )
    assert created.run_id == "run-1"
    assert created.run_link == "https://tracking/run-1"
    assert created.description == "a description\nwith two lines"
    assert created.experiment_id == "42"
    assert created.tags == {"a": "1", "b": "2"}
    assert store.get_model_version("m", 1) == created


@pytest.mark.parametrize(
    "source", ["s3://bucket/model", "runs:/abc123/artifacts/model", "models:/m@champion"]
)
def test_create_version_returns_what_a_read_of_it_returns(
    store: RegistryStore, source: str
) -> None:
    """The created version is built from what was written, not read back: tags in the
    databases' byte-wise key order, the source as stored (a models:/ reference resolved), no
    aliases, the etag reads return."""
    store.create_registered_model("m")
    store.create_model_version("m", "s3://bucket/first")
    store.set_registered_model_alias("m", "champion", 1)
    created = store.create_model_version(
        "m",
        source,
        tags={"zeta": "1", "Zeta": "2", "\u00e9t\u00e9": "3", "a": "", "\U0001f600": "4"},
        description="d\u00e9j\u00e0 vu  ",
    )
    assert list(created.tags) == sorted(created.tags, key=lambda key: key.encode())
    assert created.aliases == []
    assert store.get_model_version("m", 2) == created


def test_stage_transitions_and_updates_return_what_a_read_of_the_version_returns(
    store: RegistryStore,
) -> None:
    """Both build their result from the row they read before writing, with the new values and
    the new revision: labels, etag and timestamps must match a read afterwards."""
    store.create_registered_model("m")
    for _ in range(3):
        store.create_model_version("m", "s3://bucket/model", tags={"b": "2", "a": "1"})
    store.set_registered_model_alias("m", "champion", 2)
    store.set_registered_model_alias("m", "backup", 2)
    store.transition_model_version_stage("m", 1, "Production")
    before = store.get_model_version("m", 2)

    moved = store.transition_model_version_stage(
        "m", 2, "Production", archive_existing_versions=True, etag=before.etag
    )
    assert moved == store.get_model_version("m", 2)
    assert moved.aliases == ["backup", "champion"]
    assert moved.etag != before.etag
    assert store.get_model_version("m", 1).current_stage == Stage.ARCHIVED

    updated = store.update_model_version("m", 2, "new description", etag=moved.etag)
    assert updated == store.get_model_version("m", 2)
    assert updated.description == "new description"
    unchanged = store.update_model_version("m", 2, None)
    assert unchanged == store.get_model_version("m", 2)
    with pytest.raises(Aborted):
        store.transition_model_version_stage("m", 2, "Staging", etag=before.etag)
    assert store.get_model_version("m", 2) == unchanged


def test_runs_source_records_its_run_id(store: RegistryStore) -> None:
    store.create_registered_model("m")
    version = store.create_model_version("m", "runs:/abc123/artifacts/model")
    assert version.run_id == "abc123"
    assert version.source == "runs:/abc123/artifacts/model"
    assert store.get_model_version("m", 1).run_id == "abc123"


def test_runs_source_with_the_same_run_id_beside_it_is_accepted(store: RegistryStore) -> None:
    store.create_registered_model("m")
    version = store.create_model_version("m", "runs:/abc123/model", run_id="abc123")
    assert version.run_id == "abc123"


def test_runs_source_with_a_different_run_id_is_invalid(store: RegistryStore) -> None:
    store.create_registered_model("m")
    with rejected(store, InvalidArgument, "run_id"):
        store.create_model_version("m", "runs:/abc123/model", run_id="other")


@pytest.fixture
def referenced(store: RegistryStore) -> RegistryStore:
    """Model "src": v1 Production (alias champion), v2 Staging, v3 None; "empty" has no
    versions; "target" receives the new versions."""
    store.create_registered_model("src")
    store.create_model_version("src", "s3://src/1")
    store.create_model_version("src", "s3://src/2")
    store.create_model_version("src", "s3://src/3")
    store.transition_model_version_stage("src", 1, "Production")
    store.transition_model_version_stage("src", 2, "Staging")
    store.set_registered_model_alias("src", "champion", 1)
    store.create_registered_model("empty")
    store.create_registered_model("target")
    return store


@pytest.mark.parametrize(
    ("uri", "number", "files"),
    [
        ("models:/src/1", 1, "s3://src/1"),
        ("models:/src/2", 2, "s3://src/2"),
        ("models:/src/Production", 1, "s3://src/1"),
        ("models:/src/production", 1, "s3://src/1"),
        ("models:/src/STAGING", 2, "s3://src/2"),
        ("models:/src/none", 3, "s3://src/3"),
        ("models:/src/latest", 3, "s3://src/3"),
        ("models:/src@champion", 1, "s3://src/1"),
    ],
)
def test_models_source_copies_the_version_it_names_as_mlflow_does(
    referenced: RegistryStore, uri: str, number: int, files: str
) -> None:
    """The copy's source names the copied version by number; its files are that version's."""
    version = referenced.create_model_version("target", uri)
    assert version.source == f"models:/src/{number}"
    assert referenced.get_model_version("target", 1).source == f"models:/src/{number}"
    assert referenced.get_model_version_download_uri("target", 1) == files
    # A copy of the copy still downloads the first version's files.
    referenced.create_model_version("target", "models:/target/1")
    assert referenced.get_model_version_download_uri("target", 2) == files


def test_a_copy_inherits_the_lineage_it_is_not_given_and_refuses_a_contradiction(
    referenced: RegistryStore,
) -> None:
    referenced.create_model_version(
        "src", "s3://src/4", run_id="r4", experiment_id="7", run_link="http://t/r4"
    )
    copied = referenced.create_model_version("target", "models:/src/4")
    assert (copied.run_id, copied.experiment_id, copied.run_link) == ("r4", "7", "http://t/r4")
    with rejected(referenced, InvalidArgument, "source"):
        referenced.create_model_version("target", "models:/src/4", run_id="other")


@pytest.mark.parametrize(
    "uri",
    [
        "models:/ghost/1",
        "models:/src/4",
        "models:/src/Archived",
        "models:/src@missing",
        "models:/empty/latest",
        "models:/empty@latest",
        "models:/ghost@champion",
    ],
)
def test_models_source_naming_nothing_is_not_found(referenced: RegistryStore, uri: str) -> None:
    with rejected(referenced, NotFound, "source"):
        referenced.create_model_version("target", uri)


@pytest.mark.parametrize(
    "uri",
    [
        "models:/",
        "models:/src/",
        "models:/src/1/extra",
        "models:/src@",
        "models:/@champion",
        "models:/src/Productionn",
    ],
)
def test_malformed_models_source_is_invalid(referenced: RegistryStore, uri: str) -> None:
    with rejected(referenced, InvalidArgument, "source"):
        referenced.create_model_version("target", uri)


def test_get_missing_version_is_not_found(store: RegistryStore) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b")
    with pytest.raises(NotFound) as info:
        store.get_model_version("m", 2)
    assert info.value.field == "version"
    with pytest.raises(NotFound):
        store.get_model_version("ghost", 1)


@pytest.mark.parametrize("version", [0, -1, 2**31, 2**63 - 1])
@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(lambda s, v: s.get_model_version("m", v), id="get"),
        pytest.param(lambda s, v: s.update_model_version("m", v, "d"), id="update"),
        pytest.param(lambda s, v: s.delete_model_version("m", v), id="delete"),
        pytest.param(lambda s, v: s.transition_model_version_stage("m", v, "Staging"), id="stage"),
        pytest.param(lambda s, v: s.set_model_version_tag("m", v, "k", "v"), id="tag"),
        pytest.param(lambda s, v: s.set_registered_model_alias("m", "a", v), id="alias"),
        pytest.param(lambda s, v: s.get_model_version_download_uri("m", v), id="download"),
    ],
)
def test_version_out_of_range_is_invalid(
    store: RegistryStore, operation: Callable[[RegistryStore, int], object], version: int
) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b")
    with rejected(store, InvalidArgument, "version"):
        operation(store, version)


def test_update_model_version_description(store: RegistryStore) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b", description="one")
    assert store.update_model_version("m", 1, "two").description == "two"
    assert store.get_model_version("m", 1).description == "two"
    assert store.update_model_version("m", 1, None).description == "two"
    assert store.update_model_version("m", 1, "").description == ""
    assert store.get_model_version("m", 1).description == ""


def test_update_missing_version_is_not_found(store: RegistryStore) -> None:
    store.create_registered_model("m")
    with rejected(store, NotFound, "version"):
        store.update_model_version("m", 1, "d")


def test_download_uri_is_the_source(store: RegistryStore) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://bucket/path/model")
    assert store.get_model_version_download_uri("m", 1) == "s3://bucket/path/model"
    with pytest.raises(NotFound):
        store.get_model_version_download_uri("m", 2)


def test_delete_model_version_removes_only_that_version(store: RegistryStore) -> None:
    store.create_registered_model("m")
    make_versions(store, "m", 2)
    store.delete_model_version("m", 1)
    with pytest.raises(NotFound):
        store.get_model_version("m", 1)
    assert store.get_model_version("m", 2).version == 2
    with rejected(store, NotFound, "version"):
        store.delete_model_version("m", 1)


# -- stages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "stage"),
    [
        ("production", Stage.PRODUCTION),
        ("STAGING", Stage.STAGING),
        ("Staging", Stage.STAGING),
        ("aRcHiVeD", Stage.ARCHIVED),
        ("none", Stage.NONE),
    ],
)
def test_transition_accepts_any_case_and_stores_the_canonical_stage(
    store: RegistryStore, spelling: str, stage: Stage
) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b")
    if stage == Stage.NONE:
        store.transition_model_version_stage("m", 1, "Staging")
    returned = store.transition_model_version_stage("m", 1, spelling)
    assert returned.current_stage == stage
    assert returned.current_stage.value == stage.value
    assert store.get_model_version("m", 1).current_stage.value == stage.value


def test_transition_to_unknown_stage_is_invalid(store: RegistryStore) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b")
    with rejected(store, InvalidArgument, "stage"):
        store.transition_model_version_stage("m", 1, "Prod")


def test_transition_of_missing_version_is_not_found(store: RegistryStore) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b")
    with rejected(store, NotFound, "version"):
        store.transition_model_version_stage("m", 2, "Production", archive_existing_versions=True)


@pytest.mark.parametrize("target", [Stage.STAGING, Stage.PRODUCTION])
def test_archive_existing_versions_archives_only_the_target_stage(
    store: RegistryStore, target: Stage
) -> None:
    other = Stage.PRODUCTION if target == Stage.STAGING else Stage.STAGING
    store.create_registered_model("m")
    make_versions(store, "m", 6)
    store.transition_model_version_stage("m", 1, target.value)
    store.transition_model_version_stage("m", 2, target.value)
    store.transition_model_version_stage("m", 3, other.value)
    store.transition_model_version_stage("m", 4, "Archived")
    # Version 5 stays in None. Another model's versions in the target stage are not touched.
    store.create_registered_model("neighbour")
    store.create_model_version("neighbour", "s3://n")
    store.transition_model_version_stage("neighbour", 1, target.value)

    moved = store.transition_model_version_stage(
        "m", 6, target.value.lower(), archive_existing_versions=True
    )

    assert moved.current_stage == target
    assert stages_of(store, "m") == {
        1: Stage.ARCHIVED,
        2: Stage.ARCHIVED,
        3: other,
        4: Stage.ARCHIVED,
        5: Stage.NONE,
        6: target,
    }
    assert stages_of(store, "neighbour") == {1: target}


def test_archive_existing_versions_keeps_the_moved_version_when_already_in_target(
    store: RegistryStore,
) -> None:
    store.create_registered_model("m")
    make_versions(store, "m", 2)
    store.transition_model_version_stage("m", 1, "Production")
    store.transition_model_version_stage("m", 2, "Production")
    store.transition_model_version_stage("m", 2, "Production", archive_existing_versions=True)
    assert stages_of(store, "m") == {1: Stage.ARCHIVED, 2: Stage.PRODUCTION}


def test_transition_without_archiving_leaves_other_versions_in_the_stage(
    store: RegistryStore,
) -> None:
    store.create_registered_model("m")
    make_versions(store, "m", 2)
    store.transition_model_version_stage("m", 1, "Production")
    store.transition_model_version_stage("m", 2, "Production")
    assert stages_of(store, "m") == {1: Stage.PRODUCTION, 2: Stage.PRODUCTION}


@pytest.mark.parametrize("target", ["None", "Archived", "archived"])
def test_archive_existing_versions_with_target_none_or_archived_is_invalid(
    store: RegistryStore, target: str
) -> None:
    store.create_registered_model("m")
    make_versions(store, "m", 2)
    store.transition_model_version_stage("m", 1, "Production")
    with rejected(store, InvalidArgument, "archive_existing_versions"):
        store.transition_model_version_stage("m", 2, target, archive_existing_versions=True)


@pytest.fixture
def staged(store: RegistryStore) -> RegistryStore:
    """Model "m": v1 Production, v2 Staging, v3 Production, v4 None, v5 None, v6 Archived,
    v7 Staging then deleted."""
    store.create_registered_model("m")
    make_versions(store, "m", 7)
    for version, stage in [
        (1, "Production"),
        (2, "Staging"),
        (3, "Production"),
        (6, "Archived"),
        (7, "Staging"),
    ]:
        store.transition_model_version_stage("m", version, stage)
    store.delete_model_version("m", 7)
    return store


def test_get_latest_versions_without_stages_gives_the_highest_per_stage(
    staged: RegistryStore,
) -> None:
    latest = staged.get_latest_versions("m")
    assert sorted((v.current_stage.value, v.version) for v in latest) == [
        ("Archived", 6),
        ("None", 5),
        ("Production", 3),
        ("Staging", 2),
    ]
    assert all(v.name == "m" for v in latest)


def test_get_latest_versions_filters_stages_in_any_case(staged: RegistryStore) -> None:
    latest = staged.get_latest_versions("m", ["production", "STAGING"])
    assert sorted((v.current_stage.value, v.version) for v in latest) == [
        ("Production", 3),
        ("Staging", 2),
    ]
    only_none = staged.get_latest_versions("m", ["NONE"])
    assert [(v.current_stage, v.version) for v in only_none] == [(Stage.NONE, 5)]


def test_get_latest_versions_returns_full_versions(staged: RegistryStore) -> None:
    staged.set_model_version_tag("m", 3, "k", "v")
    staged.set_registered_model_alias("m", "champion", 3)
    [production] = staged.get_latest_versions("m", ["Production"])
    assert production == staged.get_model_version("m", 3)
    assert production.tags == {"k": "v"}
    assert production.aliases == ["champion"]


def test_get_latest_versions_with_unknown_stage_is_invalid(staged: RegistryStore) -> None:
    with pytest.raises(InvalidArgument):
        staged.get_latest_versions("m", ["Production", "Live"])


def test_get_latest_versions_of_model_without_versions_is_empty(store: RegistryStore) -> None:
    store.create_registered_model("m")
    assert store.get_latest_versions("m") == []
    assert store.get_latest_versions("m", ["Production"]) == []


def test_get_latest_versions_of_missing_model_is_not_found(store: RegistryStore) -> None:
    with pytest.raises(NotFound):
        store.get_latest_versions("ghost")


def test_registered_model_latest_versions_has_one_per_stage_in_stage_order(
    staged: RegistryStore,
) -> None:
    model = staged.get_registered_model("m")
    assert [(v.current_stage, v.version) for v in model.latest_versions] == [
        (Stage.NONE, 5),
        (Stage.STAGING, 2),
        (Stage.PRODUCTION, 3),
        (Stage.ARCHIVED, 6),
    ]
    [searched] = staged.search_registered_models("name = 'm'").items
    assert searched.latest_versions == model.latest_versions


def test_registered_model_latest_versions_skips_empty_stages(store: RegistryStore) -> None:
    store.create_registered_model("m")
    make_versions(store, "m", 3)
    store.transition_model_version_stage("m", 1, "Archived")
    store.transition_model_version_stage("m", 2, "Production")
    store.transition_model_version_stage("m", 3, "Production")
    model = store.get_registered_model("m")
    assert [(v.current_stage, v.version) for v in model.latest_versions] == [
        (Stage.PRODUCTION, 3),
        (Stage.ARCHIVED, 1),
    ]


# -- aliases ------------------------------------------------------------------------------------


def test_set_alias_and_get_by_alias(store: RegistryStore) -> None:
    store.create_registered_model("m")
    make_versions(store, "m", 3)
    store.set_registered_model_alias("m", "champion", 2)
    store.set_registered_model_alias("m", "challenger", 2)
    store.set_registered_model_alias("m", "old", 1)

    by_alias = store.get_model_version_by_alias("m", "champion")
    assert by_alias == store.get_model_version("m", 2)
    assert sorted(by_alias.aliases) == ["challenger", "champion"]
    assert store.get_model_version("m", 1).aliases == ["old"]
    assert store.get_model_version("m", 3).aliases == []
    assert store.get_registered_model("m").aliases == {"challenger": 2, "champion": 2, "old": 1}


def test_setting_an_existing_alias_moves_it(store: RegistryStore) -> None:
    store.create_registered_model("m")
    make_versions(store, "m", 2)
    store.set_registered_model_alias("m", "champion", 1)
    store.set_registered_model_alias("m", "champion", 2)

    assert store.get_model_version_by_alias("m", "champion").version == 2
    assert store.get_model_version("m", 1).aliases == []
    assert store.get_model_version("m", 2).aliases == ["champion"]
    assert store.get_registered_model("m").aliases == {"champion": 2}


def test_aliases_are_per_model(store: RegistryStore) -> None:
    store.create_registered_model("a")
    store.create_registered_model("b")
    make_versions(store, "a", 2)
    make_versions(store, "b", 2)
    store.set_registered_model_alias("a", "champion", 1)
    store.set_registered_model_alias("b", "champion", 2)
    assert store.get_model_version_by_alias("a", "champion").version == 1
    assert store.get_model_version_by_alias("b", "champion").version == 2


def test_alias_on_missing_version_or_model_is_not_found(store: RegistryStore) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b")
    with rejected(store, NotFound, "version"):
        store.set_registered_model_alias("m", "champion", 2)
    with rejected(store, NotFound, "name"):
        store.set_registered_model_alias("ghost", "champion", 1)


@pytest.mark.parametrize(
    "alias",
    ["a b", "x/y", "", "a" * 256, "a.b", "ünï", "latest", "Latest", "LATEST", "v1", "V12", "v007"],
)
def test_invalid_or_reserved_alias_is_invalid(store: RegistryStore, alias: str) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b")
    with rejected(store, InvalidArgument, "alias"):
        store.set_registered_model_alias("m", alias, 1)


@pytest.mark.parametrize("alias", ["a" * 255, "v", "v1a", "latest2", "my-alias_2", "V"])
def test_near_reserved_and_longest_aliases_can_be_set(store: RegistryStore, alias: str) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b")
    store.set_registered_model_alias("m", alias, 1)
    assert store.get_model_version_by_alias("m", alias).aliases == [alias]
    assert store.get_registered_model("m").aliases == {alias: 1}


def test_deleting_a_version_removes_its_aliases(store: RegistryStore) -> None:
    store.create_registered_model("m")
    make_versions(store, "m", 2)
    store.set_registered_model_alias("m", "champion", 1)
    store.set_registered_model_alias("m", "backup", 1)
    store.set_registered_model_alias("m", "challenger", 2)

    store.delete_model_version("m", 1)

    assert store.get_registered_model("m").aliases == {"challenger": 2}
    with pytest.raises(NotFound):
        store.get_model_version_by_alias("m", "champion")
    # A new version does not inherit the dead aliases.
    store.create_model_version("m", "s3://b")
    assert store.get_model_version("m", 3).aliases == []


def test_latest_alias_resolves_to_the_highest_existing_version(store: RegistryStore) -> None:
    store.create_registered_model("m")
    make_versions(store, "m", 3)
    store.transition_model_version_stage("m", 3, "Archived")
    assert store.get_model_version_by_alias("m", "latest").version == 3
    store.delete_model_version("m", 3)
    assert store.get_model_version_by_alias("m", "latest").version == 2
    store.create_model_version("m", "s3://b")
    assert store.get_model_version_by_alias("m", "latest").version == 4


def test_latest_alias_on_model_without_versions_is_not_found(store: RegistryStore) -> None:
    store.create_registered_model("m")
    with pytest.raises(NotFound):
        store.get_model_version_by_alias("m", "latest")
    store.create_model_version("m", "s3://b")
    store.delete_model_version("m", 1)
    with pytest.raises(NotFound):
        store.get_model_version_by_alias("m", "latest")


def test_delete_alias(store: RegistryStore) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b")
    store.set_registered_model_alias("m", "champion", 1)
    store.set_registered_model_alias("m", "backup", 1)

    store.delete_registered_model_alias("m", "champion")

    assert store.get_registered_model("m").aliases == {"backup": 1}
    assert store.get_model_version("m", 1).aliases == ["backup"]
    with pytest.raises(NotFound) as info:
        store.get_model_version_by_alias("m", "champion")
    assert info.value.field == "alias"


def test_deleting_an_absent_alias_succeeds(store: RegistryStore) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b")
    store.set_registered_model_alias("m", "backup", 1)
    before = snapshot(store)
    store.delete_registered_model_alias("m", "never-set")
    assert snapshot(store) == before


def test_delete_alias_of_missing_model_is_not_found(store: RegistryStore) -> None:
    with rejected(store, NotFound, "name"):
        store.delete_registered_model_alias("ghost", "champion")


def test_get_by_missing_alias_is_not_found(store: RegistryStore) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b")
    with pytest.raises(NotFound) as info:
        store.get_model_version_by_alias("m", "champion")
    assert info.value.field == "alias"
    with pytest.raises(NotFound) as info:
        store.get_model_version_by_alias("ghost", "champion")
    assert info.value.field == "name"


# -- tags ---------------------------------------------------------------------------------------


def test_registered_model_tags_set_overwrite_and_delete(store: RegistryStore) -> None:
    store.create_registered_model("m", tags={"a": "1"})
    store.set_registered_model_tag("m", "b", "2")
    store.set_registered_model_tag("m", "a", "one")
    assert store.get_registered_model("m").tags == {"a": "one", "b": "2"}
    store.delete_registered_model_tag("m", "a")
    assert store.get_registered_model("m").tags == {"b": "2"}
    store.delete_registered_model_tag("m", "a")
    store.delete_registered_model_tag("m", "never")
    assert store.get_registered_model("m").tags == {"b": "2"}


def test_model_version_tags_set_overwrite_and_delete(store: RegistryStore) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b", tags={"a": "1"})
    store.create_model_version("m", "s3://b", tags={"a": "other"})
    store.set_model_version_tag("m", 1, "b", "2")
    store.set_model_version_tag("m", 1, "a", "one")
    assert store.get_model_version("m", 1).tags == {"a": "one", "b": "2"}
    store.delete_model_version_tag("m", 1, "a")
    assert store.get_model_version("m", 1).tags == {"b": "2"}
    store.delete_model_version_tag("m", 1, "a")
    store.delete_model_version_tag("m", 1, "never")
    assert store.get_model_version("m", 1).tags == {"b": "2"}
    assert store.get_model_version("m", 2).tags == {"a": "other"}
    # Model tags and version tags are separate.
    assert store.get_registered_model("m").tags == {}


@pytest.mark.parametrize(
    ("operation", "field"),
    [
        pytest.param(lambda s: s.set_registered_model_tag("ghost", "k", "v"), "name", id="set-m"),
        pytest.param(lambda s: s.delete_registered_model_tag("ghost", "k"), "name", id="del-m"),
        pytest.param(lambda s: s.set_model_version_tag("ghost", 1, "k", "v"), "name", id="set-v"),
        pytest.param(lambda s: s.set_model_version_tag("m", 2, "k", "v"), "version", id="set-v2"),
        pytest.param(lambda s: s.delete_model_version_tag("m", 2, "k"), "version", id="del-v2"),
    ],
)
def test_tag_on_missing_model_or_version_is_not_found(
    store: RegistryStore, operation: Callable[[RegistryStore], object], field: str
) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b")
    with rejected(store, NotFound, field):
        operation(store)


BAD_KEYS = ["", "k" * 251, "a\nb", "a\x00b", "tab\tkey", "del\x7f"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_tag_key_is_invalid(store: RegistryStore, key: str) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b")
    with rejected(store, InvalidArgument, "key"):
        store.set_registered_model_tag("m", key, "v")
    with rejected(store, InvalidArgument, "key"):
        store.set_model_version_tag("m", 1, key, "v")
    with rejected(store, InvalidArgument, "key"):
        store.delete_registered_model_tag("m", key)
    with rejected(store, InvalidArgument, "key"):
        store.delete_model_version_tag("m", 1, key)


def test_too_long_tag_value_is_invalid(store: RegistryStore) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s3://b")
    with rejected(store, InvalidArgument, "value"):
        store.set_registered_model_tag("m", "k", "v" * 5001)
    with rejected(store, InvalidArgument, "value"):
        store.set_model_version_tag("m", 1, "k", "v" * 5001)


# -- validation and limits ----------------------------------------------------------------------


BAD_NAMES = ["", "n" * 257, "a/b", "/", "a\x00b", "a\nb", "a\tb", "\x1f", " lead", "trail ", " "]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_model_name_is_invalid_and_creates_nothing(store: RegistryStore, name: str) -> None:
    store.create_registered_model("existing")
    with rejected(store, InvalidArgument, "name"):
        store.create_registered_model(name)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_new_name_is_invalid_and_renames_nothing(store: RegistryStore, name: str) -> None:
    store.create_registered_model("existing")
    with rejected(store, InvalidArgument, "new_name"):
        store.rename_registered_model("existing", name)


@pytest.mark.parametrize("filler", ["a", "é", "語", "🚀"])
def test_every_allowed_maximum_fits_the_database(store: RegistryStore, filler: str) -> None:
    name = filler * 256
    key = filler * 250
    value = filler * 5000
    description = filler * 65536
    alias = "a" * 255

    model = store.create_registered_model(name, tags={key: value}, description=description)
    assert (model.name, model.tags, model.description) == (name, {key: value}, description)
    second_key = "k" + filler * 249
    store.set_registered_model_tag(name, second_key, value)
    version = store.create_model_version(
        name,
        source="s3://" + filler * 4091,
        run_id=filler * 256,
        tags={key: value},
        run_link="h" + filler * 4095,
        description=description,
        experiment_id=filler * 256,
    )
    store.set_model_version_tag(name, 1, second_key, value)
    store.set_registered_model_alias(name, alias, 1)
    store.update_model_version(name, 1, description)

    expected_source = "s3://" + filler * 4091
    read = store.get_model_version(name, 1)
    assert len(read.source) == 4096
    assert read.source == expected_source == version.source
    assert read.run_id == filler * 256
    assert read.experiment_id == filler * 256
    assert read.run_link == "h" + filler * 4095
    assert read.description == description
    assert read.tags == {key: value, second_key: value}
    assert read.aliases == [alias]
    assert store.get_model_version_by_alias(name, alias) == read

    got = store.get_registered_model(name)
    assert got.name == name
    assert got.description == description
    assert got.tags == {key: value, second_key: value}
    assert got.aliases == {alias: 1}
    assert store.search_registered_models().items == [got]
    assert store.search_model_versions().items == [read]


def test_runs_source_with_longest_run_id_records_it(store: RegistryStore) -> None:
    store.create_registered_model("m")
    run_id = "r" * 256
    version = store.create_model_version("m", f"runs:/{run_id}/model")
    assert store.get_model_version("m", 1).run_id == run_id == version.run_id
    with rejected(store, InvalidArgument, "source"):
        store.create_model_version("m", f"runs:/{run_id}x/model")


@pytest.mark.parametrize(
    ("operation", "field"),
    [
        pytest.param(lambda s: s.create_registered_model("n" * 257), "name", id="name"),
        pytest.param(
            lambda s: s.create_registered_model("n", description="d" * 65537),
            "description",
            id="model-description",
        ),
        pytest.param(
            lambda s: s.create_registered_model("n", tags={"k" * 251: "v"}),
            "tags.key",
            id="create-tag-key",
        ),
        pytest.param(
            lambda s: s.create_registered_model("n", tags={"k": "v" * 5001}),
            "tags[k]",
            id="create-tag-value",
        ),
        pytest.param(
            lambda s: s.update_registered_model("m", "d" * 65537),
            "description",
            id="update-model-description",
        ),
        pytest.param(lambda s: s.rename_registered_model("m", "n" * 257), "new_name", id="rename"),
        pytest.param(
            lambda s: s.set_registered_model_tag("m", "k" * 251, "v"), "key", id="model-tag-key"
        ),
        pytest.param(
            lambda s: s.set_registered_model_tag("m", "k", "v" * 5001),
            "value",
            id="model-tag-value",
        ),
        pytest.param(
            lambda s: s.create_model_version("m", "s3://" + "s" * 4092), "source", id="source"
        ),
        pytest.param(
            lambda s: s.create_model_version("m", "s3://b", run_id="r" * 257), "run_id", id="run"
        ),
        pytest.param(
            lambda s: s.create_model_version("m", "s3://b", experiment_id="e" * 257),
            "experiment_id",
            id="experiment",
        ),
        pytest.param(
            lambda s: s.create_model_version("m", "s3://b", run_link="h" * 4097),
            "run_link",
            id="run-link",
        ),
        pytest.param(
            lambda s: s.create_model_version("m", "s3://b", description="d" * 65537),
            "description",
            id="version-description",
        ),
        pytest.param(
            lambda s: s.create_model_version("m", "s3://b", tags={"k" * 251: "v"}),
            "tags.key",
            id="version-create-tag-key",
        ),
        pytest.param(
            lambda s: s.create_model_version("m", "s3://b", tags={"k": "v" * 5001}),
            "tags[k]",
            id="version-create-tag-value",
        ),
        pytest.param(
            lambda s: s.update_model_version("m", 1, "d" * 65537),
            "description",
            id="update-version-description",
        ),
        pytest.param(
            lambda s: s.set_model_version_tag("m", 1, "k" * 251, "v"),
            "key",
            id="version-tag-key",
        ),
        pytest.param(
            lambda s: s.set_model_version_tag("m", 1, "k", "v" * 5001),
            "value",
            id="version-tag-value",
        ),
        pytest.param(
            lambda s: s.set_registered_model_alias("m", "a" * 256, 1), "alias", id="alias"
        ),
    ],
)
def test_one_character_over_a_maximum_is_invalid_and_changes_nothing(
    store: RegistryStore, operation: Callable[[RegistryStore], object], field: str
) -> None:
    store.create_registered_model("m", tags={"k": "v"}, description="d")
    store.create_model_version("m", "s3://b", tags={"k": "v"}, description="d")
    with rejected(store, InvalidArgument, field):
        operation(store)


def test_non_ascii_names_and_values_round_trip(store: RegistryStore) -> None:
    name = "模型 ñandú 🚀"
    tags = {"ключ": "値 🚀", "emoji-🔑": "ß∂ƒ\nzweite Zeile"}
    model = store.create_registered_model(name, tags=tags, description="Описание 🧪")
    assert (model.name, model.tags, model.description) == (name, tags, "Описание 🧪")
    version = store.create_model_version(
        name,
        "s3://bücket/модель/🚀",
        run_id="прогон",
        tags={"版本": "✓"},
        run_link="https://例え.jp/実行",
        description="説明",
        experiment_id="эксперимент",
    )
    assert store.get_model_version(name, 1) == version
    assert version.source == "s3://bücket/модель/🚀"
    assert version.run_id == "прогон"
    assert version.run_link == "https://例え.jp/実行"
    assert version.experiment_id == "эксперимент"
    assert version.tags == {"版本": "✓"}
    assert store.get_registered_model(name).tags == tags
    assert [m.name for m in store.search_registered_models(f"name = '{name}'").items] == [name]
    assert [v.version for v in store.search_model_versions(f"name = '{name}'").items] == [1]

    renamed = store.rename_registered_model(name, "名前-✓")
    assert renamed.name == "名前-✓"
    assert store.get_model_version("名前-✓", 1).source == "s3://bücket/модель/🚀"
    referenced = store.create_model_version("名前-✓", "models:/名前-✓/1")
    assert referenced.source == "models:/名前-✓/1"
    assert store.get_model_version_download_uri("名前-✓", 2) == "s3://bücket/модель/🚀"


def test_distinct_names_differing_only_in_case_or_unicode_are_distinct_models(
    store: RegistryStore,
) -> None:
    for name in ["Model", "model", "modèle", "MODEL"]:
        store.create_registered_model(name)
    assert sorted(m.name for m in store.search_registered_models().items) == sorted(
        ["Model", "model", "modèle", "MODEL"]
    )


# -- search (basic) -----------------------------------------------------------------------------


def test_search_registered_models_populates_tags_aliases_and_latest_versions(
    store: RegistryStore,
) -> None:
    store.create_registered_model("a", tags={"team": "risk"}, description="da")
    store.create_model_version("a", "s3://a/1")
    store.transition_model_version_stage("a", 1, "Production")
    store.set_registered_model_alias("a", "champion", 1)
    store.create_registered_model("b")

    page = store.search_registered_models()

    assert page.next_page_token == ""
    assert page.items == [store.get_registered_model("a"), store.get_registered_model("b")]
    a, b = page.items
    assert a.tags == {"team": "risk"}
    assert a.aliases == {"champion": 1}
    assert [(v.version, v.current_stage) for v in a.latest_versions] == [(1, Stage.PRODUCTION)]
    assert (b.tags, b.aliases, b.latest_versions) == ({}, {}, [])


def test_search_model_versions_populates_tags_and_aliases(store: RegistryStore) -> None:
    store.create_registered_model("a")
    store.create_model_version("a", "s3://a/1", tags={"k": "v"})
    store.create_model_version("a", "s3://a/2")
    store.set_registered_model_alias("a", "champion", 1)
    store.set_registered_model_alias("a", "backup", 1)

    found = {v.version: v for v in store.search_model_versions("name = 'a'").items}

    assert found == {1: store.get_model_version("a", 1), 2: store.get_model_version("a", 2)}
    assert found[1].tags == {"k": "v"}
    assert sorted(found[1].aliases) == ["backup", "champion"]
    assert (found[2].tags, found[2].aliases) == ({}, [])


def test_paging_registered_models_visits_each_once(store: RegistryStore) -> None:
    names = [f"model-{i}" for i in range(5)]
    for name in names:
        store.create_registered_model(name)
    seen: list[str] = []
    sizes: list[int] = []
    token = ""
    for _ in range(10):
        page = store.search_registered_models(page_size=2, page_token=token)
        seen += [m.name for m in page.items]
        sizes.append(len(page.items))
        token = page.next_page_token
        if not token:
            break
    assert sizes == [2, 2, 1]
    assert sorted(seen) == names
    assert len(seen) == len(set(seen))


def test_paging_model_versions_visits_each_once(store: RegistryStore) -> None:
    store.create_registered_model("a")
    store.create_registered_model("b")
    make_versions(store, "a", 3)
    make_versions(store, "b", 2)
    seen: list[tuple[str, int]] = []
    sizes: list[int] = []
    token = ""
    for _ in range(10):
        page = store.search_model_versions(page_size=2, page_token=token)
        seen += [(v.name, v.version) for v in page.items]
        sizes.append(len(page.items))
        token = page.next_page_token
        if not token:
            break
    assert sizes == [2, 2, 1]
    assert sorted(seen) == [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2)]
