"""MLflow's registry AbstractStore over RegistryClient.

``mlflow server --registry-store-uri modelregistry://host:port`` builds one of these and calls it
from every registry handler of its REST API and web UI; MLflow's prompt registry runs on the
same methods (AbstractStore's default prompt methods). Each method is one or two RegistryClient
calls, so each inherits the client's deadline, its retries on UNAVAILABLE and, for writes, a
request id that makes those retries apply once. Registry errors become MlflowException with
MLflow's error codes.

The URI: ``modelregistry://host:port`` (plaintext) or ``modelregistry+tls://host:port`` (TLS,
trusting REGISTRY_TLS_CA or the system's roots), with an optional ``?timeout=<seconds>``, each
call's deadline (RegistryClient's default otherwise). REGISTRY_TOKEN is the token of the MLflow
server itself; REGISTRY_USER_TOKENS names a JSON file of per-user tokens (see ``identity``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

from mlflow.entities.model_registry import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
)
from mlflow.entities.webhook import Webhook, WebhookEvent, WebhookStatus, WebhookTestResult
from mlflow.exceptions import MlflowException
from mlflow.prompt.constants import IS_PROMPT_TAG_KEY
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry import (
    SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
    SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
)
from mlflow.store.model_registry.abstract_store import AbstractStore
from modelregistry.v1 import webhooks_pb2

from registry_service.client import DEFAULT_TIMEOUT, RegistryClient
from registry_service.errors import InvalidArgument
from registry_service.mlflow_store.entities import (
    KeyValue,
    model_version_entity,
    registered_model_entity,
    registry_event_types,
    tag_map,
    webhook_entity,
)
from registry_service.mlflow_store.errors import mlflow_errors
from registry_service.mlflow_store.identity import ClientsByUser
from registry_service.proto_mapping import event_type_message
from registry_service.search import MAX_PAGE_SIZE
from registry_service.search.nodes import And, Comparison, Node, Operator, StringValue, TagRef
from registry_service.search.parser import parse_filter

PLAINTEXT_SCHEME = "modelregistry"
TLS_SCHEME = "modelregistry+tls"
# MLflow's default page of webhooks.
WEBHOOK_PAGE_SIZE = 100

Item = TypeVar("Item")
Entity = TypeVar("Entity")


class RegistryServiceStore(AbstractStore):
    """The registry store MLflow builds for ``modelregistry://`` and ``modelregistry+tls://``."""

    def __init__(self, store_uri: str, tracking_uri: str | None = None) -> None:
        super().__init__(store_uri, tracking_uri)  # type: ignore[no-untyped-call]
        self._clients = ClientsByUser(_client_factory(store_uri))

    # -- registered models -------------------------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        tags: Sequence[KeyValue] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        _refuse_deployment_job(deployment_job_id)
        with mlflow_errors():
            model = self._clients.current().create_registered_model(
                name, tags=tag_map(tags), description=description
            )
        return registered_model_entity(model)

    def update_registered_model(
        self, name: str, description: str | None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        _refuse_deployment_job(deployment_job_id)
        with mlflow_errors():
            model = self._clients.current().update_registered_model(name, description)
        return registered_model_entity(model)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        with mlflow_errors():
            model = self._clients.current().rename_registered_model(name, new_name)
        return registered_model_entity(model)

    def delete_registered_model(self, name: str) -> None:
        with mlflow_errors():
            self._clients.current().delete_registered_model(name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        return _search(
            self._clients.current().search_registered_models_page,
            registered_model_entity,
            filter_string,
            order_by,
            SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT if max_results is None else max_results,
            page_token,
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        with mlflow_errors():
            model = self._clients.current().get_registered_model(name)
        return registered_model_entity(model)

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        with mlflow_errors():
            versions = self._clients.current().get_latest_versions(name, stages)
        return [model_version_entity(v) for v in versions]

    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        with mlflow_errors():
            self._clients.current().set_registered_model_tag(name, tag.key, tag.value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        with mlflow_errors():
            self._clients.current().delete_registered_model_tag(name, key)

    # -- model versions ----------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[KeyValue] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        local_model_path: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        # local_model_path only spares stores that copy a version's files a download; the
        # registry stores where the files are, never the files.
        with mlflow_errors():
            version = self._clients.current().create_model_version(
                name,
                source,
                run_id=run_id,
                tags=tag_map(tags),
                run_link=run_link,
                description=description,
                model_id=model_id,
            )
        return model_version_entity(version)

    def update_model_version(
        self, name: str, version: int | str, description: str | None
    ) -> ModelVersion:
        with mlflow_errors():
            updated = self._clients.current().update_model_version(
                name, version, description=description
            )
        return model_version_entity(updated)

    def transition_model_version_stage(
        self, name: str, version: int | str, stage: str, archive_existing_versions: bool
    ) -> ModelVersion:
        with mlflow_errors():
            moved = self._clients.current().transition_model_version_stage(
                name, version, stage, archive_existing_versions
            )
        return model_version_entity(moved)

    def delete_model_version(self, name: str, version: int | str) -> None:
        with mlflow_errors():
            self._clients.current().delete_model_version(name, version)

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        with mlflow_errors():
            found = self._clients.current().get_model_version(name, version)
        return model_version_entity(found)

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        with mlflow_errors():
            return self._clients.current().get_model_version_download_uri(name, version)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        return _search(
            self._clients.current().search_model_versions_page,
            model_version_entity,
            filter_string,
            order_by,
            SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT if max_results is None else max_results,
            page_token,
        )

    def set_model_version_tag(self, name: str, version: int | str, tag: ModelVersionTag) -> None:
        with mlflow_errors():
            self._clients.current().set_model_version_tag(name, version, tag.key, tag.value)

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        with mlflow_errors():
            self._clients.current().delete_model_version_tag(name, version, key)

    # -- aliases -----------------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        with mlflow_errors():
            self._clients.current().set_registered_model_alias(name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        with mlflow_errors():
            self._clients.current().delete_registered_model_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with mlflow_errors():
            found = self._clients.current().get_model_version_by_alias(name, alias)
        return model_version_entity(found)

    # -- webhooks ----------------------------------------------------------------------------
    # The registry's webhooks, which it delivers itself for every change, made through MLflow
    # or not. Only MLflow's model registry events have a counterpart among its event types.

    def create_webhook(
        self,
        name: str,
        url: str,
        events: Sequence[WebhookEvent],
        description: str | None = None,
        secret: str | None = None,
        status: WebhookStatus | None = None,
    ) -> Webhook:
        with mlflow_errors():
            created = self._clients.current().create_webhook(
                url,
                [event_type_message(t) for t in registry_event_types(events)],
                secret or "",
                enabled=status is None or status.is_active(),
                description=description or "",
                name=name,
            )
        return webhook_entity(created)

    def get_webhook(self, webhook_id: str) -> Webhook:
        return webhook_entity(self._webhook(webhook_id))

    def list_webhooks(
        self, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[Webhook]:
        """Newest first, as MLflow lists them; the page token is the offset of the next page
        (webhooks are few, and listed whole by the registry)."""
        size = WEBHOOK_PAGE_SIZE if max_results is None else max_results
        with mlflow_errors():
            listed = self._clients.current().list_webhooks()
        listed.sort(key=lambda w: (w.creation_timestamp, w.id), reverse=True)
        start = _offset(page_token)
        page = listed[start : start + size]
        following = str(start + size) if start + size < len(listed) else None
        return PagedList([webhook_entity(w) for w in page], following)

    def list_webhooks_by_event(
        self, event: WebhookEvent, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[Webhook]:
        """None: MLflow's server asks this after each change to deliver webhooks itself, but the
        registry already delivers them from its outbox, once per committed change, whoever made
        it. Answering here would deliver every event made through MLflow twice."""
        return PagedList([], None)

    def update_webhook(
        self,
        webhook_id: str,
        name: str | None = None,
        description: str | None = None,
        url: str | None = None,
        events: Sequence[WebhookEvent] | None = None,
        secret: str | None = None,
        status: WebhookStatus | None = None,
    ) -> Webhook:
        # As MLflow's stores: an empty name, url or event list is not a change.
        event_types = (
            [event_type_message(t) for t in registry_event_types(events)] if events else None
        )
        with mlflow_errors():
            updated = self._clients.current().update_webhook(
                webhook_id,
                url=url or None,
                event_types=event_types,
                secret=secret,
                enabled=None if status is None else status.is_active(),
                description=description,
                name=name or None,
            )
        return webhook_entity(updated)

    def delete_webhook(self, webhook_id: str) -> None:
        with mlflow_errors():
            self._clients.current().delete_webhook(webhook_id)

    def test_webhook(self, webhook_id: str, event: WebhookEvent | None = None) -> WebhookTestResult:
        # MLflow tests a webhook with its first event unless told which.
        [event_type] = registry_event_types(
            [event or webhook_entity(self._webhook(webhook_id)).events[0]]
        )
        with mlflow_errors():
            tested = self._clients.current().test_webhook(
                webhook_id, event_type_message(event_type)
            )
        return WebhookTestResult(
            success=tested.success,
            response_status=tested.response_code or None,
            response_body=tested.response_body or None,
            error_message=tested.error or None,
        )

    def _webhook(self, webhook_id: str) -> webhooks_pb2.Webhook:
        with mlflow_errors():
            listed = self._clients.current().list_webhooks()
        for webhook in listed:
            if webhook.id == webhook_id:
                return webhook
        raise MlflowException(f"Webhook with ID {webhook_id} not found.", RESOURCE_DOES_NOT_EXIST)


def _client_factory(store_uri: str) -> Callable[[str | None], RegistryClient]:
    """A maker of clients of the registry ``store_uri`` names, each with the given token."""
    parts = urlsplit(store_uri)
    if parts.scheme not in (PLAINTEXT_SCHEME, TLS_SCHEME) or not parts.netloc:
        raise MlflowException(
            f"registry store URI {store_uri!r} is not {PLAINTEXT_SCHEME}://host:port or "
            f"{TLS_SCHEME}://host:port",
            INVALID_PARAMETER_VALUE,
        )
    timeout = DEFAULT_TIMEOUT
    for value in parse_qs(parts.query).get("timeout", []):
        try:
            timeout = float(value)
        except ValueError:
            raise MlflowException(
                f"timeout in {store_uri!r} is not a number of seconds", INVALID_PARAMETER_VALUE
            ) from None
    tls = parts.scheme == TLS_SCHEME
    # An empty REGISTRY_TLS_CA means the system's roots, as for the `registry` CLI. The scheme
    # alone decides TLS: RegistryClient would take a CA as a request for TLS.
    tls_ca = (os.environ.get("REGISTRY_TLS_CA") or None) if tls else None

    def make(token: str | None) -> RegistryClient:
        return RegistryClient(parts.netloc, timeout=timeout, tls=tls, tls_ca=tls_ca, token=token)

    return make


def _refuse_deployment_job(deployment_job_id: str | None) -> None:
    # The registry has no deployment jobs; dropping the id silently would lose it.
    if deployment_job_id:
        raise MlflowException(
            "this registry does not record deployment jobs (deployment_job_id)",
            INVALID_PARAMETER_VALUE,
        )


def _offset(page_token: str | None) -> int:
    if not page_token:
        return 0
    if not page_token.isdigit():
        raise MlflowException(f"invalid page token {page_token!r}", INVALID_PARAMETER_VALUE)
    return int(page_token)


def _search(
    page_of: Callable[[str, Sequence[str] | None, int, str], tuple[list[Item], str]],
    entity: Callable[[Item], Entity],
    filter_string: str | None,
    order_by: Sequence[str] | None,
    max_results: int,
    page_token: str | None,
) -> PagedList[Entity]:
    """``max_results`` matches from ``page_token`` on, as one of MLflow's pages. The registry's
    page tokens are MLflow's: each one continues right after the last item returned, so pages
    above the registry's page size are filled from several of its pages."""
    if max_results < 1:
        raise MlflowException(
            f"max_results must be at least 1, got {max_results}", INVALID_PARAMETER_VALUE
        )
    filter_text = _without_prompts(filter_string)
    items: list[Item] = []
    token = page_token or ""
    with mlflow_errors():
        while True:
            size = min(max_results - len(items), MAX_PAGE_SIZE)
            page, token = page_of(filter_text, order_by, size, token)
            items.extend(page)
            if not token or len(items) >= max_results:
                break
    return PagedList([entity(item) for item in items], token or None)


def _without_prompts(filter_string: str | None) -> str:
    """``filter_string`` restricted to models and versions that are not prompts, unless it asks
    for prompts: MLflow's own stores search that way, and its web UI's Models page relies on it
    (it sends no such condition)."""
    text = filter_string or ""
    if _asks_for_prompts(text):
        return text
    not_prompt = f"tag.`{IS_PROMPT_TAG_KEY}` != 'true'"
    return f"({text}) AND {not_prompt}" if text.strip() else not_prompt


def _asks_for_prompts(filter_string: str) -> bool:
    """Whether a top-level condition of the filter selects prompts, as MLflow's stores decide:
    ``tag.mlflow.prompt.is_prompt = 'true'`` or ``!= 'false'``."""
    try:
        tree: Node | None = parse_filter(filter_string)
    except InvalidArgument:
        # The registry reports the error, at the position the caller wrote it.
        return True
    conditions = tree.operands if isinstance(tree, And) else (tree,)
    for condition in conditions:
        if not (
            isinstance(condition, Comparison)
            and condition.target == TagRef(IS_PROMPT_TAG_KEY)
            and len(condition.values) == 1
            and isinstance(condition.values[0], StringValue)
        ):
            continue
        value = condition.values[0].value.lower()
        if (condition.op, value) in ((Operator.EQ, "true"), (Operator.NE, "false")):
            return True
    return False
