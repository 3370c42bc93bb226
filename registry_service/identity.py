"""Who is making the current call.

The server sets the caller once per call (from a token or a client certificate); the store reads
it where a write is stamped with its author (user_id, the event actor) and where a search keeps to
the models the caller may read. A context variable carries it so that every store method need not
take an ``actor`` argument; each gRPC call runs its handler in one thread, so the value never leaks
between calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    # Empty while no authentication is configured: writes are then stamped with no user.
    user_id: str = ""
    # With no authentication every caller may do everything.
    admin: bool = True
    # False when searches must keep to the models the caller holds a permission on.
    reads_every_model: bool = True


UNAUTHENTICATED = Caller()
_caller: ContextVar[Caller | None] = ContextVar("registry_caller", default=None)


def current_caller() -> str:
    """The authenticated identity of the call being served, or "" when there is none."""
    return current_access().user_id


def current_access() -> Caller:
    """The caller of the call being served with what it may reach."""
    return _caller.get() or UNAUTHENTICATED


@contextmanager
def calling_as(
    user_id: str, *, admin: bool = True, reads_every_model: bool = True
) -> Iterator[None]:
    """Run the enclosed work on behalf of ``user_id``; the previous caller is restored after."""
    token = _caller.set(Caller(user_id, admin, reads_every_model))
    try:
        yield
    finally:
        _caller.reset(token)
