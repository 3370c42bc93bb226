"""The MLflow registry-store plugin: a real `mlflow server --registry-store-uri
modelregistry://127.0.0.1:<port>` with its own tracking database and artifact store, in front of
a real `registry-service serve`.

The stock MlflowClient talks only to the MLflow server, as its users do; what it did is then
read back over this service's gRPC API and change feed. MLflow's prompt registry and MLflow's own
web UI (in chromium, screenshots in tests/artifacts/mlflow/) run on the same servers, which are
shared by the module's tests. The last test stops this service under the MLflow server. Who a
change is recorded as is checked with MLflow's basic-auth app, on an MLflow server and a registry
(with token auth) of its own; TLS on the plugin itself, against a registry of its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import mlflow
import mlflow.tracking._model_registry.utils as registry_utils
import mlflow.tracking._tracking_service.utils as tracking_utils
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.server import get_app_client
from modelregistry.v1 import events_pb2
from playwright.sync_api import Browser, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sklearn.linear_model import LogisticRegression

from registry_service.client import RegistryClient
from registry_service.config import Settings
from registry_service.errors import InvalidArgument
from registry_service.mlflow_store import RegistryServiceStore
from registry_service.server import start
from registry_service.store.access_store import AccessStore
from registry_service.store.registry_store import RegistryStore

from .certificates import Authority
from .processes import PATIENCE_S, Served, free_port, mlflow_serving, serving, start_serving
from .test_mlflow3_workflow import FEATURES, LABELS, PROBES
from .test_webhooks import SECRET, receiving, settled
from .ui_harness import ARTIFACTS as UI_ARTIFACTS

ARTIFACTS = UI_ARTIFACTS.parent / "mlflow"
# The shared chromium fixture, browser.
pytest_plugins = ["tests.ui_harness"]
# Each call's deadline in the plugin (the store URI's ?timeout=): short, so that the outage
# test sees an answer soon.
DEADLINE_S = 5.0
# The basic-auth test's MLflow users (MLflow wants passwords of 12 characters or more).
PASSWORDS = {user: f"{user}-password-1" for user in ("admin", "alice", "mallory")}

pytestmark = pytest.mark.usefixtures("stage_warnings_ignored")


@dataclass
class Stack:
    """The MLflow server, and the registry server behind it (restartable on its port)."""

    mlflow_url: str
    registry_port: int
    registry_args: tuple[str, ...]
    registry: Served
    registry_env: dict[str, str]

    @property
    def registry_address(self) -> str:
        return f"127.0.0.1:{self.registry_port}"

    def restart_registry(self) -> None:
        self.registry = start_serving(*self.registry_args, env=self.registry_env)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("mlflow-plugin")
    registry_port, mlflow_port = free_port(), free_port()
    store_uri = f"modelregistry://127.0.0.1:{registry_port}?timeout={DEADLINE_S}"
    with mlflow_serving(folder, "--registry-store-uri", store_uri, port=mlflow_port) as url:
        # The registry resolves lineage (runs, logged models, experiments) from the same
        # tracking server that it is the registry of.
        args = (
            "--port", str(registry_port), "--database-url", f"sqlite:///{folder / 'registry.db'}",
            "--tracking-uri", url,
        )  # fmt: skip
        # Webhooks to the tests' local receiver, polled often.
        env = {
            "REGISTRY_WEBHOOK_SCHEMES": "https,http",
            "REGISTRY_WEBHOOK_ALLOW_PRIVATE": "true",
            "REGISTRY_WEBHOOK_POLL_INTERVAL": "0.05",
        }
        running = Stack(url, registry_port, args, start_serving(*args, env=env), env)
        try:
            yield running
        finally:
            if running.registry.process.poll() is None:
                assert running.registry.stop() == 0, running.registry.text()


def stock_client_on(mlflow_url: str, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    """The stock client and fluent API on the MLflow server at ``mlflow_url`` only: tracking
    and registry."""
    monkeypatch.setattr(registry_utils, "_registry_uri", None)
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_url)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    # A failure is seen at once, not after the client's minutes of retries.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return MlflowClient()


@pytest.fixture
def mlflow_client(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    return stock_client_on(stack.mlflow_url, monkeypatch)


def event_type(event: events_pb2.Event) -> str:
    """A change feed event's type without its prefix: REGISTERED_MODEL_CREATED, …"""
    return events_pb2.EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


@pytest.fixture
def ours(stack: Stack) -> Iterator[RegistryClient]:
    """This service's own gRPC client, beside MLflow."""
    with RegistryClient(stack.registry_address) as grpc_client:
        yield grpc_client


def test_the_stock_client_drives_the_whole_workflow_through_the_mlflow_server(
    mlflow_client: MlflowClient,
    ours: RegistryClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    name = "fraud"
    trained = LogisticRegression().fit(FEATURES, LABELS)
    mlflow.set_experiment("plugin-workflow")

    # Versions from log_model(registered_model_name=…) and register_model("runs:/…").
    with mlflow.start_run() as run:
        logged = mlflow.sklearn.log_model(trained, name="model", registered_model_name=name)
    second = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    assert second.version == "2"
    for number in (1, 2):
        stored = ours.get_model_version(name, number)
        assert (stored.source, stored.model_id, stored.run_id, stored.experiment_id) == (
            f"models:/{logged.model_id}",
            logged.model_id,
            run.info.run_id,
            run.info.experiment_id,
        )

    # Annotations: descriptions and tags of the model and its versions.
    mlflow_client.update_registered_model(name, description="Flags card fraud.")
    mlflow_client.set_registered_model_tag(name, "team", "risk")
    mlflow_client.set_registered_model_tag(name, "scratch", "x")
    mlflow_client.delete_registered_model_tag(name, "scratch")
    mlflow_client.update_model_version(name, "2", description="Retrained weekly.")
    mlflow_client.set_model_version_tag(name, "2", "auc", "0.91")
    mlflow_client.set_model_version_tag(name, "1", "scratch", "x")
    mlflow_client.delete_model_version_tag(name, "1", "scratch")

    # Stages, with archive_existing_versions, and an alias.
    mlflow_client.transition_model_version_stage(name, "1", "Production")
    moved = mlflow_client.transition_model_version_stage(
        name, "2", "Production", archive_existing_versions=True
    )
    assert moved.current_stage == "Production"
    assert mlflow_client.get_model_version(name, "1").current_stage == "Archived"
    mlflow_client.set_registered_model_alias(name, "champion", "2")
    assert mlflow_client.get_model_version_by_alias(name, "champion").version == "2"
    latest = mlflow_client.get_latest_versions(name, stages=["Production", "Archived"])
    assert sorted((v.current_stage, v.version) for v in latest) == [
        ("Archived", "1"),
        ("Production", "2"),
    ]

    # MLflow resolves the alias through the plugin and loads the files from its artifact store.
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert list(loaded.predict(PROBES)) == list(trained.predict(PROBES))

    # All of it is the registry's own record.
    model = ours.get_registered_model(name)
    assert model.description == "Flags card fraud."
    assert dict(model.tags) == {"team": "risk"}
    assert dict(model.aliases) == {"champion": 2}
    version = ours.get_model_version(name, 2)
    assert (version.current_stage, version.description, dict(version.tags)) == (
        "Production",
        "Retrained weekly.",
        {"auc": "0.91"},
    )
    assert list(version.aliases) == ["champion"]

    # Copy, rename and deletes.
    copy = mlflow_client.copy_model_version(f"models:/{name}/2", "fraud-copy")
    assert (copy.name, copy.version, copy.source) == ("fraud-copy", "1", f"models:/{name}/2")
    assert ours.get_model_version("fraud-copy", 1).model_id == logged.model_id
    mlflow_client.rename_registered_model(name, "fraud-detector")
    with pytest.raises(MlflowException) as missing:
        mlflow_client.get_registered_model(name)
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert ours.get_model_version_by_alias("fraud-detector", "champion").version == 2
    mlflow_client.delete_registered_model_alias("fraud-detector", "champion")
    mlflow_client.delete_model_version("fraud-detector", "1")
    assert [v.version for v in ours.search_model_versions("name = 'fraud-detector'")] == [2]
    mlflow_client.delete_registered_model("fraud-copy")
    assert [m.name for m in ours.search_registered_models("name LIKE 'fraud%'")] == [
        "fraud-detector"
    ]

    # The change feed has every change, in order, under the model's name at the time.
    events = [
        (e.model_name, event_type(e))
        for e in ours.list_events(model_names=[name, "fraud-detector", "fraud-copy"])
    ]
    assert events == [
        (name, "REGISTERED_MODEL_CREATED"),
        (name, "MODEL_VERSION_CREATED"),
        (name, "MODEL_VERSION_CREATED"),
        (name, "REGISTERED_MODEL_UPDATED"),
        (name, "REGISTERED_MODEL_TAG_SET"),
        (name, "REGISTERED_MODEL_TAG_SET"),
        (name, "REGISTERED_MODEL_TAG_DELETED"),
        (name, "MODEL_VERSION_UPDATED"),
        (name, "MODEL_VERSION_TAG_SET"),
        (name, "MODEL_VERSION_TAG_SET"),
        (name, "MODEL_VERSION_TAG_DELETED"),
        (name, "MODEL_VERSION_STAGE_CHANGED"),
        (name, "MODEL_VERSION_STAGE_CHANGED"),
        (name, "MODEL_VERSION_STAGE_CHANGED"),
        (name, "MODEL_VERSION_ALIAS_CREATED"),
        ("fraud-copy", "REGISTERED_MODEL_CREATED"),
        ("fraud-copy", "MODEL_VERSION_CREATED"),
        ("fraud-detector", "REGISTERED_MODEL_RENAMED"),
        ("fraud-detector", "MODEL_VERSION_ALIAS_DELETED"),
        ("fraud-detector", "MODEL_VERSION_DELETED"),
        ("fraud-copy", "REGISTERED_MODEL_DELETED"),
    ]


def test_searches_page_with_mlflow_page_tokens(
    mlflow_client: MlflowClient, ours: RegistryClient
) -> None:
    names = [f"paged-{number}" for number in range(5)]
    for model_name in names:
        mlflow_client.create_registered_model(model_name, tags={"suite": "paging"})
        for _ in range(3):
            mlflow_client.create_model_version(model_name, f"s3://bucket/{model_name}")

    seen: list[str] = []
    token = None
    while True:
        page = mlflow_client.search_registered_models(
            "tags.suite = 'paging'", max_results=2, order_by=["name DESC"], page_token=token
        )
        assert len(page) <= 2
        seen += [m.name for m in page]
        token = page.token
        if not token:
            break
    assert seen == sorted(names, reverse=True)

    versions: list[tuple[str, str]] = []
    token = None
    while True:
        version_page = mlflow_client.search_model_versions(
            "name LIKE 'paged-%'",
            max_results=4,
            order_by=["name", "version_number"],
            page_token=token,
        )
        versions += [(v.name, v.version) for v in version_page]
        token = version_page.token
        if not token:
            break
    assert versions == [(n, str(v)) for n in names for v in (1, 2, 3)]
    assert len(ours.search_model_versions("name LIKE 'paged-%'")) == 15


def test_errors_carry_mlflow_error_codes_and_statuses(
    stack: Stack, mlflow_client: MlflowClient
) -> None:
    mlflow_client.create_registered_model("errors")
    api = f"{stack.mlflow_url}/api/2.0/mlflow"
    cases = [
        ("GET", "registered-models/get", {"name": "absent"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("POST", "registered-models/create", {"name": "errors"}, 400, "RESOURCE_ALREADY_EXISTS"),
        (
            "POST",
            "model-versions/transition-stage",
            {"name": "errors", "version": "1", "stage": "Nowhere"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            "registered-models/alias",
            {"name": "errors", "alias": "absent"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
    ]
    for method, path, data, status, code in cases:
        sent = {"params": data} if method == "GET" else {"json": data}
        answer = requests.request(method, f"{api}/{path}", timeout=PATIENCE_S, **sent)
        assert (answer.status_code, answer.json()["error_code"]) == (status, code), path


def test_prompts_register_and_load_through_the_mlflow_server(
    mlflow_client: MlflowClient, ours: RegistryClient
) -> None:
    first = mlflow.genai.register_prompt("greeting", template="Hello {{name}}!")
    second = mlflow.genai.register_prompt("greeting", template="Hi {{name}}, welcome back.")
    assert (first.version, second.version) == (1, 2)
    mlflow.genai.set_prompt_alias("greeting", alias="production", version=1)

    assert mlflow.genai.load_prompt("prompts:/greeting@production").format(name="Ada") == (
        "Hello Ada!"
    )
    assert mlflow.genai.load_prompt("prompts:/greeting/2").format(name="Ada") == (
        "Hi Ada, welcome back."
    )
    # A prompt is a model tagged as one in the registry, and no model to MLflow's searches.
    assert ours.get_registered_model("greeting").tags["mlflow.prompt.is_prompt"] == "true"
    assert ours.get_model_version_by_alias("greeting", "production").version == 1
    assert "greeting" not in [m.name for m in mlflow_client.search_registered_models()]
    assert [p.name for p in mlflow.genai.search_prompts()] == ["greeting"]

    # As MLflow's server: a prompt version's source is MLflow's placeholder, and only there.
    prompt_tag = {"mlflow.prompt.is_prompt": "true"}
    with pytest.raises(InvalidArgument):
        ours.create_model_version("greeting", "s3://bucket/prompt", tags=prompt_tag)
    ours.create_registered_model("not-a-prompt")
    with pytest.raises(InvalidArgument):
        ours.create_model_version("not-a-prompt", "dummy-source")


def test_mlflow_web_ui_lists_the_model_and_shows_its_version_stage_and_alias(
    stack: Stack,
    mlflow_client: MlflowClient,
    browser: Browser,
) -> None:
    mlflow_client.create_registered_model("ui-model", description="Shown by MLflow's UI.")
    mlflow_client.create_model_version("ui-model", "s3://bucket/ui-model/1")
    mlflow_client.transition_model_version_stage("ui-model", "1", "Staging")
    mlflow_client.set_registered_model_alias("ui-model", "champion", "1")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(f"{stack.mlflow_url}/#/models")
        expect(page.get_by_role("link", name="ui-model")).to_be_visible(timeout=PATIENCE_S * 1000)
        # On a first visit MLflow announces its new model registry UI in a dialog over the list.
        announcement = page.get_by_role("dialog")
        with suppress(PlaywrightTimeoutError):
            announcement.wait_for(timeout=5000)
            page.keyboard.press("Escape")
        expect(announcement).to_be_hidden()
        page.screenshot(path=ARTIFACTS / "models.png", full_page=True)

        page.goto(f"{stack.mlflow_url}/#/models/ui-model/versions/1")
        expect(page.get_by_text("Staging", exact=True)).to_be_visible(timeout=PATIENCE_S * 1000)
        expect(page.get_by_text("@ champion", exact=True)).to_be_visible()
        page.screenshot(path=ARTIFACTS / "model-version.png", full_page=True)
    finally:
        page.close()


def test_webhooks_made_through_mlflow_are_the_registrys_and_deliver_once(
    mlflow_client: MlflowClient, ours: RegistryClient
) -> None:
    with receiving() as receiver:
        hook = mlflow_client.create_webhook(
            "versions", receiver.url, ["model_version.created"], secret=SECRET
        )
        assert [w.id for w in ours.list_webhooks()] == [hook.webhook_id]
        mlflow_client.create_registered_model("hooked")
        mlflow_client.create_model_version("hooked", "s3://bucket/hooked/1")

        # The registry delivers it, signed; MLflow's server, given no webhooks by the plugin,
        # does not deliver it a second time.
        settled(ours, hook.webhook_id, 1)
        time.sleep(1)
        [delivery] = receiver.deliveries
        assert delivery.verified
        assert (delivery.body["entity"], delivery.body["action"]) == ("model_version", "created")

        shown = mlflow_client.get_webhook(hook.webhook_id)
        assert (shown.name, shown.url, [str(e) for e in shown.events]) == (
            "versions",
            receiver.url,
            ["model_version.created"],
        )
        mlflow_client.update_webhook(hook.webhook_id, status="DISABLED", description="paused")
        assert [(w.status.value, w.description) for w in mlflow_client.list_webhooks()] == [
            ("DISABLED", "paused")
        ]
        with pytest.raises(MlflowException) as refused:
            mlflow_client.create_webhook("prompts", receiver.url, ["prompt.created"])
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
        mlflow_client.delete_webhook(hook.webhook_id)
        assert ours.list_webhooks() == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_signed_in_mlflow_users_are_recorded_or_refused_never_misattributed(
    database_url: str,
    store: RegistryStore,
    tokens: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """MLflow's own basic-auth app (`mlflow server --app-name basic-auth`) in front of a registry
    with token auth: each signed-in MLflow user is recorded as the registry user whose token
    REGISTRY_USER_TOKENS gives them; one without a token there is refused."""
    # The MLflow server's own token names a user of its own, so that a change recorded under
    # the server instead of the signed-in user would show.
    server_token = AccessStore(store).create_token("mlflow-server")[1]
    user_tokens = tmp_path / "user-tokens.json"
    user_tokens.write_text(json.dumps({"admin": tokens["admin"], "alice": tokens["alice"]}))
    auth_config = tmp_path / "basic_auth.ini"
    auth_config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{tmp_path / 'basic_auth.db'}\n"
        "admin_username = admin\n"
        f"admin_password = {PASSWORDS['admin']}\n"
    )
    mlflow_env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(auth_config),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "plugin-identity-test",
        "REGISTRY_TOKEN": server_token,
        "REGISTRY_USER_TOKENS": str(user_tokens),
    }

    def sign_in(user: str) -> None:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORDS[user])

    registry_args = ("--port", "0", "--database-url", database_url, "--auth", "token")
    with serving(*registry_args, "--no-webhooks") as registry:
        store_uri = f"modelregistry://{registry.address}?timeout={DEADLINE_S}"
        with mlflow_serving(
            tmp_path, "--app-name", "basic-auth", "--registry-store-uri", store_uri, env=mlflow_env
        ) as url:
            mlflow_client = stock_client_on(url, monkeypatch)
            sign_in("admin")
            users = get_app_client("basic-auth", tracking_uri=url)
            for user in ("alice", "mallory"):
                users.create_user(user, PASSWORDS[user])

            sign_in("alice")
            mlflow_client.create_registered_model("alices")
            mlflow_client.set_registered_model_tag("alices", "team", "risk")
            sign_in("admin")
            mlflow_client.update_registered_model("alices", description="Reviewed.")

            # mallory may create models in MLflow and has a registry token, but not in
            # REGISTRY_USER_TOKENS: the plugin refuses her rather than write as the server.
            sign_in("mallory")
            with pytest.raises(MlflowException) as refused:
                mlflow_client.create_registered_model("mallorys")
            assert refused.value.error_code == "PERMISSION_DENIED"
            assert "'mallory' has no registry token in REGISTRY_USER_TOKENS" in str(refused.value)

        # The plugin as configured in the MLflow server, called outside any signed-in request:
        # it writes with the server's own token.
        for variable, value in mlflow_env.items():
            monkeypatch.setenv(variable, value)
        RegistryServiceStore(store_uri).create_registered_model("servers")

        with RegistryClient(registry.address, token=tokens["admin"]) as admin:
            events = [(e.model_name, event_type(e), e.actor) for e in admin.list_events()]
            assert [m.name for m in admin.search_registered_models()] == ["alices", "servers"]
    assert events == [
        ("alices", "REGISTERED_MODEL_CREATED", "alice"),
        ("alices", "REGISTERED_MODEL_TAG_SET", "alice"),
        ("alices", "REGISTERED_MODEL_UPDATED", "admin"),
        ("servers", "REGISTERED_MODEL_CREATED", "mlflow-server"),
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_tls_scheme_trusts_registry_tls_ca_and_plaintext_to_a_tls_registry_fails(
    store: RegistryStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    authority = Authority(tmp_path, "plugin-test-ca")
    pair = authority.issue("registry-server", server=True)
    settings = Settings(
        port=0, http_port=-1, webhooks=False, tls_cert=str(pair.cert), tls_key=str(pair.key)
    )
    running = start(settings, store=store)
    try:
        monkeypatch.setenv("REGISTRY_TLS_CA", str(authority.cert))
        over_tls = RegistryServiceStore(f"modelregistry+tls://127.0.0.1:{running.port}")
        assert over_tls.create_registered_model("over-tls").name == "over-tls"

        plaintext = RegistryServiceStore(f"modelregistry://127.0.0.1:{running.port}?timeout=5")
        with pytest.raises(MlflowException) as refused:
            plaintext.get_registered_model("over-tls")
        assert refused.value.error_code == "TEMPORARILY_UNAVAILABLE"
    finally:
        running.stop(None)


@pytest.mark.parametrize(
    "uri", ["modelregistry://", "modelregistry://127.0.0.1:1?timeout=soon", "grpc://127.0.0.1:1"]
)
def test_a_store_uri_without_an_address_or_with_a_bad_timeout_is_refused(uri: str) -> None:
    with pytest.raises(MlflowException) as refused:
        RegistryServiceStore(uri)
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"


def test_an_outage_of_the_registry_is_an_error_within_the_deadline_then_recovers(
    stack: Stack, mlflow_client: MlflowClient
) -> None:
    mlflow_client.create_registered_model("outage")
    url = f"{stack.mlflow_url}/api/2.0/mlflow/registered-models/get"
    assert stack.registry.stop() == 0

    began = time.monotonic()
    answer = requests.get(url, params={"name": "outage"}, timeout=DEADLINE_S * 4)
    assert time.monotonic() - began < DEADLINE_S * 2
    assert (answer.status_code, answer.json()["error_code"]) == (503, "TEMPORARILY_UNAVAILABLE")

    stack.restart_registry()
    deadline = time.monotonic() + PATIENCE_S
    while True:
        answer = requests.get(url, params={"name": "outage"}, timeout=PATIENCE_S)
        if answer.status_code == 200:
            break
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.2)
    assert answer.json()["registered_model"]["name"] == "outage"
