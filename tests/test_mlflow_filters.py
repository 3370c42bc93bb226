"""Filter strings and order_by keys in the forms MLflow's documentation shows (the client and
fluent search_model_versions / search_registered_models docstrings and the Model Registry guide),
run through the store on SQLite and PostgreSQL: each keeps the meaning it has in MLflow."""

from __future__ import annotations

import itertools

import pytest

from registry_service.store.registry_store import RegistryStore

RF = "sk-learn-random-forest-reg-model"


@pytest.fixture
def registry(store: RegistryStore) -> RegistryStore:
    # A clock that ticks on every write, so creation order is never a same-millisecond tie.
    store = RegistryStore(store.engine, clock=itertools.count(1_000_000).__next__)
    store.create_registered_model(RF, tags={"key": "value1", "extra key": "x"})
    store.create_registered_model("sk-learn-random-forest-reg", tags={"key": "value2"})
    store.create_registered_model("CordobaWeatherForecastModel", tags={"plant_species": "Ficus"})
    store.create_registered_model("BostonHousing")
    store.create_registered_model(
        "my-prompt", tags={"mlflow.prompt.is_prompt": "true", "key": "value1"}
    )
    store.create_model_version(RF, "runs:/run1/model", tags={"key": "value1"})
    store.create_model_version(RF, "runs:/run2/model", tags={"extra key": "spaced"})
    store.create_model_version(RF, "s3://bucket/rf/3", run_id="run3")
    store.create_model_version("CordobaWeatherForecastModel", "runs:/run4/model")
    store.create_model_version("BostonHousing", "runs:/run5/model", tags={"key": "value1"})
    return store


def versions(store: RegistryStore, filter: str, order_by: list[str] | None = None) -> list[str]:
    page = store.search_model_versions(filter, order_by or [], page_size=1000)
    return [f"{v.name}:{v.version}" for v in page.items]


def models(store: RegistryStore, filter: str, order_by: list[str] | None = None) -> list[str]:
    page = store.search_registered_models(filter, order_by or [], page_size=1000)
    return [m.name for m in page.items]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        (f"name='{RF}'", {f"{RF}:1", f"{RF}:2", f"{RF}:3"}),
        (f"name = '{RF}' and tag.key = 'value1'", {f"{RF}:1"}),
        ("run_id = 'run2'", {f"{RF}:2"}),
        ("run_id IN ('run1', 'run4')", {f"{RF}:1", "CordobaWeatherForecastModel:1"}),
        ("source_path = 's3://bucket/rf/3'", {f"{RF}:3"}),
        ("source_path LIKE 's3://%'", {f"{RF}:3"}),
        ("name LIKE 'sk-learn-random-forest-reg%'", {f"{RF}:1", f"{RF}:2", f"{RF}:3"}),
        ("name ILIKE '%boston%'", {"BostonHousing:1"}),
        ("tags.`extra key` = 'spaced'", {f"{RF}:2"}),
        ("tags.key = 'value1'", {f"{RF}:1", "BostonHousing:1"}),
        ("tags.key != 'value1'", {f"{RF}:2", f"{RF}:3", "CordobaWeatherForecastModel:1"}),
        (f"name = '{RF}' AND version_number >= 2", {f"{RF}:2", f"{RF}:3"}),
        (f"attributes.name = '{RF}' AND attributes.run_id = 'run1'", {f"{RF}:1"}),
    ],
)
def test_version_filters_from_mlflow_docs(
    registry: RegistryStore, filter: str, expected: set[str]
) -> None:
    assert set(versions(registry, filter)) == expected


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        (f"name='{RF}'", {RF}),
        ("name = 'CordobaWeatherForecastModel'", {"CordobaWeatherForecastModel"}),
        ("name LIKE 'sk-learn-random-forest-reg%'", {RF, "sk-learn-random-forest-reg"}),
        ("name LIKE 'Boston%'", {"BostonHousing"}),
        ("name ILIKE 'boston%'", {"BostonHousing"}),
        ("name = 'a_model_name' and tag.key = 'value1'", set()),
        (f"name = '{RF}' and tag.key = 'value1'", {RF}),
        ("tags.`plant_species` = 'Ficus'", {"CordobaWeatherForecastModel"}),
        ("tags.`extra key` = 'x'", {RF}),
        ("tags.key LIKE 'value%'", {RF, "sk-learn-random-forest-reg", "my-prompt"}),
        (
            "name != 'BostonHousing'",
            {RF, "sk-learn-random-forest-reg", "my-prompt", "CordobaWeatherForecastModel"},
        ),
        # What the MLflow client appends to every model search: prompts are left out, and a
        # model without the tag at all is kept.
        (
            "tags.key = 'value1' AND tag.`mlflow.prompt.is_prompt` != 'true'",
            {RF},
        ),
        (
            "tag.`mlflow.prompt.is_prompt` != 'true'",
            {RF, "sk-learn-random-forest-reg", "CordobaWeatherForecastModel", "BostonHousing"},
        ),
        ("tags.`mlflow.prompt.is_prompt` = 'true'", {"my-prompt"}),
    ],
)
def test_model_filters_from_mlflow_docs(
    registry: RegistryStore, filter: str, expected: set[str]
) -> None:
    assert set(models(registry, filter)) == expected


def test_mlflow_order_by_keys(registry: RegistryStore) -> None:
    assert models(registry, "", ["name ASC"]) == sorted(models(registry, ""))
    by_creation = models(registry, "", ["timestamp DESC"])
    assert by_creation[0] == "my-prompt"
    assert by_creation[-1] == RF
    assert versions(registry, f"name = '{RF}'", ["version_number DESC"]) == [
        f"{RF}:3",
        f"{RF}:2",
        f"{RF}:1",
    ]
    assert versions(registry, "", ["name", "version_number ASC"])[:3] == [
        "BostonHousing:1",
        "CordobaWeatherForecastModel:1",
        f"{RF}:1",
    ]
