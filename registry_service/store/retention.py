"""Retention: the oldest events and webhook deliveries are pruned in small batches, each its own
short transaction, so that a writer never waits long behind the pruner.

Pruned events leave two things behind. ``event_horizon`` names the last pruned event: a
point-in-time read before its time is refused (FailedPrecondition), and so is a WatchEvents
start_after before its sequence (OutOfRange, so the consumer knows to take a new snapshot). And
``model_snapshots`` holds each model as the pruned events left it, so that ``as_of`` after the
horizon still rebuilds a model whose creation was pruned (see model_state.state_at).

Events that webhooks still need are kept: those after the fan-out cursor (when any webhook is
enabled) and those of pending deliveries.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from registry_service.domain import DeliveryStatus, Event, EventType
from registry_service.errors import FailedPrecondition, OutOfRange
from registry_service.store import model_state, outbox
from registry_service.store.tables import (
    event_horizon,
    events,
    model_snapshots,
    webhook_cursor,
    webhook_deliveries,
    webhooks,
)
from registry_service.store.transactions import Transactions


@dataclass(frozen=True)
class Horizon:
    """The last pruned event: its sequence and time (both 0 while nothing was pruned)."""

    sequence: int
    timestamp: int


def horizon(connection: Connection) -> Horizon:
    row = connection.execute(select(event_horizon).where(event_horizon.c.id == 1)).one()
    return Horizon(row.sequence, row.timestamp)


def check_as_of(connection: Connection, as_of: int) -> None:
    """FailedPrecondition when the events ``as_of`` needs were pruned."""
    pruned = horizon(connection)
    if pruned.sequence and as_of < pruned.timestamp:
        raise FailedPrecondition(
            f"as_of {as_of} is before the retained history, which begins at {pruned.timestamp} "
            "(--event-retention)",
            field="as_of",
        )


def check_watch_start(connection: Connection, start_after: int) -> None:
    """OutOfRange when events after ``start_after`` were pruned: a feed resumed there would
    silently miss them."""
    pruned = horizon(connection)
    if start_after < pruned.sequence:
        raise OutOfRange(
            f"start_after {start_after} is before the retained events: those up to "
            f"{pruned.sequence} were pruned (--event-retention); read the current state again "
            "and watch from its sequence",
            field="start_after",
        )


class Retention:
    """The pruning of events and delivery logs, in the transactions of ``store``."""

    def __init__(self, store: Transactions) -> None:
        self._store = store

    def horizon(self) -> Horizon:
        with self._store.reading() as connection:
            return horizon(connection)

    def check_watch_start(self, start_after: int) -> None:
        with self._store.reading() as connection:
            check_watch_start(connection, start_after)

    def prune_events(self, older_than: int, batch: int) -> int:
        """Prune up to ``batch`` of the oldest events committed before ``older_than`` (epoch
        milliseconds), snapshotting the models they touched; returns how many went."""
        # Most turns find nothing old enough: a read says so without taking the write lock.
        with self._store.reading() as connection:
            if _oldest_event_time(connection) >= older_than:
                return 0
        with self._store.writing() as connection:
            # The row lock queues concurrent pruners (several replicas) behind one another.
            previous = connection.execute(
                select(event_horizon.c.sequence).where(event_horizon.c.id == 1).with_for_update()
            ).scalar_one()
            rows = connection.execute(
                select(events)
                .where(events.c.sequence > previous)
                .where(events.c.sequence <= _kept_from(connection) - 1)
                .order_by(events.c.sequence)
                .limit(batch)
            ).all()
            pruned: list[tuple[int, Event]] = []
            for row in rows:
                # Sequence order, not time order, decides: the horizon is one point on both.
                if row.timestamp >= older_than:
                    break
                pruned.append((row.model_id, outbox.event_of(row)))
            if not pruned:
                return 0
            last = pruned[-1][1]
            _snapshot(connection, pruned, last.sequence)
            connection.execute(
                delete(events)
                .where(events.c.sequence > previous)
                .where(events.c.sequence <= last.sequence)
            )
            connection.execute(
                update(event_horizon)
                .where(event_horizon.c.id == 1)
                .values(sequence=last.sequence, timestamp=last.timestamp)
            )
            return len(pruned)

    def prune_deliveries(self, older_than: int, batch: int) -> int:
        """Delete up to ``batch`` finished webhook deliveries (and their attempts) created before
        ``older_than``; pending ones are kept whatever their age. Returns how many went."""
        oldest = (
            select(webhook_deliveries.c.id)
            .where(webhook_deliveries.c.creation_timestamp < older_than)
            .where(webhook_deliveries.c.status != DeliveryStatus.PENDING.value)
            .order_by(webhook_deliveries.c.creation_timestamp)
        )
        with self._store.reading() as connection:
            if connection.execute(oldest.limit(1)).first() is None:
                return 0
        with self._store.writing() as connection:
            ids = list(connection.execute(oldest.limit(batch)).scalars())
            if ids:
                connection.execute(
                    delete(webhook_deliveries).where(webhook_deliveries.c.id.in_(ids))
                )
            return len(ids)


def _oldest_event_time(connection: Connection) -> int:
    """The time of the oldest retained event; far in the future when there is none."""
    oldest = connection.execute(
        select(events.c.timestamp).order_by(events.c.sequence).limit(1)
    ).scalar_one_or_none()
    return 2**62 if oldest is None else int(oldest)


def _kept_from(connection: Connection) -> int:
    """The first sequence webhooks still need: the oldest event of a pending delivery, and the
    first one after the fan-out cursor while some webhook may still take it."""
    pending = connection.execute(
        select(func.min(webhook_deliveries.c.event_sequence)).where(
            webhook_deliveries.c.status == DeliveryStatus.PENDING.value
        )
    ).scalar_one_or_none()
    kept = [pending] if pending is not None else []
    if connection.execute(select(webhooks.c.id).where(webhooks.c.enabled).limit(1)).first():
        cursor = connection.execute(
            select(webhook_cursor.c.last_sequence).where(webhook_cursor.c.id == 1)
        ).scalar_one()
        kept.append(cursor + 1)
    return min(kept, default=outbox.high_water(connection) + 1)


def _snapshot(connection: Connection, pruned: list[tuple[int, Event]], up_to: int) -> None:
    """Fold the ``pruned`` events (with their models' ids) into the snapshots of their models,
    as of sequence ``up_to``."""
    by_model: dict[int, list[Event]] = defaultdict(list)
    for model_id, event in pruned:
        by_model[model_id].append(event)
    for model_id, changes in by_model.items():
        saved = connection.execute(
            select(model_snapshots.c.state, model_snapshots.c.deleted).where(
                model_snapshots.c.model_id == model_id
            )
        ).one_or_none()
        state = None if saved is None else model_state.state_of_snapshot(model_id, *saved)
        for event in changes:
            if event.event_type is EventType.REGISTERED_MODEL_CREATED:
                state = model_state.ModelState(event.model_name, model_id)
            elif state is not None:
                model_state.apply(state, event)
        connection.execute(delete(model_snapshots).where(model_snapshots.c.model_id == model_id))
        # A deleted model's state is kept too: it may be restored after the horizon.
        if state is not None:
            connection.execute(
                insert(model_snapshots).values(
                    model_id=model_id,
                    model_name=state.name,
                    sequence=up_to,
                    state=model_state.snapshot_json(state),
                    deleted=state.deleted,
                )
            )
