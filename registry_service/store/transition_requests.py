"""Transition requests: a change a caller may not make alone (a version into a stage, a protected
alias set or deleted), kept PENDING until someone with MANAGE on the model approves or rejects it,
or its requester cancels it (docs/security.md, "Approval requests").

Every step locks the model's row first, as every write under a model does, and reads the request
again under that lock: two approvers racing on one request queue there, and the second finds it
no longer pending. Approval makes the change with the same code as TransitionModelVersionStage and
SetRegisteredModelAlias / DeleteRegisteredModelAlias, in the approval's own transaction, after
checking that neither the request (its etag) nor the version (the etag it had when the request
was made) changed since. Each step is an event in the outbox, so it reaches watchers and webhooks.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Row

from registry_service import identity, validation
from registry_service.domain import (
    EventType,
    ModelVersion,
    Page,
    RequestState,
    Stage,
    TransitionRequest,
)
from registry_service.errors import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from registry_service.search import effective_page_size
from registry_service.store import idempotency, model_access, outbox
from registry_service.store.label_writes import apply_delete_alias, apply_set_alias
from registry_service.store.model_rows import (
    check_etag,
    load_version,
    lock_model,
    model_id_by_name,
    new_revision,
    readable_by_caller,
    version_not_found,
)
from registry_service.store.statements import ALIASED_VERSION, VERSION_TO_WRITE
from registry_service.store.tables import registered_models, transition_requests
from registry_service.store.transactions import Transactions
from registry_service.store.version_writes import ARCHIVABLE_STAGES, apply_transition

MAX_COMMENT_LENGTH = validation.MAX_DESCRIPTION_LENGTH


def _request_of(data: dict[str, Any]) -> TransitionRequest:
    return TransitionRequest(**{**data, "state": RequestState(data["state"])})


REQUEST = idempotency.Codec[TransitionRequest](dataclasses.asdict, _request_of)
# Approve, reject and cancel take no request_id: a repeat finds the request no longer pending.
_UNREPLAYED = idempotency.Codec[Any](lambda _: None, lambda _: None)


class TransitionRequests:
    """Transition requests, in the transactions of ``transactions``."""

    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    def create(
        self,
        name: str,
        version: int,
        stage: str = "",
        alias: str = "",
        *,
        delete_alias: bool = False,
        archive_existing_versions: bool = False,
        comment: str = "",
        request_id: str = "",
    ) -> TransitionRequest:
        validation.check_model_name(name)
        if not (delete_alias and version == 0):
            validation.check_version(version)
        target = _check_change(stage, alias, delete_alias, archive_existing_versions)
        validation.check_text("comment", comment, MAX_COMMENT_LENGTH)
        user_id = identity.current_caller()

        def change(connection: Connection) -> TransitionRequest:
            model_id = lock_model(connection, name, changes=False)
            number = version
            if delete_alias:
                pointed = connection.execute(
                    ALIASED_VERSION, {"model_id": model_id, "alias": alias}
                ).scalar_one_or_none()
                if pointed is None:
                    raise NotFound(
                        f"registered model {name!r} has no alias {alias!r}", field="alias"
                    )
                if number and number != pointed:
                    raise FailedPrecondition(
                        f"alias {alias!r} of {name!r} points at version {pointed}, not {number}",
                        field="version",
                    )
                number = int(pointed)
            rows = VERSION_TO_WRITE.rows(connection, {"model_id": model_id, "version": number})
            if not rows:
                raise version_not_found(name, number)
            now = self._transactions.now()
            row = {
                "model_id": model_id,
                "version": number,
                "stage": "" if target is None else target.value,
                "alias": alias,
                "delete_alias": delete_alias,
                "archive_existing_versions": archive_existing_versions,
                "comment": comment,
                "state": RequestState.PENDING.value,
                "user_id": user_id,
                "creation_timestamp": now,
                "last_updated_timestamp": now,
                "resolved_by": "",
                "resolution_comment": "",
                "revision": new_revision(),
                "version_revision": int(rows[0][1]),
            }
            request_key = connection.execute(
                insert(transition_requests).values(row).returning(transition_requests.c.id)
            ).scalar_one()
            created = _request_from(name, {**row, "id": request_key})
            outbox.record(
                connection,
                EventType.TRANSITION_REQUEST_CREATED,
                name,
                model_id,
                number,
                after=_event_fields(created),
            )
            return created

        arguments = {
            "name": name,
            "version": version,
            "stage": stage,
            "alias": alias,
            "delete_alias": delete_alias,
            "archive_existing_versions": archive_existing_versions,
            "comment": comment,
        }
        return self._transactions.write(
            "create_transition_request", request_id, arguments, REQUEST, change
        )

    def list(
        self,
        name: str = "",
        version: int = 0,
        state: RequestState | None = None,
        page_size: int = 0,
        page_token: str = "",
    ) -> Page[TransitionRequest]:
        if name:
            validation.check_model_name(name)
        if version:
            if not name:
                raise InvalidArgument("version needs name", field="version")
            validation.check_version(version)
        size = effective_page_size(page_size)
        before = _page_position(page_token)
        with self._transactions.reading() as connection:
            statement = (
                select(transition_requests, registered_models.c.name)
                .join(registered_models, registered_models.c.id == transition_requests.c.model_id)
                .where(readable_by_caller(transition_requests.c.model_id))
            )
            if name:
                model_id = model_id_by_name(connection, name)
                statement = statement.where(transition_requests.c.model_id == model_id)
            if version:
                statement = statement.where(transition_requests.c.version == version)
            if state is not None:
                statement = statement.where(transition_requests.c.state == state.value)
            if before:
                statement = statement.where(transition_requests.c.id < before)
            rows = connection.execute(
                statement.order_by(transition_requests.c.id.desc()).limit(size + 1)
            ).all()
        found = [_request_of_row(row) for row in rows]
        next_token = str(found[size - 1].id) if len(found) > size else ""
        return Page(found[:size], next_token)

    def approve(
        self, request_key: int, etag: str = "", comment: str = ""
    ) -> tuple[TransitionRequest, ModelVersion]:
        expected = _check_resolution(request_key, etag, comment)

        def change(connection: Connection) -> tuple[TransitionRequest, ModelVersion]:
            model_id, name, pending = _pending(connection, request_key, expected, "approve")
            caller = identity.current_access()
            requirement = caller.requirement
            allowed = caller.admin and requirement is not None and requirement.self_approval
            # Without authentication there is nobody to tell apart: the check needs a user.
            if caller.user_id and pending.user_id == caller.user_id and not allowed:
                raise PermissionDenied(
                    f"transition request {request_key} is your own: someone else with "
                    "MANAGE must approve it (admins may approve their own only when the "
                    "server runs with --allow-self-approval)"
                )
            current = VERSION_TO_WRITE.rows(
                connection, {"model_id": model_id, "version": pending.version}
            )
            if not current:
                raise version_not_found(name, pending.version)
            if validation.etag_of(int(current[0][1])) != pending.version_etag:
                raise Aborted(
                    f"model version {pending.version} of {name!r} has changed since transition "
                    f"request {request_key} was made; nothing was approved: look again, and "
                    "reject it or ask for a new one",
                    field="version_etag",
                )
            now = self._transactions.now()
            if pending.stage:
                apply_transition(
                    connection,
                    name,
                    pending.version,
                    Stage(pending.stage),
                    pending.archive_existing_versions,
                    None,
                    now,
                )
            elif pending.delete_alias:
                apply_delete_alias(connection, name, pending.alias, None)
            else:
                apply_set_alias(connection, name, pending.alias, pending.version, None)
            resolved = _resolve(
                connection, model_id, name, pending, RequestState.APPROVED, comment, now
            )
            return resolved, load_version(connection, model_id, name, pending.version)

        result: tuple[TransitionRequest, ModelVersion] = self._transactions.write(
            "approve_transition_request", "", {}, _UNREPLAYED, change
        )
        return result

    def reject(self, request_key: int, etag: str = "", comment: str = "") -> TransitionRequest:
        return self._close(request_key, etag, comment, RequestState.REJECTED)

    def cancel(self, request_key: int, etag: str = "", comment: str = "") -> TransitionRequest:
        return self._close(request_key, etag, comment, RequestState.CANCELLED)

    def _close(
        self, request_key: int, etag: str, comment: str, state: RequestState
    ) -> TransitionRequest:
        expected = _check_resolution(request_key, etag, comment)
        doing = "reject" if state is RequestState.REJECTED else "cancel"

        def change(connection: Connection) -> TransitionRequest:
            model_id, name, pending = _pending(connection, request_key, expected, doing)
            caller = identity.current_access()
            cancelling = state is RequestState.CANCELLED
            if cancelling and not caller.admin and pending.user_id != caller.user_id:
                raise PermissionDenied(
                    f"transition request {request_key} is {pending.user_id!r}'s: only its "
                    "requester or an admin may cancel it"
                )
            return _resolve(
                connection, model_id, name, pending, state, comment, self._transactions.now()
            )

        closed: TransitionRequest = self._transactions.write(
            f"{doing}_transition_request", "", {}, _UNREPLAYED, change
        )
        return closed


def _check_change(
    stage: str, alias: str, delete_alias: bool, archive_existing_versions: bool
) -> Stage | None:
    """The stage a request asks for (None for an alias request), once its fields agree."""
    if bool(stage) == bool(alias):
        raise InvalidArgument(
            "a transition request names a stage or an alias: give exactly one", field="stage"
        )
    if delete_alias and not alias:
        raise InvalidArgument("delete_alias needs alias", field="delete_alias")
    if alias:
        if archive_existing_versions:
            raise InvalidArgument(
                "archive_existing_versions applies to stage requests only",
                field="archive_existing_versions",
            )
        if delete_alias:
            validation.check_alias_to_resolve(alias)
        else:
            validation.check_alias_to_set(alias)
        return None
    target = validation.parse_stage(stage)
    if archive_existing_versions and target not in ARCHIVABLE_STAGES:
        raise InvalidArgument(
            f"archive_existing_versions is allowed only when moving to Staging or "
            f"Production, not to {target.value}",
            field="archive_existing_versions",
        )
    return target


def _check_resolution(request_key: int, etag: str, comment: str) -> int | None:
    # Ids are numbered like versions: within the database's integer.
    validation.check_version(request_key, "id")
    validation.check_text("comment", comment, MAX_COMMENT_LENGTH)
    return validation.check_etag(etag)


def _pending(
    connection: Connection, request_key: int, expected: int | None, doing: str
) -> tuple[int, str, TransitionRequest]:
    """The request, still pending and at the caller's etag, with its model's row locked (and the
    caller's permission on it decided there) and that model's id and name."""
    model_id = connection.execute(
        select(transition_requests.c.model_id).where(transition_requests.c.id == request_key)
    ).scalar_one_or_none()
    if model_id is None:
        raise _request_not_found(request_key)
    locked = connection.execute(
        select(registered_models.c.name).where(registered_models.c.id == model_id).with_for_update()
    ).scalar_one_or_none()
    if locked is None:
        raise _request_not_found(request_key)
    name = str(locked)
    # A caller who may not read the model learns nothing of its requests.
    try:
        model_access.authorize(connection, model_id, name)
    except NotFound:
        raise _request_not_found(request_key) from None
    # Read again under the model's lock, which every change of a request holds.
    row = connection.execute(
        select(transition_requests, registered_models.c.name)
        .join(registered_models, registered_models.c.id == transition_requests.c.model_id)
        .where(transition_requests.c.id == request_key)
    ).one()
    pending = _request_of_row(row)
    # A stale etag first: whoever read the request before it changed learns that, whatever
    # the change was.
    check_etag(expected, int(row.revision), f"transition request {request_key}")
    if pending.state is not RequestState.PENDING:
        raise FailedPrecondition(
            f"transition request {request_key} is {pending.state.value}, not PENDING: "
            f"there is nothing to {doing}",
            field="id",
        )
    return int(model_id), name, pending


def _resolve(
    connection: Connection,
    model_id: int,
    name: str,
    pending: TransitionRequest,
    state: RequestState,
    comment: str,
    now: int,
) -> TransitionRequest:
    actor = identity.current_caller()
    revision = connection.execute(
        update(transition_requests)
        .where(transition_requests.c.id == pending.id)
        .values(
            state=state.value,
            resolved_by=actor,
            resolution_comment=comment,
            last_updated_timestamp=now,
            revision=transition_requests.c.revision + 1,
        )
        .returning(transition_requests.c.revision)
    ).scalar_one()
    resolved = dataclasses.replace(
        pending,
        state=state,
        resolved_by=actor,
        resolution_comment=comment,
        last_updated_timestamp=now,
        etag=validation.etag_of(int(revision)),
    )
    event_type = {
        RequestState.APPROVED: EventType.TRANSITION_REQUEST_APPROVED,
        RequestState.REJECTED: EventType.TRANSITION_REQUEST_REJECTED,
        RequestState.CANCELLED: EventType.TRANSITION_REQUEST_CANCELLED,
    }[state]
    outbox.record(
        connection,
        event_type,
        name,
        model_id,
        pending.version,
        before={"id": pending.id, "state": pending.state.value},
        after=_event_fields(resolved),
    )
    return resolved


def _event_fields(request: TransitionRequest) -> dict[str, Any]:
    """What an event about a request carries: the request, less what every event has."""
    fields = dataclasses.asdict(request)
    for common in ("name", "version", "etag", "version_etag"):
        fields.pop(common)
    fields["state"] = request.state.value
    return fields


def _request_from(name: str, row: dict[str, Any]) -> TransitionRequest:
    return TransitionRequest(
        id=int(row["id"]),
        name=name,
        version=int(row["version"]),
        stage=row["stage"],
        alias=row["alias"],
        delete_alias=bool(row["delete_alias"]),
        archive_existing_versions=bool(row["archive_existing_versions"]),
        comment=row["comment"],
        state=RequestState(row["state"]),
        user_id=row["user_id"],
        creation_timestamp=int(row["creation_timestamp"]),
        last_updated_timestamp=int(row["last_updated_timestamp"]),
        resolved_by=row["resolved_by"],
        resolution_comment=row["resolution_comment"],
        etag=validation.etag_of(int(row["revision"])),
        version_etag=validation.etag_of(int(row["version_revision"])),
    )


def _request_of_row(row: Row[Any]) -> TransitionRequest:
    return _request_from(row.name, dict(row._mapping))


def _request_not_found(request_key: int) -> NotFound:
    return NotFound(f"transition request {request_key} does not exist", field="id")


def _page_position(token: str) -> int:
    if not token:
        return 0
    if not token.isdigit() or len(token) > 10 or int(token) > validation.MAX_VERSION:
        raise InvalidArgument(
            f"page_token {token[:40]!r} is not a token of this list", field="page_token"
        )
    return int(token)
