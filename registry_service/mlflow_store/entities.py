"""The registry's messages as MLflow's registry entities, and MLflow's tag lists as the
registry's tag maps."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from mlflow.entities.model_registry import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
)
from mlflow.entities.webhook import Webhook, WebhookEvent, WebhookStatus
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from modelregistry.v1 import model_version_pb2, registered_model_pb2, webhooks_pb2

from registry_service.domain import EventType
from registry_service.mlflow_events import MLFLOW_EVENT_TYPES, mlflow_visible_events

# MLflow's status words are the registry's enum names without the prefix.
# MLflow's tag and alias entities have unannotated constructors, hence the type: ignore comments.
_STATUS_PREFIX = "MODEL_VERSION_STATUS_"


class KeyValue(Protocol):
    """A tag as MLflow's server hands it over: an entity or the request's protobuf message."""

    @property
    def key(self) -> str: ...

    @property
    def value(self) -> str: ...


def tag_map(tags: Iterable[KeyValue] | None) -> dict[str, str]:
    """MLflow's list of tags as the registry's map; a repeated key keeps its last value, as
    MLflow's own stores do."""
    return {tag.key: tag.value for tag in tags or ()}


def registered_model_entity(model: registered_model_pb2.RegisteredModel) -> RegisteredModel:
    # The registry records no deployment job: MLflow's deployment_job_id stays unset.
    return RegisteredModel(
        name=model.name,
        creation_timestamp=model.creation_timestamp,
        last_updated_timestamp=model.last_updated_timestamp,
        description=model.description,
        latest_versions=[model_version_entity(v) for v in model.latest_versions],
        tags=[
            RegisteredModelTag(key, value)  # type: ignore[no-untyped-call]
            for key, value in sorted(model.tags.items())
        ],
        aliases=[
            RegisteredModelAlias(alias, str(version))  # type: ignore[no-untyped-call]
            for alias, version in sorted(model.aliases.items())
        ],
    )


def model_version_entity(version: model_version_pb2.ModelVersion) -> ModelVersion:
    status = model_version_pb2.ModelVersionStatus.Name(version.status)
    return ModelVersion(
        name=version.name,
        version=str(version.version),
        creation_timestamp=version.creation_timestamp,
        last_updated_timestamp=version.last_updated_timestamp,
        description=version.description,
        # Empty means unknown in the contract; MLflow's entities leave unknown fields unset.
        user_id=version.user_id or None,
        current_stage=version.current_stage,
        source=version.source,
        run_id=version.run_id or None,
        status=status.removeprefix(_STATUS_PREFIX),
        status_message=version.status_message or None,
        tags=[
            ModelVersionTag(key, value)  # type: ignore[no-untyped-call]
            for key, value in sorted(version.tags.items())
        ],
        run_link=version.run_link or None,
        aliases=list(version.aliases),
        model_id=version.model_id or None,
    )


def webhook_entity(webhook: webhooks_pb2.Webhook) -> Webhook:
    """A registry webhook as MLflow's; event types MLflow has no name for (subscribed over gRPC)
    are left out, as the gateway's MLflow webhook API shows them."""
    return Webhook(
        webhook_id=webhook.id,
        name=webhook.name,
        url=webhook.url,
        events=[
            WebhookEvent(*event_type.value.split("."))
            for event_type in mlflow_visible_events(webhook)
        ],
        creation_timestamp=webhook.creation_timestamp,
        last_updated_timestamp=webhook.last_updated_timestamp,
        description=webhook.description or None,
        status=WebhookStatus.ACTIVE if webhook.enabled else WebhookStatus.DISABLED,
    )


def registry_event_types(events: Iterable[WebhookEvent]) -> list[EventType]:
    """MLflow's webhook events as the registry's event types of the same name. MLflow's prompt
    events are refused: the registry's events do not tell prompts from models, and MLflow's
    server, which would deliver them, is given no webhooks to deliver (see
    ``RegistryServiceStore.list_webhooks_by_event``)."""
    found: list[EventType] = []
    for event in events:
        name = str(event)
        if name not in {t.value for t in MLFLOW_EVENT_TYPES}:
            raise MlflowException(
                f"webhook event {name} cannot be delivered by this registry; it delivers "
                f"{', '.join(t.value for t in MLFLOW_EVENT_TYPES)}",
                INVALID_PARAMETER_VALUE,
            )
        found.append(EventType(name))
    return found
