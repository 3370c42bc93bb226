"""`registry-service serve`, `registry-service db upgrade`, `registry-service auth create-token`
(the first admin token, made on the database directly) and `registry-service health` (asks a
running server's grpc.health.v1 service; exit status 0 when SERVING)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import Field, fields
from typing import Any

import click
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

# Exit status of a usage error or a refused setting, as click gives its own usage errors.
USAGE_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status. Flags take their defaults from REGISTRY_* variables,
    so those are read (and refused when malformed) before the command line."""
    try:
        defaults = Settings.from_environment()
    except ValueError as error:
        print(f"registry-service: {error}", file=sys.stderr)
        return USAGE_ERROR
    try:
        status = _commands(defaults).main(
            args=None if argv is None else list(argv),
            prog_name="registry-service",
            standalone_mode=False,
        )
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.Abort:
        return 1
    # --help answers None; a command answers its exit status.
    return 0 if status is None else int(status)


def _commands(defaults: Settings) -> click.Group:
    """The command line, with every flag's default taken from ``defaults``."""
    (database_url,) = (s for s in fields(Settings) if s.name == "database_url")
    target = _local_target(defaults)
    create_token = _command(
        "create-token",
        _create_token,
        "create an access token on the database and print it once (bootstraps the first admin "
        "of --auth token)",
        _flag(database_url, defaults),
        click.Option(["--user"], required=True, help="identity the token acts as"),
        click.Option(["--admin"], is_flag=True, help="make an admin token"),
        click.Option(["--description"], default="", help="what the token is for"),
        click.Option(
            ["--expires-in"],
            type=click.IntRange(min=0),
            default=0,
            help="seconds until the token stops working; 0: never",
        ),
    )
    health = _command(
        "health",
        _check_health,
        "ask a running server's grpc.health.v1 service; exit status 0 when SERVING, 1 otherwise "
        "(a container's HEALTHCHECK)",
        click.Option(
            ["--target"],
            default=target,
            help="HOST:PORT of the server; by default this machine at --port of serve "
            f"(REGISTRY_PORT; here {target})",
        ),
        click.Option(
            ["--service"],
            default="",
            help="the service to ask about: '' (the default) for the server as a whole, or "
            "modelregistry.v1.ModelRegistryService",
        ),
        click.Option(
            ["--timeout"],
            type=float,
            default=5.0,
            help="seconds to wait for the answer (default 5)",
        ),
    )
    upgrade = _command(
        "upgrade", _upgrade, "migrate to the newest schema", _flag(database_url, defaults)
    )
    return click.Group(
        "registry-service",
        help=__doc__,
        commands=[
            _command(
                "serve",
                _serve,
                "serve the registry over gRPC and HTTP",
                *(_flag(setting, defaults) for setting in fields(Settings)),
            ),
            click.Group("db", help="manage the database schema", commands=[upgrade]),
            click.Group(
                "auth", help="manage access without a running server", commands=[create_token]
            ),
            health,
        ],
    )


def _command(
    name: str, callback: Callable[..., int], help_text: str, *params: click.Parameter
) -> click.Command:
    return click.Command(name, callback=callback, params=list(params), help=help_text)


def _local_target(settings: Settings) -> str:
    """The server that these settings serve, seen from the same machine: a wildcard host
    (a container's 0.0.0.0) is reached on loopback."""
    host = "localhost" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return format_address(host, settings.port)


class _SettingValue(click.ParamType[Any]):
    """A flag's value, read as its REGISTRY_* variable would be."""

    def __init__(self, setting: Field[Any]) -> None:
        self._setting = setting
        self.name = value_type(setting).__name__

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        # Defaults arrive already typed (from Settings); only what was typed on the line is read.
        if not isinstance(value, str):
            return value
        try:
            return parse(self._setting, value)
        except ValueError:
            raise click.UsageError(
                f"argument {flag_name(self._setting)}: {value!r} is not a valid {self.name}", ctx
            ) from None


def _flag(setting: Field[Any], defaults: Settings) -> click.Option:
    """The flag of one setting: --name VALUE, or --name/--no-name for a switch."""
    default = getattr(defaults, setting.name)
    help_text = f"{setting.metadata['help']} ({env_name(setting)}; default {shown(default)})"
    flag = flag_name(setting)
    if value_type(setting) is bool:
        return click.Option(
            [f"{flag}/--no-{flag[2:]}", setting.name], default=default, help=help_text
        )
    return click.Option(
        [flag, setting.name],
        type=_SettingValue(setting),
        default=default,
        metavar=setting.name.upper(),
        help=help_text,
    )


def _serve(**flags: Any) -> int:
    try:
        settings = Settings(**flags)
    except ValueError as error:
        print(f"registry-service: {error}", file=sys.stderr)
        return USAGE_ERROR
    logs.configure(settings.log_level, settings.log_format)
    try:
        if settings.workers > 1:
            return supervise(settings)
        serve(settings)
    except (schema.SchemaOutdated, OSError, ValueError, WorkerFailed) as error:
        print(f"registry-service: {error}", file=sys.stderr)
        return USAGE_ERROR
    return 0


def _upgrade(database_url: str) -> int:
    engine = make_engine(database_url)
    schema.upgrade(engine)
    print(f"database at {engine.url.render_as_string()} is at revision {schema.head_revision()}")
    return 0


def _create_token(
    database_url: str, user: str, admin: bool, description: str, expires_in: int
) -> int:
    try:
        store = open_store(Settings(database_url=database_url))
    except (schema.SchemaOutdated, ValueError) as error:
        print(f"registry-service: {error}", file=sys.stderr)
        return USAGE_ERROR
    try:
        token, secret = AccessStore(store).create_token(user, admin, description, expires_in)
    except RegistryError as error:
        print(f"registry-service: {error}", file=sys.stderr)
        return USAGE_ERROR
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
