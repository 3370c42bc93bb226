"""`registry webhooks create|list|update|delete|test|deliveries`: the webhook RPCs (admins only
on a server with --auth token or mtls).

`create` reads the secret from --secret or REGISTRY_WEBHOOK_SECRET (the variable keeps it out of
the shell history and the process list); `update` changes it only when --secret is given, so a
variable left in the environment never rewrites it. The server never shows a secret back, only
whether one is set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from registry_service.operator.options import Options, pass_options, show
from registry_service.operator.output import deliveries_table, webhook_details, webhooks_table
from registry_service.operator.records import (
    DELIVERY_STATUS_WORDS,
    EVENT_TYPE_WORDS,
    delivery_json,
    delivery_status_value,
    event_type_value,
    webhook_json,
)

F = TypeVar("F", bound=Callable[..., Any])

event_type_choice = click.Choice(EVENT_TYPE_WORDS, case_sensitive=False)


def events_option(*, required: bool, help: str) -> Callable[[F], F]:
    return click.option(
        "--event",
        "event_types",
        multiple=True,
        required=required,
        type=event_type_choice,
        metavar="TYPE",
        help=help,
    )


SECRET_HELP = "Key that signs each delivery, as MLflow signs its own."


@click.group()
def webhooks() -> None:
    """Webhooks: events POSTed to an HTTP endpoint (admins only)."""


@webhooks.command("create")
@click.argument("url")
@events_option(required=True, help="An event type to deliver. Repeatable.")
@click.option(
    "--secret", envvar="REGISTRY_WEBHOOK_SECRET", help=SECRET_HELP + " (REGISTRY_WEBHOOK_SECRET)"
)
@click.option("--name", default="")
@click.option("--description", default="")
@click.option("--disabled", is_flag=True, help="Create it switched off.")
@pass_options
def webhooks_create(
    options: Options,
    url: str,
    event_types: Sequence[str],
    secret: str | None,
    name: str,
    description: str,
    disabled: bool,
) -> None:
    """Deliver events of the given types to URL."""
    with options.client() as client:
        created = client.create_webhook(
            url,
            [event_type_value(t) for t in event_types],
            secret or "",
            enabled=not disabled,
            description=description,
            name=name,
        )
    show(options, webhook_json(created), webhook_details(created))


@webhooks.command("list")
@pass_options
def webhooks_list(options: Options) -> None:
    """List webhooks (never their secrets)."""
    with options.client() as client:
        found = client.list_webhooks()
    show(options, [webhook_json(w) for w in found], webhooks_table(found))


@webhooks.command("update")
@click.argument("webhook_id")
@click.option("--url")
@events_option(required=False, help="Replaces the event types. Repeatable.")
@click.option("--secret", help=SECRET_HELP)
@click.option("--enable/--disable", "enabled", default=None)
@click.option("--name")
@click.option("--description")
@pass_options
def webhooks_update(
    options: Options,
    webhook_id: str,
    url: str | None,
    event_types: Sequence[str],
    secret: str | None,
    enabled: bool | None,
    name: str | None,
    description: str | None,
) -> None:
    """Change the options given; the others keep their values."""
    with options.client() as client:
        updated = client.update_webhook(
            webhook_id,
            url=url,
            event_types=[event_type_value(t) for t in event_types] if event_types else None,
            secret=secret,
            enabled=enabled,
            description=description,
            name=name,
        )
    show(options, webhook_json(updated), webhook_details(updated))


@webhooks.command("delete")
@click.argument("webhook_id")
@pass_options
def webhooks_delete(options: Options, webhook_id: str) -> None:
    """Delete a webhook with its delivery log; pending deliveries are dropped."""
    with options.client() as client:
        client.delete_webhook(webhook_id)
    show(options, {"deleted": webhook_id}, f"deleted webhook {webhook_id}")


@webhooks.command("test")
@click.argument("webhook_id")
@click.option(
    "--event",
    "event_type",
    type=event_type_choice,
    help="Send an example of this event (default: the registry's own test body).",
)
@pass_options
def webhooks_test(options: Options, webhook_id: str, event_type: str | None) -> None:
    """POST one signed test delivery now and show the answer; exit code 1 if it failed."""
    with options.client() as client:
        answer = client.test_webhook(webhook_id, event_type_value(event_type) if event_type else 0)
    outcome = "delivered" if answer.success else "failed"
    status = f"HTTP {answer.response_code}" if answer.response_code else answer.error
    text = f"{outcome}: {status}"
    if answer.response_body:
        text += f"\n{answer.response_body}"
    data = {
        "success": answer.success,
        "response_code": answer.response_code,
        "error": answer.error,
        "response_body": answer.response_body,
    }
    show(options, data, text)
    if not answer.success:
        click.get_current_context().exit(1)


@webhooks.command("deliveries")
@click.argument("webhook_id", required=False, default="")
@click.option("--status", type=click.Choice(DELIVERY_STATUS_WORDS, case_sensitive=False))
@click.option("--max-results", type=click.IntRange(min=1), help="Stop after N.")
@pass_options
def webhooks_deliveries(
    options: Options, webhook_id: str, status: str | None, max_results: int | None
) -> None:
    """The delivery log, newest first: every webhook's, or WEBHOOK_ID's."""
    with options.client() as client:
        found = client.list_webhook_deliveries(
            webhook_id, delivery_status_value(status) if status else 0, max_results
        )
    show(options, [delivery_json(d) for d in found], deliveries_table(found))
