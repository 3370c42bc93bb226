"""The ceilings of `make bench`: a no-op service on the registry's own gRPC server.

    python -m bench.echo --threads 16 --workers 2          # through the call pipeline
    python -m bench.echo --threads 16 --workers 2 --bare   # without any interceptor
    python -m bench.echo --workers 2 --bare --aio          # the same on grpc.aio

Each process builds its server with registry_service.server.grpc_server (the registry's thread
pool, interceptor with its access log and metrics, channel options and call limit) and serves one
method, /bench.Echo/Echo, that answers with the request's bytes, unparsed. With --workers N it
runs N such processes on one port (SO_REUSEPORT, metrics in a shared multiprocess directory) as
`registry-service serve --workers N` does, so the registry's figures divided by this one's say
what the registry itself costs on top of the same gRPC stack.

With --bare the server is the same (threads, channel options, call limit, workers) but has no
interceptor: no request id, deadline, metrics or access log. That is the second, higher ceiling,
the cost of gRPC alone; the registry's figures divided by it include what the pipeline costs.

With --aio (and --bare) the server is the asyncio one the registry serves on (grpc.aio, its
channel options, no interceptor) and the method a coroutine that answers on the event loop: the
cost of the registry's own gRPC stack alone, lower than the threaded server's.

With --floor KIND the method first does the least database work of that kind (bench/floor_work.py)
on --database-url: bench/floors.py measures those floors against the plain echo.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import os
import sys
import tempfile
from typing import Any

import grpc
from grpc import aio
from prometheus_client import CollectorRegistry

from bench.floor_work import KINDS, handler
from registry_service import logs
from registry_service.calls import CallPipeline
from registry_service.config import Settings
from registry_service.metrics import ServerMetrics
from registry_service.server import channel_options, grpc_server, log_listening
from registry_service.shutdown import ShutdownRequests
from registry_service.workers import PROMETHEUS_MULTIPROC_DIR, reserved_port

SERVICE = "bench.Echo"
METHOD = f"/{SERVICE}/Echo"


def serve(
    settings: Settings,
    reuse_port: bool,
    ready: Any = None,
    floor: str = "none",
    database_url: str = "",
    bare: bool = False,
) -> None:
    """Serve the echo, with its ``floor`` of work on ``database_url``, on ``settings.port``
    until SIGTERM or SIGINT; ``bare``: with no interceptor."""
    logs.configure(settings.log_level)
    shutdown = ShutdownRequests()
    # The echo is no registry service: its calls pass the pipeline with no one to authorize.
    pipeline = (
        None
        if bare
        else CallPipeline(ServerMetrics(CollectorRegistry()), settings.max_deadline, None)
    )
    server = grpc_server(settings, pipeline, reuse_port=reuse_port)
    method = grpc.unary_unary_rpc_method_handler(handler(floor, database_url))
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"Echo": method}),)
    )
    port = server.add_insecure_port(f"{settings.host}:{settings.port}")
    server.start()
    if ready is None:
        log_listening(settings.host, port)
    else:
        ready.send(port)
    shutdown.wait()
    server.stop(0).wait()


def serve_aio(settings: Settings, reuse_port: bool, ready: Any = None) -> None:
    """Serve the bare echo on grpc.aio, answered on the loop, until SIGTERM or SIGINT."""
    logs.configure(settings.log_level)
    shutdown = ShutdownRequests()

    async def echo(request: bytes, _context: Any) -> bytes:
        return request

    async def run() -> None:
        server = aio.server(options=channel_options(settings, reuse_port=reuse_port))
        method = grpc.unary_unary_rpc_method_handler(echo)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {"Echo": method}),)
        )
        port = server.add_insecure_port(f"{settings.host}:{settings.port}")
        await server.start()
        if ready is None:
            log_listening(settings.host, port)
        else:
            ready.send(port)
        await asyncio.get_running_loop().run_in_executor(None, shutdown.wait)
        await server.stop(0)

    asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.echo", description=__doc__)
    parser.add_argument("--threads", type=int, default=Settings.threads)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log-level", default=Settings.log_level)
    parser.add_argument("--floor", choices=KINDS, default="none")
    parser.add_argument("--database-url", default="")
    parser.add_argument(
        "--bare", action="store_true", help="no interceptor: gRPC alone, without the pipeline"
    )
    parser.add_argument(
        "--aio", action="store_true", help="with --bare: on grpc.aio, the registry's server"
    )
    args = parser.parse_args(argv)
    if args.aio and (not args.bare or args.floor != "none"):
        parser.error("--aio serves the bare echo only: give --bare, and no --floor")
    settings = Settings(port=args.port, threads=args.threads, log_level=args.log_level)
    if args.workers == 1:
        if args.aio:
            serve_aio(settings, False)
        else:
            serve(settings, False, None, args.floor, args.database_url, args.bare)
        return 0
    logs.configure(settings.log_level)
    shutdown = ShutdownRequests()
    with (
        reserved_port(settings.host, settings.port) as port,
        tempfile.TemporaryDirectory(prefix="echo-metrics-") as metrics_dir,
    ):
        # As the registry's workers do: prometheus_client then writes to per-process files.
        os.environ[PROMETHEUS_MULTIPROC_DIR] = metrics_dir
        context = multiprocessing.get_context("spawn")
        settings = dataclasses.replace(settings, port=port)
        processes = []
        for _ in range(args.workers):
            ours, theirs = context.Pipe()
            process = (
                context.Process(target=serve_aio, args=(settings, True, theirs))
                if args.aio
                else context.Process(
                    target=serve,
                    args=(settings, True, theirs, args.floor, args.database_url, args.bare),
                )
            )
            process.start()
            ours.recv()
            processes.append(process)
        log_listening(settings.host, port)
        shutdown.wait()
        for process in processes:
            process.terminate()
        for process in processes:
            process.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
