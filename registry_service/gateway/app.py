"""The ASGI application: one route per google.api.http binding, each calling its RPC's servicer
method on a bounded thread pool, since the servicer blocks on the database; and MLflow's webhook
routes (mlflow_webhooks.py), which call the webhook RPCs the same way."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any

from google.protobuf.message import Message
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from registry_service.auth import AUTHORIZATION, Access
from registry_service.contract import SERVICE
from registry_service.errors import InvalidArgument, RegistryError
from registry_service.gateway.context import Handler, HttpCall, call_servicer
from registry_service.gateway.errors import error_response, http_error_response
from registry_service.gateway.limits import Refusal, parse_json, read_body
from registry_service.gateway.mlflow_json import request_from_json, request_from_query, to_json
from registry_service.gateway.mlflow_webhooks import webhook_routes
from registry_service.gateway.routes import HttpRoute, http_routes
from registry_service.gateway.ui_routes import ui_routes
from registry_service.servicer import ModelRegistryServicer


def build_app(
    servicer: ModelRegistryServicer, access: Access, executor: Executor, *, max_body: int
) -> Starlette:
    routes = [
        Route(
            route.path,
            _endpoint(
                _rpc_handler(route, getattr(servicer, route.rpc), access),
                route.from_body,
                access,
                executor,
                max_body,
            ),
            methods=[route.http_method],
        )
        for route in http_routes(SERVICE)
    ]
    webhooks = [
        Route(
            route.path,
            _endpoint(route.handle, route.from_body, access, executor, max_body),
            methods=[route.http_method],
        )
        for route in webhook_routes(servicer, access)
    ]
    return Starlette(
        routes=[*routes, *webhooks, *ui_routes()],
        exception_handlers={HTTPException: http_error_response},
    )


def _rpc_handler(
    route: HttpRoute, method: Callable[[Any, Any], Message], access: Access
) -> Handler:
    def handle(call: HttpCall) -> dict[str, Any]:
        message = _request_message(route, call.query, call.body)
        with access.serving(route.rpc, message, call.caller):
            return to_json(call_servicer(method, message, call.peer))

    return handle


def _endpoint(
    handle: Handler, from_body: bool, access: Access, executor: Executor, max_body: int
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        # The mlflow client sends MLFLOW_TRACKING_TOKEN as "Authorization: Bearer <token>".
        metadata = tuple((AUTHORIZATION, value) for value in request.headers.getlist(AUTHORIZATION))
        loop = asyncio.get_running_loop()
        try:
            # The same checks as a gRPC call's, in the same order: the caller is authenticated
            # (off the event loop: a token is looked up in the database) before its request is
            # even read, so that no one unknown makes the server receive a body. HTTP has no
            # client certificate to offer.
            caller = await loop.run_in_executor(executor, access.caller, metadata, dict)
            body = await read_body(request, max_body) if from_body else b""
            call = HttpCall(
                caller,
                request.path_params,
                request.query_params.multi_items(),
                body,
                _peer(request),
            )
            answer = await loop.run_in_executor(executor, handle, call)
        except RegistryError as error:
            return error_response(error)
        except Refusal as refusal:
            return refusal.response()
        return JSONResponse(answer)

    return endpoint


def _request_message(route: HttpRoute, query: list[tuple[str, str]], body: bytes) -> Message:
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


def _peer(request: Request) -> str:
    # gRPC's spelling of a peer, so the servicer sees the same kind of string on both paths.
    if request.client is None:
        return "unknown"
    host, port = request.client
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"
