"""The ASGI application: one route per google.api.http binding, each calling its RPC's servicer
method on a bounded thread pool, since the servicer blocks on the database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any

from google.protobuf.message import Message
from modelregistry.v1 import registry_service_pb2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from registry_service.auth import AUTHORIZATION, Access
from registry_service.errors import InvalidArgument, RegistryError
from registry_service.gateway.context import Metadata, call_servicer
from registry_service.gateway.errors import error_response, http_error_response
from registry_service.gateway.mlflow_json import request_from_json, request_from_query, to_json
from registry_service.gateway.routes import HttpRoute, http_routes
from registry_service.gateway.ui_routes import ui_routes
from registry_service.servicer import ModelRegistryServicer

SERVICE = registry_service_pb2.DESCRIPTOR.services_by_name["ModelRegistryService"]


def build_app(servicer: ModelRegistryServicer, access: Access, executor: Executor) -> Starlette:
    routes = [
        Route(
            route.path,
            _endpoint(route, getattr(servicer, route.rpc), access, executor),
            methods=[route.http_method],
        )
        for route in http_routes(SERVICE)
    ]
    return Starlette(
        routes=[*routes, *ui_routes()], exception_handlers={HTTPException: http_error_response}
    )


def _endpoint(
    route: HttpRoute, method: Callable[[Any, Any], Message], access: Access, executor: Executor
) -> Callable[[Request], Awaitable[Response]]:
    def call(query: list[tuple[str, str]], body: bytes, metadata: Metadata, peer: str) -> Message:
        # The same checks as a gRPC call's, in the same order: the caller is authenticated
        # before its request is even read. HTTP has no client certificate to offer.
        caller = access.caller(metadata, dict)
        message = _request_message(route, query, body)
        with access.serving(route.rpc, message, caller):
            return call_servicer(method, message, peer)

    async def endpoint(request: Request) -> Response:
        # The mlflow client sends MLFLOW_TRACKING_TOKEN as "Authorization: Bearer <token>".
        metadata = tuple((AUTHORIZATION, value) for value in request.headers.getlist(AUTHORIZATION))
        body = await request.body() if route.from_body else b""
        try:
            response = await asyncio.get_running_loop().run_in_executor(
                executor, call, request.query_params.multi_items(), body, metadata, _peer(request)
            )
        except RegistryError as error:
            return error_response(error)
        return JSONResponse(to_json(response))

    return endpoint


def _request_message(route: HttpRoute, query: list[tuple[str, str]], body: bytes) -> Message:
    if not route.from_body:
        return request_from_query(route.request_type, query)
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError as error:
        raise InvalidArgument(f"the request body is not valid JSON: {error}") from None
    return request_from_json(route.request_type, data)


def _peer(request: Request) -> str:
    # gRPC's spelling of a peer, so the servicer sees the same kind of string on both paths.
    if request.client is None:
        return "unknown"
    host, port = request.client
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"
