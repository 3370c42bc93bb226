"""Webhooks, their deliveries and attempts as rows: what the store's webhook methods and the
delivery worker (registry_service/webhooks.py) read and write, one connection at a time.

Delivery state lives only here, so a server that restarts (or another replica) carries on where
one that died stopped: fan-out advances a single cursor row under its lock, so every event becomes
one delivery per matching webhook exactly once; senders claim due deliveries by a lease, so two
processes do not send the same delivery at once, and a sender that dies loses its claim when the
lease ends.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, true, update
from sqlalchemy.engine import Connection, Row

from registry_service import validation
from registry_service.domain import (
    DeliveryStatus,
    Event,
    EventType,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from registry_service.errors import InvalidArgument, NotFound
from registry_service.store import outbox
from registry_service.store.tables import (
    event_counter,
    events,
    webhook_attempts,
    webhook_cursor,
    webhook_deliveries,
    webhooks,
)

MAX_SECRET_LENGTH = 1024
MAX_URL_LENGTH = 2048
# Ids are UUIDs; anything longer names no webhook.
MAX_ID_LENGTH = 36
# MLflow's rule for webhook names, so that a name given here is one MLflow would take too. ASCII
# ranges spelled out: with re.IGNORECASE, [a-z] would also match the Kelvin sign and the long s.
_NAME = re.compile(r"(?=.{1,63}\Z)[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\Z")


@dataclass(frozen=True)
class WebhookFields:
    """What a caller sets on a webhook."""

    url: str
    event_types: list[EventType]
    secret: str
    enabled: bool
    description: str
    name: str


@dataclass(frozen=True)
class DueDelivery:
    """A delivery a sender has claimed, with what it needs to send it."""

    id: str
    attempts: int
    url: str
    secret: str
    event: Event


def check_fields(fields: WebhookFields) -> None:
    validation.check_identifier("url", fields.url, MAX_URL_LENGTH)
    if not fields.event_types:
        raise InvalidArgument("event_types must name at least one event type", field="event_types")
    validation.check_optional_line("secret", fields.secret, MAX_SECRET_LENGTH)
    validation.check_description(fields.description)
    if fields.name and not _NAME.match(fields.name):
        raise InvalidArgument(
            f"name {fields.name[:200]!r} is invalid: a webhook name has 1 to 63 letters, digits, "
            "dots, underscores or hyphens, and starts and ends with a letter or digit",
            field="name",
        )


def check_id(webhook_id: str, field: str = "id") -> None:
    validation.check_identifier(field, webhook_id, MAX_ID_LENGTH)


def insert_webhook(connection: Connection, fields: WebhookFields, now: int) -> Webhook:
    webhook_id = str(uuid.uuid4())
    connection.execute(
        insert(webhooks).values(
            id=webhook_id,
            creation_timestamp=now,
            last_updated_timestamp=now,
            **_columns(fields),
        )
    )
    return load_webhook(connection, webhook_id)


def update_webhook(
    connection: Connection, webhook_id: str, fields: WebhookFields, mask: Sequence[str], now: int
) -> Webhook:
    values = {name: value for name, value in _columns(fields).items() if name in mask}
    changed = connection.execute(
        update(webhooks)
        .where(webhooks.c.id == webhook_id)
        .values(last_updated_timestamp=now, **values)
    ).rowcount
    if not changed:
        raise _webhook_not_found(webhook_id)
    return load_webhook(connection, webhook_id)


def delete_webhook(connection: Connection, webhook_id: str) -> None:
    # Its deliveries and their attempts go with it (ON DELETE CASCADE).
    if not connection.execute(delete(webhooks).where(webhooks.c.id == webhook_id)).rowcount:
        raise _webhook_not_found(webhook_id)


def load_webhook(connection: Connection, webhook_id: str) -> Webhook:
    row = connection.execute(select(webhooks).where(webhooks.c.id == webhook_id)).one_or_none()
    if row is None:
        raise _webhook_not_found(webhook_id)
    return _webhook_of(row)


def secret_of(connection: Connection, webhook_id: str) -> tuple[str, str]:
    """The URL and secret of a webhook, for sending to it."""
    row = connection.execute(
        select(webhooks.c.url, webhooks.c.secret).where(webhooks.c.id == webhook_id)
    ).one_or_none()
    if row is None:
        raise _webhook_not_found(webhook_id)
    return str(row.url), str(row.secret)


def list_webhooks(connection: Connection) -> list[Webhook]:
    rows = connection.execute(
        select(webhooks).order_by(webhooks.c.creation_timestamp, webhooks.c.id)
    ).all()
    return [_webhook_of(row) for row in rows]


def fan_out_pending(connection: Connection) -> bool:
    """Whether events were committed after the fan-out cursor."""
    cursor = select(webhook_cursor.c.last_sequence).where(webhook_cursor.c.id == 1)
    return connection.execute(
        select(event_counter.c.last_sequence > cursor.scalar_subquery()).where(
            event_counter.c.id == 1
        )
    ).scalar_one()


def any_due(connection: Connection, now: int) -> bool:
    return (
        connection.execute(
            select(webhook_deliveries.c.id)
            .where(webhook_deliveries.c.status == DeliveryStatus.PENDING.value)
            .where(webhook_deliveries.c.next_attempt_at <= now)
            .where(webhook_deliveries.c.lease_until <= now)
            .limit(1)
        ).first()
        is not None
    )


def fan_out(connection: Connection, now: int, batch: int) -> int:
    """Turn up to ``batch`` events after the cursor into deliveries to the enabled webhooks that
    subscribed to them, and advance the cursor; returns how many events it took."""
    cursor = connection.execute(
        update(webhook_cursor)
        .where(webhook_cursor.c.id == 1)
        .values(last_sequence=webhook_cursor.c.last_sequence)
        .returning(webhook_cursor.c.last_sequence)
    ).scalar_one()
    subscribers = [
        (hook.id, set(hook.event_types)) for hook in list_webhooks(connection) if hook.enabled
    ]
    if not subscribers:
        # Nobody to deliver to: the cursor passes every committed event unread. Reading and
        # decoding them in batches held the write lock for milliseconds per batch while writes
        # came in, for nothing (a webhook created later gets the events after its creation).
        connection.execute(
            update(webhook_cursor)
            .where(webhook_cursor.c.id == 1)
            .values(last_sequence=outbox.high_water(connection))
        )
        return 0
    # Webhooks are sent every model's events: admins configure them (see auth.RULES).
    taken = outbox.read(connection, cursor, (), (), batch, true())
    if not taken:
        return 0
    rows = [
        {
            "id": str(uuid.uuid4()),
            "webhook_id": hook_id,
            "event_sequence": event.sequence,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "lease_until": 0,
            "last_attempt_at": 0,
            "last_response_code": 0,
            "last_error": "",
            "creation_timestamp": now,
        }
        for event in taken
        for hook_id, wanted in subscribers
        if event.event_type in wanted
    ]
    if rows:
        connection.execute(insert(webhook_deliveries), rows)
    connection.execute(
        update(webhook_cursor)
        .where(webhook_cursor.c.id == 1)
        .values(last_sequence=taken[-1].sequence)
    )
    return len(taken)


def claim_due(connection: Connection, now: int, lease_ms: int, limit: int) -> list[DueDelivery]:
    """Claim up to ``limit`` pending deliveries that are due and unclaimed, until ``now +
    lease_ms``. On PostgreSQL rows another sender is claiming are skipped, not waited for."""
    rows = connection.execute(
        select(
            webhook_deliveries.c.id,
            webhook_deliveries.c.attempts,
            webhooks.c.url,
            webhooks.c.secret,
            events,
        )
        .select_from(
            webhook_deliveries.join(
                webhooks, webhook_deliveries.c.webhook_id == webhooks.c.id
            ).join(events, webhook_deliveries.c.event_sequence == events.c.sequence)
        )
        .where(webhook_deliveries.c.status == DeliveryStatus.PENDING.value)
        .where(webhook_deliveries.c.next_attempt_at <= now)
        .where(webhook_deliveries.c.lease_until <= now)
        .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.event_sequence)
        .limit(limit)
        .with_for_update(of=webhook_deliveries, skip_locked=True)
    ).all()
    if not rows:
        return []
    connection.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id.in_([row.id for row in rows]))
        .values(lease_until=now + lease_ms)
    )
    return [
        DueDelivery(row.id, row.attempts, row.url, row.secret, outbox.event_of(row)) for row in rows
    ]


def record_attempt(
    connection: Connection,
    delivery_id: str,
    now: int,
    response_code: int,
    error: str,
    retry_at: int | None,
) -> None:
    """Store one attempt's outcome: succeeded without an error, else pending again until
    ``retry_at``, or failed for good when ``retry_at`` is None."""
    attempts = connection.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery_id)
        .values(attempts=webhook_deliveries.c.attempts + 1)
        .returning(webhook_deliveries.c.attempts)
    ).scalar_one_or_none()
    if attempts is None:
        return  # the webhook was deleted while its delivery was being sent
    status = (
        DeliveryStatus.SUCCEEDED
        if not error
        else DeliveryStatus.PENDING
        if retry_at is not None
        else DeliveryStatus.FAILED
    )
    connection.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery_id)
        .values(
            status=status.value,
            next_attempt_at=retry_at or 0,
            lease_until=0,
            last_attempt_at=now,
            last_response_code=response_code,
            last_error=error,
        )
    )
    connection.execute(
        insert(webhook_attempts).values(
            delivery_id=delivery_id,
            attempt=attempts,
            timestamp=now,
            response_code=response_code,
            error=error,
        )
    )


def list_deliveries(
    connection: Connection,
    webhook_id: str,
    status: DeliveryStatus | None,
    offset: int,
    limit: int,
) -> list[WebhookDelivery]:
    statement = select(webhook_deliveries, events.c.event_type).join(
        events, webhook_deliveries.c.event_sequence == events.c.sequence
    )
    if webhook_id:
        statement = statement.where(webhook_deliveries.c.webhook_id == webhook_id)
    if status is not None:
        statement = statement.where(webhook_deliveries.c.status == status.value)
    rows = connection.execute(
        statement.order_by(
            webhook_deliveries.c.event_sequence.desc(), webhook_deliveries.c.webhook_id
        )
        .offset(offset)
        .limit(limit)
    ).all()
    attempts: dict[str, list[WebhookAttempt]] = defaultdict(list)
    if rows:
        for attempt in connection.execute(
            select(webhook_attempts)
            .where(webhook_attempts.c.delivery_id.in_([row.id for row in rows]))
            .order_by(webhook_attempts.c.attempt)
        ).all():
            attempts[attempt.delivery_id].append(
                WebhookAttempt(
                    attempt.attempt, attempt.timestamp, attempt.response_code, attempt.error
                )
            )
    return [
        WebhookDelivery(
            id=row.id,
            webhook_id=row.webhook_id,
            event_sequence=row.event_sequence,
            event_type=EventType(row.event_type),
            status=DeliveryStatus(row.status),
            next_attempt_timestamp=row.next_attempt_at,
            creation_timestamp=row.creation_timestamp,
            attempts=attempts[row.id],
        )
        for row in rows
    ]


def _columns(fields: WebhookFields) -> dict[str, Any]:
    return {
        "url": fields.url,
        "event_types": json.dumps([t.value for t in fields.event_types]),
        "secret": fields.secret,
        "enabled": fields.enabled,
        "description": fields.description,
        "name": fields.name,
    }


def _webhook_of(row: Row[Any]) -> Webhook:
    return Webhook(
        id=row.id,
        url=row.url,
        event_types=[EventType(t) for t in json.loads(row.event_types)],
        enabled=row.enabled,
        has_secret=bool(row.secret),
        description=row.description,
        creation_timestamp=row.creation_timestamp,
        last_updated_timestamp=row.last_updated_timestamp,
        name=row.name,
    )


def _webhook_not_found(webhook_id: str) -> NotFound:
    return NotFound(f"webhook {webhook_id!r} does not exist", field="id")
