"""Calls over HTTP pass the same pipeline as gRPC calls, in a real server process: the request id
comes back as a header, the X-Request-Timeout header (else --max-deadline) bounds the database
work, a client that disconnects cancels it, and each call is counted and logged once, naming
its user."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable

import requests
from sqlalchemy.engine import make_url

from registry_service.store.registry_store import RegistryStore

from .processes import Log, Served, serving, writes_blocked
from .test_interceptors import TRACE_ID, TRACEPARENT

CREATE = "/api/2.0/mlflow/registered-models/create"
GET = "/api/2.0/mlflow/registered-models/get"
# Less than SQLite's 30 s busy timeout, and PostgreSQL would wait for the lock forever: a call
# whose access-log line shows up within this while writes are still blocked was cut short.
WITHIN_S = 20.0


def url(served: Served, path: str) -> str:
    return f"http://127.0.0.1:{served.http_port}{path}"


def logged_for(request_id: str) -> Callable[[Log], bool]:
    def matches(line: Log) -> bool:
        return line["logger"] == "registry_service.access" and line.get("request_id") == request_id

    return matches


def test_the_request_id_is_returned_and_logged_once_with_its_span_and_metrics(
    database_url: str,
) -> None:
    with serving("--database-url", database_url, "--metrics-port", "0") as served:
        labels = {"grpc_method": "GetRegisteredModel", "transport": "http"}
        before = served.metric("grpc_server_handled_total", grpc_code="NOT_FOUND", **labels)
        answer = requests.get(
            url(served, GET),
            params={"name": "nope"},
            headers={"x-request-id": "http-1", "traceparent": TRACEPARENT},
        )
        assert answer.status_code == 404
        assert answer.headers["x-request-id"] == "http-1"
        line = served.wait_for_log(logged_for("http-1"))
        assert line["method"] == "/modelregistry.v1.ModelRegistryService/GetRegisteredModel"
        assert (line["transport"], line["code"], line["status"]) == ("http", "NOT_FOUND", 404)
        assert line["peer"].startswith("ipv4:127.0.0.1:")
        # The call's span continues the caller's trace.
        assert line["trace_id"] == TRACE_ID
        assert len(served.access_logs("GetRegisteredModel")) == 1
        served.wait_for_metric(
            "grpc_server_handled_total", before + 1, grpc_code="NOT_FOUND", **labels
        )
        assert served.metric("grpc_server_started_total", **labels) == before + 1

        made = requests.post(url(served, CREATE), json={"name": "m"})
        assert made.status_code == 200
        assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
        line = served.wait_for_log(logged_for(made.headers["x-request-id"]))
        assert (line["code"], line["status"]) == ("OK", 200)


def test_the_access_log_names_the_authenticated_user_on_both_transports(
    database_url: str, tokens: dict[str, str]
) -> None:
    with serving("--database-url", database_url, "--auth", "token") as served:
        headers = {"Authorization": f"Bearer {tokens['alice']}", "x-request-id": "alice-1"}
        answer = requests.post(url(served, CREATE), json={"name": "hers"}, headers=headers)
        assert answer.status_code == 200, answer.text
        assert served.wait_for_log(logged_for("alice-1"))["identity"] == "alice"

        refused = requests.post(
            url(served, CREATE), json={"name": "x"}, headers={"x-request-id": "nobody-1"}
        )
        assert refused.status_code == 401
        line = served.wait_for_log(logged_for("nobody-1"))
        assert line["code"] == "UNAUTHENTICATED" and "identity" not in line


def test_x_request_timeout_ends_the_database_work_and_writes_nothing(
    database_url: str, store: RegistryStore
) -> None:
    with serving("--database-url", database_url) as served, writes_blocked(database_url):
        started = time.monotonic()
        answer = requests.post(
            url(served, CREATE),
            json={"name": "late"},
            headers={"X-Request-Timeout": "1", "x-request-id": "late-http"},
            timeout=WITHIN_S,
        )
        assert answer.status_code == 504
        assert answer.json()["error_code"] == "DEADLINE_EXCEEDED"
        assert time.monotonic() - started < WITHIN_S
        assert served.wait_for_log(logged_for("late-http"))["code"] == "DEADLINE_EXCEEDED"
    assert store.search_registered_models().items == []


def test_without_a_timeout_header_the_max_deadline_bounds_the_call(
    database_url: str, store: RegistryStore
) -> None:
    with (
        serving("--database-url", database_url, "--max-deadline", "1") as served,
        writes_blocked(database_url),
    ):
        answer = requests.post(url(served, CREATE), json={"name": "capped"}, timeout=WITHIN_S)
        assert answer.status_code == 504
    assert store.search_registered_models().items == []


def test_a_malformed_timeout_header_is_refused_and_counted(database_url: str) -> None:
    with serving("--database-url", database_url) as served:
        answer = requests.post(
            url(served, CREATE),
            json={"name": "m"},
            headers={"X-Request-Timeout": "soon", "x-request-id": "bad-timeout"},
        )
        assert answer.status_code == 400
        assert "X-Request-Timeout" in answer.json()["message"]
        assert served.wait_for_log(logged_for("bad-timeout"))["code"] == "INVALID_ARGUMENT"


def test_a_client_that_disconnects_cancels_its_call(
    database_url: str, store: RegistryStore
) -> None:
    with serving("--database-url", database_url, "--metrics-port", "0") as served:
        with writes_blocked(database_url):
            body = b'{"name": "abandoned"}'
            request = (
                f"POST {CREATE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"x-request-id: gone-http\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            with socket.create_connection(("127.0.0.1", served.http_port or 0)) as connection:
                connection.sendall(request)
                served.wait_for_metric(
                    "grpc_server_started_total",
                    1,
                    grpc_method="CreateRegisteredModel",
                    transport="http",
                )
            # Until the server has heard of the disconnect, the call is still wanted.
            served.wait_for_log(
                lambda line: (
                    line["message"].startswith("the caller went away")
                    and line.get("request_id") == "gone-http"
                )
            )
            if make_url(database_url).get_backend_name() == "postgresql":
                # PostgreSQL is sent a cancel request: the waiting statement ends at once.
                served.wait_for_log(logged_for("gone-http"), patience=WITHIN_S)
        # The database is free again: a call that ignored its cancellation would now commit.
        line = served.wait_for_log(logged_for("gone-http"))
        assert line["code"] == "CANCELLED"
        assert requests.post(url(served, CREATE), json={"name": "after"}).status_code == 200
    assert [model.name for model in store.search_registered_models().items] == ["after"]


def test_timeouts_that_are_no_positive_number_are_refused(database_url: str) -> None:
    with serving("--database-url", database_url) as served:
        for value in ("0", "-1", "nan", "inf", "1e999", ""):
            answer = requests.get(
                url(served, GET), params={"name": "m"}, headers={"X-Request-Timeout": value}
            )
            assert answer.status_code == 400, value
