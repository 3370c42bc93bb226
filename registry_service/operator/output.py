"""What the CLI prints for people: aligned tables, field lists, import summaries.

Scripts use ``--json`` instead, whose shapes are ``records``'; nothing here is meant to be parsed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from modelregistry.v1.access_pb2 import AccessToken, RegisteredModelPermission
from modelregistry.v1.events_pb2 import Event
from modelregistry.v1.model_version_pb2 import ModelVersion
from modelregistry.v1.registered_model_pb2 import RegisteredModel
from modelregistry.v1.webhooks_pb2 import Webhook, WebhookDelivery

from registry_service.operator.records import (
    delivery_status_word,
    event_type_word,
    permission_word,
    status_word,
)
from registry_service.operator.transfer import Result, Summary

# Longest description shown in a table cell; `get` shows it whole.
CELL_WIDTH = 48


def millis_text(millis: int) -> str:
    if not millis:
        return ""
    moment = datetime.fromtimestamp(millis / 1000, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def counted(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, headed by ``headers``."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [list(headers), *rows]
    ]
    return "\n".join(lines)


def models_table(models: Sequence[RegisteredModel]) -> str:
    if not models:
        return "no registered models"
    rows = [
        [
            model.name,
            ", ".join(f"{v.version} ({v.current_stage})" for v in model.latest_versions),
            _pairs(model.aliases),
            millis_text(model.last_updated_timestamp),
            _cell(model.description),
        ]
        for model in models
    ]
    return table(["NAME", "LATEST VERSIONS", "ALIASES", "UPDATED", "DESCRIPTION"], rows)


def versions_table(versions: Sequence[ModelVersion]) -> str:
    if not versions:
        return "no model versions"
    rows = [
        [
            version.name,
            str(version.version),
            version.current_stage,
            ", ".join(version.aliases),
            millis_text(version.creation_timestamp),
            version.source,
        ]
        for version in versions
    ]
    return table(["NAME", "VERSION", "STAGE", "ALIASES", "CREATED", "SOURCE"], rows)


def model_details(model: RegisteredModel) -> str:
    latest = ", ".join(f"{v.version} ({v.current_stage})" for v in model.latest_versions)
    return _fields(
        [
            ("name", model.name),
            ("description", model.description),
            ("created", millis_text(model.creation_timestamp)),
            ("updated", millis_text(model.last_updated_timestamp)),
            ("user", model.user_id),
            ("latest versions", latest),
            ("aliases", _pairs(model.aliases)),
            ("tags", _pairs(model.tags)),
        ]
    )


def version_details(version: ModelVersion) -> str:
    status = status_word(version.status)
    if version.status_message:
        status += f" ({version.status_message})"
    return _fields(
        [
            ("name", version.name),
            ("version", str(version.version)),
            ("stage", version.current_stage),
            ("status", status),
            ("description", version.description),
            ("source", version.source),
            ("run id", version.run_id),
            ("run link", version.run_link),
            ("experiment id", version.experiment_id),
            ("created", millis_text(version.creation_timestamp)),
            ("updated", millis_text(version.last_updated_timestamp)),
            ("user", version.user_id),
            ("aliases", ", ".join(version.aliases)),
            ("tags", _pairs(version.tags)),
        ]
    )


def summary_text(summary: Summary) -> str:
    """The counts, then one line per model that was not simply copied."""
    copied = summary.count(Result.COPIED, Result.RENAMED)
    versions = sum(outcome.versions for outcome in summary.outcomes)
    lines = [
        f"copied {counted(copied, 'model')} with {counted(versions, 'version')}, skipped "
        f"{summary.count(Result.SKIPPED)}, failed {summary.count(Result.FAILED)}"
    ]
    for outcome in summary.outcomes:
        if outcome.result is Result.RENAMED:
            lines.append(f"  renamed  {outcome.name} -> {outcome.detail}")
        elif outcome.result is not Result.COPIED:
            lines.append(f"  {outcome.result.value:<8} {outcome.name}: {outcome.detail}")
    return "\n".join(lines)


def summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "copied": summary.count(Result.COPIED, Result.RENAMED),
        "skipped": summary.count(Result.SKIPPED),
        "failed": summary.count(Result.FAILED),
        "models": [
            {
                "name": outcome.name,
                "result": outcome.result.value,
                "detail": outcome.detail,
                "versions": outcome.versions,
            }
            for outcome in summary.outcomes
        ],
    }


def _fields(pairs: Sequence[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in pairs) + 1
    return "\n".join(f"{label + ':':<{width}} {value}".rstrip() for label, value in pairs)


def _pairs(mapping: Any) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(mapping.items()))


def _cell(text: str) -> str:
    """The first line, cut to the cell width; "…" marks anything left out."""
    lines = text.splitlines() or [""]
    if len(lines) == 1 and len(lines[0]) <= CELL_WIDTH:
        return lines[0]
    return lines[0][: CELL_WIDTH - 1] + "…"


def access_tokens_table(tokens: Sequence[AccessToken]) -> str:
    if not tokens:
        return "no access tokens"
    rows = [
        [
            str(token.id),
            token.user_id,
            "admin" if token.admin else "",
            millis_text(token.creation_timestamp),
            millis_text(token.revocation_timestamp) or "valid",
            millis_text(token.expiration_timestamp) or "never",
            millis_text(token.last_used_timestamp) or "never",
            _cell(token.description),
        ]
        for token in tokens
    ]
    headers = ["ID", "USER", "ADMIN", "CREATED", "REVOKED", "EXPIRES", "LAST USED", "DESCRIPTION"]
    return table(headers, rows)


def permissions_table(permissions: Sequence[RegisteredModelPermission]) -> str:
    if not permissions:
        return "no permissions granted"
    rows = [[p.user_id, permission_word(p)] for p in permissions]
    return table(["USER", "PERMISSION"], rows)


EVENT_HEADERS = ("SEQUENCE", "TIME", "TYPE", "MODEL", "VERSION", "ACTOR")


def _event_row(event: Event) -> list[str]:
    return [
        str(event.sequence),
        millis_text(event.timestamp),
        event_type_word(event.event_type),
        event.model_name,
        str(event.version or ""),
        event.actor,
    ]


def events_table(events: Sequence[Event]) -> str:
    if not events:
        return "no events"
    return table(EVENT_HEADERS, [_event_row(event) for event in events])


def event_line(event: Event) -> str:
    """One event of a watch, a line each as it arrives: no table to align them in."""
    return "  ".join(cell for cell in _event_row(event) if cell)


def webhooks_table(webhooks: Sequence[Webhook]) -> str:
    if not webhooks:
        return "no webhooks"
    rows = [
        [
            webhook.id,
            webhook.name,
            webhook.url,
            "yes" if webhook.enabled else "no",
            ", ".join(event_type_word(t) for t in webhook.event_types),
        ]
        for webhook in webhooks
    ]
    return table(["ID", "NAME", "URL", "ENABLED", "EVENTS"], rows)


def webhook_details(webhook: Webhook) -> str:
    return _fields(
        [
            ("id", webhook.id),
            ("name", webhook.name),
            ("url", webhook.url),
            ("events", ", ".join(event_type_word(t) for t in webhook.event_types)),
            ("enabled", "yes" if webhook.enabled else "no"),
            ("secret", "set" if webhook.has_secret else "none"),
            ("description", webhook.description),
            ("created", millis_text(webhook.creation_timestamp)),
            ("updated", millis_text(webhook.last_updated_timestamp)),
        ]
    )


def deliveries_table(deliveries: Sequence[WebhookDelivery]) -> str:
    if not deliveries:
        return "no deliveries"
    rows = [
        [
            delivery.id,
            delivery.webhook_id,
            str(delivery.event_sequence),
            event_type_word(delivery.event_type),
            delivery_status_word(delivery.status),
            str(len(delivery.attempts)),
            _last_answer(delivery),
            millis_text(delivery.creation_timestamp),
        ]
        for delivery in deliveries
    ]
    headers = ["ID", "WEBHOOK", "EVENT", "TYPE", "STATUS", "ATTEMPTS", "LAST ANSWER", "CREATED"]
    return table(headers, rows)


def _last_answer(delivery: WebhookDelivery) -> str:
    """The endpoint's last HTTP status, or why there was none (refused, timed out)."""
    if not delivery.attempts:
        return ""
    last = delivery.attempts[-1]
    return str(last.response_code) if last.response_code else _cell(last.error)
