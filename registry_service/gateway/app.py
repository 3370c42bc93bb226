"""The ASGI application: one route per google.api.http binding, each calling its RPC's service
method through the call pipeline (``endpoint``); WatchEvents as a stream of Server-Sent Events
or newline-delimited JSON (``watch``); and MLflow's webhook routes (``mlflow_webhooks``)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from google.protobuf.message import Message
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route

from registry_service.calls import CallPipeline
from registry_service.contract import SERVICE
from registry_service.errors import InvalidArgument
from registry_service.gateway.endpoint import Endpoints, Handler, HttpCall
from registry_service.gateway.errors import http_error_response
from registry_service.gateway.limits import parse_json
from registry_service.gateway.mlflow_json import request_from_json, request_from_query, to_json
from registry_service.gateway.mlflow_webhooks import webhook_routes
from registry_service.gateway.routes import HttpRoute, http_routes
from registry_service.gateway.ui_routes import ui_routes
from registry_service.gateway.watch import watch_handler
from registry_service.servicer import RegistryService


def build_app(
    service: RegistryService, pipeline: CallPipeline, executor: Executor, *, max_body: int
) -> Starlette:
    endpoints = Endpoints(pipeline, executor, max_body)
    routes = [
        Route(
            route.path,
            (
                endpoints.streaming(route.rpc, watch_handler(route, service.WatchEvents))
                if route.streaming
                else endpoints.unary(
                    route.rpc,
                    _rpc_handler(route, getattr(service, route.rpc)),
                    route.from_body,
                )
            ),
            methods=[route.http_method],
        )
        for route in http_routes(SERVICE)
    ]
    webhooks = [
        Route(
            route.path,
            endpoints.unary(route.rpc, route.handle, route.from_body),
            methods=[route.http_method],
        )
        for route in webhook_routes(service)
    ]
    return Starlette(
        routes=[*routes, *webhooks, *ui_routes()],
        exception_handlers={HTTPException: http_error_response},
    )


def _rpc_handler(route: HttpRoute, method: Callable[[Any], Message]) -> Handler:
    def handle(call: HttpCall) -> dict[str, Any]:
        message = request_message(route, call.query, call.body)
        with call.authorized(message):
            return to_json(method(message))

    return handle


def request_message(route: HttpRoute, query: list[tuple[str, str]], body: bytes) -> Message:
    """The request message of ``route`` from the query string, or the JSON body."""
    if not route.from_body:
        return request_from_query(route.request_type, query)
    data = parse_json(body)
    try:
        return request_from_json(route.request_type, data)
    except UnicodeEncodeError:
        # JSON can escape half a UTF-16 surrogate pair; protobuf strings must be valid Unicode.
        raise InvalidArgument(
            "the request body has a string that is not valid Unicode (a lone surrogate)"
        ) from None
