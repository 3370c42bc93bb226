"""Who is making the current call.

The server sets the caller once per call (from a token or a client certificate); the store reads
it where a write is stamped with its author (user_id, the event actor). A context variable carries
it so that every store method need not take an ``actor`` argument; each gRPC call runs its handler
in one thread, so the value never leaks between calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Empty while no authentication is configured: writes are then stamped with no user.
_caller: ContextVar[str] = ContextVar("registry_caller", default="")


def current_caller() -> str:
    """The authenticated identity of the call being served, or "" when there is none."""
    return _caller.get()


@contextmanager
def calling_as(user_id: str) -> Iterator[None]:
    """Run the enclosed work on behalf of ``user_id``; the previous caller is restored after."""
    token = _caller.set(user_id)
    try:
        yield
    finally:
        _caller.reset(token)
