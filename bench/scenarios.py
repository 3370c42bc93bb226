"""The calls the benchmark makes, each with the request it sends (varied per call over a fixed
set, so a scenario is not one cached row)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelregistry.v1 import registry_service_pb2 as pb

from bench.seed import DATASETS, Shape, model_name


@dataclass(frozen=True)
class Scenario:
    name: str
    # What the scenario asks, for the report.
    describes: str
    # The registry's method ("SearchModelVersions"), a full path ("/bench.Echo/Echo"), or ""
    # for the registry's method named by each request's type.
    method: str
    # A request for the call numbered by the argument; deterministic per (scenario, worker).
    request: Callable[[random.Random], Any]
    # Held to the p99 target at 1 client.
    indexed_search: bool = False
    # For a mixed scenario: the label of a request's case; latencies are then also reported per
    # label. Cases measured interleaved in one window share whatever else the machine is doing,
    # so their ratio is not skewed by load that changes between scenarios.
    classify: Callable[[Any], str] | None = None


def scenarios(shape: Shape, run_ids: list[str]) -> list[Scenario]:
    counts = shape.counts()
    ten = [index for index, count in enumerate(counts) if count == 10]
    small = [index for index, count in enumerate(counts) if count <= 10]
    # counts[0] is the one big model, counts[1] the first of the middle-sized ones.
    middle = [index for index, count in enumerate(counts) if count == counts[1]]

    def spelled(number: int) -> str:
        return f"{number:,}".replace(",", " ")

    def versions(filter: Callable[[random.Random], str]) -> Callable[[random.Random], Any]:
        return lambda rng: pb.SearchModelVersionsRequest(filter=filter(rng))

    label_of = {
        model_name(index): f"{spelled(counts[index])} versions" for index in [0, *middle, *ten]
    }

    def latest_label(request: Any) -> str:
        return label_of[request.name]

    def mixed(rng: random.Random) -> Any:
        models = rng.choice([ten, middle, [0]])
        return pb.GetLatestVersionsRequest(name=model_name(rng.choice(models)))

    def latest(models: list[int]) -> Callable[[random.Random], Any]:
        return lambda rng: pb.GetLatestVersionsRequest(name=model_name(rng.choice(models)))

    return [
        Scenario(
            "versions by name",
            "SearchModelVersions name = '<model with 8-10 versions>'",
            "SearchModelVersions",
            versions(lambda rng: f"name = '{model_name(rng.choice(small))}'"),
            indexed_search=True,
        ),
        Scenario(
            "versions by tag",
            "SearchModelVersions tag.dataset = 'ds-NNNNN' (~100 matches, one page of 100)",
            "SearchModelVersions",
            versions(lambda rng: f"tag.dataset = 'ds-{rng.randrange(DATASETS):05d}'"),
            indexed_search=True,
        ),
        Scenario(
            "versions by run_id",
            "SearchModelVersions run_id = '<32 hex digits>' (1 match)",
            "SearchModelVersions",
            versions(lambda rng: f"run_id = '{rng.choice(run_ids)}'"),
            indexed_search=True,
        ),
        Scenario(
            "versions with OR",
            "SearchModelVersions name = '<model A>' OR run_id = '<run of model B>'",
            "SearchModelVersions",
            versions(
                lambda rng: (
                    f"name = '{model_name(rng.choice(small))}' OR run_id = '{rng.choice(run_ids)}'"
                )
            ),
            indexed_search=True,
        ),
        Scenario(
            "models by name prefix",
            "SearchRegisteredModels name LIKE 'model-0NNNN%' (10 models, with latest versions)",
            "SearchRegisteredModels",
            lambda rng: pb.SearchRegisteredModelsRequest(
                filter=f"name LIKE '{model_name(rng.randrange(len(counts)))[:-1]}%'"
            ),
            indexed_search=True,
        ),
        Scenario(
            "latest, 10 versions",
            "GetLatestVersions of a model with 10 versions",
            "GetLatestVersions",
            latest(ten),
        ),
        Scenario(
            f"latest, {spelled(counts[1])} versions",
            f"GetLatestVersions of a model with {spelled(counts[1])} versions",
            "GetLatestVersions",
            latest(middle),
        ),
        Scenario(
            f"latest, {spelled(counts[0])} versions",
            f"GetLatestVersions of the model with {spelled(counts[0])} versions",
            "GetLatestVersions",
            latest([0]),
        ),
        Scenario(
            "latest, interleaved",
            "GetLatestVersions on the three model sizes, picked at random call by call",
            "GetLatestVersions",
            mixed,
            classify=latest_label,
        ),
    ]
