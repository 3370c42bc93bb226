"""Idempotent writes: a write that carries a request_id is remembered, with its result, in the same
transaction as its change, so that a retry returns the first result instead of changing anything.

Only plain JSON of domain values is stored, never protobuf: the fingerprint hashes the operation's
name and its arguments as the store received them, and the response is the domain record the
operation returned. The guarantee therefore holds for any transport in front of the store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Connection

from registry_service import validation
from registry_service.domain import (
    EventType,
    ImportOutcome,
    ImportResult,
    ModelVersion,
    RegisteredModel,
    Stage,
    VersionStatus,
    Webhook,
)
from registry_service.errors import InvalidArgument
from registry_service.store.driver_sql import DriverStatement, bound_values, value_parameters
from registry_service.store.engine import insert_unless_present
from registry_service.store.tables import idempotent_requests

# Expired rows one write removes at most. A write adds at most one row, so the table stays near
# one window's worth of writes without a background job.
PURGE_BATCH = 100

T = TypeVar("T")


@dataclass(frozen=True)
class Codec(Generic[T]):
    """How an operation's result is kept as JSON, and rebuilt when a retry replays it."""

    encode: Callable[[T], object]
    decode: Callable[[Any], T]


def _version(data: dict[str, Any]) -> ModelVersion:
    return ModelVersion(
        **{
            **data,
            "current_stage": Stage(data["current_stage"]),
            "status": VersionStatus(data["status"]),
        }
    )


def _model(data: dict[str, Any]) -> RegisteredModel:
    return RegisteredModel(
        **{**data, "latest_versions": [_version(v) for v in data["latest_versions"]]}
    )


def _import(data: dict[str, Any]) -> ImportResult:
    return ImportResult(ImportOutcome(data["outcome"]), _model(data["model"]))


def _webhook(data: dict[str, Any]) -> Webhook:
    return Webhook(**{**data, "event_types": [EventType(t) for t in data["event_types"]]})


def _nothing(_: object) -> None:
    return None


MODEL = Codec[RegisteredModel](dataclasses.asdict, _model)
VERSION = Codec[ModelVersion](dataclasses.asdict, _version)
IMPORT = Codec[ImportResult](dataclasses.asdict, _import)
NOTHING = Codec[None](_nothing, _nothing)
WEBHOOK = Codec[Webhook](dataclasses.asdict, _webhook)


@dataclass(frozen=True)
class Request:
    """The identity of one idempotent write: its id and what it asked for."""

    request_id: str
    fingerprint: str


@dataclass(frozen=True)
class Replay(Generic[T]):
    """The result a request_id already produced."""

    result: T


def request_of(operation: str, request_id: str, arguments: Mapping[str, object]) -> Request | None:
    """The identity of a write, or None when it carries no request_id (nothing to remember)."""
    normalized = validation.check_request_id(request_id)
    if normalized is None:
        return None
    canonical = json.dumps([operation, arguments], sort_keys=True, separators=(",", ":"))
    return Request(normalized, hashlib.sha256(canonical.encode()).hexdigest())


def claim(
    connection: Connection, request: Request, codec: Codec[T], now: int, window_ms: int
) -> Replay[T] | None:
    """Make this transaction the one that carries out ``request`` (None), or return what the
    request_id already produced.

    The id is claimed before the change is made: a concurrent transaction with the same id waits
    on the claim until this one commits, then replays its result; if this one rolls back, the
    waiting one carries the request out itself.
    """
    _PURGE.rows(connection, {"before": now - window_ms})
    identity = {"request_id": request.request_id, "fingerprint": request.fingerprint}
    claimed = _claim_statement(connection).rows(
        connection, bound_values({**identity, "created_at": now})
    )
    if claimed:
        return None
    fingerprint, response = _REMEMBERED.rows(connection, {"request_id": request.request_id})[0]
    if fingerprint != request.fingerprint:
        raise InvalidArgument(
            f"request_id {request.request_id} was already used for a different request; "
            "use a new request_id for a new request",
            field="request_id",
        )
    return Replay(codec.decode(json.loads(response)))


def remember(connection: Connection, request: Request, codec: Codec[T], result: T) -> None:
    """Record the result of the request this transaction claimed."""
    response = json.dumps(codec.encode(result), separators=(",", ":"))
    _REMEMBER.rows(connection, {"request_id": request.request_id, "new_response": response})


# Every write with a request_id runs these; built once, run as driver SQL (see driver_sql).
_REMEMBERED = DriverStatement(
    select(idempotent_requests.c.fingerprint, idempotent_requests.c.response).where(
        idempotent_requests.c.request_id == bindparam("request_id")
    )
)
_REMEMBER = DriverStatement(
    update(idempotent_requests)
    .where(idempotent_requests.c.request_id == bindparam("request_id"))
    .values(value_parameters(["response"]))
)
# SKIP LOCKED (ignored by SQLite, whose writers never overlap): concurrent writers purge
# disjoint rows instead of queueing, or deadlocking, on each other's deletes.
_PURGE = DriverStatement(
    delete(idempotent_requests).where(
        idempotent_requests.c.request_id.in_(
            select(idempotent_requests.c.request_id)
            .where(idempotent_requests.c.created_at < bindparam("before"))
            .order_by(idempotent_requests.c.created_at)
            .limit(PURGE_BATCH)
            .with_for_update(skip_locked=True)
        )
    )
)
# The claim's INSERT … ON CONFLICT DO NOTHING, per dialect (each spells it its own way).
_CLAIMS: dict[str, DriverStatement] = {}


def _claim_statement(connection: Connection) -> DriverStatement:
    claim = _CLAIMS.get(connection.dialect.name)
    if claim is None:
        claim = _CLAIMS[connection.dialect.name] = DriverStatement(
            insert_unless_present(connection, idempotent_requests)
            .values(value_parameters(["request_id", "fingerprint", "created_at"]))
            .returning(idempotent_requests.c.request_id)
        )
    return claim
