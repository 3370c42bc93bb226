"""Authentication and authorization as callers see them: tokens, revocation, search paging over
mixed permissions, identity-stamped writes, mTLS identities, the CLIs and the mlflow client."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from modelregistry.v1 import access_pb2
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1.registry_service_pb2_grpc import ModelRegistryServiceStub

from registry_service import auth
from registry_service.client import RegistryClient
from registry_service.config import Settings
from registry_service.errors import RegistryError
from registry_service.operator.commands import main as registry_cli
from registry_service.server import RunningServer, start
from registry_service.store.access_store import AccessStore
from registry_service.store.registry_store import RegistryStore

from .certificates import Authority
from .processes import CLI

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def admin_token(store: RegistryStore) -> str:
    return AccessStore(store).create_token("root", admin=True)[1]


def serve(store: RegistryStore, **settings: object) -> RunningServer:
    return start(Settings(port=0, http_port=0, auth="token", **settings), store=store)  # type: ignore[arg-type]


@pytest.fixture
def token_server(store: RegistryStore, admin_token: str) -> Iterator[RunningServer]:
    running = serve(store, default_permission="NONE")
    yield running
    running.stop(None)


def client_for(server: RunningServer, token: str | None) -> RegistryClient:
    return RegistryClient(f"127.0.0.1:{server.port}", token=token, timeout=10)


def token_for(server: RunningServer, admin_token: str, user_id: str) -> str:
    with client_for(server, admin_token) as admin:
        return admin.create_access_token(user_id).token


def failure(call: object) -> RegistryError:
    assert callable(call)
    with pytest.raises(RegistryError) as raised:
        call()
    return raised.value


def test_missing_bad_unknown_and_revoked_tokens_get_the_same_answer(
    token_server: RunningServer, admin_token: str
) -> None:
    ann = token_for(token_server, admin_token, "ann")
    with client_for(token_server, admin_token) as admin:
        ann_id = admin.list_access_tokens("ann")[0].id
        admin.revoke_access_token(ann_id)
        assert admin.list_access_tokens("ann")[0].revocation_timestamp > 0
    answers = set()
    with grpc.insecure_channel(f"127.0.0.1:{token_server.port}") as channel:
        stub = ModelRegistryServiceStub(channel)
        for metadata in [
            (),
            (("authorization", "Basic cm9vdDpyb290"),),
            (("authorization", "Bearer"),),
            (("authorization", "Bearer mrt_not-a-token"),),
            (("authorization", f"Bearer {ann}"),),
        ]:
            with pytest.raises(grpc.RpcError) as raised:
                stub.GetCurrentIdentity(
                    access_pb2.GetCurrentIdentityRequest(), metadata=metadata, timeout=10
                )
            answers.add((raised.value.code(), raised.value.details()))
    assert answers == {(grpc.StatusCode.UNAUTHENTICATED, auth.UNAUTHENTICATED_MESSAGE)}
    assert token_server.http is not None
    url = f"http://127.0.0.1:{token_server.http.port}/api/2.0/mlflow/registered-models/search"
    create = url.replace("search", "create")
    for headers in [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {ann}"}]:
        # Authenticated before the request is read: a garbled body gets the same answer.
        for response in [
            httpx.get(url, headers=headers),
            httpx.post(create, content=b"{garbled", headers=headers),
        ]:
            assert response.status_code == 401
            assert response.json() == {
                "error_code": "UNAUTHENTICATED",
                "message": auth.UNAUTHENTICATED_MESSAGE,
            }


def test_a_revoked_token_fails_on_the_very_next_call(
    token_server: RunningServer, admin_token: str
) -> None:
    ann = token_for(token_server, admin_token, "ann")
    with client_for(token_server, ann) as client, client_for(token_server, admin_token) as admin:
        assert client.get_current_identity().user_id == "ann"
        admin.revoke_access_token(admin.list_access_tokens("ann")[0].id)
        assert failure(client.get_current_identity).code == grpc.StatusCode.UNAUTHENTICATED


def test_a_revoked_token_ends_a_running_watch(
    token_server: RunningServer, admin_token: str
) -> None:
    ann = token_for(token_server, admin_token, "ann")
    with client_for(token_server, ann) as client, client_for(token_server, admin_token) as admin:
        client.create_registered_model("ann-watch")
        watched = client.watch()
        assert next(watched).model_name == "ann-watch"
        admin.revoke_access_token(admin.list_access_tokens("ann")[0].id)
        with pytest.raises(RegistryError) as raised:
            for number in range(100):
                admin.set_registered_model_tag("ann-watch", "k", str(number))
                next(watched)
                time.sleep(0.1)
        assert raised.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_writes_are_stamped_with_the_caller_and_a_forged_user_id_is_ignored(
    token_server: RunningServer, admin_token: str
) -> None:
    ann = token_for(token_server, admin_token, "ann")
    with client_for(token_server, ann) as client:
        model = client.create_registered_model("fraud")
        version = client.create_model_version("fraud", "s3://b/1")
        assert (model.user_id, version.user_id) == ("ann", "ann")
    assert token_server.http is not None
    base = f"http://127.0.0.1:{token_server.http.port}/api/2.0/mlflow"
    headers = {"Authorization": f"Bearer {ann}"}
    body = {"name": "churn", "user_id": "mallory"}
    created = httpx.post(f"{base}/registered-models/create", json=body, headers=headers)
    assert created.status_code == 200, created.text
    assert created.json()["registered_model"]["user_id"] == "ann"
    body = {"name": "churn", "source": "s3://c/1", "user_id": "mallory"}
    created = httpx.post(f"{base}/model-versions/create", json=body, headers=headers)
    assert created.json()["model_version"]["user_id"] == "ann"


def test_the_creator_manages_its_model_and_others_see_it_only_when_granted(
    token_server: RunningServer, admin_token: str
) -> None:
    ann, bob = (token_for(token_server, admin_token, user) for user in ("ann", "bob"))
    with client_for(token_server, ann) as owner, client_for(token_server, bob) as other:
        owner.create_registered_model("fraud")
        [grant] = owner.get_registered_model_permissions("fraud")
        assert (grant.user_id, grant.permission) == ("ann", access_pb2.PERMISSION_MANAGE)
        hidden = failure(lambda: other.get_registered_model("fraud"))
        missing = failure(lambda: other.get_registered_model("ghost"))
        # Exactly what a missing model gives: the existence of fraud does not leak.
        assert (hidden.code, hidden.reason, hidden.field) == (
            missing.code,
            missing.reason,
            missing.field,
        )
        assert hidden.message == missing.message.replace("ghost", "fraud")
        assert other.search_registered_models() == []
        owner.set_registered_model_permission("fraud", "bob", "READ")
        assert other.get_registered_model("fraud").name == "fraud"
        denied = failure(lambda: other.update_registered_model("fraud", description="x"))
        assert denied.code == grpc.StatusCode.PERMISSION_DENIED
        assert "EDIT" in denied.message
        owner.delete_registered_model_permission("fraud", "bob")
        assert (
            failure(lambda: other.get_registered_model("fraud")).code == grpc.StatusCode.NOT_FOUND
        )
        owner.delete_registered_model("fraud")


# Spellings of a models:/ source that MLflow's client reads as the same model URI.
MODEL_URI_SPELLINGS = [
    "models:/{}/1",
    "MODELS:/{}/1",
    "Models:/{}@champion",
    " models:/{}/1",
    "models:/{}/1  ",
    "models:///{}/1",
    "models:{}/latest",
]


@pytest.mark.parametrize("spelling", MODEL_URI_SPELLINGS)
def test_a_models_uri_source_in_any_spelling_needs_read_on_the_model_it_names(
    token_server: RunningServer, admin_token: str, spelling: str
) -> None:
    ann, bob = (token_for(token_server, admin_token, user) for user in ("ann", "bob"))
    with client_for(token_server, ann) as owner, client_for(token_server, bob) as other:
        owner.create_registered_model("secret")
        owner.create_model_version("secret", "s3://hidden/place")
        owner.set_registered_model_alias("secret", "champion", 1)
        other.create_registered_model("mine")
        refused = failure(lambda: other.create_model_version("mine", spelling.format("secret")))
        missing = failure(lambda: other.create_model_version("mine", spelling.format("ghost")))
        assert (refused.code, refused.field) == (missing.code, missing.field)
        assert refused.message == missing.message.replace("ghost", "secret")
        assert other.search_model_versions("name = 'mine'") == []
        # Once bob may read it, the same spelling copies its source, as models:/ does.
        owner.set_registered_model_permission("secret", "bob", "READ")
        copied = other.create_model_version("mine", spelling.format("secret"))
        assert copied.source == "models:/secret/1"
        assert other.get_model_version_download_uri("mine", copied.version) == "s3://hidden/place"


@pytest.mark.parametrize("page_size", [1, 3, 4])
def test_search_pages_hold_only_readable_models_with_no_repeats_or_gaps(
    token_server: RunningServer, admin_token: str, page_size: int
) -> None:
    ann = token_for(token_server, admin_token, "ann")
    with client_for(token_server, admin_token) as admin:
        for number in range(20):
            admin.create_registered_model(f"m{number:02}")
            admin.create_model_version(f"m{number:02}", "s3://b/1")
            if number % 3 == 0:
                admin.set_registered_model_permission(f"m{number:02}", "ann", "READ")
    readable = [f"m{number:02}" for number in range(0, 20, 3)]
    with client_for(token_server, ann) as client:
        request = pb.SearchRegisteredModelsRequest(page_size=page_size, order_by=["name"])
        names, pages = [], []
        while True:
            page = client._call(client._stub.SearchRegisteredModels, request)
            pages.append(len(page.registered_models))
            names.extend(model.name for model in page.registered_models)
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token
        assert names == readable
        assert all(size == page_size for size in pages[:-1]) and 0 < pages[-1] <= page_size
        versions = client.search_model_versions(order_by=["name"])
        assert [version.name for version in versions] == readable


@pytest.mark.parametrize("page_size", [1, 4])
def test_event_history_and_the_watch_hold_only_readable_models(
    token_server: RunningServer, admin_token: str, page_size: int
) -> None:
    ann = token_for(token_server, admin_token, "ann")
    with client_for(token_server, admin_token) as admin:
        for number in range(6):
            admin.create_registered_model(f"e{number}")
            admin.create_model_version(f"e{number}", "s3://b/1")
            if number % 2 == 0:
                admin.set_registered_model_permission(f"e{number}", "ann", "READ")
        every = admin.list_events()
    readable = [e.sequence for e in every if e.model_name in {"e0", "e2", "e4"}]
    assert len(readable) == 6 and len(every) == 12
    with client_for(token_server, ann) as client:
        listed = client.list_events(page_size=page_size)
        assert [event.sequence for event in listed] == readable
        watched = client.watch()
        seen = [next(watched).sequence for _ in readable]
        watched.close()
        assert seen == readable
        # A model the caller cannot read shows no history, named or not.
        assert client.list_events(model_names=["e1"]) == []


def test_a_new_model_does_not_inherit_the_history_of_a_deleted_one(
    token_server: RunningServer, admin_token: str
) -> None:
    # SQLite would hand the deleted model's id to the next model; events keep model ids.
    ann = token_for(token_server, admin_token, "ann")
    with client_for(token_server, admin_token) as admin:
        admin.create_registered_model("secret-plan")
        admin.delete_registered_model("secret-plan")
    with client_for(token_server, ann) as client:
        client.create_registered_model("ann-model")
        assert {event.model_name for event in client.list_events()} == {"ann-model"}


def test_default_read_permission_shows_every_model_but_allows_no_edit(
    store: RegistryStore, admin_token: str
) -> None:
    running = serve(store, default_permission="READ", protected_aliases="prod")
    try:
        ann = token_for(running, admin_token, "ann")
        with client_for(running, admin_token) as admin, client_for(running, ann) as client:
            admin.create_registered_model("fraud")
            admin.create_model_version("fraud", "s3://b/1")
            assert [m.name for m in client.search_registered_models()] == ["fraud"]
            refused = failure(lambda: client.set_registered_model_alias("fraud", "prod", 1))
            assert refused.code == grpc.StatusCode.PERMISSION_DENIED
            admin.set_registered_model_permission("fraud", "ann", "EDIT")
            client.set_registered_model_alias("fraud", "shadow", 1)
            refused = failure(lambda: client.set_registered_model_alias("fraud", "prod", 1))
            assert "MANAGE" in refused.message
            refused = failure(
                lambda: client.transition_model_version_stage("fraud", 1, "Production")
            )
            assert refused.code == grpc.StatusCode.PERMISSION_DENIED
            client.transition_model_version_stage("fraud", 1, "Staging")
    finally:
        running.stop(None)


def test_mtls_identity_comes_from_the_certificate_san_or_cn(
    store: RegistryStore, tmp_path: Path
) -> None:
    authority = Authority(tmp_path, "auth-test-ca")
    server_pair = authority.issue("registry-server", server=True)
    by_cn = authority.issue("svc-batch", server=False)
    by_uri = authority.issue("ignored-cn", server=False, uri="spiffe://example.org/svc/api")
    settings = Settings(
        port=0,
        http_port=-1,
        auth="mtls",
        default_permission="NONE",
        tls_cert=str(server_pair.cert),
        tls_key=str(server_pair.key),
        tls_client_ca=str(authority.cert),
        admin_identities="svc-batch",
    )
    running = start(settings, store=store)
    address = f"localhost:{running.port}"
    try:
        with RegistryClient(
            address, tls_ca=authority.cert, tls_cert=by_cn.cert, tls_key=by_cn.key
        ) as client:
            caller = client.get_current_identity()
            assert (caller.user_id, caller.admin) == ("svc-batch", True)
            client.create_registered_model("fraud")
        with RegistryClient(
            address, tls_ca=authority.cert, tls_cert=by_uri.cert, tls_key=by_uri.key
        ) as client:
            caller = client.get_current_identity()
            assert (caller.user_id, caller.admin) == ("spiffe://example.org/svc/api", False)
            assert client.create_registered_model("api-model").user_id == caller.user_id
            assert failure(lambda: client.get_registered_model("fraud")).code == (
                grpc.StatusCode.NOT_FOUND
            )
    finally:
        running.stop(None)


def test_the_mlflow_client_authenticates_with_mlflow_tracking_token(
    token_server: RunningServer, admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert token_server.http is not None
    url = f"http://127.0.0.1:{token_server.http.port}"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    client = MlflowClient(registry_uri=url, tracking_uri=url)
    with pytest.raises(MlflowException) as raised:
        client.search_registered_models()
    assert raised.value.error_code == "UNAUTHENTICATED"
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token_for(token_server, admin_token, "ann"))
    assert client.create_registered_model("fraud").name == "fraud"
    assert client.create_model_version("fraud", "s3://b/1").user_id == "ann"


def test_bootstrap_admin_token_then_the_registry_cli_manages_tokens_and_grants(
    tmp_path: Path,
) -> None:
    database = f"sqlite:///{tmp_path}/r.db"
    made = subprocess.run(
        [*CLI, "auth", "create-token", "--admin", "--user", "root", "--database-url", database],
        capture_output=True,
        text=True,
        check=True,
    )
    [secret] = made.stdout.split()
    assert re.fullmatch(r"mrt_[A-Za-z0-9_-]{43}", secret)
    assert secret not in made.stderr

    from registry_service.server import open_store

    store = open_store(Settings(database_url=database))
    running = serve(store, default_permission="NONE")
    try:
        runner = CliRunner()

        def cli(*args: str, token: str = secret) -> str:
            target = f"127.0.0.1:{running.port}"
            result = runner.invoke(
                registry_cli, ["--target", target, "--token", token, "--json", *args]
            )
            assert result.exit_code == 0, (result.output, result.stderr)
            return result.stdout

        assert json.loads(cli("whoami")) == {"user_id": "root", "admin": True}
        ann = json.loads(cli("tokens", "create", "ann", "--description", "ci"))
        assert json.loads(cli("whoami", token=ann["token"]))["user_id"] == "ann"
        listed = json.loads(cli("tokens", "list"))
        assert [t["user_id"] for t in listed] == ["root", "ann"]
        assert all("token" not in t for t in listed)
        cli("models", "create", "fraud")
        cli("permissions", "grant", "fraud", "ann", "edit")
        assert json.loads(cli("permissions", "list", "fraud")) == [
            {"name": "fraud", "user_id": "ann", "permission": "EDIT"},
            {"name": "fraud", "user_id": "root", "permission": "MANAGE"},
        ]
        cli("permissions", "revoke", "fraud", "ann")
        cli("tokens", "revoke", str(ann["id"]))
        refused = runner.invoke(
            registry_cli,
            ["--target", f"127.0.0.1:{running.port}", "--token", ann["token"], "whoami"],
        )
        assert refused.exit_code == 1 and "UNAUTHENTICATED" in refused.stderr
    finally:
        running.stop(None)


def test_no_auth_warns_off_loopback_and_everyone_is_an_anonymous_admin(
    caplog: pytest.LogCaptureFixture, client: RegistryClient
) -> None:
    with caplog.at_level(logging.WARNING, logger="registry_service.auth"):
        auth.warn_if_open(Settings(host="0.0.0.0"))
        auth.warn_if_open(Settings(host="127.0.0.1"))
        auth.warn_if_open(Settings(host="::1"))
    assert len(caplog.records) == 1 and "0.0.0.0" in caplog.records[0].getMessage()
    caller = client.get_current_identity()
    assert (caller.user_id, caller.admin) == ("", True)
    assert client.create_registered_model("fraud").user_id == ""


def test_no_auth_lets_ruled_rpcs_through_unchecked_but_still_refuses_one_without_a_rule(
    client: RegistryClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without authentication the guard hands ruled calls straight on (nothing to check); an RPC
    # that nobody gave a rule stays closed all the same.
    assert client.get_current_identity().admin
    monkeypatch.delitem(auth.RULES, "GetRegisteredModel")
    refused = failure(lambda: client.get_registered_model("fraud"))
    assert refused.code == grpc.StatusCode.PERMISSION_DENIED
    assert "GetRegisteredModel has no access rule" in str(refused)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"auth": "ldap"}, "--auth"),
        ({"default_permission": "WRITE"}, "--default-permission"),
        ({"auth": "mtls", "http_port": -1}, "--tls-client-ca"),
    ],
)
def test_bad_auth_settings_are_refused(settings: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Settings(**settings)  # type: ignore[arg-type]


def test_security_doc_states_every_rule_as_the_code_has_it() -> None:
    text = (ROOT / "docs" / "security.md").read_text().split("| RPC | needs |")[1]
    rows = dict(re.findall(r"^\| `(\w+)` \| (.+?) \|$", text, re.MULTILINE))
    assert rows == {rpc: rule.describe() for rpc, rule in auth.RULES.items()}
