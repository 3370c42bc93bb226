"""The registry's operations on a SQL database: one method per operation, one transaction each,
composed from one module per job (transactions, model_writes, version_writes, label_writes,
history, model_import; model_rows and statements are the steps they share).

Every method validates its input before touching the database, so a rejected call changes nothing.
Mutations of anything under a model first lock that model's row; with one lock order everywhere,
concurrent writers queue instead of deadlocking, and multi-row invariants (one Production version
after an archiving transition) hold under concurrency on PostgreSQL as well as on SQLite.

Every write takes an optional ``request_id`` (a retry with the same id returns the first result and
changes nothing, see ``idempotency``) and, where it targets an existing model or version, an
optional ``etag``: the resource's revision as the caller last read it, checked under the lock so
that a write based on a stale read fails with Aborted instead of overwriting someone else's change.
"""

from __future__ import annotations

from functools import cached_property

from registry_service.store.history import EventHistory
from registry_service.store.label_writes import LabelOperations
from registry_service.store.model_import import ModelImport
from registry_service.store.model_writes import RegisteredModelOperations
from registry_service.store.retention import Retention
from registry_service.store.transition_requests import TransitionRequests
from registry_service.store.version_writes import ModelVersionOperations
from registry_service.store.webhook_store import WebhookStore


class RegistryStore(
    RegisteredModelOperations, ModelVersionOperations, LabelOperations, EventHistory, ModelImport
):
    """Registered models and their versions, stored through SQLAlchemy on SQLite or PostgreSQL."""

    @cached_property
    def webhooks(self) -> WebhookStore:
        """The webhooks, in this store's transactions."""
        return WebhookStore(self)

    @cached_property
    def transition_requests(self) -> TransitionRequests:
        """The transition requests, in this store's transactions."""
        return TransitionRequests(self)

    @cached_property
    def retention(self) -> Retention:
        """The pruning of old events and delivery logs, in this store's transactions."""
        return Retention(self)
