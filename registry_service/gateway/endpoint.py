"""The HTTP side of the call pipeline (``calls``): one request served as one call.

It hands the request to the pipeline with what HTTP tells of it (headers as metadata, the
``X-Request-Timeout`` header as the deadline, the peer), authenticates the caller before reading
the body (no one unknown makes the server receive one), runs the route's handler on the executor
(the service blocks on the database) in the call's context, cancels the call's database work when
the client disconnects, and answers with the request id in the ``x-request-id`` header and any
error in MLflow's JSON.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from registry_service.calls import REQUEST_ID, ActiveCall, Arrival, CallPipeline
from registry_service.contract import SERVICE_NAME
from registry_service.errors import InvalidArgument, RegistryError
from registry_service.gateway.errors import error_response
from registry_service.gateway.limits import Refusal, read_body
from registry_service.grpc_errors import status_code_of

TIMEOUT_HEADER = "x-request-timeout"

T = TypeVar("T")


@dataclass(frozen=True)
class HttpCall:
    """One HTTP request as a route's handler gets it on the executor: its call in the pipeline,
    and the request's parts with its body already read within the limits."""

    active: ActiveCall
    path_params: dict[str, str]
    query: list[tuple[str, str]]
    body: bytes

    def authorized(self, request: object, rpc: str | None = None) -> AbstractContextManager[None]:
        """Run the enclosed service call once the access rules of ``rpc`` (by default the
        route's own) allow ``request``."""
        return self.active.authorized(request, rpc)


# A route's work on the executor: from the request to the JSON object it is answered with;
# failures are raised as domain errors.
Handler = Callable[[HttpCall], dict[str, Any]]


@dataclass(frozen=True)
class Stream:
    """A streaming route's answer: its media type and the text of its messages."""

    media_type: str
    lines: Generator[str, None, None]


class Endpoints:
    """Makes the endpoint of each route, on one pipeline and executor."""

    def __init__(self, pipeline: CallPipeline, executor: Executor, max_body: int) -> None:
        self._pipeline = pipeline
        self._executor = executor
        self._max_body = max_body

    def unary(
        self, rpc: str, handle: Handler, from_body: bool
    ) -> Callable[[Request], Awaitable[Response]]:
        """The endpoint answering a request with ``handle``'s JSON object."""
        path = f"/{SERVICE_NAME}/{rpc}"

        async def endpoint(request: Request) -> Response:
            arrival, bad_timeout = _arrival(request, path, "unary")
            with self._pipeline.call(arrival) as active:
                try:
                    if bad_timeout is not None:
                        raise bad_timeout
                    call = await self._prepared(request, active, from_body)
                    answer = await self._on_executor(
                        request, active, lambda: handle(call), watch=True
                    )
                    response: Response = JSONResponse(answer)
                except RegistryError as error:
                    response = _failed(active, error, error_response(error))
                except Refusal as refusal:
                    response = _failed(active, refusal.error, refusal.response())
                return _answered(active, response)

        return endpoint

    def streaming(
        self, rpc: str, start: Callable[[HttpCall, Callable[[], bool]], Stream]
    ) -> Callable[[Request], Awaitable[Response]]:
        """The endpoint answering with the text ``start`` streams, for as long as the client
        stays. A refusal before the stream starts is answered with its error status; what ends
        the stream later ends it (HTTP has no status after the first byte)."""
        path = f"/{SERVICE_NAME}/{rpc}"

        async def endpoint(request: Request) -> Response:
            arrival, bad_timeout = _arrival(request, path, "server_stream")
            pipeline = self._pipeline.call(arrival)
            active = pipeline.__enter__()
            gone = False

            def wanted() -> bool:
                return not gone

            try:
                if bad_timeout is not None:
                    raise bad_timeout
                call = await self._prepared(request, active, from_body=False)
                stream = await self._on_executor(
                    request, active, lambda: start(call, wanted), watch=False
                )
            except RegistryError as error:
                response = _failed(active, error, error_response(error))
                pipeline.__exit__(None, None, None)
                return _answered(active, response)
            except BaseException as error:
                pipeline.__exit__(type(error), error, error.__traceback__)
                raise

            async def body() -> AsyncGenerator[str, None]:
                nonlocal gone
                loop = asyncio.get_running_loop()
                # One context for every read: what the stream sets in it (its caller) holds
                # from one read to the next.
                context = contextvars.copy_context()
                lines = active.streamed(stream.lines)
                watcher = asyncio.ensure_future(_disconnected(request))

                def left(_watcher: asyncio.Future[None]) -> None:
                    nonlocal gone
                    # Read by the stream between its polls: an idle watch ends within one.
                    gone = True

                watcher.add_done_callback(left)

                def read() -> str | None:
                    return next(lines, None)

                reading: asyncio.Future[str | None] | None = None
                try:
                    while not watcher.done():
                        # Each read may wait for the next event or heartbeat: off the loop.
                        reading = loop.run_in_executor(self._executor, context.run, read)
                        line = await reading
                        if line is None:
                            return
                        yield line
                    active.code = "CANCELLED"
                except RegistryError as error:
                    # Past the first byte only the stream itself can tell: as its last message.
                    active.code = _code_name(error)
                    yield _stream_error(stream.media_type, error)
                except Exception:
                    # A bug: the stream is cut short, and the call logged as INTERNAL.
                    active.code = "INTERNAL"
                    raise
                finally:
                    gone = True
                    watcher.cancel()
                    # The stream's own cleanup (its slot, its caller: no database work) runs
                    # in its context once a read under way has seen ``wanted()`` turn false.
                    if reading is not None and not reading.done():
                        await asyncio.wait((reading,))
                    context.run(lines.close)

            def finish() -> None:
                pipeline.__exit__(None, None, None)

            response = _StreamingResponse(body(), finish, stream.media_type)
            response.headers["Cache-Control"] = "no-cache"
            return _answered(active, response)

        return endpoint

    async def _prepared(self, request: Request, active: ActiveCall, from_body: bool) -> HttpCall:
        # The same checks as a gRPC call's, in the same order: the caller is authenticated
        # (off the event loop: a token is looked up in the database) before its request is even
        # read. HTTP has no client certificate to offer.
        await self._on_executor(request, active, active.identify, watch=False)
        body = await read_body(request, self._max_body) if from_body else b""
        return HttpCall(active, dict(request.path_params), request.query_params.multi_items(), body)

    async def _on_executor(
        self, request: Request, active: ActiveCall, work: Callable[[], T], *, watch: bool
    ) -> T:
        """``work``'s result, run on the executor in the call's context (its request id, span,
        deadline and caller). With ``watch``, a client that disconnects meanwhile cancels it;
        only once the body is read, since watching reads the request's messages."""
        loop = asyncio.get_running_loop()
        done = loop.run_in_executor(self._executor, contextvars.copy_context().run, work)
        if not watch:
            return await done
        watcher = asyncio.ensure_future(_disconnected(request))
        try:
            await asyncio.wait((done, watcher), return_when=asyncio.FIRST_COMPLETED)
            if watcher.done():
                active.cancel()
            return await done
        finally:
            watcher.cancel()


class _StreamingResponse(Response):
    """A response whose body is sent as ``chunks`` yields it, in the task that serves the
    request, so that the call's context (request id, span) is the same throughout; ``finish``
    ends the call however the sending ends."""

    def __init__(
        self, chunks: AsyncGenerator[str, None], finish: Callable[[], None], media_type: str
    ) -> None:
        super().__init__(media_type=media_type)
        # Starlette declares the empty body it was given; this one's length is unknown, so it
        # is sent chunked.
        del self.headers["content-length"]
        self._chunks = chunks
        self._finish = finish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for chunk in self._chunks:
                await send(
                    {"type": "http.response.body", "body": chunk.encode(), "more_body": True}
                )
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await self._chunks.aclose()
            self._finish()


def _arrival(request: Request, path: str, kind: str) -> tuple[Arrival, InvalidArgument | None]:
    """The pipeline's view of ``request``, and the refusal of a malformed timeout header (which
    the pipeline still counts and logs)."""
    timeout: float | None = None
    bad: InvalidArgument | None = None
    given = request.headers.get(TIMEOUT_HEADER)
    if given is not None:
        try:
            timeout = float(given)
            if not math.isfinite(timeout) or timeout <= 0:
                raise ValueError
        except ValueError:
            timeout = None
            bad = InvalidArgument(
                f"X-Request-Timeout must be a positive number of seconds, got {given[:64]!r}",
                field=TIMEOUT_HEADER,
            )
    arrival = Arrival(
        transport="http",
        path=path,
        kind=kind,
        metadata=tuple(request.headers.items()),
        peer=_peer(request),
        timeout=timeout,
    )
    return arrival, bad


async def _disconnected(request: Request) -> None:
    """Returns once the client has gone: after the body, the server's next message for this
    request is its disconnect."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _failed(active: ActiveCall, error: RegistryError, response: Response) -> Response:
    active.code = _code_name(error)
    return response


def _code_name(error: RegistryError) -> str:
    return str((error.code or status_code_of(error)).name)


def _answered(active: ActiveCall, response: Response) -> Response:
    response.headers[REQUEST_ID] = active.request_id
    active.log_fields["status"] = response.status_code
    return response


def _stream_error(media_type: str, error: RegistryError) -> str:
    body = bytes(error_response(error).body).decode()
    if media_type == "text/event-stream":
        return f"event: error\ndata: {body}\n\n"
    return body + "\n"


def _peer(request: Request) -> str:
    # gRPC's spelling of a peer, so that access-log lines read alike on both transports.
    if request.client is None:
        return "unknown"
    host, port = request.client
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"
