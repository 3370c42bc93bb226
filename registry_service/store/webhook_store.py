"""Webhooks and their deliveries, on the registry's database (the rows themselves: webhook_rows)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sqlalchemy.engine import Connection

from registry_service.domain import DeliveryStatus, Page, Webhook, WebhookDelivery
from registry_service.search import effective_page_size
from registry_service.store import idempotency, webhook_rows
from registry_service.store.history import event_page_token
from registry_service.store.transactions import Transactions


class WebhookStore:
    """Webhooks and deliveries, in the transactions of ``transactions``."""

    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    def create_webhook(self, fields: webhook_rows.WebhookFields, request_id: str = "") -> Webhook:
        webhook_rows.check_fields(fields)
        return self._transactions.write(
            "create_webhook",
            request_id,
            dataclasses.asdict(fields),
            idempotency.WEBHOOK,
            lambda connection: webhook_rows.insert_webhook(
                connection, fields, self._transactions.now()
            ),
        )

    def update_webhook(
        self,
        webhook_id: str,
        fields: webhook_rows.WebhookFields,
        mask: Sequence[str],
        request_id: str = "",
    ) -> Webhook:
        webhook_rows.check_id(webhook_id)
        webhook_rows.check_fields(fields)
        arguments = {"id": webhook_id, "fields": dataclasses.asdict(fields), "mask": list(mask)}

        def change(connection: Connection) -> Webhook:
            return webhook_rows.update_webhook(
                connection, webhook_id, fields, mask, self._transactions.now()
            )

        return self._transactions.write(
            "update_webhook", request_id, arguments, idempotency.WEBHOOK, change
        )

    def delete_webhook(self, webhook_id: str, request_id: str = "") -> None:
        webhook_rows.check_id(webhook_id)
        self._transactions.write(
            "delete_webhook",
            request_id,
            {"id": webhook_id},
            idempotency.NOTHING,
            lambda connection: webhook_rows.delete_webhook(connection, webhook_id),
        )

    def list_webhooks(self) -> list[Webhook]:
        with self._transactions.reading() as connection:
            return webhook_rows.list_webhooks(connection)

    def get_webhook(self, webhook_id: str) -> Webhook:
        webhook_rows.check_id(webhook_id)
        with self._transactions.reading() as connection:
            return webhook_rows.load_webhook(connection, webhook_id)

    def webhook_target(self, webhook_id: str) -> tuple[str, str]:
        """The URL and secret of a webhook."""
        webhook_rows.check_id(webhook_id)
        with self._transactions.reading() as connection:
            return webhook_rows.secret_of(connection, webhook_id)

    def list_webhook_deliveries(
        self,
        webhook_id: str = "",
        status: DeliveryStatus | None = None,
        page_size: int = 0,
        page_token: str = "",
    ) -> Page[WebhookDelivery]:
        if webhook_id:
            webhook_rows.check_id(webhook_id, "webhook_id")
        size = effective_page_size(page_size)
        offset = event_page_token(page_token)
        with self._transactions.reading() as connection:
            found = webhook_rows.list_deliveries(connection, webhook_id, status, offset, size + 1)
        return Page(found[:size], str(offset + size) if len(found) > size else "")

    # The worker looks before it writes: an idle registry then costs a read per poll, and never
    # takes SQLite's write lock from the writers.

    def fan_out_events(self, batch: int) -> int:
        """Queue deliveries for the events webhooks have not seen yet (see webhook_rows)."""
        with self._transactions.reading() as connection:
            if not webhook_rows.fan_out_pending(connection):
                return 0
        with self._transactions.writing() as connection:
            return webhook_rows.fan_out(connection, self._transactions.now(), batch)

    def claim_deliveries(self, lease_ms: int, limit: int) -> list[webhook_rows.DueDelivery]:
        now = self._transactions.now()
        with self._transactions.reading() as connection:
            if not webhook_rows.any_due(connection, now):
                return []
        with self._transactions.writing() as connection:
            return webhook_rows.claim_due(connection, now, lease_ms, limit)

    def record_delivery_attempt(
        self, delivery_id: str, response_code: int, error: str, retry_at: int | None
    ) -> None:
        with self._transactions.writing() as connection:
            webhook_rows.record_attempt(
                connection, delivery_id, self._transactions.now(), response_code, error, retry_at
            )

    def now(self) -> int:
        """The store's clock, in epoch milliseconds, which delivery retries are scheduled on."""
        return self._transactions.now()
