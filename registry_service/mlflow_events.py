"""MLflow's webhook events and the registry's event types they name, shared by the server's MLflow
webhook API (gateway/mlflow_webhooks.py) and the MLflow plugin (mlflow_store/), so that the plugin,
which runs in the client's process, need not import the server's gateway.

The registry's event types are named after MLflow's events: ``model_version.created`` is MLflow's
``{"entity": "MODEL_VERSION", "action": "CREATED"}``.
"""

from __future__ import annotations

from modelregistry.v1 import webhooks_pb2

from registry_service.domain import EventType
from registry_service.proto_mapping import event_types_of

# MLflow's events with a counterpart here: each is the event type of the same name.
MLFLOW_EVENT_TYPES = (
    EventType.REGISTERED_MODEL_CREATED,
    EventType.MODEL_VERSION_CREATED,
    EventType.MODEL_VERSION_TAG_SET,
    EventType.MODEL_VERSION_TAG_DELETED,
    EventType.MODEL_VERSION_ALIAS_CREATED,
    EventType.MODEL_VERSION_ALIAS_DELETED,
)
# MLflow's events this registry cannot deliver: it has no prompts and no gateway budgets.
UNDELIVERABLE_EVENTS = frozenset(
    {
        "prompt.created",
        "prompt_version.created",
        "prompt_tag.set",
        "prompt_tag.deleted",
        "prompt_version_tag.set",
        "prompt_version_tag.deleted",
        "prompt_alias.created",
        "prompt_alias.deleted",
        "budget_policy.exceeded",
    }
)


def mlflow_visible_events(webhook: webhooks_pb2.Webhook) -> list[EventType]:
    """The webhook's event types that MLflow has a name for; those subscribed over gRPC that MLflow
    cannot name are left out, since MLflow's client refuses an event it does not know."""
    return [t for t in event_types_of(webhook.event_types) if t in MLFLOW_EVENT_TYPES]
