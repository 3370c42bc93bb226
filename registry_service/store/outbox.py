"""The outbox: every committed change as one row of ``events``, written in the change's own
transaction, and the reads of it (the feed, history, point-in-time state).

A change records its events on the connection while it works (``record``); the store's write path
``flush``es them as the transaction's last statements. ``flush`` takes the sequence numbers from
the single ``event_counter`` row: its row lock is held from that UPDATE to the commit, so on
PostgreSQL the tail ends of concurrent writers queue there and commit in sequence order. A tailer
reading "sequence > last seen" therefore never passes over a number that commits later. SQLite
admits one writer at a time, so the same holds there trivially.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, insert, select, update
from sqlalchemy.engine import Connection, Row

from registry_service.domain import Event, EventType, ModelVersion
from registry_service.store.driver_sql import DriverStatement, bound_values, value_parameters
from registry_service.store.tables import event_counter, events

# The PostgreSQL channel a committed write notifies; identical notifications of one transaction
# are folded into one by PostgreSQL, so a payload would only make each one distinct.
NOTIFY_CHANNEL = "registry_events"

# Where a transaction's unflushed events wait: in the connection's info, which lives as long as
# the pooled DBAPI connection, so ``discard`` empties it whatever way the transaction ends.
_PENDING = "registry_pending_events"


@dataclass(frozen=True)
class _Pending:
    event_type: EventType
    model_name: str
    model_id: int
    version: int
    before: dict[str, Any]
    after: dict[str, Any]


def record(
    connection: Connection,
    event_type: EventType,
    model_name: str,
    model_id: int,
    version: int = 0,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Announce a change made in the current transaction once (and only if) it commits."""
    pending: list[_Pending] = connection.info.setdefault(_PENDING, [])
    pending.append(_Pending(event_type, model_name, model_id, version, before or {}, after or {}))


def discard(connection: Connection) -> None:
    connection.info.pop(_PENDING, None)


def flush(connection: Connection, timestamp: int, actor: str) -> bool:
    """Write the transaction's recorded events, numbered from the counter; call it last. True when
    there were any: the caller then announces them once they commit.

    On PostgreSQL the transaction also NOTIFYs ``NOTIFY_CHANNEL``: PostgreSQL delivers it at
    commit (never for a rollback) to every replica's feed LISTENing there (see ``watch_tail``)."""
    pending: list[_Pending] = connection.info.pop(_PENDING, [])
    if not pending:
        return False
    last = _TAKE_SEQUENCES.rows(connection, {"count": len(pending)})[0][0]
    first = last - len(pending) + 1
    _INSERT_EVENT.run_many(
        connection,
        [
            bound_values(
                {
                    "sequence": first + offset,
                    "timestamp": timestamp,
                    "actor": actor,
                    "event_type": event.event_type.value,
                    "model_name": event.model_name,
                    "model_id": event.model_id,
                    "version": event.version,
                    "before": json.dumps(event.before, sort_keys=True),
                    "after": json.dumps(event.after, sort_keys=True),
                }
            )
            for offset, event in enumerate(pending)
        ],
    )
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")
    return True


# Built once, run as driver SQL (see driver_sql): every write runs both.
_TAKE_SEQUENCES = DriverStatement(
    update(event_counter)
    .where(event_counter.c.id == 1)
    .values(last_sequence=event_counter.c.last_sequence + bindparam("count"))
    .returning(event_counter.c.last_sequence)
)
_INSERT_EVENT = DriverStatement(insert(events).values(value_parameters(events.c.keys())))


def high_water(connection: Connection) -> int:
    """The highest sequence committed so far (0 before the first event)."""
    return int(
        connection.execute(
            select(event_counter.c.last_sequence).where(event_counter.c.id == 1)
        ).scalar_one()
    )


def read(
    connection: Connection,
    start_after: int,
    model_names: Sequence[str],
    event_types: Sequence[EventType],
    limit: int,
    readable: ColumnElement[bool],
    up_to: int | None = None,
    *,
    version: int = 0,
    descending: bool = False,
) -> list[Event]:
    """Up to ``limit`` events after ``start_after`` (and at most ``up_to``) in sequence order
    (newest first when ``descending``), filtered, of the models the ``readable`` condition on
    ``events`` admits."""
    statement: Select[Any] = select(events).where(events.c.sequence > start_after).where(readable)
    if up_to is not None:
        statement = statement.where(events.c.sequence <= up_to)
    if model_names:
        statement = statement.where(events.c.model_name.in_(list(model_names)))
    if event_types:
        statement = statement.where(events.c.event_type.in_([t.value for t in event_types]))
    if version:
        statement = statement.where(events.c.version == version)
    order = events.c.sequence.desc() if descending else events.c.sequence
    rows = connection.execute(statement.order_by(order).limit(limit)).all()
    return [event_of(row) for row in rows]


def read_all(
    connection: Connection, start_after: int, up_to: int, limit: int
) -> list[tuple[Event, int]]:
    """Up to ``limit`` events after ``start_after`` and at most ``up_to``, whoever may read them,
    each with its model's row id (what permissions are granted on)."""
    rows = connection.execute(
        select(events)
        .where(events.c.sequence > start_after)
        .where(events.c.sequence <= up_to)
        .order_by(events.c.sequence)
        .limit(limit)
    ).all()
    return [(event_of(row), row.model_id) for row in rows]


def event_of(row: Row[Any]) -> Event:
    return Event(
        sequence=row.sequence,
        timestamp=row.timestamp,
        actor=row.actor,
        event_type=EventType(row.event_type),
        model_name=row.model_name,
        version=row.version,
        before=json.loads(row.before),
        after=json.loads(row.after),
    )


def version_fields(version: ModelVersion) -> dict[str, Any]:
    """What a model_version.created event carries: everything as_of needs to rebuild it."""
    return {
        "source": version.source,
        "run_id": version.run_id,
        "run_link": version.run_link,
        "experiment_id": version.experiment_id,
        "description": version.description,
        "user_id": version.user_id,
        "current_stage": version.current_stage.value,
        "status": version.status.value,
        "status_message": version.status_message,
        "creation_timestamp": version.creation_timestamp,
        "tags": dict(version.tags),
        "model_id": version.model_id,
        "storage_location": version.storage_location,
    }
