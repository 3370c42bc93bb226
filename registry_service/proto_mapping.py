"""Domain records to protobuf messages and back: the only code that knows both shapes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from google.protobuf.message import Message
from modelregistry.v1 import (
    events_pb2,
    model_version_pb2,
    registered_model_pb2,
    registry_service_pb2,
    webhooks_pb2,
)

from registry_service import validation
from registry_service.domain import (
    ConflictPolicy,
    DeliveryStatus,
    Event,
    EventType,
    ImportOutcome,
    ModelVersion,
    RegisteredModel,
    Stage,
    VersionStatus,
    Webhook,
    WebhookDelivery,
)
from registry_service.errors import InvalidArgument
from registry_service.store.webhook_rows import WebhookFields

M = TypeVar("M", bound=Message)

# Responses kept by ``Responses`` at most; when full it starts again empty.
MAX_RESPONSES = 4096


class Responses:
    """Response messages made once per set of records, not once per call.

    The store's read cache (store/read_cache.py) hands out the very same record objects for the
    same read while the database is unchanged, so a response made from them is the same too:
    it is kept with the records it was made from, and found again by their identity (not their
    value, so a record read anew, after a change, gets a response of its own). Records are never
    changed once read (see domain), and a response is only ever serialized, never changed."""

    def __init__(self, limit: int = MAX_RESPONSES) -> None:
        self._limit = limit
        self._made: dict[tuple[object, ...], tuple[tuple[object, ...], Message]] = {}

    def of(self, records: Sequence[object], make: Callable[[], M]) -> M:
        """The response ``make()`` gives for ``records``, made on their first call."""
        key = (make.__code__, *map(id, records))
        held = self._made.get(key)
        if held is not None and all(a is b for a, b in zip(held[0], records, strict=True)):
            return held[1]  # type: ignore[return-value]
        message = make()
        if len(self._made) >= self._limit:
            self._made = {}
        # The records are held with it: their ids cannot be reused by others while it is kept.
        self._made[key] = (tuple(records), message)
        return message


_STATUS = {
    VersionStatus.PENDING_REGISTRATION: (
        model_version_pb2.MODEL_VERSION_STATUS_PENDING_REGISTRATION
    ),
    VersionStatus.FAILED_REGISTRATION: model_version_pb2.MODEL_VERSION_STATUS_FAILED_REGISTRATION,
    VersionStatus.READY: model_version_pb2.MODEL_VERSION_STATUS_READY,
}


def model_version_message(version: ModelVersion) -> model_version_pb2.ModelVersion:
    return model_version_pb2.ModelVersion(
        name=version.name,
        version=version.version,
        creation_timestamp=version.creation_timestamp,
        last_updated_timestamp=version.last_updated_timestamp,
        user_id=version.user_id,
        current_stage=version.current_stage.value,
        description=version.description,
        source=version.source,
        run_id=version.run_id,
        run_link=version.run_link,
        experiment_id=version.experiment_id,
        status=_STATUS[version.status],
        status_message=version.status_message,
        etag=version.etag,
        tags=version.tags,
        aliases=version.aliases,
        model_id=version.model_id,
    )


def registered_model_message(model: RegisteredModel) -> registered_model_pb2.RegisteredModel:
    return registered_model_pb2.RegisteredModel(
        name=model.name,
        creation_timestamp=model.creation_timestamp,
        last_updated_timestamp=model.last_updated_timestamp,
        user_id=model.user_id,
        description=model.description,
        etag=model.etag,
        latest_versions=[model_version_message(v) for v in model.latest_versions],
        tags=model.tags,
        aliases=model.aliases,
    )


_CONFLICT_POLICY = {
    registry_service_pb2.IMPORT_CONFLICT_POLICY_UNSPECIFIED: ConflictPolicy.FAIL,
    registry_service_pb2.IMPORT_CONFLICT_POLICY_FAIL: ConflictPolicy.FAIL,
    registry_service_pb2.IMPORT_CONFLICT_POLICY_SKIP: ConflictPolicy.SKIP,
    registry_service_pb2.IMPORT_CONFLICT_POLICY_RENAME: ConflictPolicy.RENAME,
}
_IMPORT_OUTCOME = {
    ImportOutcome.CREATED: registry_service_pb2.IMPORT_OUTCOME_CREATED,
    ImportOutcome.SKIPPED: registry_service_pb2.IMPORT_OUTCOME_SKIPPED,
    ImportOutcome.RENAMED: registry_service_pb2.IMPORT_OUTCOME_RENAMED,
}
_STATUS_OF_MESSAGE = {message: status for status, message in _STATUS.items()}


def import_outcome_message(outcome: ImportOutcome) -> registry_service_pb2.ImportOutcome:
    return _IMPORT_OUTCOME[outcome]


def conflict_policy_of(
    value: registry_service_pb2.ImportConflictPolicy,
) -> ConflictPolicy:
    """The policy an on_conflict field names; proto3 enums are open, so any number may arrive."""
    if value not in _CONFLICT_POLICY:
        raise InvalidArgument(
            f"on_conflict {value} is not an ImportConflictPolicy", field="on_conflict"
        )
    return _CONFLICT_POLICY[value]


def imported_model_record(message: registered_model_pb2.RegisteredModel) -> RegisteredModel:
    """The model part of an import; latest_versions is derived from the versions, not read."""
    return RegisteredModel(
        name=message.name,
        creation_timestamp=message.creation_timestamp,
        last_updated_timestamp=message.last_updated_timestamp,
        user_id=message.user_id,
        description=message.description,
        tags=dict(message.tags),
        aliases=dict(message.aliases),
    )


def imported_version_record(
    message: model_version_pb2.ModelVersion, name: str, field: str
) -> ModelVersion:
    """One version of an import, belonging to the model ``name``; ``field`` is its request path.
    An empty stage is "None" and an unspecified status READY, as for a created version."""
    stage = Stage.NONE
    if message.current_stage:
        stage = validation.parse_stage(message.current_stage, f"{field}.current_stage")
    if message.status == model_version_pb2.MODEL_VERSION_STATUS_UNSPECIFIED:
        status = VersionStatus.READY
    elif message.status in _STATUS_OF_MESSAGE:
        status = _STATUS_OF_MESSAGE[message.status]
    else:
        raise InvalidArgument(
            f"{field}.status {message.status} is not a ModelVersionStatus", field=f"{field}.status"
        )
    return ModelVersion(
        name=name,
        version=message.version,
        creation_timestamp=message.creation_timestamp,
        last_updated_timestamp=message.last_updated_timestamp,
        user_id=message.user_id,
        current_stage=stage,
        description=message.description,
        source=message.source,
        run_id=message.run_id,
        run_link=message.run_link,
        experiment_id=message.experiment_id,
        status=status,
        status_message=message.status_message,
        tags=dict(message.tags),
        model_id=message.model_id,
    )


# -- events and webhooks ---------------------------------------------------------------------


# Each event type's enum value is named after it: EVENT_TYPE_<member name>.
_EVENT_TYPE: dict[EventType, events_pb2.EventType] = {
    event_type: getattr(events_pb2, f"EVENT_TYPE_{event_type.name}") for event_type in EventType
}


def event_type_message(event_type: EventType) -> events_pb2.EventType:
    return _EVENT_TYPE[event_type]


def event_types_of(values: Iterable[int], field: str = "event_types") -> list[EventType]:
    """Event types named in a request; the unspecified value or an unknown number is refused."""
    found: list[EventType] = []
    for value in values:
        name = events_pb2.EventType.Name(value) if value in _EVENT_TYPE_NUMBERS else ""
        member = name.removeprefix("EVENT_TYPE_")
        if member not in EventType.__members__:
            raise InvalidArgument(f"{field} holds an unknown event type {value}", field=field)
        found.append(EventType[member])
    return found


_EVENT_TYPE_NUMBERS = set(events_pb2.EventType.values())


def event_message(event: Event) -> events_pb2.Event:
    message = events_pb2.Event(
        sequence=event.sequence,
        timestamp=event.timestamp,
        actor=event.actor,
        event_type=event_type_message(event.event_type),
        model_name=event.model_name,
        version=event.version,
    )
    message.before.update(event.before)
    message.after.update(event.after)
    return message


def webhook_message(webhook: Webhook) -> webhooks_pb2.Webhook:
    return webhooks_pb2.Webhook(
        id=webhook.id,
        url=webhook.url,
        event_types=[event_type_message(t) for t in webhook.event_types],
        enabled=webhook.enabled,
        has_secret=webhook.has_secret,
        description=webhook.description,
        creation_timestamp=webhook.creation_timestamp,
        last_updated_timestamp=webhook.last_updated_timestamp,
        name=webhook.name,
    )


def webhook_fields_of(request: webhooks_pb2.CreateWebhookRequest) -> WebhookFields:
    return WebhookFields(
        url=request.url,
        event_types=event_types_of(request.event_types),
        secret=request.secret,
        enabled=request.enabled,
        description=request.description,
        name=request.name,
    )


_DELIVERY_STATUS = {
    DeliveryStatus.PENDING: webhooks_pb2.DELIVERY_STATUS_PENDING,
    DeliveryStatus.SUCCEEDED: webhooks_pb2.DELIVERY_STATUS_SUCCEEDED,
    DeliveryStatus.FAILED: webhooks_pb2.DELIVERY_STATUS_FAILED,
}
_DELIVERY_STATUS_OF_MESSAGE = {int(n): status for status, n in _DELIVERY_STATUS.items()}


def delivery_status_of(value: int) -> DeliveryStatus | None:
    if value == webhooks_pb2.DELIVERY_STATUS_UNSPECIFIED:
        return None
    if value not in _DELIVERY_STATUS_OF_MESSAGE:
        raise InvalidArgument(f"status {value} is not a delivery status", field="status")
    return _DELIVERY_STATUS_OF_MESSAGE[value]


def delivery_message(delivery: WebhookDelivery) -> webhooks_pb2.WebhookDelivery:
    return webhooks_pb2.WebhookDelivery(
        id=delivery.id,
        webhook_id=delivery.webhook_id,
        event_sequence=delivery.event_sequence,
        event_type=event_type_message(delivery.event_type),
        status=_DELIVERY_STATUS[delivery.status],
        next_attempt_timestamp=delivery.next_attempt_timestamp,
        creation_timestamp=delivery.creation_timestamp,
        attempts=[
            webhooks_pb2.WebhookAttempt(
                attempt=a.attempt,
                timestamp=a.timestamp,
                response_code=a.response_code,
                error=a.error,
            )
            for a in delivery.attempts
        ],
    )
