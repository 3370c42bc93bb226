"""`registry-service serve` and `registry-service db upgrade`."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence

from registry_service.config import Settings
from registry_service.server import serve
from registry_service.store import schema
from registry_service.store.engine import make_engine


def _parser(defaults: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="registry-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="serve the registry over gRPC and HTTP")
    serve_parser.add_argument("--host", default=defaults.host, help="interface (REGISTRY_HOST)")
    serve_parser.add_argument(
        "--port", type=int, default=defaults.port, help="port, 0 for any free one (REGISTRY_PORT)"
    )
    serve_parser.add_argument(
        "--http-port",
        type=int,
        default=defaults.http_port,
        help="MLflow REST API port, 0 for any free one, -1 for none (REGISTRY_HTTP_PORT)",
    )
    _add_database_url(serve_parser, defaults)
    serve_parser.add_argument(
        "--threads", type=int, default=defaults.threads, help="concurrent calls (REGISTRY_THREADS)"
    )
    serve_parser.add_argument(
        "--grace",
        type=float,
        default=defaults.grace,
        help="seconds in-flight calls get on shutdown (REGISTRY_GRACE)",
    )
    serve_parser.add_argument(
        "--log-level", default=defaults.log_level, help="logging level (REGISTRY_LOG_LEVEL)"
    )
    serve_parser.add_argument(
        "--database-timeout",
        type=float,
        default=defaults.database_timeout,
        help="seconds a call waits for the database before UNAVAILABLE (REGISTRY_DATABASE_TIMEOUT)",
    )
    serve_parser.add_argument(
        "--idempotency-window",
        type=float,
        default=defaults.idempotency_window,
        help="seconds a request_id is remembered (REGISTRY_IDEMPOTENCY_WINDOW)",
    )

    db_parser = commands.add_parser("db", help="manage the database schema")
    db_commands = db_parser.add_subparsers(dest="db_command", required=True)
    upgrade_parser = db_commands.add_parser("upgrade", help="migrate to the newest schema")
    _add_database_url(upgrade_parser, defaults)
    return parser


def _add_database_url(parser: argparse.ArgumentParser, defaults: Settings) -> None:
    parser.add_argument(
        "--database-url",
        default=defaults.database_url,
        help="SQLAlchemy URL of the store (REGISTRY_DATABASE_URL)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        defaults = Settings.from_environment()
    except ValueError as error:
        print(f"registry-service: {error}", file=sys.stderr)
        return 2
    args = _parser(defaults).parse_args(argv)
    if args.command == "db":
        engine = make_engine(args.database_url)
        schema.upgrade(engine)
        print(
            f"database at {engine.url.render_as_string()} is at revision {schema.head_revision()}"
        )
        return 0
    settings = dataclasses.replace(
        defaults,
        host=args.host,
        port=args.port,
        http_port=args.http_port,
        database_url=args.database_url,
        threads=args.threads,
        grace=args.grace,
        log_level=args.log_level,
        database_timeout=args.database_timeout,
        idempotency_window=args.idempotency_window,
    )
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        serve(settings)
    except (schema.SchemaOutdated, OSError) as error:
        print(f"registry-service: {error}", file=sys.stderr)
        return 2
    return 0
