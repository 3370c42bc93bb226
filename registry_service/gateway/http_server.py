"""The HTTP server beside gRPC: uvicorn serving the gateway on its own thread and event loop."""

from __future__ import annotations

import math
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import uvicorn

from registry_service.calls import CallPipeline
from registry_service.config import Settings
from registry_service.gateway.app import build_app
from registry_service.gateway.protocol import with_read_timeout
from registry_service.servicer import RegistryService


class HttpServer:
    """A running gateway and the port it really listens on."""

    def __init__(
        self,
        settings: Settings,
        service: RegistryService,
        pipeline: CallPipeline,
        *,
        reuse_port: bool = False,
    ) -> None:
        # Bound here, not by uvicorn, so that a taken port fails the start like gRPC's does and
        # port 0 is resolved before the first request.
        ipv6 = ":" in settings.host
        self._socket = socket.create_server(
            (settings.host, settings.http_port),
            family=socket.AF_INET6 if ipv6 else socket.AF_INET,
            # As gRPC does: "::" takes IPv4 connections too.
            dualstack_ipv6=ipv6 and socket.has_dualstack_ipv6(),
            # Shared by the processes of `--workers`, as their gRPC port is.
            reuse_port=reuse_port,
        )
        # asyncio sets TCP_NODELAY only on sockets it made as TCP ones; without it every answer
        # on a kept-alive connection waits about 40 ms for the client's delayed ACK (Nagle).
        # Accepted connections inherit it from the listening socket on Linux.
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port: int = self._socket.getsockname()[1]
        # As many calls at once as gRPC serves, so HTTP cannot drain the database pool alone.
        self._executor = ThreadPoolExecutor(settings.threads, thread_name_prefix="http")
        config = uvicorn.Config(
            build_app(service, pipeline, self._executor, max_body=settings.max_http_body),
            http=with_read_timeout(settings.http_read_timeout),
            # The gateway serves no WebSockets: no upgrade hands a connection to a protocol
            # without the read deadline.
            ws="none",
            # uvicorn counts the connection asking among those open and answers 503 once they
            # reach the limit: one more lets exactly --max-http-connections be served.
            limit_concurrency=settings.max_http_connections + 1,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, args=([self._socket],), name="http", daemon=True
        )
        self._thread.start()

    def stop(self, grace: float | None = None) -> None:
        """Stop accepting, give in-flight requests ``grace`` seconds (none when None, as for
        ``grpc.Server.stop``), and return when the server is gone."""
        if grace is None:
            self._server.force_exit = True
        else:
            self._server.config.timeout_graceful_shutdown = math.ceil(grace)
        self._server.should_exit = True
        self._thread.join()
        self._executor.shutdown(wait=False, cancel_futures=True)


def start_http(
    settings: Settings,
    service: RegistryService,
    pipeline: CallPipeline,
    *,
    reuse_port: bool = False,
) -> HttpServer | None:
    """The gateway on ``settings.http_port``, or None when that is negative (disabled)."""
    if settings.http_port < 0:
        return None
    return HttpServer(settings, service, pipeline, reuse_port=reuse_port)
