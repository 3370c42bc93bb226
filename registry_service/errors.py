"""The domain exceptions every layer shares.

The store raises them, the service methods let them pass, one place (``grpc_errors``) turns them
into gRPC statuses, another (``gateway/errors.py``) into HTTP answers, and the client turns
statuses back into them. ``reason`` is MLflow's error code, so the same word reaches gRPC
ErrorInfo details and MLflow JSON errors.

Besides its message, an error may say what it is about in fields (``subject``, ``flaw``,
``value``, ``detail``), so that the HTTP gateway can answer in MLflow's wording where MLflow fails
the same call without reading the message; gRPC and the client show the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import grpc


class Resource(Enum):
    """The kind of thing a NotFound or AlreadyExists names."""

    REGISTERED_MODEL = "registered model"
    MODEL_VERSION = "model version"
    ALIAS = "alias"
    # The version "latest" resolves to, which a model without versions lacks.
    LATEST_VERSION = "latest version"


@dataclass(frozen=True)
class Subject:
    """The resource a NotFound or AlreadyExists names: its kind and its key."""

    resource: Resource
    name: str
    version: int | None = None
    alias: str | None = None


class Flaw(Enum):
    """What is wrong with the value of an InvalidArgument's field."""

    EMPTY = "empty"
    # A value of the wrong type or spelling for its field (in JSON, where a string may stand for
    # a number).
    WRONG_TYPE = "wrong type"
    OUT_OF_RANGE = "out of range"
    NEGATIVE = "negative"
    UNKNOWN_STAGE = "unknown stage"
    # A filter or order_by that does not parse or names what cannot be searched; ``detail`` says
    # what and where.
    MALFORMED = "malformed"


class RegistryError(Exception):
    """Base of every error the registry reports to its callers."""

    reason: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: grpc.StatusCode | None = None,
        reason: str | None = None,
        subject: Subject | None = None,
        flaw: Flaw | None = None,
        value: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        # The request field at fault, when there is one; clients show it beside the message.
        self.field = field
        # Set on errors the client rebuilt from a gRPC status; None on the server side.
        self.code = code
        if reason is not None:
            self.reason = reason  # type: ignore[misc]
        # What the error is about, where a caller words it its own way (see the module's comment).
        self.subject = subject
        self.flaw = flaw
        # The rejected value as the caller gave it (not quoted), and what is wrong beyond the flaw.
        self.value = value
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class NotFound(RegistryError):
    """The named model, version, alias or tag does not exist."""

    reason = "RESOURCE_DOES_NOT_EXIST"


class AlreadyExists(RegistryError):
    """A resource with that name already exists."""

    reason = "RESOURCE_ALREADY_EXISTS"


class InvalidArgument(RegistryError):
    """A request field is malformed, out of range or contradicts another field."""

    reason = "INVALID_PARAMETER_VALUE"


class Unavailable(RegistryError):
    """The database cannot be reached or is busy; the call may be retried."""

    reason = "TEMPORARILY_UNAVAILABLE"


class Aborted(RegistryError):
    """The call lost a race: the etag it carried no longer matches the resource. Read the resource
    again and retry. MLflow has no such error; the reason word is this service's own."""

    reason = "ABORTED"


class FailedPrecondition(RegistryError):
    """The request is well formed but the registry is not in a state to serve it (an as_of older
    than the retained history; a version restored while its model is deleted: restore the model
    first); retrying unchanged will not help. MLflow's word for it is INVALID_STATE."""

    reason = "INVALID_STATE"


class OutOfRange(RegistryError):
    """A position past what the server can serve, such as a WatchEvents start_after whose events
    were pruned: the caller must start again from a fresh snapshot."""

    reason = "OUT_OF_RANGE"


class DeadlineExceeded(RegistryError):
    """The call's deadline passed before its database work finished; nothing was changed."""

    reason = "DEADLINE_EXCEEDED"


class Cancelled(RegistryError):
    """The caller went away before the call finished; nothing was changed."""

    reason = "CANCELLED"


class Unauthenticated(RegistryError):
    """The call carried no credential, or one the server does not accept. The message is always
    the same, so that it tells a guesser nothing."""

    reason = "UNAUTHENTICATED"


class ResourceExhausted(RegistryError):
    """The server is at a limit it keeps to stay responsive (e.g. its WatchEvents streams); the
    call may be retried later or on another replica."""

    reason = "RESOURCE_EXHAUSTED"


class PermissionDenied(RegistryError):
    """The caller may see the resource but lacks the permission the call needs."""

    reason = "PERMISSION_DENIED"
