"""MLflow 3's webhook REST API, served on the registry's webhooks.

MLflow's routes (``/api/2.0/mlflow/webhooks``, ``.../{webhook_id}``, ``.../{webhook_id}/test``)
carry the id in the path and fields the contract names otherwise, so they are not google.api.http
bindings of the webhook RPCs: each handler here reads MLflow's request, calls the webhook RPCs
through the service as every gateway route does (so the admin-only rule applies as over gRPC),
and answers in MLflow's JSON. The translation:

- an event is ``{"entity": "MODEL_VERSION", "action": "CREATED"}`` (the enum names MLflow's client
  sends; lower case is taken too), which is the event type ``model_version.created``: the
  registry's event types are named after MLflow's events. MLflow's six model registry events map
  one to one; its prompt and budget policy events have no counterpart here and are refused;
- ``status`` ACTIVE/DISABLED is ``enabled``; ``name`` is the webhook's name;
- lists are newest first, as MLflow's, in pages of ``max_results`` (1 to 1000, 100 by default).

A webhook also subscribed to events MLflow has no name for (made over gRPC) is shown with the
events MLflow can name; one with none of them is left out of lists, because the mlflow client
refuses a webhook without events and would fail the whole list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import field_mask_pb2
from modelregistry.v1 import webhooks_pb2

from registry_service.domain import EventType
from registry_service.errors import InvalidArgument, NotFound, RegistryError
from registry_service.gateway.endpoint import Handler, HttpCall
from registry_service.gateway.limits import parse_json
from registry_service.mlflow_events import (
    MLFLOW_EVENT_TYPES,
    UNDELIVERABLE_EVENTS,
    mlflow_visible_events,
)
from registry_service.proto_mapping import event_type_message, event_types_of
from registry_service.search import page_tokens
from registry_service.servicer import RegistryService

PATH = "/api/2.0/mlflow/webhooks"

_STATUSES = {"ACTIVE": True, "DISABLED": False}
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# Ties page tokens to this listing, so that a token of another search is refused.
_TOKEN_FINGERPRINT = page_tokens.fingerprint("mlflow webhooks", "creation_timestamp DESC, id DESC")

Request = TypeVar("Request")
Response = TypeVar("Response")


@dataclass(frozen=True)
class WebhookRoute:
    """One of MLflow's webhook routes and its handler."""

    http_method: str
    path: str
    # The RPC the route stands for in metrics and the access log (and whose access rule it
    # passes first: every webhook RPC is for admins).
    rpc: str
    # Whether the handler reads a JSON body; the others read the query string.
    from_body: bool
    handle: Handler


def webhook_routes(service: RegistryService) -> list[WebhookRoute]:
    api = _WebhookApi(service)
    one = PATH + "/{webhook_id}"
    return [
        WebhookRoute("POST", PATH, "CreateWebhook", True, api.create_webhook),
        WebhookRoute("GET", PATH, "ListWebhooks", False, api.list_webhooks),
        WebhookRoute("GET", one, "ListWebhooks", False, api.get_webhook),
        WebhookRoute("PATCH", one, "UpdateWebhook", True, api.update_webhook),
        WebhookRoute("DELETE", one, "DeleteWebhook", False, api.delete_webhook),
        WebhookRoute("POST", one + "/test", "TestWebhook", True, api.test_webhook),
    ]


class _WebhookApi:
    def __init__(self, service: RegistryService) -> None:
        self._service = service

    def create_webhook(self, call: HttpCall) -> dict[str, Any]:
        data = _object(parse_json(call.body))
        status = _string(data, "status")
        request = webhooks_pb2.CreateWebhookRequest(
            name=_required(data, "name"),
            url=_required(data, "url"),
            event_types=[event_type_message(t) for t in _events(data.get("events"), "events")],
            secret=_string(data, "secret") or "",
            enabled=_enabled(status) if status is not None else True,
            description=_string(data, "description") or "",
        )
        created = self._serve(call, "CreateWebhook", self._service.CreateWebhook, request)
        return {"webhook": _webhook_json(created.webhook)}

    def list_webhooks(self, call: HttpCall) -> dict[str, Any]:
        query = dict(call.query)
        size = _page_size(query.get("max_results", ""))
        listed = [w for w in self._webhooks(call) if mlflow_visible_events(w)]
        token = query.get("page_token", "")
        if token:
            timestamp, last_id = page_tokens.decode(token, _TOKEN_FINGERPRINT, [True, False])
            after = (int(timestamp), str(last_id))
            listed = [w for w in listed if (w.creation_timestamp, w.id) < after]
        page = listed[:size]
        answer: dict[str, Any] = {}
        # MLflow leaves out an empty list, as every unset field.
        if page:
            answer["webhooks"] = [_webhook_json(w) for w in page]
        if len(listed) > size:
            last = page[-1]
            answer["next_page_token"] = page_tokens.encode(
                [last.creation_timestamp, last.id], _TOKEN_FINGERPRINT
            )
        return answer

    def get_webhook(self, call: HttpCall) -> dict[str, Any]:
        return {"webhook": _webhook_json(self._find(call))}

    def update_webhook(self, call: HttpCall) -> dict[str, Any]:
        data = _object(parse_json(call.body))
        request = webhooks_pb2.UpdateWebhookRequest(id=call.path_params["webhook_id"])
        # MLflow's server changes what the request gives: an empty name, url or event list
        # counts as not given; an empty description or secret clears it.
        paths: list[str] = []
        for field in ("name", "url"):
            value = _string(data, field)
            if value:
                setattr(request, field, value)
                paths.append(field)
        if data.get("events"):
            event_types = _events(data["events"], "events")
            request.event_types.extend(event_type_message(t) for t in event_types)
            paths.append("event_types")
        for field in ("description", "secret"):
            value = _string(data, field)
            if value is not None:
                setattr(request, field, value)
                paths.append(field)
        status = _string(data, "status")
        if status is not None:
            request.enabled = _enabled(status)
            paths.append("enabled")
        if not paths:
            # An empty update_mask would change every field; a request naming none changes none.
            return self.get_webhook(call)
        request.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=paths))
        updated = self._serve(call, "UpdateWebhook", self._service.UpdateWebhook, request)
        return {"webhook": _webhook_json(updated.webhook)}

    def delete_webhook(self, call: HttpCall) -> dict[str, Any]:
        request = webhooks_pb2.DeleteWebhookRequest(id=call.path_params["webhook_id"])
        self._serve(call, "DeleteWebhook", self._service.DeleteWebhook, request)
        return {}

    def test_webhook(self, call: HttpCall) -> dict[str, Any]:
        data = _object(parse_json(call.body))
        if data.get("event") is not None:
            [event_type] = _events([data["event"]], "event")
        else:
            # MLflow tests a webhook with its first event.
            event_type = event_types_of(self._find(call).event_types)[0]
        request = webhooks_pb2.TestWebhookRequest(
            id=call.path_params["webhook_id"], event_type=event_type_message(event_type)
        )
        tested = self._serve(call, "TestWebhook", self._service.TestWebhook, request)
        result: dict[str, Any] = {"success": tested.success}
        # MLflow leaves out what a test did not get: no answer, an empty body, no error.
        for key, value in (
            ("response_status", tested.response_code),
            ("response_body", tested.response_body),
            ("error_message", tested.error),
        ):
            if value:
                result[key] = value
        return {"result": result}

    def _webhooks(self, call: HttpCall) -> list[webhooks_pb2.Webhook]:
        """Every webhook, newest first."""
        listed = self._serve(
            call, "ListWebhooks", self._service.ListWebhooks, webhooks_pb2.ListWebhooksRequest()
        )
        return sorted(listed.webhooks, key=lambda w: (w.creation_timestamp, w.id), reverse=True)

    def _find(self, call: HttpCall) -> webhooks_pb2.Webhook:
        webhook_id = call.path_params["webhook_id"]
        for webhook in self._webhooks(call):
            if webhook.id == webhook_id:
                return webhook
        raise _not_found(webhook_id)

    def _serve(
        self,
        call: HttpCall,
        rpc: str,
        method: Callable[[Request], Response],
        request: Request,
    ) -> Response:
        """``method``'s answer to ``request``, called as ``call``'s caller once the access rules
        of ``rpc`` allow it, as app.py calls every RPC."""
        try:
            with call.authorized(request, rpc):
                return method(request)
        except RegistryError as error:
            # An id the store refuses or cannot find names no webhook: MLflow's not-found.
            if error.field == "id" and "webhook_id" in call.path_params:
                raise _not_found(call.path_params["webhook_id"]) from None
            raise


def _webhook_json(webhook: webhooks_pb2.Webhook) -> dict[str, Any]:
    answer = {
        "webhook_id": webhook.id,
        "name": webhook.name,
        "description": webhook.description,
        "url": webhook.url,
        "events": [
            {"entity": entity.upper(), "action": action.upper()}
            for entity, _, action in (
                event_type.value.partition(".") for event_type in mlflow_visible_events(webhook)
            )
        ],
        "status": "ACTIVE" if webhook.enabled else "DISABLED",
        "creation_timestamp": webhook.creation_timestamp,
        "last_updated_timestamp": webhook.last_updated_timestamp,
    }
    # MLflow leaves out a webhook's unset name and description.
    return {key: value for key, value in answer.items() if value != ""}


def _events(value: Any, field: str) -> list[EventType]:
    """The event types that MLflow's events name: a non-empty list of {entity, action}."""
    if not isinstance(value, list) or not value:
        raise _missing(field)
    found: list[EventType] = []
    for item in value:
        if not isinstance(item, dict):
            raise InvalidArgument(
                f"{field} must hold objects with an entity and an action, got {item!r:.200}",
                field=field,
            )
        entity, action = (_string(item, key) or "" for key in ("entity", "action"))
        name = f"{entity.lower()}.{action.lower()}"
        if name in UNDELIVERABLE_EVENTS:
            raise InvalidArgument(
                f"this model registry cannot deliver {name} webhooks: it has no prompts or "
                "budget policies",
                field=field,
            )
        if name not in MLFLOW_EVENT_TYPES:
            known = ", ".join(t.value for t in MLFLOW_EVENT_TYPES)
            raise InvalidArgument(
                f"{name[:200]!r} is not an MLflow webhook event this registry delivers; "
                f"expected one of {known}",
                field=field,
            )
        found.append(EventType(name))
    return found


def _enabled(status: str) -> bool:
    enabled = _STATUSES.get(status.upper())
    if enabled is None:
        raise InvalidArgument(
            f"status must be ACTIVE or DISABLED, got {status[:200]!r}", field="status"
        )
    return enabled


def _page_size(value: str) -> int:
    try:
        # MLflow's server reads 0, like no value, as its default.
        size = int(value or 0) or DEFAULT_PAGE_SIZE
    except ValueError:
        raise InvalidArgument(
            f"max_results must be an integer, got {value[:200]!r}", field="max_results"
        ) from None
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidArgument(
            f"max_results must be between 1 and {MAX_PAGE_SIZE}.", field="max_results"
        )
    return size


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidArgument("the request body must be a JSON object")
    return data


def _required(data: Mapping[str, Any], field: str) -> str:
    value = _string(data, field)
    if not value:
        raise _missing(field)
    return value


def _string(data: Mapping[str, Any], field: str) -> str | None:
    """A string field of a request; None when absent or null."""
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"{field} must be a string, got {value!r:.200}", field=field)
    try:
        value.encode()
    except UnicodeEncodeError:
        # JSON can escape half a UTF-16 surrogate pair; protobuf strings must be valid Unicode.
        raise InvalidArgument(
            f"{field} is not valid Unicode (it has a lone surrogate)", field=field
        ) from None
    return value


def _missing(field: str) -> InvalidArgument:
    # MLflow's words for a required field that is absent or empty.
    return InvalidArgument(
        f"Missing value for required parameter '{field}'. See the API docs for more information "
        "about request parameters.",
        field=field,
    )


def _not_found(webhook_id: str) -> NotFound:
    # MLflow's words, so that scripts matching them work here too.
    return NotFound(f"Webhook with ID {webhook_id[:200]} not found.", field="webhook_id")
