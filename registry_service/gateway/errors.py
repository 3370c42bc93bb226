"""The one place where errors become HTTP responses in MLflow's shape:
``{"error_code": <MLflow's word>, "message": ...}`` with MLflow's HTTP status for it.

A failure that repeats whatever the caller does is never a 5xx: the mlflow client retries 5xx
responses (and 429) up to seven times, which would repeat writes. Only UNAVAILABLE and its kin,
which a retry can cure, and internal errors get one.

Where MLflow's server fails the same call, the answer is MLflow's: its error code and its
message, since scripts match on words such as "not found" (docs/mlflow-compat.md lists the
rest). It is rendered from the error's fields (errors.py), never read out of the registry's
message. gRPC keeps the registry's own codes and messages.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from registry_service.errors import (
    AlreadyExists,
    Flaw,
    InvalidArgument,
    NotFound,
    RegistryError,
    Resource,
)
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
    # nginx's "client closed request", as MLflow answers CANCELLED: nobody reads it, but the
    # access log and metrics do.
    grpc.StatusCode.CANCELLED: (499, "CANCELLED"),
    grpc.StatusCode.UNIMPLEMENTED: (501, "NOT_IMPLEMENTED"),
    grpc.StatusCode.UNAVAILABLE: (503, "TEMPORARILY_UNAVAILABLE"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "DEADLINE_EXCEEDED"),
}
_INTERNAL = (500, "INTERNAL_ERROR")

_MISSING = (
    "Missing value for required parameter '{field}'. See the API docs for more information "
    "about request parameters."
)
# The fields MLflow names as missing when they are empty.
_REQUIRED_FIELDS = frozenset({"name", "new_name", "source", "key", "alias", "version"})
_STAGE_FIELDS = frozenset({"stage", "stages"})


def _mlflow_wording(error: RegistryError) -> tuple[tuple[int, str] | None, str] | None:
    """MLflow's answer where it fails the call alike, rendered from the error's fields: its
    message, and its status and word where they differ from the registry's."""
    subject, flaw, field = error.subject, error.flaw, error.field
    if isinstance(error, NotFound) and subject is not None:
        match subject.resource:
            case Resource.REGISTERED_MODEL:
                return None, f"Registered Model with name={subject.name} not found"
            case Resource.MODEL_VERSION:
                return None, (
                    f"Model Version (name={subject.name}, version={subject.version}) not found"
                )
            # MLflow answers a missing alias as a bad argument (400), and scripts written against
            # it match on that; over gRPC it stays the missing resource it is (NOT_FOUND).
            case Resource.ALIAS:
                return (400, "INVALID_PARAMETER_VALUE"), (
                    f"Registered model alias {subject.alias} not found."
                )
            case Resource.LATEST_VERSION:
                return None, f"Latest version not found for model {subject.name}."
    if (
        isinstance(error, AlreadyExists)
        and subject is not None
        and subject.resource is Resource.REGISTERED_MODEL
    ):
        return None, f"Registered Model (name={subject.name}) already exists."
    if not isinstance(error, InvalidArgument):
        return None
    if flaw is Flaw.EMPTY and field in _REQUIRED_FIELDS:
        return None, _MISSING.format(field=field)
    if field == "version" and flaw is Flaw.WRONG_TYPE and error.value is not None:
        return None, f"Parameter 'version' must be an integer, got '{error.value}'."
    # MLflow reads a version number as a mere key: one that no version can have does not exist.
    if field == "version" and flaw is Flaw.OUT_OF_RANGE:
        return (404, "RESOURCE_DOES_NOT_EXIST"), f"Model Version (version={error.value}) not found"
    if field in _STAGE_FIELDS and flaw is Flaw.UNKNOWN_STAGE:
        return None, (
            f"Invalid Model Version stage: {error.value}. Value must be one of None, Staging, "
            "Production, Archived."
        )
    # Where MLflow refuses a filter or an order for another reason than the registry, the
    # registry's detail says more (the position at fault); MLflow's lead-in keeps it recognizable.
    if field == "filter" and flaw is Flaw.MALFORMED:
        return None, f"Invalid filter string: {error.detail}"
    if field == "order_by" and flaw is Flaw.MALFORMED:
        return None, f"Invalid order_by: {error.detail}"
    if field == "page_size" and flaw is Flaw.NEGATIVE:
        return None, (
            f"Invalid value for max_results. It must not be negative, but got {error.value}"
        )
    return None


def error_response(error: RegistryError) -> JSONResponse:
    code = error.code or status_code_of(error)
    status, fallback_word = _HTTP_OF_CODE.get(code, _INTERNAL)
    # A status rebuilt without an ErrorInfo detail has only its gRPC code name as reason.
    word = fallback_word if error.reason == code.name else error.reason
    message = error.message
    answer = _mlflow_wording(error)
    if answer is not None:
        status_and_word, message = answer
        status, word = status_and_word or (status, word)
    return _mlflow_error(status, word, message)


async def http_error_response(_request: Request, exc: Exception) -> Response:
    """Unknown paths and methods, in the same shape as every other error."""
    assert isinstance(exc, HTTPException)
    word = "ENDPOINT_NOT_FOUND" if exc.status_code == 404 else "BAD_REQUEST"
    return _mlflow_error(exc.status_code, word, exc.detail, exc.headers)


def _mlflow_error(
    status: int, error_code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error_code": error_code, "message": message}, status, headers)
