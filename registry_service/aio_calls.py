"""The call pipeline (``calls``) on the asyncio gRPC server (``aio_server``).

Unary calls keep the threaded path unchanged: the sync interceptor's wrapping (``interceptors``)
and the sync service run in a thread of the server's pool, on a ``ThreadContext`` that offers
them the ``grpc.ServicerContext`` they were written for. So their request ids, deadlines,
cancellation, permissions, metrics, access log and error statuses are what they were. Handlers
that are coroutines (WatchEvents, health, reflection) run on the event loop, inside the same
pipeline, and hold no thread while they wait. So does a point read the store's memory answers
(``MemoryAnswers``) for a caller whose access needs no per-model decision: its answer is found
before the call enters the pipeline, by a lookup that validates, logs and changes nothing, and
then the pipeline runs around it on the loop as it would have in a thread. A thread hop costs
about as much as such a read, gRPC's own work aside. Every call but WatchEvents counts towards
--max-concurrent-calls; WatchEvents streams are bounded by --max-watch-streams instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing, contextmanager
from typing import Any, Protocol, cast

import grpc
from grpc import aio

from registry_service import grpc_errors
from registry_service.auth import STREAM_RECHECK_SECONDS, AuthContext
from registry_service.calls import REQUEST_ID, ActiveCall, Arrival, CallPipeline
from registry_service.contract import SERVICE_NAME
from registry_service.errors import RegistryError
from registry_service.interceptors import CallInterceptor, rehandled

# What gRPC's own --max-concurrent-calls refusal says.
LIMIT_MESSAGE = "Concurrent RPC limit exceeded!"
UNLIMITED_PATHS = frozenset({f"/{SERVICE_NAME}/WatchEvents"})

log = logging.getLogger(__name__)


class MemoryAnswers(Protocol):
    """The point reads a service answers from memory alone (``RegistryService``)."""

    @property
    def change_token_is_a_query(self) -> bool:
        """Whether answers need a token from ``observe_change_token``."""
        ...

    def observe_change_token(self) -> Hashable:
        """The database's change token as of now (blocking: a round trip)."""
        ...

    def answers_from_memory(self, rpc: str) -> bool:
        """Whether ``answer_from_memory`` may answer calls of ``rpc``."""
        ...

    def remembers(self, rpc: str, request: Any) -> bool:
        """Whether memory holds an answer to ``request`` under any token."""
        ...

    def answer_from_memory(
        self, rpc: str, request: Any, token: Hashable | None = None
    ) -> Any | None:
        """``rpc``'s response to ``request`` when memory alone holds it, found without waiting
        for anything and with no side effect; None when the call must be served as usual."""
        ...


class SharedTokens:
    """The change token as of a moment after ``after_now()`` was called, observed in a thread
    with one observation at a time, its value shared by every call on the loop that waited for
    it (store/read_cache.py's ``SharedObservations``, for the loop): under load one round trip
    answers many reads, and none waits in a thread of its own. Used only on the loop."""

    def __init__(self, observe: Callable[[], Hashable], pool: ThreadPoolExecutor) -> None:
        self._observe = observe
        self._pool = pool
        # The observation under way, and the one to begin once it ends (for the calls that
        # arrived after it began: it may have read the token before their writes' commits).
        self._running: asyncio.Future[Hashable] | None = None
        self._next: asyncio.Future[Hashable] | None = None

    async def after_now(self) -> Hashable:
        """A token observed by an observation that began after this call; the observation's
        error when it failed."""
        if self._running is None:
            waited = self._begin()
        else:
            if self._next is None:
                self._next = asyncio.get_running_loop().create_future()
            waited = self._next
        # Shielded: a call cancelled while it waits must not cancel the others' observation.
        return await asyncio.shield(waited)

    def _begin(self) -> asyncio.Future[Hashable]:
        loop = asyncio.get_running_loop()
        running = loop.run_in_executor(self._pool, self._observe)
        self._running = running
        running.add_done_callback(self._ended)
        return running

    def _ended(self, ended: asyncio.Future[Hashable]) -> None:
        self._running = None
        waiting, self._next = self._next, None
        if waiting is None:
            return
        following = self._begin()

        def hand_over(observed: asyncio.Future[Hashable]) -> None:
            if waiting.done():
                return
            error = None if observed.cancelled() else observed.exception()
            if observed.cancelled():
                waiting.cancel()
            elif error is not None:
                waiting.set_exception(error)
            else:
                waiting.set_result(observed.result())

        following.add_done_callback(hand_over)


class _Aborted(Exception):
    """A threaded behavior's ``context.abort``: carried to the loop, which aborts the call."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class ThreadContext:
    """What a sync behavior, run in a pool thread, uses of ``grpc.ServicerContext``, over the
    asyncio call's context. Reads are plain; anything that must happen on the loop is handed to
    it; ``abort`` ends the behavior and the loop aborts the call with its status."""

    def __init__(self, context: aio.ServicerContext[Any, Any], loop: asyncio.AbstractEventLoop):
        self._context = context
        self._loop = loop
        self._aborted: grpc.StatusCode | None = None
        # Read now, on the loop: once the call has ended (a caller that went away before a
        # thread took the call up), reading what the call holds crashes the process.
        self._auth_context = context.auth_context()
        self._peer = context.peer()
        self._metadata = context.invocation_metadata()

    def invocation_metadata(self) -> Any:
        return self._metadata

    def peer(self) -> str:
        return self._peer

    def auth_context(self) -> AuthContext:
        return self._auth_context

    def time_remaining(self) -> float | None:
        return self._context.time_remaining()

    def is_active(self) -> bool:
        return not self._context.done()

    def add_callback(self, callback: Callable[[], None]) -> bool:
        def done(_: aio.ServicerContext[Any, Any]) -> None:
            callback()

        def add() -> None:
            # The stubs' callback type is a protocol no function satisfies.
            self._context.add_done_callback(cast(Any, done))

        self._loop.call_soon_threadsafe(add)
        return True

    def set_trailing_metadata(self, metadata: Any) -> None:
        self._context.set_trailing_metadata(metadata)

    def trailing_metadata(self) -> Any:
        return self._context.trailing_metadata()

    def code(self) -> grpc.StatusCode | None:
        return self._aborted or cast(grpc.StatusCode | None, self._context.code())

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self._aborted = code
        raise _Aborted(code, details)


class AioCallInterceptor(aio.ServerInterceptor):
    """Every call of the asyncio server through the pipeline, and the call limit."""

    def __init__(
        self,
        pipeline: CallPipeline,
        pool: ThreadPoolExecutor,
        max_concurrent_calls: int,
        memory: MemoryAnswers | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._memory = memory
        # Where answers from memory need an observed change token (PostgreSQL).
        self._tokens = (
            SharedTokens(memory.observe_change_token, pool)
            if memory is not None and memory.change_token_is_a_query
            else None
        )
        self._pool = pool
        self._threaded = CallInterceptor(pipeline)
        self._limit = max_concurrent_calls or None
        self._calls = 0
        self._handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        path: str = details.method
        wrapped = self._handlers.get(path)
        if wrapped is None:
            handler = await continuation(details)
            if handler is None:
                return None
            wrapped = self._handlers[path] = self._wrapped(handler, path)
        return wrapped

    def _wrapped(
        self, handler: grpc.RpcMethodHandler[Any, Any], path: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        behavior: Any = (
            handler.unary_unary
            or handler.unary_stream
            or handler.stream_unary
            or handler.stream_stream
        )
        limited = path not in UNLIMITED_PATHS
        if inspect.iscoroutinefunction(behavior) or inspect.isasyncgenfunction(behavior):
            serve = self._on_loop(behavior, path, handler, limited)
        else:
            threaded = self._threaded.intercept_service(lambda _: handler, _Details(path))
            assert threaded is not None and not handler.response_streaming, path
            serve = self._in_thread(cast(Any, threaded).unary_unary, limited)
            rpc = path.rpartition("/")[2]
            if self._answered_from_memory(path, rpc):
                serve = self._from_memory(serve, path, rpc, limited)
        return rehandled(handler, serve)

    def _answered_from_memory(self, path: str, rpc: str) -> bool:
        """Whether calls of ``path`` may be answered from memory: a point read the service
        answers so, on a server where no caller's access needs a per-model decision (memory
        holds what admins may read; without authentication every caller is one)."""
        access = self._pipeline.access
        return (
            self._memory is not None
            and path.startswith(f"/{SERVICE_NAME}/")
            and self._memory.answers_from_memory(rpc)
            and (access is None or not access.checks(rpc))
        )

    def _from_memory(self, in_thread: Any, path: str, rpc: str, limited: bool) -> Any:
        """``in_thread``, except for a call memory answers: that one goes through the pipeline
        on the loop, around its answer."""
        pipeline = self._pipeline
        memory = cast(MemoryAnswers, self._memory)
        tokens = self._tokens

        async def serve(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            token = None
            arrival = None
            if tokens is not None:
                # A read memory holds nothing for goes to its thread at once, as it would
                # without memory: there it reads the token with its rows, in one round trip.
                if not memory.remembers(rpc, request):
                    return await in_thread(request, context)
                # Read before waiting: once the call has ended, reading what it holds crashes
                # the process.
                arrival = _arrival(context, path, "unary")
                try:
                    token = await tokens.after_now()
                except asyncio.CancelledError:
                    # The caller went away while the token was observed: its call is recorded
                    # (metrics, access log) as the threaded path records it.
                    with pipeline.call(arrival) as active:
                        async with _observed(active, context):
                            raise
                except Exception:
                    # The threaded path reads the database and says what is wrong with it.
                    return await in_thread(request, context)
            answer = memory.answer_from_memory(rpc, request, token)
            if answer is None:
                return await in_thread(request, context)
            with self._counted(limited) as admitted:
                if not admitted:
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, LIMIT_MESSAGE)
                with pipeline.call(arrival or _arrival(context, path, "unary")) as active:
                    async with _observed(active, context):
                        with active.authorized(request):
                            return answer

        return serve

    @contextmanager
    def _counted(self, limited: bool) -> Iterator[bool]:
        """Whether the call may run under --max-concurrent-calls, counted while it runs."""
        if not limited:
            yield True
            return
        if self._limit is not None and self._calls >= self._limit:
            yield False
            return
        self._calls += 1
        try:
            yield True
        finally:
            self._calls -= 1

    def _in_thread(self, behavior: Callable[[Any, Any], Any], limited: bool) -> Any:
        pool = self._pool

        async def serve(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            with self._counted(limited) as admitted:
                if not admitted:
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, LIMIT_MESSAGE)
                loop = asyncio.get_running_loop()
                threaded = ThreadContext(context, loop)
                # A context of its own, as each call of the threaded server had its thread's.
                run = contextvars.copy_context().run
                try:
                    return await loop.run_in_executor(pool, run, behavior, request, threaded)
                except _Aborted as aborted:
                    await context.abort(aborted.code, aborted.details)

        return serve

    def _on_loop(
        self,
        behavior: Any,
        path: str,
        handler: grpc.RpcMethodHandler[Any, Any],
        limited: bool,
    ) -> Any:
        pipeline = self._pipeline
        # go-grpc-prometheus's grpc_type label.
        kind = {
            (False, False): "unary",
            (False, True): "server_stream",
            (True, False): "client_stream",
            (True, True): "bidi_stream",
        }[handler.request_streaming, handler.response_streaming]
        registry = path.startswith(f"/{SERVICE_NAME}/")

        async def stream(request: Any, context: aio.ServicerContext[Any, Any]) -> None:
            # A coroutine writing each message, not an async generator: its cleanup (the
            # pipeline's context variables, the feed's place) then runs in the call's own task
            # when the call is cancelled, not in a finalizer task of the loop's.
            with self._counted(limited) as admitted:
                if not admitted:
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, LIMIT_MESSAGE)
                with pipeline.call(_arrival(context, path, kind)) as active:
                    async with _observed(active, context):
                        if registry:
                            await _identified(active, pipeline)
                        with active.authorized(request):
                            messages = _rechecked(
                                active, pipeline, behavior(request, context), registry
                            )
                            async with aclosing(messages):
                                async for message in messages:
                                    await context.write(message)

        async def unary(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            with self._counted(limited) as admitted:
                if not admitted:
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, LIMIT_MESSAGE)
                with pipeline.call(_arrival(context, path, kind)) as active:
                    async with _observed(active, context):
                        return await behavior(request, context)

        # Health's Watch writes with context.write from a coroutine: served like a unary call.
        return stream if inspect.isasyncgenfunction(behavior) else unary


class _Details:
    """The HandlerCallDetails the threaded interceptor reads: the method's path."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata: tuple[Any, ...] = ()


def _arrival(context: aio.ServicerContext[Any, Any], path: str, kind: str) -> Arrival:
    # Read now: once the call has ended, reading the peer's properties crashes the process.
    auth_context = context.auth_context()
    return Arrival(
        transport="grpc",
        path=path,
        kind=kind,
        metadata=tuple(context.invocation_metadata() or ()),
        peer=context.peer(),
        timeout=context.time_remaining(),
        auth_context=lambda: auth_context,
    )


class _observed:
    """The loop's half of the threaded interceptor's ``serving``: a refusal of the pipeline
    aborts with its status; the outcome and the request id are recorded as the call ends."""

    def __init__(self, active: ActiveCall, context: aio.ServicerContext[Any, Any]) -> None:
        self._active = active
        self._context = context

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: type[BaseException] | None, error: Any, _: Any) -> bool:
        context = self._context
        request_id = (REQUEST_ID, self._active.request_id)
        if isinstance(error, RegistryError) or (
            isinstance(error, Exception) and not isinstance(error, aio.AbortError)
        ):
            if isinstance(error, RegistryError):
                status = grpc_errors.to_status(error)
            else:
                log.error("unexpected error in %s", self._active.rpc, exc_info=error)
                status = grpc_errors.INTERNAL
            self._active.code = status.code.name
            context.set_trailing_metadata((*status.trailing_metadata, request_id))
            await context.abort(status.code, status.details)
        context.set_trailing_metadata((*(context.trailing_metadata() or ()), request_id))
        self._active.code = _outcome(context, error)
        return False


def _outcome(context: aio.ServicerContext[Any, Any], error: BaseException | None) -> str:
    status = cast(grpc.StatusCode | None, context.code())
    if status is not None:
        return str(status.name)
    if isinstance(error, asyncio.CancelledError) or context.cancelled():
        return "DEADLINE_EXCEEDED" if context.time_remaining() == 0 else "CANCELLED"
    return "OK" if error is None else "UNKNOWN"


async def _identified(active: ActiveCall, pipeline: CallPipeline) -> None:
    """``active.identify()``, in a thread when it reads the database (not on the loop)."""
    if pipeline.access is not None and pipeline.access.reads_database:
        await asyncio.to_thread(active.identify)
    else:
        active.identify()


async def _rechecked(
    active: ActiveCall,
    pipeline: CallPipeline,
    messages: AsyncGenerator[Any, None],
    registry: bool,
) -> AsyncGenerator[Any, None]:
    """``ActiveCall.streamed`` on the loop: the caller's credentials are checked again (in a
    thread: a token is looked up in the database) at most every STREAM_RECHECK_SECONDS."""
    # time.monotonic, not the loop's clock: reaching the running loop costs a getpid() call,
    # once per message of every stream.
    checked = time.monotonic()
    try:
        async for message in messages:
            now = time.monotonic()
            if registry and now - checked >= STREAM_RECHECK_SECONDS:
                await _identified(active, pipeline)
                checked = now
            yield message
    finally:
        await messages.aclose()
