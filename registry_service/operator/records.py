"""Registry records as plain JSON objects: what `--json` prints, and (models and versions) what
export files hold.

Numbers are JSON numbers (not the strings protobuf's JSON mapping makes of int64), tags are
objects, a version's status is MLflow's word ("READY"), enums are their names without the
type's prefix ("MODEL_VERSION_CREATED", "FAILED").
"""

from __future__ import annotations

from typing import Any

from google.protobuf.json_format import MessageToDict
from modelregistry.v1.access_pb2 import AccessToken, Permission, RegisteredModelPermission
from modelregistry.v1.events_pb2 import Event, EventType
from modelregistry.v1.model_version_pb2 import ModelVersion, ModelVersionStatus
from modelregistry.v1.registered_model_pb2 import RegisteredModel
from modelregistry.v1.webhooks_pb2 import DeliveryStatus, Webhook, WebhookDelivery

_STATUS_PREFIX = "MODEL_VERSION_STATUS_"

# The scalar fields of each record, in the order JSON shows them.
MODEL_FIELDS = ("name", "creation_timestamp", "last_updated_timestamp", "user_id", "description")
VERSION_FIELDS = (
    "name",
    "version",
    "creation_timestamp",
    "last_updated_timestamp",
    "user_id",
    "current_stage",
    "description",
    "source",
    "run_id",
    "run_link",
    "experiment_id",
    "status",
    "status_message",
)


def model_json(model: RegisteredModel) -> dict[str, Any]:
    """A model with its tags, aliases and latest versions."""
    record: dict[str, Any] = {field: getattr(model, field) for field in MODEL_FIELDS}
    record["tags"] = dict(sorted(model.tags.items()))
    record["aliases"] = dict(sorted(model.aliases.items()))
    record["latest_versions"] = [version_json(v) for v in model.latest_versions]
    return record


def version_json(version: ModelVersion) -> dict[str, Any]:
    record: dict[str, Any] = {field: getattr(version, field) for field in VERSION_FIELDS}
    record["status"] = status_word(version.status)
    record["tags"] = dict(sorted(version.tags.items()))
    record["aliases"] = list(version.aliases)
    return record


def model_from_json(record: dict[str, Any]) -> RegisteredModel:
    """The model of a JSON record; absent fields are empty, unknown ones ignored."""
    return RegisteredModel(
        **{field: record[field] for field in MODEL_FIELDS if field in record},
        tags=record.get("tags", {}),
        aliases=record.get("aliases", {}),
    )


def version_from_json(record: dict[str, Any]) -> ModelVersion:
    """The version of a JSON record; absent fields are empty, unknown ones ignored."""
    scalars = {field: record[field] for field in VERSION_FIELDS if field in record}
    if "status" in scalars:
        scalars["status"] = status_value(scalars["status"])
    return ModelVersion(**scalars, tags=record.get("tags", {}))


def status_word(status: int) -> str:
    """ "READY" for MODEL_VERSION_STATUS_READY: the word MLflow uses."""
    return ModelVersionStatus.Name(status).removeprefix(_STATUS_PREFIX)


def status_value(word: str) -> int:
    try:
        return ModelVersionStatus.Value(_STATUS_PREFIX + word)
    except ValueError:
        raise ValueError(f"status {word!r} is not a model version status") from None


def access_token_json(token: AccessToken) -> dict[str, Any]:
    """A token as listed: never its secret; revocation_timestamp 0 while it is valid,
    expiration_timestamp 0 if it never expires, last_used_timestamp 0 if never used."""
    fields = (
        "id",
        "user_id",
        "admin",
        "description",
        "creation_timestamp",
        "revocation_timestamp",
        "expiration_timestamp",
        "last_used_timestamp",
    )
    return {field: getattr(token, field) for field in fields}


def permission_word(permission: RegisteredModelPermission) -> str:
    return Permission.Name(permission.permission).removeprefix("PERMISSION_")


def permission_json(permission: RegisteredModelPermission) -> dict[str, Any]:
    return {
        "name": permission.name,
        "user_id": permission.user_id,
        "permission": permission_word(permission),
    }


_EVENT_TYPE_PREFIX = "EVENT_TYPE_"
_DELIVERY_STATUS_PREFIX = "DELIVERY_STATUS_"

# The words an operator may name event types and delivery statuses by (any case).
EVENT_TYPE_WORDS = tuple(
    name.removeprefix(_EVENT_TYPE_PREFIX) for name, value in EventType.items() if value
)
DELIVERY_STATUS_WORDS = tuple(
    name.removeprefix(_DELIVERY_STATUS_PREFIX) for name, value in DeliveryStatus.items() if value
)


def event_type_word(event_type: int) -> str:
    return EventType.Name(event_type).removeprefix(_EVENT_TYPE_PREFIX)


def event_type_value(word: str) -> int:
    return EventType.Value(_EVENT_TYPE_PREFIX + word.upper())


def delivery_status_word(status: int) -> str:
    return DeliveryStatus.Name(status).removeprefix(_DELIVERY_STATUS_PREFIX)


def delivery_status_value(word: str) -> int:
    return DeliveryStatus.Value(_DELIVERY_STATUS_PREFIX + word.upper())


def event_json(event: Event) -> dict[str, Any]:
    """An event; ``version`` is null for a model's own events, ``before`` and ``after`` are the
    changed resource as it was and became (null when it did not exist)."""
    return {
        "sequence": event.sequence,
        "timestamp": event.timestamp,
        "actor": event.actor,
        "event_type": event_type_word(event.event_type),
        "model_name": event.model_name,
        "version": event.version or None,
        "before": MessageToDict(event.before) if event.HasField("before") else None,
        "after": MessageToDict(event.after) if event.HasField("after") else None,
    }


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    """A webhook as the server shows it: whether it has a secret, never the secret."""
    fields = ("id", "name", "url", "enabled", "has_secret", "description")
    return {field: getattr(webhook, field) for field in fields} | {
        "event_types": [event_type_word(t) for t in webhook.event_types],
        "creation_timestamp": webhook.creation_timestamp,
        "last_updated_timestamp": webhook.last_updated_timestamp,
    }


def delivery_json(delivery: WebhookDelivery) -> dict[str, Any]:
    """A delivery with every attempt at it; ``next_attempt_timestamp`` 0 once it is settled."""
    return {
        "id": delivery.id,
        "webhook_id": delivery.webhook_id,
        "event_sequence": delivery.event_sequence,
        "event_type": event_type_word(delivery.event_type),
        "status": delivery_status_word(delivery.status),
        "creation_timestamp": delivery.creation_timestamp,
        "next_attempt_timestamp": delivery.next_attempt_timestamp,
        "attempts": [
            {
                "attempt": attempt.attempt,
                "timestamp": attempt.timestamp,
                "response_code": attempt.response_code,
                "error": attempt.error,
            }
            for attempt in delivery.attempts
        ],
    }
