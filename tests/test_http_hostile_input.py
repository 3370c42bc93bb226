"""Malformed and malicious HTTP requests to every route of a real gateway, on both backends:
every deterministic error is a 4xx (never a 5xx, which the mlflow client would retry), a refused
call changes nothing, and the server stays up. Requests are generated (hypothesis): bad JSON,
JSON of the wrong types, bodies over the limit, unknown paths, methods a route does not take,
query strings with unknown, repeated and undecodable keys and values. tests/test_hostile_input.py
does the same over gRPC."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import given
from hypothesis import strategies as st

from registry_service.config import Settings
from registry_service.gateway.app import SERVICE
from registry_service.gateway.mlflow_webhooks import PATH as MLFLOW_WEBHOOKS
from registry_service.gateway.routes import http_routes
from registry_service.server import RunningServer, start
from registry_service.store.registry_store import RegistryStore

from .test_hostile_input import database_snapshot, generated

EXAMPLES_PER_BACKEND = 1500
# Small, so that bodies over it are cheap to send.
MAX_BODY = 2048
METHODS = ("GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS", "TRACE", "FOO")

# Every route, its request fields by name; a WatchEvents stream answered 200 never ends, so it
# is sent only requests the gateway refuses before streaming (see ``_watch``).
ROUTES: list[tuple[str, str, dict[str, FieldDescriptor]]] = [
    (route.http_method, route.path, dict(route.request_type.DESCRIPTOR.fields_by_name))
    for route in http_routes(SERVICE)
]
MLFLOW_ROUTES = [
    ("POST", MLFLOW_WEBHOOKS),
    ("GET", MLFLOW_WEBHOOKS),
    ("GET", MLFLOW_WEBHOOKS + "/{id}"),
    ("PATCH", MLFLOW_WEBHOOKS + "/{id}"),
    ("DELETE", MLFLOW_WEBHOOKS + "/{id}"),
    ("POST", MLFLOW_WEBHOOKS + "/{id}/test"),
]
WATCH = next(path for method, path, _ in ROUTES if path.endswith("/events/watch"))


@pytest.fixture
def gateway(store: RegistryStore) -> Iterator[tuple[RunningServer, httpx.Client]]:
    running = start(
        Settings(port=0, http_port=0, webhooks=False, max_http_body=MAX_BODY), store=store
    )
    assert running.http is not None
    with httpx.Client(base_url=f"http://127.0.0.1:{running.http.port}", timeout=30) as client:
        yield running, client
    running.stop(None)


TEXT = st.text(max_size=40) | st.sampled_from(["", "0", "-1", "1e400", "null", "%00", "\u0000"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


def _typed(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    """Values of ``field``'s own type, hostile within it: what gets past the JSON reading to
    the service."""
    if field.message_type is not None:
        one: st.SearchStrategy[Any] = st.dictionaries(
            st.sampled_from([f.name for f in field.message_type.fields]) | TEXT, JSON, max_size=4
        )
    elif field.enum_type is not None:
        words = [value.name.split("_", 2)[-1] for value in field.enum_type.values]
        one = st.sampled_from(words) | st.integers(-3, 40) | TEXT
    elif field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        one = st.booleans()
    elif field.cpp_type == FieldDescriptor.CPPTYPE_STRING:
        one = TEXT
    else:
        one = st.integers(-(2**64), 2**64) | st.sampled_from([0, 1, 2**31, -(2**31) - 1])
    if field.is_repeated and field.message_type is None:
        return st.lists(one, max_size=3)
    return one


@st.composite
def _json_body(draw: st.DrawFn, fields: dict[str, FieldDescriptor]) -> bytes:
    """A JSON object with the route's field names (and others) holding values of their own
    type or of any other."""
    data: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(sorted(fields) or ["name"]), max_size=5)):
        data[name] = draw(_typed(fields[name]) if name in fields else JSON)
    data.update(draw(st.dictionaries(TEXT, JSON, max_size=2)))
    return httpx.Request("POST", "/", json=data).content


BODIES = st.sampled_from(
    [
        b"",
        b"{",
        b"[]",
        b"null",
        b'"x"',
        b"{}" * 3,
        b"\xff\xfe",
        b'{"a":' * 80,
        b"x" * (MAX_BODY + 1),
    ]
) | st.binary(max_size=64)


@st.composite
def _query(draw: st.DrawFn, fields: dict[str, FieldDescriptor]) -> list[tuple[str, str]]:
    names = st.sampled_from(sorted(fields) or ["name"]) | TEXT
    return draw(st.lists(st.tuples(names, TEXT), max_size=5))


# Printable ASCII without surrounding spaces: what an HTTP client library lets through as a
# header value.
HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30).map(
    str.strip
)
HEADERS = st.dictionaries(
    st.sampled_from(
        ["x-request-timeout", "last-event-id", "x-request-id", "authorization", "accept"]
    ),
    HEADER_VALUES | st.sampled_from(["0", "-1", "nan", "1e999", "text/event-stream"]),
    max_size=3,
)
Hostile = tuple[str, str, list[tuple[str, str]], bytes, dict[str, str]]


@st.composite
def hostile_requests(draw: st.DrawFn) -> Hostile:
    kind = draw(st.sampled_from(["route", "route", "route", "mlflow", "unknown"]))
    fields: dict[str, FieldDescriptor] = {}
    if kind == "route":
        method, path, fields = draw(st.sampled_from(ROUTES))
    elif kind == "mlflow":
        method, template = draw(st.sampled_from(MLFLOW_ROUTES))
        path = template.replace("{id}", quote(draw(st.text(min_size=1, max_size=20)), safe=""))
    else:
        method, path = "GET", "/api/2.0/" + quote(draw(st.text(max_size=30)))
    if draw(st.integers(0, 4)) == 0:
        method = draw(st.sampled_from(METHODS))
    query = draw(_query(fields))
    body = draw(_json_body(fields) | BODIES)
    return method, path, query, body, draw(HEADERS)


def _streams(method: str, path: str, status: int) -> bool:
    return method == "GET" and path == WATCH and status == 200


def test_generated_hostile_http_requests_are_refused_cleanly_and_change_nothing(
    gateway: tuple[RunningServer, httpx.Client],
) -> None:
    running, client = gateway
    engine = running.store.engine
    sent: Counter[int] = Counter()
    state = [database_snapshot(engine)]

    @generated(EXAMPLES_PER_BACKEND)
    @given(hostile_requests())
    def send(call: Hostile) -> None:
        method, path, query, body, headers = call
        request = client.build_request(method, path, params=query, content=body, headers=headers)
        response = client.send(request, stream=True)
        try:
            status = response.status_code
            # A watch that was let through streams forever: its first line is all there is.
            if not _streams(method, path, status):
                response.read()
        finally:
            response.close()
        sent[status] += 1
        detail: Any = (method, path, query, body[:200], headers, status, response.headers)
        assert status < 500, detail
        after = database_snapshot(engine)
        if status >= 400:
            assert after == state[0], detail
        state[0] = after

    send()
    print(f"\nsent {sum(sent.values())} generated HTTP requests; statuses: {dict(sent)}")
    # Still serving, on a new connection too.
    assert client.get("/api/2.0/mlflow/registered-models/search").status_code == 200
