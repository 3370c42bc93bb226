"""RegistryStore.import_registered_model on SQLite and PostgreSQL: whole models copied from another
registry keep their numbers, stages, timestamps and users, all or nothing."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from registry_service.domain import (
    ConflictPolicy,
    ImportOutcome,
    ModelVersion,
    RegisteredModel,
    Stage,
    VersionStatus,
)
from registry_service.errors import AlreadyExists, InvalidArgument, NotFound
from registry_service.store.registry_store import RegistryStore

from .test_store import rejected

T0 = 1_600_000_000_000


def source_model(name: str = "fraud", **changes: Any) -> RegisteredModel:
    model = RegisteredModel(
        name=name,
        creation_timestamp=T0,
        last_updated_timestamp=T0 + 9_000,
        user_id="alice",
        description="detects fraud",
        tags={"team": "risk"},
        aliases={"champion": 2, "shadow": 4},
    )
    return dataclasses.replace(model, **changes)


def source_version(number: int, stage: Stage = Stage.NONE, **changes: Any) -> ModelVersion:
    version = ModelVersion(
        name="",
        version=number,
        creation_timestamp=T0 + number * 1000,
        last_updated_timestamp=T0 + number * 1000 + 500,
        user_id=f"user-{number}",
        current_stage=stage,
        description=f"version {number}",
        source=f"s3://bucket/fraud/{number}",
        run_id=f"run-{number}",
        run_link=f"https://tracking/runs/{number}",
        experiment_id="7",
        status=VersionStatus.READY,
        status_message="",
        tags={"auc": f"0.{number}"},
    )
    return dataclasses.replace(version, **changes)


# Versions 1, 2 and 4: version 3 was deleted in the source registry.
SOURCE_VERSIONS = [
    source_version(1, Stage.ARCHIVED),
    source_version(2, Stage.PRODUCTION),
    source_version(4, Stage.STAGING, tags={}, run_id="", run_link=""),
]


def test_import_keeps_every_field_of_model_and_versions(store: RegistryStore) -> None:
    result = store.import_registered_model(source_model(), SOURCE_VERSIONS)

    assert result.outcome is ImportOutcome.CREATED
    model = store.get_registered_model("fraud")
    assert result.model == model
    assert (model.name, model.creation_timestamp, model.last_updated_timestamp) == (
        "fraud",
        T0,
        T0 + 9_000,
    )
    assert (model.user_id, model.description, model.tags) == (
        "alice",
        "detects fraud",
        {"team": "risk"},
    )
    assert model.aliases == {"champion": 2, "shadow": 4}
    assert [(v.version, v.current_stage) for v in model.latest_versions] == [
        (4, Stage.STAGING),
        (2, Stage.PRODUCTION),
        (1, Stage.ARCHIVED),
    ]
    for expected in SOURCE_VERSIONS:
        stored = store.get_model_version("fraud", expected.version)
        aliases = sorted(a for a, n in model.aliases.items() if n == expected.version)
        # The copy is a new resource: it has an etag of its own.
        assert stored == dataclasses.replace(
            expected, name="fraud", aliases=aliases, etag=stored.etag
        )


def test_new_versions_continue_after_the_highest_imported_number(store: RegistryStore) -> None:
    store.import_registered_model(source_model(), SOURCE_VERSIONS)

    assert store.create_model_version("fraud", "s3://bucket/next").version == 5
    with pytest.raises(NotFound):
        store.get_model_version("fraud", 3)


def test_last_version_keeps_numbers_deleted_at_the_end_unused(store: RegistryStore) -> None:
    store.import_registered_model(source_model(), SOURCE_VERSIONS, last_version=9)

    assert store.create_model_version("fraud", "s3://bucket/next").version == 10


def test_model_without_versions_starts_numbering_at_one(store: RegistryStore) -> None:
    store.import_registered_model(source_model(aliases={}), [])

    assert store.get_registered_model("fraud").latest_versions == []
    assert store.create_model_version("fraud", "s3://bucket/first").version == 1


def test_zero_timestamps_mean_the_time_of_the_import(store: RegistryStore) -> None:
    clocked = RegistryStore(store.engine, clock=lambda: T0 + 123)
    model = source_model(creation_timestamp=0, last_updated_timestamp=0, aliases={})
    version = source_version(1, creation_timestamp=0, last_updated_timestamp=0)
    clocked.import_registered_model(model, [version])

    stored = store.get_registered_model("fraud")
    assert (stored.creation_timestamp, stored.last_updated_timestamp) == (T0 + 123, T0 + 123)
    assert store.get_model_version("fraud", 1).creation_timestamp == T0 + 123


def test_more_than_a_create_requests_tags_are_imported(store: RegistryStore) -> None:
    tags = {f"key-{i}": str(i) for i in range(150)}
    store.import_registered_model(
        source_model(tags=tags, aliases={}), [source_version(1, tags=tags)]
    )

    assert store.get_registered_model("fraud").tags == tags
    assert store.get_model_version("fraud", 1).tags == tags


def test_status_and_status_message_are_kept(store: RegistryStore) -> None:
    failed = source_version(1, status=VersionStatus.FAILED_REGISTRATION, status_message="disk full")
    store.import_registered_model(source_model(aliases={}), [failed])

    stored = store.get_model_version("fraud", 1)
    assert (stored.status, stored.status_message) == (
        VersionStatus.FAILED_REGISTRATION,
        "disk full",
    )


def test_sources_are_stored_as_given(store: RegistryStore) -> None:
    # A normal create derives run_id from a runs:/ source and resolves models:/ sources; an
    # import copies what the source registry recorded.
    versions = [
        source_version(1, source="runs:/abc/model", run_id=""),
        source_version(2, source="models:/elsewhere/3"),
    ]
    store.import_registered_model(source_model(aliases={}), versions)

    assert store.get_model_version("fraud", 1).run_id == ""
    assert store.get_model_version("fraud", 2).source == "models:/elsewhere/3"


# -- name clashes -------------------------------------------------------------------------------


def test_fail_policy_refuses_an_existing_name(store: RegistryStore) -> None:
    store.create_registered_model("fraud", description="already here")

    with rejected(store, AlreadyExists, "registered_model.name"):
        store.import_registered_model(source_model(), SOURCE_VERSIONS)


def test_skip_policy_leaves_the_existing_model_untouched(store: RegistryStore) -> None:
    existing = store.create_registered_model("fraud", description="already here")

    result = store.import_registered_model(
        source_model(), SOURCE_VERSIONS, on_conflict=ConflictPolicy.SKIP
    )

    assert result.outcome is ImportOutcome.SKIPPED
    assert result.model == existing == store.get_registered_model("fraud")
    assert store.search_model_versions("name = 'fraud'").items == []


def test_rename_policy_imports_under_the_first_free_name(store: RegistryStore) -> None:
    store.create_registered_model("fraud")
    store.create_registered_model("fraud-imported")

    result = store.import_registered_model(
        source_model(), SOURCE_VERSIONS, on_conflict=ConflictPolicy.RENAME
    )

    assert result.outcome is ImportOutcome.RENAMED
    assert result.model.name == "fraud-imported-2"
    assert store.get_model_version("fraud-imported-2", 4).source == "s3://bucket/fraud/4"
    assert store.get_registered_model("fraud").latest_versions == []


def test_rename_policy_shortens_a_long_name_to_fit(store: RegistryStore) -> None:
    name = "m" * 256
    store.create_registered_model(name)

    result = store.import_registered_model(
        source_model(name, aliases={}), [], on_conflict=ConflictPolicy.RENAME
    )

    assert result.model.name == "m" * (256 - len("-imported")) + "-imported"


# -- validation: every field, named by its request path, and nothing written ----------------


@pytest.mark.parametrize(
    ("model", "versions", "last_version", "field"),
    [
        (source_model("a/b"), SOURCE_VERSIONS, 0, "registered_model.name"),
        (source_model(description="\x00"), SOURCE_VERSIONS, 0, "registered_model.description"),
        (source_model(user_id="a\nb"), SOURCE_VERSIONS, 0, "registered_model.user_id"),
        (source_model(tags={"": "x"}), SOURCE_VERSIONS, 0, "registered_model.tags.key"),
        (
            source_model(creation_timestamp=-1),
            SOURCE_VERSIONS,
            0,
            "registered_model.creation_timestamp",
        ),
        (source_model(aliases={"latest": 2}), SOURCE_VERSIONS, 0, "registered_model.aliases"),
        (source_model(aliases={"gone": 3}), SOURCE_VERSIONS, 0, "registered_model.aliases"),
        (source_model(), [*SOURCE_VERSIONS, source_version(0)], 0, "model_versions[3].version"),
        (source_model(), [*SOURCE_VERSIONS, source_version(2)], 0, "model_versions[3].version"),
        (source_model(), [source_version(2**31)], 0, "model_versions[0].version"),
        (
            source_model(),
            [*SOURCE_VERSIONS[:1], source_version(2, source="")],
            0,
            "model_versions[1].source",
        ),
        (source_model(), [source_version(2, run_id="x" * 257)], 0, "model_versions[0].run_id"),
        (source_model(), [source_version(2, run_link="a\x01")], 0, "model_versions[0].run_link"),
        (
            source_model(),
            [source_version(2, tags={"k": "v" * 5001})],
            0,
            "model_versions[0].tags[k]",
        ),
        (
            source_model(),
            [source_version(2, last_updated_timestamp=-5)],
            0,
            "model_versions[0].last_updated_timestamp",
        ),
        (source_model(), SOURCE_VERSIONS, 3, "last_version"),
        (source_model(), SOURCE_VERSIONS, -1, "last_version"),
    ],
)
def test_invalid_import_names_the_field_and_writes_nothing(
    store: RegistryStore,
    model: RegisteredModel,
    versions: list[ModelVersion],
    last_version: int,
    field: str,
) -> None:
    with rejected(store, InvalidArgument, field):
        store.import_registered_model(model, versions, last_version=last_version)
