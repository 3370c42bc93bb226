"""The caller's permission on a model, decided on the model's row id inside the transaction that
reads or writes that row.

Every store operation that names a model resolves the name to a row id once, and asks here
before it reads or writes anything under that id. So the row whose permission was checked is the
row the call acts on, and the grants that count are the ones this transaction reads: a rename,
delete or re-create racing the call cannot move the decision onto another model. Writes hold the
model's row lock when they ask, and grants change under that same lock (see access_store), so a
grant cannot be revoked between the decision and the write it guards.

A caller without READ gets exactly the NotFound a missing model gives; a caller with READ but
below what the call needs gets PermissionDenied naming that level.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.engine import Connection

from registry_service import identity
from registry_service.domain import Permission
from registry_service.errors import NotFound, PermissionDenied, Resource, Subject
from registry_service.store.tables import registered_model_permissions

# What a caller refused a change that needs approval is told (docs/security.md, "Approval").
APPROVAL_HINT = (
    "; this change needs approval: ask for it with CreateTransitionRequest "
    "(`registry requests create`), and someone with MANAGE approves it"
)


def model_not_found(name: str) -> NotFound:
    return NotFound(
        f"registered model {name!r} does not exist",
        field="name",
        subject=Subject(Resource.REGISTERED_MODEL, name),
    )


def checks_caller() -> bool:
    """Whether the current caller's access to a model needs deciding at all (admins, and every
    caller of a server without authentication, reach every model)."""
    return not identity.current_access().admin


def authorize(
    connection: Connection, model_id: int, name: str, *, leaving_production: bool = False
) -> None:
    """Refuse the call unless the caller holds what it needs on the model ``model_id`` (known to
    the caller as ``name``). ``leaving_production``: the call moves a version of it out of
    Production."""
    caller = identity.current_access()
    if caller.admin:
        return
    level = _level_on(connection, model_id, caller)
    if level is None:
        raise model_not_found(name)
    requirement = caller.requirement
    needed = Permission.READ if requirement is None else requirement.level
    if leaving_production and requirement is not None and requirement.leaving_production:
        needed = max(needed, requirement.leaving_production)
    if level < needed:
        doing = "this call" if requirement is None else requirement.rpc
        message = (
            f"{doing} on registered model {name!r} needs {needed.name} permission; "
            f"you have {level.name}"
        )
        if requirement is not None and requirement.approval and level >= Permission.EDIT:
            raise PermissionDenied(message + APPROVAL_HINT, reason="APPROVAL_REQUIRED")
        raise PermissionDenied(message)


def readable(connection: Connection, model_id: int) -> bool:
    """Whether the caller may read the model ``model_id`` (a model another one's source names)."""
    caller = identity.current_access()
    return caller.admin or _level_on(connection, model_id, caller) is not None


def grants_of(
    connection: Connection, model_ids: Collection[int], user_ids: Collection[str]
) -> frozenset[tuple[int, str]]:
    """(model id, user id) of every grant one of ``user_ids`` holds on one of ``model_ids``: what
    ``model_rows.readable_by_caller`` admits for callers that do not read every model."""
    rows = connection.execute(
        select(registered_model_permissions.c.model_id, registered_model_permissions.c.user_id)
        .where(registered_model_permissions.c.model_id.in_(list(model_ids)))
        .where(registered_model_permissions.c.user_id.in_(list(user_ids)))
    ).all()
    return frozenset((row.model_id, row.user_id) for row in rows)


def _level_on(connection: Connection, model_id: int, caller: identity.Caller) -> Permission | None:
    """The caller's grant on the model or its default level, whichever is higher."""
    granted = connection.execute(
        select(registered_model_permissions.c.permission)
        .where(registered_model_permissions.c.model_id == model_id)
        .where(registered_model_permissions.c.user_id == caller.user_id)
    ).scalar_one_or_none()
    levels = [
        level
        for level in (None if granted is None else Permission[granted], caller.default_level)
        if level is not None
    ]
    return max(levels, default=None)
