"""The one place where errors become HTTP responses in MLflow's shape:
``{"error_code": <MLflow's word>, "message": ...}`` with MLflow's HTTP status for it.

A failure that repeats whatever the caller does is never a 5xx: the mlflow client retries 5xx
responses (and 429) up to seven times, which would repeat writes. Only UNAVAILABLE and its kin,
which a retry can cure, and internal errors get one.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from registry_service.errors import RegistryError
from registry_service.grpc_errors import status_code_of

# gRPC code -> HTTP status, and MLflow's error word for a status that carries no ErrorInfo.
_HTTP_OF_CODE: dict[grpc.StatusCode, tuple[int, str]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "INVALID_PARAMETER_VALUE"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "INVALID_PARAMETER_VALUE"),
    grpc.StatusCode.ALREADY_EXISTS: (400, "RESOURCE_ALREADY_EXISTS"),
    grpc.StatusCode.FAILED_PRECONDITION: (400, "INVALID_STATE"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "UNAUTHENTICATED"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "PERMISSION_DENIED"),
    grpc.StatusCode.NOT_FOUND: (404, "RESOURCE_DOES_NOT_EXIST"),
    grpc.StatusCode.ABORTED: (409, "ABORTED"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "RESOURCE_EXHAUSTED"),
    grpc.StatusCode.UNIMPLEMENTED: (501, "NOT_IMPLEMENTED"),
    grpc.StatusCode.UNAVAILABLE: (503, "TEMPORARILY_UNAVAILABLE"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "DEADLINE_EXCEEDED"),
}
_INTERNAL = (500, "INTERNAL_ERROR")


def error_response(error: RegistryError) -> JSONResponse:
    code = error.code or status_code_of(error)
    status, fallback_word = _HTTP_OF_CODE.get(code, _INTERNAL)
    # A status rebuilt without an ErrorInfo detail has only its gRPC code name as reason.
    word = fallback_word if error.reason == code.name else error.reason
    return _mlflow_error(status, word, error.message)


async def http_error_response(_request: Request, exc: Exception) -> Response:
    """Unknown paths and methods, in the same shape as every other error."""
    assert isinstance(exc, HTTPException)
    word = "ENDPOINT_NOT_FOUND" if exc.status_code == 404 else "BAD_REQUEST"
    return _mlflow_error(exc.status_code, word, exc.detail, exc.headers)


def _mlflow_error(
    status: int, error_code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error_code": error_code, "message": message}, status, headers)
