"""`registry-service serve`, `registry-service db upgrade`, `registry-service auth create-token`
(the first admin token, made on the database directly) and `registry-service health` (asks a
running server's grpc.health.v1 service; exit status 0 when SERVING)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import Field, fields
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from registry_service import logs
from registry_service.addresses import format_address
from registry_service.config import Settings, env_name, flag_name, parse, shown, value_type
from registry_service.errors import RegistryError
from registry_service.server import open_store, serve
from registry_service.store import schema
from registry_service.store.access_store import AccessStore
from registry_service.store.engine import make_engine
from registry_service.workers import WorkerFailed, supervise


def _parser(defaults: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="registry-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="serve the registry over gRPC and HTTP")
    for setting in fields(Settings):
        _add_flag(serve_parser, setting, defaults)

    db_parser = commands.add_parser("db", help="manage the database schema")
    db_commands = db_parser.add_subparsers(dest="db_command", required=True)
    upgrade_parser = db_commands.add_parser("upgrade", help="migrate to the newest schema")
    (database_url,) = (s for s in fields(Settings) if s.name == "database_url")
    _add_flag(upgrade_parser, database_url, defaults)

    auth_parser = commands.add_parser("auth", help="manage access without a running server")
    auth_commands = auth_parser.add_subparsers(dest="auth_command", required=True)
    token_parser = auth_commands.add_parser(
        "create-token",
        help="create an access token on the database and print it once (bootstraps the first "
        "admin of --auth token)",
    )
    _add_flag(token_parser, database_url, defaults)
    token_parser.add_argument("--user", required=True, help="identity the token acts as")
    token_parser.add_argument("--admin", action="store_true", help="make an admin token")
    token_parser.add_argument("--description", default="", help="what the token is for")

    health_parser = commands.add_parser(
        "health",
        help="ask a running server's grpc.health.v1 service; exit status 0 when SERVING, 1 "
        "otherwise (a container's HEALTHCHECK)",
    )
    health_parser.add_argument(
        "--target",
        default=_local_target(defaults),
        help="HOST:PORT of the server; by default this machine at --port of serve "
        "(REGISTRY_PORT; here %(default)s)",
    )
    health_parser.add_argument(
        "--service",
        default="",
        help="the service to ask about: '' (the default) for the server as a whole, or "
        "modelregistry.v1.ModelRegistryService",
    )
    health_parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for the answer (default 5)"
    )
    return parser


def _local_target(settings: Settings) -> str:
    """The server that these settings serve, seen from the same machine: a wildcard host
    (a container's 0.0.0.0) is reached on loopback."""
    host = "localhost" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return format_address(host, settings.port)


def _add_flag(parser: argparse.ArgumentParser, setting: Field[Any], defaults: Settings) -> None:
    default = getattr(defaults, setting.name)
    help_text = f"{setting.metadata['help']} ({env_name(setting)}; default {shown(default)})"
    if value_type(setting) is bool:
        parser.add_argument(
            flag_name(setting),
            dest=setting.name,
            action=argparse.BooleanOptionalAction,
            default=default,
            help=help_text,
        )
        return

    def convert(raw: str) -> object:
        try:
            return parse(setting, raw)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{raw!r} is not a valid {value_type(setting).__name__}"
            ) from None

    parser.add_argument(
        flag_name(setting), dest=setting.name, type=convert, default=default, help=help_text
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        defaults = Settings.from_environment()
    except ValueError as error:
        print(f"registry-service: {error}", file=sys.stderr)
        return 2
    args = vars(_parser(defaults).parse_args(argv))
    if args["command"] == "auth":
        return _create_token(args)
    if args["command"] == "health":
        return _check_health(args["target"], args["service"], args["timeout"])
    if args["command"] == "db":
        engine = make_engine(args["database_url"])
        schema.upgrade(engine)
        print(
            f"database at {engine.url.render_as_string()} is at revision {schema.head_revision()}"
        )
        return 0
    try:
        settings = Settings(**{s.name: args[s.name] for s in fields(Settings)})
    except ValueError as error:
        print(f"registry-service: {error}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    try:
        if settings.workers > 1:
            return supervise(settings)
        serve(settings)
    except (schema.SchemaOutdated, OSError, ValueError, WorkerFailed) as error:
        print(f"registry-service: {error}", file=sys.stderr)
        return 2
    return 0


def _create_token(args: dict[str, Any]) -> int:
    try:
        store = open_store(Settings(database_url=args["database_url"]))
    except (schema.SchemaOutdated, ValueError) as error:
        print(f"registry-service: {error}", file=sys.stderr)
        return 2
    try:
        token, secret = AccessStore(store).create_token(
            args["user"], args["admin"], args["description"]
        )
    except RegistryError as error:
        print(f"registry-service: {error}", file=sys.stderr)
        return 2
    finally:
        store.engine.dispose()
    role = "admin " if token.admin else ""
    print(
        f"created {role}token {token.id} for {token.user_id!r}; it is shown only now:",
        file=sys.stderr,
    )
    print(secret)
    return 0


def _check_health(target: str, service: str, timeout: float) -> int:
    """Plaintext, as kubelet's and most meshes' gRPC probes are: a server behind --tls-cert is
    probed by its mesh or with `buf curl` instead."""
    name = service or "server"
    with grpc.insecure_channel(target) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as error:
            print(
                f"registry-service health: {target} ({name}): {error.code().name}: "
                f"{error.details()}",
                file=sys.stderr,
            )
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    serving = response.status == health_pb2.HealthCheckResponse.SERVING
    print(f"{target} ({name}): {status}", file=sys.stdout if serving else sys.stderr)
    return 0 if serving else 1
