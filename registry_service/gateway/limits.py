"""Limits on what an HTTP request may make the server hold: its body's size and its JSON's depth.

Both hold before any work is done for the request: a body over ``--max-http-body`` is refused as
soon as its declared length or the bytes read so far exceed the limit, so the server never holds
more of it; JSON's nesting is measured, without recursion, before the parser (which recurses once
per level) sees it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from registry_service.config import described
from registry_service.errors import Cancelled, InvalidArgument, RegistryError, ResourceExhausted
from registry_service.gateway.errors import error_response

# Far deeper than any request of the API nests (three levels), far shallower than the recursion
# limit that parsing would otherwise hit.
MAX_JSON_DEPTH = 64

# A JSON string, escapes included; possessive, so that no input makes it backtrack.
_JSON_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_OPENERS = frozenset(b"[{")


class Refusal(Exception):
    """A request the HTTP layer answers itself, with HTTP's status for what went wrong and the
    error in MLflow's JSON, like every other error."""

    def __init__(self, status: int, error: RegistryError) -> None:
        super().__init__(error.message)
        self.status = status
        self.error = error

    def response(self) -> JSONResponse:
        response = error_response(self.error)
        # The error's own status can be one the mlflow client retries (429 for
        # RESOURCE_EXHAUSTED): a request that is too large or too slow would only fail again.
        response.status_code = self.status
        return response


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body; Refusal (413) once it is known to be longer than ``limit`` bytes,
    having read no more of it than that."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    try:
        async for chunk in request.stream():
            if len(body) + len(chunk) > limit:
                raise _too_large(limit)
            body += chunk
    except ClientDisconnect:
        # Gone, or cut off by --http-read-timeout, which answered it: no one reads this answer.
        # 499 is MLflow's status for CANCELLED.
        raise Refusal(499, Cancelled("the client went away before its request arrived")) from None
    return bytes(body)


def _too_large(limit: int) -> Refusal:
    return Refusal(
        413,
        ResourceExhausted(
            f"the request body is larger than {limit} bytes, the limit set by "
            f"{described('max_http_body')}"
        ),
    )


def parse_json(body: bytes) -> Any:
    """The JSON value of a request body, ``{}`` for an empty one; InvalidArgument when it is not
    UTF-8 JSON or nests deeper than MAX_JSON_DEPTH."""
    try:
        # UTF-8 only (RFC 8259), as the depth check reads the bytes as UTF-8.
        text = body.decode()
        check_json_depth(body)
        return json.loads(text) if text.strip() else {}
    except ValueError as error:
        raise InvalidArgument(f"the request body is not valid JSON: {error}") from None


def check_json_depth(body: bytes) -> None:
    """InvalidArgument when ``body``, read as JSON, nests arrays and objects deeper than
    MAX_JSON_DEPTH: parsing it would recurse once per level."""
    # Brackets inside strings only add to the count: a body with few is shallow whatever it is.
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = 0
    for bracket in brackets:
        if bracket in _OPENERS:
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise InvalidArgument(
                    f"the request body nests JSON deeper than {MAX_JSON_DEPTH} levels"
                )
        else:
            depth -= 1
