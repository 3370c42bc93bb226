"""Plain records that the store returns and the servicer turns into protobuf messages."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar


class Stage(enum.StrEnum):
    """Lifecycle stages, in the order latest_versions lists them."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"


class VersionStatus(enum.StrEnum):
    """Registration states of a model version (MLflow's ModelVersionStatus)."""

    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"


# Not frozen, unlike the other records: one is built for every row a read returns (four for a
# GetLatestVersions), and a frozen dataclass's __init__ sets each of the 16 fields through
# object.__setattr__, 33k instructions against 13k. Nothing assigns to a version's fields.
@dataclass
class ModelVersion:
    """One numbered version of a registered model."""

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    user_id: str
    current_stage: Stage
    description: str
    source: str
    run_id: str
    run_link: str
    experiment_id: str
    status: VersionStatus
    status_message: str
    # Changes whenever the version changes; a write that carries it fails if it no longer matches.
    # Empty on records that go into the store (an import); set on every record that comes out.
    etag: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    # The logged model (MLflow 3, "m-<id>") it was registered from; "" when none.
    model_id: str = ""
    # Where its files are downloaded from when that is not ``source`` (a logged model's artifacts,
    # the files of the version a models:/ source copies); "" means the source.
    storage_location: str = ""


@dataclass(frozen=True)
class RegisteredModel:
    """A named model with its annotations and the latest version in each stage."""

    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    user_id: str
    description: str
    # Changes whenever the model or anything under it (tags, aliases, versions) changes; empty
    # on records that go into the store.
    etag: str = ""
    latest_versions: list[ModelVersion] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of search results and the token that continues it ("" on the last page)."""

    items: list[T]
    next_page_token: str


class ConflictPolicy(enum.StrEnum):
    """What importing a model does when a model of its name already exists."""

    FAIL = "fail"
    SKIP = "skip"
    # Import under "<name>-imported", "<name>-imported-2", … whichever is free first.
    RENAME = "rename"


class ImportOutcome(enum.StrEnum):
    """What importing a model did."""

    CREATED = "created"
    SKIPPED = "skipped"
    RENAMED = "renamed"


@dataclass(frozen=True)
class ImportResult:
    """The imported model under its final name, or the existing model when skipped."""

    outcome: ImportOutcome
    model: RegisteredModel


class EventType(enum.StrEnum):
    """What a change-feed event announces. The values are MLflow's webhook event names where
    MLflow has the event, and names in the same "<entity>.<action>" style where it has not."""

    REGISTERED_MODEL_CREATED = "registered_model.created"
    REGISTERED_MODEL_RENAMED = "registered_model.renamed"
    REGISTERED_MODEL_UPDATED = "registered_model.updated"
    REGISTERED_MODEL_DELETED = "registered_model.deleted"
    MODEL_VERSION_CREATED = "model_version.created"
    MODEL_VERSION_UPDATED = "model_version.updated"
    MODEL_VERSION_STAGE_CHANGED = "model_version.stage_changed"
    MODEL_VERSION_DELETED = "model_version.deleted"
    REGISTERED_MODEL_TAG_SET = "registered_model_tag.set"
    REGISTERED_MODEL_TAG_DELETED = "registered_model_tag.deleted"
    MODEL_VERSION_TAG_SET = "model_version_tag.set"
    MODEL_VERSION_TAG_DELETED = "model_version_tag.deleted"
    MODEL_VERSION_ALIAS_CREATED = "model_version_alias.created"
    MODEL_VERSION_ALIAS_MOVED = "model_version_alias.moved"
    MODEL_VERSION_ALIAS_DELETED = "model_version_alias.deleted"
    # Ours only: MLflow has no transition requests (see docs/events.md).
    TRANSITION_REQUEST_CREATED = "transition_request.created"
    TRANSITION_REQUEST_APPROVED = "transition_request.approved"
    TRANSITION_REQUEST_REJECTED = "transition_request.rejected"
    TRANSITION_REQUEST_CANCELLED = "transition_request.cancelled"
    # Restore after delete (store/trash.py): the model or version is back, as it was.
    REGISTERED_MODEL_RESTORED = "registered_model.restored"
    MODEL_VERSION_RESTORED = "model_version.restored"


@dataclass(frozen=True)
class Event:
    """One committed change, as the outbox recorded it."""

    # Position in the feed: events commit in this order, without gaps between committed events.
    sequence: int
    # Milliseconds since the epoch, from the store's clock, when the change was made.
    timestamp: int
    # Who made the change (identity.current_caller()); empty without authentication.
    actor: str
    event_type: EventType
    # The model's name when the change was made (a rename carries the new one).
    model_name: str
    # The version the change concerns; 0 for changes to the model itself.
    version: int
    # The values that changed, before and after; JSON-shaped.
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Webhook:
    """An HTTP endpoint that is sent the events it subscribed to. The secret never leaves the
    store through a read: ``has_secret`` says whether one is set."""

    id: str
    url: str
    event_types: list[EventType]
    enabled: bool
    has_secret: bool
    description: str
    creation_timestamp: int
    last_updated_timestamp: int
    # MLflow's webhook name; "" for none. Last, with a default, so that idempotent replays stored
    # before webhooks had names still decode (store/idempotency.py).
    name: str = ""


class DeliveryStatus(enum.StrEnum):
    """Where a webhook delivery stands."""

    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class WebhookAttempt:
    """One attempt to deliver an event, as the delivery log keeps it."""

    attempt: int
    timestamp: int
    # HTTP status the endpoint answered; 0 when it gave no answer.
    response_code: int
    # Why the attempt failed; empty when it succeeded.
    error: str


@dataclass(frozen=True)
class WebhookDelivery:
    """One event on its way to one webhook, with every attempt so far."""

    id: str
    webhook_id: str
    event_sequence: int
    event_type: EventType
    status: DeliveryStatus
    # When the next attempt is due (PENDING only), in epoch milliseconds.
    next_attempt_timestamp: int
    creation_timestamp: int
    attempts: list[WebhookAttempt] = field(default_factory=list)


class Permission(enum.IntEnum):
    """A user's level on one registered model; each level includes the ones below it."""

    READ = 1
    EDIT = 2
    MANAGE = 3


@dataclass(frozen=True)
class AccessToken:
    """A bearer token as it is listed: never its secret."""

    id: int
    user_id: str
    admin: bool
    description: str
    creation_timestamp: int
    # None while the token is valid.
    revocation_timestamp: int | None
    # None: it never expires.
    expiration_timestamp: int | None = None
    # None: never used.
    last_used_timestamp: int | None = None


@dataclass(frozen=True)
class ModelPermission:
    """One user's permission on one registered model."""

    name: str
    user_id: str
    permission: Permission


class RequestState(enum.StrEnum):
    """Where a transition request stands; only PENDING ones may change."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class TransitionRequest:
    """A change its requester may not make alone (a stage, or a protected alias set or deleted),
    waiting for someone with MANAGE on the model (see store/transition_requests.py)."""

    id: int
    name: str
    version: int
    # The target stage; "" for an alias request.
    stage: str
    # The alias to set or delete; "" for a stage request.
    alias: str
    delete_alias: bool
    archive_existing_versions: bool
    comment: str
    state: RequestState
    user_id: str
    creation_timestamp: int
    last_updated_timestamp: int
    resolved_by: str
    resolution_comment: str
    etag: str
    # The version's etag when the request was made: approval needs it unchanged.
    version_etag: str


@dataclass(frozen=True)
class DeletedRegisteredModel:
    """A deleted model kept for restore: the model as it was when deleted (its latest_versions
    empty), and who deleted it when."""

    model: RegisteredModel
    deletion_timestamp: int
    # Who deleted it; empty without authentication.
    deleted_by: str
    # Its versions at deletion, all restored with it.
    version_count: int
    # When the purge may remove it for good (epoch milliseconds).
    purge_timestamp: int


@dataclass(frozen=True)
class DeletedModelVersion:
    """A deleted version of a live model, kept for restore."""

    version: ModelVersion
    deletion_timestamp: int
    deleted_by: str
    purge_timestamp: int
