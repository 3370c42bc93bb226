"""`registry-service serve` and `registry-service db upgrade`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import Field, fields
from typing import Any

from registry_service import logs
from registry_service.config import Settings, env_name, flag_name, parse, shown, value_type
from registry_service.server import serve
from registry_service.store import schema
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
    return parser


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
    logs.configure(settings.log_level)
    try:
        if settings.workers > 1:
            return supervise(settings)
        serve(settings)
    except (schema.SchemaOutdated, OSError, ValueError, WorkerFailed) as error:
        print(f"registry-service: {error}", file=sys.stderr)
        return 2
    return 0
