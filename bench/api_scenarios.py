"""The calls `make bench` measures, on the registry bench/seed.py builds (model-000000 has the
most versions; model-000001 … model-000100 the next most; every model has a ``champion``)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from modelregistry.v1 import registry_service_pb2 as pb

from bench.echo import METHOD
from bench.scenarios import Scenario
from bench.seed import Shape, model_name, run_id

# The echo's request: about the size of a GetModelVersion request.
ECHO_PAYLOAD = b"x" * 32
# Where the hot-model writes go, and the models the spread writes pick from (the small ones, so
# that a transition's archive_existing_versions touches a handful of rows).
HOT_MODEL = 1
FIRST_SMALL_MODEL = 101


def ceiling() -> list[Scenario]:
    return [Scenario("echo (ceiling)", "no-op call on the same gRPC server", METHOD, _echo)]


def bare_ceiling() -> list[Scenario]:
    return [
        Scenario(
            "bare echo (ceiling)",
            "no-op call on the same gRPC server without its interceptor",
            METHOD,
            _echo,
        )
    ]


def bare_aio_ceiling() -> list[Scenario]:
    return [
        Scenario(
            "bare aio echo (ceiling)",
            "no-op call answered on the loop of the registry's grpc.aio server, no interceptor",
            METHOD,
            _echo,
        )
    ]


def _echo(_rng: random.Random) -> bytes:
    return ECHO_PAYLOAD


def api_scenarios(shape: Shape) -> list[Scenario]:
    counts = shape.counts()
    models = range(len(counts))
    small = range(FIRST_SMALL_MODEL, len(counts))
    # Models with at least a page of versions: the big one and the middle-sized ones.
    paged = [index for index in models if counts[index] >= 100]

    def get(rng: random.Random) -> Any:
        index = rng.choice(models)
        return pb.GetModelVersionRequest(
            name=model_name(index), version=rng.randint(1, counts[index])
        )

    def create(pick: Callable[[random.Random], int]) -> Callable[[random.Random], Any]:
        def request(rng: random.Random) -> Any:
            run = run_id(rng)
            return pb.CreateModelVersionRequest(
                name=model_name(pick(rng)),
                source=f"s3://bench-artifacts/{run}/artifacts/model",
                run_id=run,
            )

        return request

    def transition(rng: random.Random) -> Any:
        index = rng.choice(small)
        return pb.TransitionModelVersionStageRequest(
            name=model_name(index),
            version=rng.randint(1, counts[index]),
            stage=rng.choice(["Staging", "Production"]),
            archive_existing_versions=True,
        )

    return [
        Scenario("GetModelVersion", "a random version of a random model", "GetModelVersion", get),
        Scenario(
            "GetModelVersionByAlias",
            "@champion of a random model",
            "GetModelVersionByAlias",
            lambda rng: pb.GetModelVersionByAliasRequest(
                name=model_name(rng.choice(models)), alias="champion"
            ),
        ),
        Scenario(
            "GetLatestVersions",
            f"the model with {counts[0]} versions, all stages",
            "GetLatestVersions",
            lambda rng: pb.GetLatestVersionsRequest(name=model_name(0)),
        ),
        Scenario(
            "SearchModelVersions",
            "name = '<model with >= 100 versions>', a page of 100",
            "SearchModelVersions",
            lambda rng: pb.SearchModelVersionsRequest(
                filter=f"name = '{model_name(rng.choice(paged))}'", page_size=100
            ),
        ),
        Scenario(
            "CreateModelVersion spread",
            f"a new version of a random one of {len(small)} models",
            "CreateModelVersion",
            create(lambda rng: rng.choice(small)),
        ),
        Scenario(
            "CreateModelVersion hot",
            f"a new version of {model_name(HOT_MODEL)}, every client",
            "CreateModelVersion",
            create(lambda rng: HOT_MODEL),
        ),
        Scenario(
            "TransitionModelVersionStage",
            "a random version of a random model to Staging or Production, archiving the others",
            "TransitionModelVersionStage",
            transition,
        ),
    ]


# The soak's mix: mostly reads, as a serving fleet's traffic is, with writes throughout.
MIX = {
    "GetModelVersion": 4,
    "GetModelVersionByAlias": 2,
    "GetLatestVersions": 1,
    "SearchModelVersions": 1,
    "CreateModelVersion spread": 1,
    "TransitionModelVersionStage": 1,
}


def soak_mix(shape: Shape) -> list[Scenario]:
    cases = {case.name: case for case in api_scenarios(shape)}
    names, weights = list(MIX), list(MIX.values())

    def request(rng: random.Random) -> Any:
        return cases[rng.choices(names, weights)[0]].request(rng)

    described = ", ".join(f"{weight} {name}" for name, weight in MIX.items())
    return [Scenario("read/write mix", f"in every {sum(weights)} calls: {described}", "", request)]
