"""The event history: committed events in sequence order (ListEvents, and the reads WatchEvents
streams make), and a model as it was at a past time (``as_of``), replayed from its events."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from registry_service import validation
from registry_service.domain import Event, EventType, ModelVersion, Page
from registry_service.errors import InvalidArgument, NotFound
from registry_service.search import effective_page_size
from registry_service.store import model_access, model_state, outbox, retention
from registry_service.store.model_rows import readable_by_caller
from registry_service.store.tables import events
from registry_service.store.transactions import Transactions


class EventHistory(Transactions):
    """Reads of the outbox's events, filtered to the models the caller may read."""

    def list_events(
        self,
        start_after: int = 0,
        model_names: Sequence[str] = (),
        event_types: Sequence[EventType] = (),
        page_size: int = 0,
        page_token: str = "",
        *,
        newest_first: bool = False,
        version: int = 0,
    ) -> Page[Event]:
        """Committed events in sequence order, or newest first; the page token is the last
        sequence read (prefixed with ``<`` newest first, so a token serves only its order)."""
        check_event_filters(start_after, model_names)
        if version < 0:
            raise InvalidArgument(
                f"version must be 0 or a version number, got {version}", field="version"
            )
        size = effective_page_size(page_size)
        position = event_page_token(page_token, newest_first)
        with self.reading() as connection:
            found = outbox.read(
                connection,
                start_after if newest_first else max(start_after, position),
                model_names,
                event_types,
                size + 1,
                readable_by_caller(events.c.model_id),
                position - 1 if newest_first and position else None,
                version=version,
                descending=newest_first,
            )
        page = found[:size]
        if len(found) <= size:
            return Page(page, "")
        last = page[-1].sequence
        return Page(page, f"<{last}" if newest_first else str(last))

    def read_events(
        self,
        start_after: int,
        model_names: Sequence[str],
        event_types: Sequence[EventType],
        limit: int,
    ) -> tuple[list[Event], int]:
        """Up to ``limit`` matching events after ``start_after``, and the sequence to read after
        next time: past the events that did not match too, so filtered reads do not rescan them.

        The high-water mark is read first: every event up to it has committed by then (the
        counter row commits with them), so nothing up to it can still appear later."""
        with self.reading() as connection:
            high = outbox.high_water(connection)
            found = outbox.read(
                connection,
                start_after,
                model_names,
                event_types,
                limit,
                readable_by_caller(events.c.model_id),
                high,
            )
            # After the read: on PostgreSQL each statement sees the latest commit, so a prune
            # that removed events this read missed has moved the horizon by now.
            retention.check_watch_start(connection, start_after)
        if len(found) == limit:
            return found, found[-1].sequence
        return found, max(high, start_after)

    def high_water_sequence(self) -> int:
        """The highest sequence committed so far (0 before the first event)."""
        with self.reading() as connection:
            return outbox.high_water(connection)

    def read_feed(self, start_after: int, limit: int, user_ids: Collection[str]) -> FeedBatch:
        """Up to ``limit`` events after ``start_after``, of every model, for the process's one
        tail to fan out (``watch_feed``); with the grants ``user_ids`` hold on their models, read
        in the same transaction, so that each watcher is told what it may read then, as a
        ListEvents page read then would."""
        with self.reading() as connection:
            # As in read_events: nothing up to the high-water mark can still commit later.
            high = outbox.high_water(connection)
            found = outbox.read_all(connection, start_after, high, limit)
            model_ids = {model_id for _, model_id in found}
            grants = (
                model_access.grants_of(connection, model_ids, user_ids)
                if model_ids and user_ids
                else frozenset()
            )
        read_up_to = found[-1][0].sequence if len(found) == limit else max(high, start_after)
        return FeedBatch(found, read_up_to, grants)


@dataclass(frozen=True)
class FeedBatch:
    """What one read of the feed's tail found (see ``EventHistory.read_feed``)."""

    # Events in sequence order, each with its model's row id.
    events: list[tuple[Event, int]]
    # The sequence to read after next time.
    read_up_to: int
    # (model row id, user id) of the grants the listed users hold on those events' models.
    grants: frozenset[tuple[int, str]]


def check_event_filters(start_after: int, model_names: Sequence[str]) -> None:
    if start_after < 0:
        raise InvalidArgument(
            f"start_after must be 0 or a sequence number, got {start_after}", field="start_after"
        )
    for name in model_names:
        validation.check_model_name(name, "model_names")


def event_page_token(token: str, newest_first: bool = False) -> int:
    if not token:
        return 0
    digits = token.removeprefix("<") if newest_first else token
    if not digits.isdigit() or len(digits) > 19 or (digits == token and newest_first):
        raise InvalidArgument(
            f"page_token {token[:40]!r} is not a token of this list", field="page_token"
        )
    return int(digits)


def state_at(connection: Connection, name: str, as_of: int) -> model_state.ModelState:
    if as_of < 0:
        raise InvalidArgument(f"as_of must not be negative, got {as_of}", field="as_of")
    retention.check_as_of(connection, as_of)
    state = model_state.state_at(connection, name, as_of)
    # The model that held the name then need not be the one holding it now: a caller who may not
    # read that one learns no more than that there was none.
    if state is None or not model_access.readable(connection, state.model_id):
        raise NotFound(
            f"the event history has no registered model {name!r} at {as_of}", field="name"
        )
    return state


def alias_at(state: model_state.ModelState, name: str, alias: str) -> ModelVersion:
    if alias.lower() == validation.LATEST_ALIAS:
        if not state.versions:
            raise NotFound(f"registered model {name!r} had no versions then", field="alias")
        return state.version_with_aliases(max(state.versions))
    number = state.aliases.get(alias)
    if number is None:
        raise NotFound(f"registered model {name!r} had no alias {alias!r} then", field="alias")
    return state.version_with_aliases(number)
