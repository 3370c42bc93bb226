"""The one place where errors become HTTP responses in MLflow's shape:
``{"error_code": <MLflow's word>, "message": ...}`` with MLflow's HTTP status for it.

A failure that repeats whatever the caller does is never a 5xx: the mlflow client retries 5xx
responses (and 429) up to seven times, which would repeat writes. Only UNAVAILABLE and its kin,
which a retry can cure, and internal errors get one.

Where MLflow's server fails the same call, the answer is MLflow's: its error code and its
message, since scripts match on words such as "not found" (docs/mlflow-compat.md lists the
rest). gRPC keeps the registry's own codes and messages.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass

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
    # nginx's "client closed request", as MLflow answers CANCELLED: nobody reads it, but the
    # access log and metrics do.
    grpc.StatusCode.CANCELLED: (499, "CANCELLED"),
    grpc.StatusCode.UNIMPLEMENTED: (501, "NOT_IMPLEMENTED"),
    grpc.StatusCode.UNAVAILABLE: (503, "TEMPORARILY_UNAVAILABLE"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "DEADLINE_EXCEEDED"),
}
_INTERNAL = (500, "INTERNAL_ERROR")

# A name or alias as the registry's messages quote it: a Python string literal.
_QUOTED = r"""(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_QUOTED_PATTERN = re.compile(_QUOTED, re.DOTALL)


@dataclass(frozen=True)
class _MlflowWording:
    """One of the registry's errors (its MLflow word and message) and MLflow's answer where it
    fails alike: MLflow's message, filled in from the named groups (unquoted), and MLflow's
    status and word where they differ."""

    word: str
    pattern: re.Pattern[str]
    message: str
    status_and_word: tuple[int, str] | None

    def answer(self, word: str, message: str) -> tuple[tuple[int, str] | None, str] | None:
        match = self.pattern.fullmatch(message) if word == self.word else None
        if match is None:
            return None
        values = {
            key: ast.literal_eval(value) if _QUOTED_PATTERN.fullmatch(value) else value
            for key, value in match.groupdict().items()
        }
        return self.status_and_word, self.message.format(**values)


def _wording(
    word: str, pattern: str, message: str, status_and_word: tuple[int, str] | None = None
) -> _MlflowWording:
    compiled = re.compile(pattern.format(quoted=_QUOTED), re.DOTALL)
    return _MlflowWording(word, compiled, message, status_and_word)


_MISSING = (
    "Missing value for required parameter '{field}'. See the API docs for more information "
    "about request parameters."
)
_MLFLOW_WORDINGS = (
    _wording(
        "RESOURCE_DOES_NOT_EXIST",
        r"registered model (?P<name>{quoted}) does not exist",
        "Registered Model with name={name} not found",
    ),
    _wording(
        "RESOURCE_DOES_NOT_EXIST",
        r"model version (?P<version>\d+) of (?P<name>{quoted}) does not exist",
        "Model Version (name={name}, version={version}) not found",
    ),
    _wording(
        "RESOURCE_ALREADY_EXISTS",
        r"registered model (?P<name>{quoted}) already exists",
        "Registered Model (name={name}) already exists.",
    ),
    # MLflow reads a version number as a mere key: one that no version can have does not exist.
    _wording(
        "INVALID_PARAMETER_VALUE",
        r"version must be between 1 and \d+, got (?P<version>-?\d+)",
        "Model Version (version={version}) not found",
        (404, "RESOURCE_DOES_NOT_EXIST"),
    ),
    # MLflow answers a missing alias as a bad argument (400), and scripts written against it
    # match on that; over gRPC it stays the missing resource it is (NOT_FOUND).
    _wording(
        "RESOURCE_DOES_NOT_EXIST",
        r"registered model {quoted} has no alias (?P<alias>{quoted})",
        "Registered model alias {alias} not found.",
        (400, "INVALID_PARAMETER_VALUE"),
    ),
    _wording(
        "RESOURCE_DOES_NOT_EXIST",
        r"registered model (?P<name>{quoted}) has no versions",
        "Latest version not found for model {name}.",
    ),
    _wording(
        "INVALID_PARAMETER_VALUE",
        r"(?P<field>name|new_name|source|key|alias) must not be empty",
        _MISSING,
    ),
    _wording("INVALID_PARAMETER_VALUE", r"(?P<field>version) has an invalid value: ''", _MISSING),
    _wording(
        "INVALID_PARAMETER_VALUE",
        r"version has an invalid value: (?P<value>{quoted})",
        "Parameter 'version' must be an integer, got '{value}'.",
    ),
    _wording(
        "INVALID_PARAMETER_VALUE",
        r"stages? (?P<stage>{quoted}) is not a stage; expected one of .*",
        "Invalid Model Version stage: {stage}. Value must be one of None, Staging, Production, "
        "Archived.",
    ),
    # Where MLflow refuses a filter or an order for another reason than the registry, the
    # registry's reason says more (the position at fault); MLflow's lead-in keeps it recognizable.
    _wording(
        "INVALID_PARAMETER_VALUE", r"filter: (?P<detail>.*)", "Invalid filter string: {detail}"
    ),
    _wording("INVALID_PARAMETER_VALUE", r"order_by (?P<detail>.*)", "Invalid order_by: {detail}"),
    _wording(
        "INVALID_PARAMETER_VALUE",
        r"page_size must not be negative, got (?P<size>-\d+)",
        "Invalid value for max_results. It must not be negative, but got {size}",
    ),
)


def error_response(error: RegistryError) -> JSONResponse:
    code = error.code or status_code_of(error)
    status, fallback_word = _HTTP_OF_CODE.get(code, _INTERNAL)
    # A status rebuilt without an ErrorInfo detail has only its gRPC code name as reason.
    word = fallback_word if error.reason == code.name else error.reason
    message = error.message
    for wording in _MLFLOW_WORDINGS:
        answer = wording.answer(word, message)
        if answer is not None:
            status_and_word, message = answer
            status, word = status_and_word or (status, word)
            break
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
