"""uvicorn's HTTP/1.1 protocol with a deadline on receiving each request, which uvicorn lacks.

From a connection's start, and from the first byte of each later request on it, the client has
``--http-read-timeout`` seconds to send the request's headers and body. A request that misses
the deadline is answered 408 if its headers arrived and no answer has started, and its
connection is closed either way, so a client that sends a byte now and then (slowloris) holds
a connection no longer than that. Between requests uvicorn's keep-alive timeout applies; while
the app works on a request that has fully arrived, no deadline does.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import CLOSE_HEADER
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol
from uvicorn.server import ServerState

from registry_service.config import described
from registry_service.errors import DeadlineExceeded
from registry_service.gateway.limits import Refusal

# Seconds a connection past its deadline still reads (and drops) what the client sends before it
# closes, so that the client reads the answer rather than a reset.
LINGER_S = 2.0


class ReadDeadlineProtocol(H11Protocol):
    """One HTTP connection; ``read_timeout`` is set by ``with_read_timeout``."""

    read_timeout: ClassVar[float]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._deadline: asyncio.TimerHandle | None = None
        self._lingering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            # What a refused client still sends is read and dropped (see _expire).
            return
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def _follow(self) -> None:
        """Keep the deadline armed while a request is arriving, and only then."""
        state = self.conn.their_state
        # Idle with bytes buffered is a request's headers in part; idle before any request is
        # the connection's start.
        arriving = state is h11.SEND_BODY or (
            state is h11.IDLE and (self.cycle is None or bool(self.conn.trailing_data[0]))
        )
        if arriving:
            if self._deadline is None:
                self._arm()
            return
        self._disarm()
        if (
            state is h11.IDLE
            and self.timeout_keep_alive_task is None
            and not self.transport.is_closing()
        ):
            # The rest of a body that was answered early has arrived (uvicorn throws it away):
            # the connection is idle, but uvicorn arms its keep-alive timeout only when a
            # response completes, which was before.
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.read_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.conn.their_state is h11.SEND_BODY and not self.cycle.response_started:
            self._answer_408()
        # A lingering close: our side ends now (FIN after the 408, if any), and what the client
        # still sends is read and dropped for a moment before the socket closes. Closing at once
        # with its bytes arriving makes the kernel answer them with a reset, which can destroy
        # the 408 before the client reads it.
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(min(LINGER_S, self.read_timeout), self.transport.close)

    def _answer_408(self) -> None:
        response = Refusal(
            408,
            DeadlineExceeded(
                f"the request did not arrive within {self.read_timeout:g} seconds, the limit "
                f"set by {described('http_read_timeout')}"
            ),
        ).response()
        events: list[h11.Event] = [
            h11.Response(
                status_code=408,
                headers=[*response.raw_headers, CLOSE_HEADER],
                reason=STATUS_PHRASES[408],
            ),
            h11.Data(data=bytes(response.body)),
            h11.EndOfMessage(),
        ]
        for event in events:
            self.transport.write(self.conn.send(event) or b"")
        # The app may be waiting for the rest of the body: it learns that the client is gone,
        # and nothing it answers is sent after this answer.
        self.cycle.disconnected = True
        self.cycle.message_event.set()


def with_read_timeout(seconds: float) -> type[ReadDeadlineProtocol]:
    """The protocol class for uvicorn's ``http`` option, which takes a class, not an instance."""

    class Protocol(ReadDeadlineProtocol):
        read_timeout = seconds

    return Protocol
