"""Token lifetimes and last use, as admins and callers see them: expires_in, --token-max-ttl, an
expired token answered like an unknown one on both transports, last_used_timestamp written at
most once a minute, and the CLIs that create and list tokens."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import grpc
import httpx
import pytest
from click.testing import CliRunner
from modelregistry.v1 import access_pb2
from modelregistry.v1.registry_service_pb2_grpc import ModelRegistryServiceStub

from registry_service import auth
from registry_service.client import RegistryClient
from registry_service.config import Settings
from registry_service.errors import RegistryError
from registry_service.operator.commands import main as registry_cli
from registry_service.server import RunningServer, start
from registry_service.store import access_store
from registry_service.store.access_store import AccessStore
from registry_service.store.registry_store import RegistryStore

MAX_TTL_S = 3600


@pytest.fixture
def admin_token(store: RegistryStore) -> str:
    return AccessStore(store).create_token("root", admin=True)[1]


@pytest.fixture
def capped_server(store: RegistryStore, admin_token: str) -> Iterator[RunningServer]:
    running = start(
        Settings(port=0, http_port=0, auth="token", token_max_ttl=MAX_TTL_S), store=store
    )
    yield running
    running.stop(None)


def client_for(server: RunningServer, token: str) -> RegistryClient:
    return RegistryClient(f"127.0.0.1:{server.port}", token=token, timeout=10)


def grpc_answer(server: RunningServer, token: str) -> tuple[grpc.StatusCode, str] | None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        try:
            ModelRegistryServiceStub(channel).GetCurrentIdentity(
                access_pb2.GetCurrentIdentityRequest(),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=10,
            )
        except grpc.RpcError as error:
            return error.code(), error.details()
    return None


def http_answer(server: RunningServer, token: str) -> httpx.Response:
    assert server.http is not None
    url = f"http://127.0.0.1:{server.http.port}/api/2.0/modelregistry/identity/get"
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"})


def test_an_expired_token_gets_the_answer_of_an_unknown_one_on_both_transports(
    capped_server: RunningServer, admin_token: str
) -> None:
    with client_for(capped_server, admin_token) as admin:
        created = admin.create_access_token("ann", expires_in=1)
    token = created.access_token
    assert token.expiration_timestamp == token.creation_timestamp + 1000
    assert grpc_answer(capped_server, created.token) is None
    assert http_answer(capped_server, created.token).status_code == 200

    time.sleep(max(0.0, token.expiration_timestamp / 1000 - time.time()) + 0.2)
    unknown = (grpc.StatusCode.UNAUTHENTICATED, auth.UNAUTHENTICATED_MESSAGE)
    assert grpc_answer(capped_server, created.token) == unknown
    assert grpc_answer(capped_server, "mrt_not-a-token") == unknown
    expired = http_answer(capped_server, created.token)
    assert (expired.status_code, expired.json()) == (
        401,
        {"error_code": "UNAUTHENTICATED", "message": auth.UNAUTHENTICATED_MESSAGE},
    )
    # It stays listed, with the moment it expired, like a revoked token.
    with client_for(capped_server, admin_token) as admin:
        (listed,) = admin.list_access_tokens("ann")
    assert (listed.expiration_timestamp, listed.revocation_timestamp) == (
        token.expiration_timestamp,
        0,
    )


def test_max_ttl_is_the_default_lifetime_and_a_longer_one_is_refused(
    capped_server: RunningServer, admin_token: str
) -> None:
    with client_for(capped_server, admin_token) as admin:
        default = admin.create_access_token("ann").access_token
        assert default.expiration_timestamp == default.creation_timestamp + MAX_TTL_S * 1000
        shorter = admin.create_access_token("ann", expires_in=60).access_token
        assert shorter.expiration_timestamp == shorter.creation_timestamp + 60_000

        for expires_in, words in [(MAX_TTL_S + 1, "--token-max-ttl 3600"), (-5, "got -5")]:
            with pytest.raises(RegistryError) as raised:
                admin.create_access_token("bob", expires_in=expires_in)
            assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
            assert "expires_in" in raised.value.message and words in raised.value.message
        # Refused requests made no token.
        assert admin.list_access_tokens("bob") == []

    assert capped_server.http is not None
    base = f"http://127.0.0.1:{capped_server.http.port}/api/2.0/modelregistry/access-tokens"
    headers = {"Authorization": f"Bearer {admin_token}"}
    too_long = httpx.post(
        f"{base}/create", json={"user_id": "bob", "expires_in": MAX_TTL_S * 2}, headers=headers
    )
    assert too_long.status_code == 400
    assert too_long.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "expires_in" in too_long.json()["message"]
    created = httpx.post(
        f"{base}/create", json={"user_id": "bob", "expires_in": "120"}, headers=headers
    )
    assert created.status_code == 200, created.text
    listed = created.json()["access_token"]
    assert int(listed["expiration_timestamp"]) == int(listed["creation_timestamp"]) + 120_000


def test_without_a_max_ttl_tokens_live_until_revoked_unless_asked(
    server_without_cap: RunningServer, admin_token: str
) -> None:
    with client_for(server_without_cap, admin_token) as admin:
        assert admin.create_access_token("ann").access_token.expiration_timestamp == 0
        year = 365 * 24 * 3600
        asked = admin.create_access_token("ann", expires_in=year).access_token
        assert asked.expiration_timestamp == asked.creation_timestamp + year * 1000


@pytest.fixture
def server_without_cap(store: RegistryStore, admin_token: str) -> Iterator[RunningServer]:
    running = start(Settings(port=0, http_port=0, auth="token"), store=store)
    yield running
    running.stop(None)


def test_last_use_is_listed_and_written_at_most_once_a_minute(
    store: RegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = AccessStore(store)
    token, secret = tokens.create_token("ann")
    assert token.last_used_timestamp is None
    clock = [token.creation_timestamp + 5_000]
    monkeypatch.setattr(access_store, "now_millis", lambda: clock[0])

    def listed_last_use(store_of_replica: AccessStore) -> int | None:
        (listed,) = store_of_replica.list_tokens("ann")
        return listed.last_used_timestamp

    first_use = clock[0]
    assert tokens.valid_token(secret) is not None
    assert listed_last_use(tokens) == first_use

    # Within the minute, neither this process nor another replica writes it again.
    clock[0] = first_use + 59_000
    replica = AccessStore(store)
    assert tokens.valid_token(secret) is not None
    assert replica.valid_token(secret) is not None
    assert listed_last_use(tokens) == first_use

    clock[0] = first_use + 61_000
    assert replica.valid_token(secret) is not None
    assert listed_last_use(tokens) == first_use + 61_000
    # An unknown secret records nothing anywhere.
    assert tokens.valid_token("mrt_unknown") is None
    assert listed_last_use(tokens) == first_use + 61_000


def test_the_cli_creates_an_expiring_token_and_lists_expiry_and_last_use(
    capped_server: RunningServer, admin_token: str
) -> None:
    target = ["--target", f"127.0.0.1:{capped_server.port}", "--token", admin_token]
    runner = CliRunner()
    created = runner.invoke(
        registry_cli, [*target, "--json", "tokens", "create", "ann", "--expires-in", "90"]
    )
    assert created.exit_code == 0, created.output
    token = json.loads(created.output)
    assert token["expiration_timestamp"] == token["creation_timestamp"] + 90_000
    assert token["last_used_timestamp"] == 0
    with client_for(capped_server, token["token"]) as ann:
        assert ann.get_current_identity().user_id == "ann"

    listed = runner.invoke(registry_cli, [*target, "tokens", "list", "--user", "ann"])
    assert listed.exit_code == 0, listed.output
    header, row = listed.output.splitlines()[:2]
    assert "EXPIRES" in header and "LAST USED" in header
    assert row.count(" UTC") == 3 and "never" not in row

    refused = runner.invoke(
        registry_cli, [*target, "tokens", "create", "bob", "--expires-in", str(MAX_TTL_S + 1)]
    )
    assert refused.exit_code != 0
    assert "expires_in" in refused.output and "--token-max-ttl" in refused.output
