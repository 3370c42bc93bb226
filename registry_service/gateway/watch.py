"""WatchEvents over HTTP: the change feed as Server-Sent Events or newline-delimited JSON.

A client that accepts ``text/event-stream`` gets Server-Sent Events: each WatchEventsResponse,
in the gateway's JSON, is one event whose ``id`` is its ``high_water_sequence``, so that an
EventSource reconnecting with ``Last-Event-ID`` resumes just after what it last received. Any
other client gets ``application/x-ndjson``, one response per line, and resumes by passing the
last ``high_water_sequence`` it read as ``start_after``. Heartbeats (responses without an
event) keep idle connections open through proxies and move the resume point forward.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from contextlib import closing

from modelregistry.v1 import events_pb2

from registry_service.errors import InvalidArgument
from registry_service.gateway.endpoint import HttpCall, Stream
from registry_service.gateway.mlflow_json import request_from_query, to_json
from registry_service.gateway.routes import HttpRoute

EVENT_STREAM = "text/event-stream"
NDJSON = "application/x-ndjson"
LAST_EVENT_ID = "last-event-id"

Watch = Callable[
    [events_pb2.WatchEventsRequest, Callable[[], bool]],
    Generator[events_pb2.WatchEventsResponse, None, None],
]


def watch_handler(
    route: HttpRoute, watch: Watch
) -> Callable[[HttpCall, Callable[[], bool]], Stream]:
    """The streaming handler of ``route``, a binding of WatchEvents, on ``watch``."""

    def start(call: HttpCall, wanted: Callable[[], bool]) -> Stream:
        headers = {
            key: value for key, value in call.active.arrival.metadata if isinstance(value, str)
        }
        request = request_from_query(route.request_type, call.query)
        assert isinstance(request, events_pb2.WatchEventsRequest)
        resumed = headers.get(LAST_EVENT_ID)
        if resumed is not None:
            # An EventSource's reconnect: it overrides the start_after of the URL it reopens.
            request.start_after = _sequence(resumed)
        events = EVENT_STREAM in headers.get("accept", "")
        # Refusals of the request (its filters, its caller) come before the stream, as a status.
        with call.authorized(request):
            responses = watch(request, wanted)

        def lines() -> Generator[str, None, None]:
            # The feed reads as the caller: only the events of models it may read. Closed with
            # this stream, the feed's own stream frees its slot at once.
            with closing(responses), call.authorized(request):
                for response in responses:
                    data = json.dumps(to_json(response), separators=(",", ":"))
                    if events:
                        yield f"id: {response.high_water_sequence}\ndata: {data}\n\n"
                    else:
                        yield data + "\n"

        return Stream(EVENT_STREAM if events else NDJSON, lines())

    return start


def _sequence(value: str) -> int:
    if not value.isascii() or not value.isdigit() or int(value) >= 2**63:
        raise InvalidArgument(
            f"Last-Event-ID must be an event sequence number, got {value[:64]!r}",
            field="start_after",
        )
    return int(value)
