"""Who is making the current call, and what it needs on the model it names.

The server sets the caller once per call (from a token or a client certificate); the store reads
it where a write is stamped with its author (user_id, the event actor), where a search keeps to
the models the caller may read, and where a name is resolved to a model's row: the permission is
decided there, on that row, in the transaction that reads or writes it (see
``store/model_access.py``). A context variable carries it so that every store method need not
take an ``actor`` argument; each call runs its handler in one thread, so the value never leaks
between calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from registry_service.domain import Permission


@dataclass(frozen=True)
class Requirement:
    """What a call needs on the model its request names."""

    # The RPC, named in the refusal.
    rpc: str
    level: Permission
    # What moving a version out of Production needs, where that is more than ``level``: only the
    # store sees a version's current stage, in the transaction that changes it.
    leaving_production: Permission | None = None
    # A refusal for want of MANAGE names CreateTransitionRequest, the way to ask for the change.
    approval: bool = False
    # The server lets admins approve their own transition requests (--allow-self-approval).
    self_approval: bool = False


@dataclass(frozen=True)
class Caller:
    # Empty while no authentication is configured: writes are then stamped with no user.
    user_id: str = ""
    # With no authentication every caller may do everything.
    admin: bool = True
    # False when searches must keep to the models the caller holds a permission on.
    reads_every_model: bool = True
    # What the caller holds on a model it has no grant on (--default-permission).
    default_level: Permission | None = None
    # Set for calls that name a model; None elsewhere, where resolving a name needs READ.
    requirement: Requirement | None = None


UNAUTHENTICATED = Caller()
_caller: ContextVar[Caller | None] = ContextVar("registry_caller", default=None)


def current_caller() -> str:
    """The authenticated identity of the call being served, or "" when there is none."""
    return current_access().user_id


def current_access() -> Caller:
    """The caller of the call being served with what it may reach."""
    return _caller.get() or UNAUTHENTICATED


@contextmanager
def calling_as(user_id: str | Caller, *, admin: bool = True) -> Iterator[None]:
    """Run the enclosed work on behalf of a caller (or of ``user_id``, with ``admin``); the
    previous caller is restored after."""
    caller = user_id if isinstance(user_id, Caller) else Caller(user_id, admin, admin)
    token = _caller.set(caller)
    try:
        yield
    finally:
        _caller.reset(token)
