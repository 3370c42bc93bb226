"""MLflow 3's webhook API over the HTTP gateway: the stock MlflowClient creates, reads, pages,
updates, tests and deletes webhooks on a real server, a real registry change reaches a local
receiver as MLflow's signed payload, and the raw answers match a real `mlflow server`'s."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities.webhook import Webhook, WebhookEvent, WebhookEventStr, WebhookStatus
from mlflow.exceptions import MlflowException
from modelregistry.v1 import events_pb2

from registry_service.client import RegistryClient
from registry_service.config import Settings
from registry_service.errors import InvalidArgument
from registry_service.server import RunningServer, start
from registry_service.store.access_store import AccessStore
from registry_service.store.registry_store import RegistryStore

from .processes import mlflow_serving
from .test_webhooks import LOCAL_WEBHOOKS, SECRET, Receiver, receiving, settled

API = "/api/2.0/mlflow/webhooks"
# Where webhooks that are never sent to point; the servers here allow private addresses.
NOWHERE = "http://127.0.0.1:9/hook"
VERSION_CREATED = {"entity": "MODEL_VERSION", "action": "CREATED"}


@pytest.fixture
def serving(store: RegistryStore) -> Iterator[RunningServer]:
    """A server with HTTP that delivers webhooks to local addresses, quickly."""
    running = start(Settings(port=0, http_port=0, **LOCAL_WEBHOOKS), store=store)  # type: ignore[arg-type]
    yield running
    running.stop(None)


@pytest.fixture
def url(serving: RunningServer, monkeypatch: pytest.MonkeyPatch) -> str:
    assert serving.http is not None
    # A wrongly retryable answer (5xx) fails the test at once instead of after seven retries.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return f"http://127.0.0.1:{serving.http.port}"


@pytest.fixture
def mlflow_client(url: str) -> MlflowClient:
    return MlflowClient(registry_uri=url, tracking_uri=url)


@pytest.fixture
def grpc_client(serving: RunningServer) -> Iterator[RegistryClient]:
    with RegistryClient(f"127.0.0.1:{serving.port}") as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as state:
        yield state


def failure(call: Callable[[], Any]) -> MlflowException:
    with pytest.raises(MlflowException) as raised:
        call()
    return raised.value


def raw(url: str, method: str, path: str = "", **kwargs: Any) -> tuple[int, Any]:
    """The status and JSON answer of a request sent as it is, no client in between."""
    response = requests.request(method, url + API + path, timeout=30, **kwargs)
    return response.status_code, response.json()


def shown(webhook: Webhook) -> tuple[Any, ...]:
    """What a user reads of a webhook, ids and times aside."""
    return (
        webhook.name,
        webhook.url,
        webhook.events,
        webhook.description,
        webhook.status,
        webhook.secret,
    )


def test_create_get_page_update_and_delete_with_the_stock_client(
    mlflow_client: MlflowClient,
) -> None:
    created = mlflow_client.create_webhook(
        name="deployer",
        url=NOWHERE,
        events=["model_version.created", "model_version_alias.created"],
        description="redeploys on new versions",
        secret="s3cret",
    )
    assert shown(created) == (
        "deployer",
        NOWHERE,
        [WebhookEvent("model_version", "created"), WebhookEvent("model_version_alias", "created")],
        "redeploys on new versions",
        WebhookStatus.ACTIVE,
        None,  # a secret is never returned
    )
    assert created.creation_timestamp == created.last_updated_timestamp > 0
    fetched = mlflow_client.get_webhook(created.webhook_id)
    assert (fetched.webhook_id, shown(fetched)) == (created.webhook_id, shown(created))
    assert fetched.creation_timestamp == created.creation_timestamp

    others = [
        mlflow_client.create_webhook(
            f"hook-{n}", NOWHERE, [WebhookEvent("registered_model", "created")], status=status
        )
        for n, status in ((2, "DISABLED"), (3, "ACTIVE"))
    ]
    assert [w.status for w in others] == [WebhookStatus.DISABLED, WebhookStatus.ACTIVE]
    first_page = mlflow_client.list_webhooks(max_results=2)
    assert len(first_page) == 2 and first_page.token
    second_page = mlflow_client.list_webhooks(max_results=2, page_token=first_page.token)
    assert len(second_page) == 1 and not second_page.token
    newest_first = sorted(
        [created, *others], key=lambda w: (w.creation_timestamp, w.webhook_id), reverse=True
    )
    assert [w.webhook_id for w in [*first_page, *second_page]] == [
        w.webhook_id for w in newest_first
    ]

    updated = mlflow_client.update_webhook(
        created.webhook_id,
        name="deployer-2",
        url=NOWHERE + "/v2",
        events=["model_version_tag.set", "model_version_tag.deleted"],
        status="DISABLED",
        description="",
    )
    assert shown(updated) == (
        "deployer-2",
        NOWHERE + "/v2",
        [WebhookEvent("model_version_tag", "set"), WebhookEvent("model_version_tag", "deleted")],
        None,  # cleared
        WebhookStatus.DISABLED,
        None,
    )
    assert updated.last_updated_timestamp >= created.last_updated_timestamp
    # What an update leaves out keeps its value; an update of nothing changes nothing.
    reactivated = mlflow_client.update_webhook(created.webhook_id, status="ACTIVE")
    assert shown(reactivated) == (*shown(updated)[:4], WebhookStatus.ACTIVE, None)
    assert shown(mlflow_client.update_webhook(created.webhook_id)) == shown(reactivated)
    assert shown(mlflow_client.get_webhook(created.webhook_id)) == shown(reactivated)

    mlflow_client.delete_webhook(created.webhook_id)
    gone = failure(lambda: mlflow_client.get_webhook(created.webhook_id))
    assert gone.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert (
        gone.message == f"RESOURCE_DOES_NOT_EXIST: Webhook with ID {created.webhook_id} not found."
    )
    assert {w.webhook_id for w in mlflow_client.list_webhooks()} == {w.webhook_id for w in others}


def test_test_webhook_posts_a_signed_example_of_the_event_and_reports_the_answer(
    mlflow_client: MlflowClient, receiver: Receiver, url: str
) -> None:
    hook = mlflow_client.create_webhook(
        "tested", receiver.url, ["model_version.created", "registered_model.created"], secret=SECRET
    )
    result = mlflow_client.test_webhook(hook.webhook_id)
    [delivery] = receiver.deliveries
    assert delivery.verified
    # As MLflow's: the webhook's first event, with example data.
    assert (delivery.body["entity"], delivery.body["action"]) == ("model_version", "created")
    assert {"name": "example_model", "version": "1"}.items() <= delivery.body["data"].items()
    assert (result.success, result.response_status, result.response_body, result.error_message) == (
        True,
        200,
        f"received {delivery.delivery_id}",
        None,
    )

    chosen = mlflow_client.test_webhook(
        hook.webhook_id, WebhookEvent("registered_model", "created")
    )
    assert chosen.success
    assert (receiver.deliveries[1].body["entity"], receiver.deliveries[1].body["action"]) == (
        "registered_model",
        "created",
    )

    receiver.failures = [500]
    failed = mlflow_client.test_webhook(hook.webhook_id)
    assert (failed.success, failed.response_status) == (False, 500)
    assert failed.response_body == f"received {receiver.deliveries[2].delivery_id}"
    assert failed.error_message is not None and "HTTP 500" in failed.error_message

    # Without an answer there is no status or body, which MLflow's JSON leaves out.
    unanswered = mlflow_client.create_webhook("unanswered", NOWHERE, ["model_version.created"])
    status, answer = raw(url, "POST", f"/{unanswered.webhook_id}/test", json={})
    assert status == 200
    assert (sorted(answer["result"]), answer["result"]["success"]) == (
        ["error_message", "success"],
        False,
    )


def test_a_new_model_version_reaches_the_receiver_as_mlflows_signed_payload(
    mlflow_client: MlflowClient, grpc_client: RegistryClient, receiver: Receiver
) -> None:
    hook = mlflow_client.create_webhook(
        "deployer", receiver.url, ["model_version.created"], secret=SECRET
    )
    off = mlflow_client.create_webhook(
        "off", receiver.url, ["model_version.created"], status="DISABLED"
    )
    mlflow_client.create_registered_model("fraud")  # not subscribed
    mlflow_client.create_model_version(
        "fraud", "s3://bucket/fraud/1", run_id="run-1", tags={"auc": "0.9"}, description="first"
    )
    receiver.wait_for(lambda r: len(r.succeeded()) == 1)
    settled(grpc_client, hook.webhook_id, 1)
    [delivery] = receiver.deliveries
    assert delivery.verified
    body = delivery.body
    assert (body["entity"], body["action"]) == ("model_version", "created")
    assert datetime.fromisoformat(body["timestamp"]).tzinfo is not None
    # MLflow's ModelVersionCreatedPayload, field for field.
    assert {
        "name": "fraud",
        "version": "1",
        "source": "s3://bucket/fraud/1",
        "run_id": "run-1",
        "tags": {"auc": "0.9"},
        "description": "first",
    }.items() <= body["data"].items()
    # The disabled webhook was passed over when the event was fanned out.
    assert grpc_client.list_webhook_deliveries(off.webhook_id) == []


def test_bad_input_gets_mlflows_error_codes(mlflow_client: MlflowClient, url: str) -> None:
    events: list[WebhookEventStr | WebhookEvent] = ["model_version.created"]
    bad_url = failure(lambda: mlflow_client.create_webhook("hook", "ftp://example.com/x", events))
    assert bad_url.error_code == "INVALID_PARAMETER_VALUE"
    prompts = failure(lambda: mlflow_client.create_webhook("hook", NOWHERE, ["prompt.created"]))
    assert prompts.error_code == "INVALID_PARAMETER_VALUE"
    assert "prompt.created" in prompts.message
    bad_name = failure(lambda: mlflow_client.create_webhook("not a name", NOWHERE, events))
    assert bad_name.error_code == "INVALID_PARAMETER_VALUE"
    for call in (
        lambda: mlflow_client.get_webhook("ghost"),
        lambda: mlflow_client.update_webhook("ghost", description="x"),
        lambda: mlflow_client.delete_webhook("ghost"),
        lambda: mlflow_client.test_webhook("ghost"),
        # An id no webhook can have (longer than a UUID) is as missing as any other.
        lambda: mlflow_client.delete_webhook("x" * 100),
    ):
        assert failure(call).error_code == "RESOURCE_DOES_NOT_EXIST"
    for listing in (
        lambda: mlflow_client.list_webhooks(max_results=1001),
        lambda: mlflow_client.list_webhooks(page_token="not-a-token"),
    ):
        assert failure(listing).error_code == "INVALID_PARAMETER_VALUE"

    # What the stock client would refuse before sending, sent as it is.
    hook = {"name": "hook", "url": NOWHERE, "events": [VERSION_CREATED]}
    for body in (
        {**hook, "events": [{"entity": "MODEL_VERSION", "action": "DELETED"}]},
        {**hook, "events": [{"entity": "SPACESHIP", "action": "CREATED"}]},
        {**hook, "events": []},
        {**hook, "name": ""},
        {**hook, "status": "PAUSED"},
        {**hook, "url": 42},
    ):
        status, answer = raw(url, "POST", json=body)
        assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), body
    assert raw(url, "POST", json={**hook, "name": ""})[1]["message"] == (
        "Missing value for required parameter 'name'. See the API docs for more information about "
        "request parameters."
    )
    assert mlflow_client.list_webhooks() == []


@pytest.fixture
def token_server(store: RegistryStore) -> Iterator[RunningServer]:
    settings = Settings(port=0, http_port=0, auth="token", webhooks=False, **LOCAL_WEBHOOKS)  # type: ignore[arg-type]
    running = start(settings, store=store)
    yield running
    running.stop(None)


def test_webhooks_are_for_admins_only(
    store: RegistryStore, token_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert token_server.http is not None
    url = f"http://127.0.0.1:{token_server.http.port}"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    client = MlflowClient(registry_uri=url, tracking_uri=url)
    admin = AccessStore(store).create_token("root", admin=True)[1]
    user = AccessStore(store).create_token("ann")[1]
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", admin)
    hook = client.create_webhook("audited", NOWHERE, ["model_version.created"])

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", user)
    for call in (
        lambda: client.create_webhook("mine", NOWHERE, ["model_version.created"]),
        lambda: client.list_webhooks(),
        lambda: client.get_webhook(hook.webhook_id),
        lambda: client.update_webhook(hook.webhook_id, url=NOWHERE + "/mine"),
        lambda: client.test_webhook(hook.webhook_id),
        lambda: client.delete_webhook(hook.webhook_id),
    ):
        assert failure(call).error_code == "PERMISSION_DENIED"
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    assert failure(client.list_webhooks).error_code == "UNAUTHENTICATED"

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", admin)
    assert shown(client.get_webhook(hook.webhook_id)) == shown(hook)
    assert [w.webhook_id for w in client.list_webhooks()] == [hook.webhook_id]


def test_events_mlflow_has_no_name_for_are_hidden_from_it_and_kept(
    mlflow_client: MlflowClient, grpc_client: RegistryClient
) -> None:
    ours_only = grpc_client.create_webhook(
        NOWHERE, [events_pb2.EVENT_TYPE_MODEL_VERSION_DELETED], name="grpc-only"
    )
    mixed = grpc_client.create_webhook(
        NOWHERE,
        [
            events_pb2.EVENT_TYPE_MODEL_VERSION_STAGE_CHANGED,
            events_pb2.EVENT_TYPE_MODEL_VERSION_CREATED,
        ],
        name="mixed",
    )
    # A webhook without events would make the client refuse the whole list.
    [listed] = mlflow_client.list_webhooks()
    assert (listed.webhook_id, listed.name, listed.events) == (
        mixed.id,
        "mixed",
        [WebhookEvent("model_version", "created")],
    )
    mlflow_client.update_webhook(mixed.id, description="stage changes too")
    kept = {w.id: list(w.event_types) for w in grpc_client.list_webhooks()}
    assert kept == {
        ours_only.id: [events_pb2.EVENT_TYPE_MODEL_VERSION_DELETED],
        mixed.id: list(mixed.event_types),
    }


def test_names_and_test_events_over_grpc(grpc_client: RegistryClient, receiver: Receiver) -> None:
    hook = grpc_client.create_webhook(
        receiver.url, [events_pb2.EVENT_TYPE_MODEL_VERSION_DELETED], SECRET, name="cleanup"
    )
    renamed = grpc_client.update_webhook(hook.id, name="cleanup-2")
    assert (hook.name, renamed.name, renamed.url) == ("cleanup", "cleanup-2", receiver.url)
    with pytest.raises(InvalidArgument) as raised:
        grpc_client.update_webhook(hook.id, name="-cleanup")
    assert raised.value.field == "name"

    result = grpc_client.test_webhook(hook.id, events_pb2.EVENT_TYPE_MODEL_VERSION_DELETED)
    [delivery] = receiver.deliveries
    assert delivery.verified and delivery.body["sequence"] == 0
    assert (delivery.body["entity"], delivery.body["action"]) == ("model_version", "deleted")
    assert (result.success, result.response_code, result.response_body) == (
        True,
        200,
        f"received {delivery.delivery_id}",
    )
    # Without an event type, the registry's own test body.
    grpc_client.test_webhook(hook.id)
    assert (receiver.deliveries[1].body["entity"], receiver.deliveries[1].body["action"]) == (
        "webhook",
        "test",
    )


# -- the same calls against a real `mlflow server` ---------------------------------------------

Answer = tuple[int, Any]


def replay(url: str) -> list[Answer]:
    """A script of webhook calls, raw, with each answer normalized: ids, times and page tokens
    (which differ by construction) left out, events in a stable order, errors by code."""
    answers: list[Answer] = []

    def send(method: str, path: str = "", **kwargs: Any) -> Any:
        status, answer = raw(url, method, path, **kwargs)
        answers.append((status, normalized(answer)))
        return answer

    # The oracle outlives one test: start from no webhooks.
    for hook in raw(url, "GET")[1].get("webhooks", []):
        raw(url, "DELETE", "/" + hook["webhook_id"])
    alias_created = {"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}
    tag_set = {"entity": "MODEL_VERSION_TAG", "action": "SET"}
    first = send(
        "POST",
        json={
            "name": "deployer",
            "url": NOWHERE,
            "events": [VERSION_CREATED, alias_created],
            "description": "redeploys",
            "secret": "s3cret",
        },
    )["webhook"]["webhook_id"]
    second = send(
        "POST",
        json={"name": "auditor", "url": NOWHERE, "events": [tag_set], "status": "DISABLED"},
    )["webhook"]["webhook_id"]
    send("GET", f"/{first}")
    page = send("GET", params={"max_results": 1})
    send("GET", params={"max_results": 1, "page_token": page["next_page_token"]})
    send(
        "PATCH",
        f"/{first}",
        json={"url": NOWHERE + "/v2", "events": [tag_set], "status": "DISABLED", "description": ""},
    )
    send("PATCH", f"/{second}", json={"name": "auditor-2", "status": "ACTIVE"})
    send("GET")
    send("DELETE", f"/{first}")
    for method in ("GET", "DELETE", "PATCH"):
        send(method, f"/{first}", json={"description": "x"})
    send("GET", params={"max_results": 1001})
    for body in (
        {"url": NOWHERE, "events": [VERSION_CREATED]},
        {"name": "hook", "url": NOWHERE, "events": []},
        {"name": "not a name", "url": NOWHERE, "events": [VERSION_CREATED]},
        {"name": "hook", "url": "ftp://example.com/x", "events": [VERSION_CREATED]},
        {
            "name": "hook",
            "url": NOWHERE,
            "events": [{"entity": "MODEL_VERSION", "action": "DELETED"}],
        },
    ):
        send("POST", json=body)
    send("DELETE", f"/{second}")
    send("GET")
    return answers


def normalized(answer: Any) -> Any:
    if isinstance(answer, dict):
        if "error_code" in answer:
            return {"error_code": answer["error_code"]}
        return {
            key: "<token>" if key == "next_page_token" else normalized(value)
            for key, value in answer.items()
            if key not in ("webhook_id", "creation_timestamp", "last_updated_timestamp")
        }
    if isinstance(answer, list):
        items = [normalized(item) for item in answer]
        return sorted(items, key=repr) if all("entity" in item for item in answer) else items
    return answer


@pytest.fixture(scope="module")
def mlflow_answers(tmp_path_factory: pytest.TempPathFactory) -> list[Answer]:
    """A real MLflow server's answers to the script, asked once for both of our backends."""
    with pytest.MonkeyPatch.context() as patch:
        # MLflow's own switches for local webhook URLs, as LOCAL_WEBHOOKS sets ours.
        patch.setenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "https,http")
        patch.setenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")
        with mlflow_serving(Path(tmp_path_factory.mktemp("mlflow"))) as url:
            return replay(url)


def test_the_raw_answers_are_those_of_a_real_mlflow_server(
    mlflow_answers: list[Answer], url: str
) -> None:
    ours = replay(url)
    assert len(ours) == len(mlflow_answers)
    for index, (theirs, mine) in enumerate(zip(mlflow_answers, ours, strict=True)):
        assert mine == theirs, f"call {index}"
