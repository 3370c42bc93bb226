"""Sixteen clients, each with its own channel, writing to one model at once through a real server
on both backends: every call succeeds or fails with ABORTED (never a deadlock, UNAVAILABLE or
INTERNAL), and the model's invariants hold at the end: at most one version per archiving stage,
one version per alias, version numbers 1..N."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import grpc
import pytest

from registry_service.client import RegistryClient
from registry_service.errors import RegistryError
from registry_service.server import RunningServer

from .test_store_concurrency import run_together

CLIENTS = 16
OK = grpc.StatusCode.OK
ABORTED = grpc.StatusCode.ABORTED


@pytest.fixture
def clients(server: RunningServer) -> Iterator[list[RegistryClient]]:
    opened = [RegistryClient(f"127.0.0.1:{server.port}") for _ in range(CLIENTS)]
    yield opened
    for client in opened:
        client.close()


@pytest.fixture
def model(clients: list[RegistryClient]) -> str:
    """Model "m" with one version per client, all in stage None."""
    for index in range(CLIENTS):
        clients[0].register_model(f"s3://b/{index}", "m")
    return "m"


def outcome(call: Callable[[], Any]) -> grpc.StatusCode:
    try:
        call()
    except RegistryError as error:
        assert error.code is not None, error
        return error.code
    return OK


def stages(client: RegistryClient, name: str) -> dict[int, str]:
    return {v.version: v.current_stage for v in client.search_model_versions(f"name = '{name}'")}


def in_stage(client: RegistryClient, name: str, stage: str) -> list[int]:
    return sorted(number for number, found in stages(client, name).items() if found == stage)


@pytest.mark.parametrize("with_etags", [False, True], ids=["blind", "etags"])
def test_sixteen_clients_promoting_their_versions_leave_exactly_one_in_production(
    clients: list[RegistryClient], model: str, with_etags: bool
) -> None:
    def promote_all() -> list[grpc.StatusCode]:
        # Every etag is read before any client writes: the race is as wide as it gets.
        etags = [
            clients[i].get_model_version(model, i + 1).etag if with_etags else None
            for i in range(CLIENTS)
        ]
        return run_together(
            CLIENTS,
            lambda i: outcome(
                lambda: clients[i].transition_model_version_stage(
                    model, i + 1, "Production", archive_existing_versions=True, etag=etags[i]
                )
            ),
        )

    # A version's etag changes only when that version does, and archiving touches only versions
    # already in Production: from stage None every promotion succeeds.
    assert promote_all() == [OK] * CLIENTS
    [production] = in_stage(clients[0], model, "Production")
    assert len(in_stage(clients[0], model, "Archived")) == CLIENTS - 1

    # Again from there: now a promotion archives a version whose client may not have written yet.
    outcomes = promote_all()
    assert set(outcomes) <= {OK, ABORTED}
    [production] = in_stage(clients[0], model, "Production")
    assert outcomes[production - 1] == OK
    assert [v.version for v in clients[0].get_latest_versions(model, ["Production"])] == [
        production
    ]


@pytest.mark.parametrize("with_etags", [False, True], ids=["blind", "etags"])
def test_sixteen_clients_pointing_one_alias_leave_it_on_exactly_one_version(
    clients: list[RegistryClient], model: str, with_etags: bool
) -> None:
    etag = clients[0].get_registered_model(model).etag if with_etags else None

    outcomes = run_together(
        CLIENTS,
        lambda i: outcome(
            lambda: clients[i].set_registered_model_alias(model, "champion", i + 1, etag=etag)
        ),
    )

    target = clients[0].get_model_version_by_alias(model, "champion").version
    if with_etags:
        # All read the same etag before anyone wrote: the first write wins, the rest are stale.
        assert (outcomes.count(OK), outcomes.count(ABORTED)) == (1, CLIENTS - 1)
        assert outcomes[target - 1] == OK
    else:
        assert outcomes == [OK] * CLIENTS
    assert clients[0].get_registered_model(model).aliases == {"champion": target}
    versions = clients[0].search_model_versions(f"name = '{model}'")
    holders = [v.version for v in versions if v.aliases]
    assert holders == [target]


def test_sixteen_clients_mixing_writes_on_one_model_keep_its_invariants(
    clients: list[RegistryClient], model: str
) -> None:
    operations = 8

    def work(index: int) -> list[grpc.StatusCode]:
        client, own = clients[index], index + 1
        rng = random.Random(index)
        codes = []
        for _ in range(operations):
            choice = rng.randrange(5)
            call: Callable[[], Any]
            if choice == 0:
                stage = rng.choice(["Production", "Staging"])
                call = partial(
                    client.transition_model_version_stage,
                    model,
                    own,
                    stage,
                    archive_existing_versions=True,
                )
            elif choice == 1:
                alias = rng.choice(["champion", "challenger"])
                etag = client.get_registered_model(model).etag if rng.random() < 0.5 else None
                call = partial(client.set_registered_model_alias, model, alias, own, etag=etag)
            elif choice == 2:
                call = partial(
                    client.update_model_version,
                    model,
                    own,
                    description=f"by {index}",
                    etag=client.get_model_version(model, own).etag,
                )
            elif choice == 3:
                call = partial(
                    client.create_model_version,
                    model,
                    f"s3://b/{index}/{uuid.uuid4()}",
                    request_id=str(uuid.uuid4()),
                )
            else:
                call = partial(
                    client.set_model_version_tag,
                    model,
                    own,
                    "writer",
                    str(index),
                    etag=client.get_model_version(model, own).etag,
                )
            codes.append(outcome(call))
        return codes

    outcomes = [code for codes in run_together(CLIENTS, work) for code in codes]

    assert set(outcomes) <= {OK, ABORTED}
    reader = clients[0]
    assert len(in_stage(reader, model, "Production")) <= 1
    assert len(in_stage(reader, model, "Staging")) <= 1
    versions = reader.search_model_versions(f"name = '{model}'")
    assert sorted(v.version for v in versions) == list(range(1, len(versions) + 1))
    aliases = reader.get_registered_model(model).aliases
    listed = {alias: v.version for v in versions for alias in v.aliases}
    assert dict(aliases) == listed
    assert sum(len(v.aliases) for v in versions) == len(aliases)
