"""Settings: one dataclass, filled from REGISTRY_* environment variables and then flags.

Each field ``x`` is read from the variable REGISTRY_X and the flag ``--x`` (underscores become
dashes); its help text, shown by ``--help`` and in docs/deploy.md, is the field's metadata.
"""

from __future__ import annotations

import logging
import os
import types
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any, TypeVar, get_type_hints
from urllib.parse import urlsplit

from registry_service.defaults import DATABASE_TIMEOUT_S, DELETED_RETENTION_S, IDEMPOTENCY_WINDOW_S

DEFAULT_DATABASE_URL = "sqlite:///registry.db"
DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024

AUTH_MODES = ("none", "token", "mtls")
# auto: readable lines on a terminal, JSON lines otherwise (a container's or a collector's stderr).
LOG_FORMATS = ("auto", "text", "json")
DEFAULT_PERMISSIONS = ("NONE", "READ", "EDIT", "MANAGE")

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _setting(default: T, help: str, *, minimum: float | None = None, positive: bool = False) -> T:
    result: T = field(
        default=default, metadata={"help": help, "minimum": minimum, "positive": positive}
    )
    return result


@dataclass(frozen=True)
class Settings:
    """How the server runs."""

    host: str = _setting("127.0.0.1", "interface to listen on")
    port: int = _setting(50051, "gRPC port; 0 picks a free one", minimum=0)
    http_port: int = _setting(
        5000,
        "HTTP/JSON port serving MLflow's REST API (MLflow's default); 0 picks a free one; -1: off",
        minimum=-1,
    )
    max_http_body: int = _setting(
        DEFAULT_MAX_MESSAGE_SIZE,
        "largest HTTP request body in bytes; a larger one is answered 413 without being read "
        "past this",
        positive=True,
    )
    http_read_timeout: float = _setting(
        30.0,
        "seconds an HTTP request's headers and body get to arrive, counted from the "
        "connection's start or the request's first byte; a slower request is answered 408, or "
        "its connection closed if its headers never finished",
        positive=True,
    )
    max_http_connections: int = _setting(
        1000,
        "HTTP connections one process holds at once; requests on any more are answered 503",
        positive=True,
    )
    database_url: str = _setting(
        DEFAULT_DATABASE_URL,
        "SQLAlchemy URL of the store: sqlite:///path.db or postgresql://user@host:5432/db",
    )
    threads: int = _setting(16, "calls served at once by each process", positive=True)
    workers: int = _setting(
        1, "server processes sharing the port (SO_REUSEPORT), each with its threads", positive=True
    )
    grace: float = _setting(
        10.0, "seconds in-flight calls get to finish after SIGTERM or SIGINT", minimum=0
    )
    max_deadline: float = _setting(
        30.0,
        "seconds a call may work: calls without a deadline, or with a longer one, get this one",
        positive=True,
    )
    health_check_interval: float = _setting(
        5.0, "seconds between the database probes behind the health service", positive=True
    )
    reflection: bool = _setting(True, "serve gRPC server reflection")
    metrics_port: int | None = _setting(
        None, "port of the Prometheus /metrics endpoint; 0 picks a free one; unset: off", minimum=0
    )
    tls_cert: str | None = _setting(None, "PEM server certificate chain; unset: plaintext")
    tls_key: str | None = _setting(None, "PEM private key of --tls-cert")
    tls_client_ca: str | None = _setting(
        None, "PEM CA bundle; when set, clients must present a certificate it signed (mTLS)"
    )
    keepalive_time: float = _setting(
        60.0, "seconds between keepalive pings on an idle connection; 0: off", minimum=0
    )
    keepalive_timeout: float = _setting(
        20.0, "seconds to wait for a keepalive ping's answer before closing", positive=True
    )
    max_message_size: int = _setting(
        DEFAULT_MAX_MESSAGE_SIZE, "largest request or response in bytes", positive=True
    )
    max_concurrent_calls: int = _setting(
        100, "calls in progress per process before RESOURCE_EXHAUSTED; 0: no limit", minimum=0
    )
    max_connection_age: float = _setting(
        300.0,
        "seconds before a connection is asked to close (clients reconnect and rebalance); 0: never",
        minimum=0,
    )
    max_connection_age_grace: float = _setting(
        30.0, "seconds a closing connection's calls get to finish", minimum=0
    )
    database_timeout: float = _setting(
        DATABASE_TIMEOUT_S,
        "seconds a call waits for the database (to connect, for a pooled connection, for "
        "SQLite's write lock) before failing with UNAVAILABLE",
        positive=True,
    )
    idempotency_window: float = _setting(
        IDEMPOTENCY_WINDOW_S,
        "seconds a write's request_id is remembered, so that a retry within it changes nothing",
        minimum=0,
    )
    event_poll_interval: float = _setting(
        1.0,
        "most seconds the WatchEvents feed waits between reads of the event table while idle "
        "(commits of this process, and on PostgreSQL of any replica, wake it at once)",
        positive=True,
    )
    event_heartbeat_interval: float = _setting(
        15.0, "seconds between heartbeats on an idle WatchEvents stream", positive=True
    )
    max_watch_streams: int = _setting(
        10_000,
        "WatchEvents streams one process serves at once; more are refused with "
        "RESOURCE_EXHAUSTED. A stream holds no thread (it waits on the event loop) and counts "
        "towards no other limit: this bounds their memory",
        minimum=1,
    )
    event_retention: int = _setting(
        365 * 24 * 3600,
        "seconds events are kept (default 365 days); older ones are pruned in small batches, "
        "and as_of or WatchEvents start_after before what is kept is refused; 0: keep for ever",
        minimum=0,
    )
    delivery_log_retention: int = _setting(
        30 * 24 * 3600,
        "seconds finished webhook deliveries and their attempts are kept (default 30 days); "
        "0: keep for ever",
        minimum=0,
    )
    watch_buffer: int = _setting(
        4096,
        "events a WatchEvents stream may fall behind the feed before it ends with "
        "RESOURCE_EXHAUSTED (its client resumes from the last sequence it received)",
        positive=True,
    )
    webhooks: bool = _setting(True, "deliver webhooks from this process")
    webhook_poll_interval: float = _setting(
        1.0,
        "seconds between the delivery worker's looks for new events and due retries",
        positive=True,
    )
    webhook_timeout: float = _setting(
        10.0, "seconds a webhook endpoint gets to answer one delivery", positive=True
    )
    webhook_max_attempts: int = _setting(
        8, "attempts at a webhook delivery before it is marked FAILED", positive=True
    )
    webhook_retry_backoff: float = _setting(
        2.0,
        "seconds before a failed delivery's first retry; doubles per attempt, up to 1 hour",
        positive=True,
    )
    webhook_schemes: str = _setting(
        "https", "comma-separated URL schemes webhooks may use (add http for local use)"
    )
    webhook_allow_private: bool = _setting(
        False,
        "allow webhooks to private, loopback and link-local addresses (refused by default)",
    )
    log_level: str = _setting("INFO", "Python logging level")
    log_format: str = _setting(
        "auto",
        "log lines on stderr: text (readable), json (one object per line) or auto (text on a "
        "terminal, else json)",
    )
    auth: str = _setting(
        "none",
        "how callers are identified: none (everyone may do everything), token (bearer tokens) "
        "or mtls (the client certificate's SAN or CN; needs --tls-client-ca and --http-port -1)",
    )
    default_permission: str = _setting(
        "READ",
        "permission every authenticated user has on every model: NONE, READ, EDIT or MANAGE",
    )
    token_max_ttl: float = _setting(
        0.0,
        "most seconds an access token lives, and the lifetime of one created without "
        "expires_in; 0: tokens live until revoked unless created with expires_in",
        minimum=0,
    )
    deleted_retention: float = _setting(
        DELETED_RETENTION_S,
        "seconds a deleted model or version stays restorable (30 days) before a background "
        "purge removes it for good; 0: deletes are final at once, nothing is kept",
        minimum=0,
    )
    protected_aliases: str | None = _setting(
        None, "comma-separated aliases that only MANAGE may set or delete, e.g. champion,prod"
    )
    require_approval: str | None = _setting(
        None,
        "comma-separated stages (Staging, Production) that a caller without MANAGE on the model "
        "enters only through an approved transition request; unset: none",
    )
    allow_self_approval: bool = _setting(
        False, "admins may approve their own transition requests (others never may)"
    )
    admin_identities: str | None = _setting(
        None,
        "comma-separated identities that are admins (mtls identities; with token, in addition "
        "to admin tokens)",
    )
    tracking_uri: str | None = _setting(
        None,
        "http(s) URL of the MLflow tracking server new versions link to: their run, experiment, "
        "run link and logged model are resolved and checked there; unset: no tracking link",
    )

    def __post_init__(self) -> None:
        for setting in fields(self):
            value = getattr(self, setting.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            minimum, positive = setting.metadata["minimum"], setting.metadata["positive"]
            if positive and value <= 0:
                raise ValueError(f"{described(setting.name)} must be above 0, got {value}")
            if minimum is not None and value < minimum:
                raise ValueError(
                    f"{described(setting.name)} must be at least {minimum:g}, got {value}"
                )
        for port_setting in ("port", "http_port", "metrics_port"):
            port = getattr(self, port_setting)
            if port is not None and port > 65535:
                raise ValueError(f"{described(port_setting)} must be at most 65535, got {port}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError(
                f"{described('tls_cert')} and {described('tls_key')} must be given together"
            )
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ValueError(
                f"{described('tls_client_ca')} needs {described('tls_cert')} and "
                f"{described('tls_key')}: mTLS is TLS first"
            )
        if not set(self.webhook_scheme_list) <= {"http", "https"}:
            raise ValueError(
                f"{described('webhook_schemes')} may name http and https, got "
                f"{self.webhook_schemes!r}"
            )
        if self.auth not in AUTH_MODES:
            raise ValueError(f"{described('auth')} must be one of {', '.join(AUTH_MODES)}")
        if self.default_permission.upper() not in DEFAULT_PERMISSIONS:
            raise ValueError(
                f"{described('default_permission')} must be one of {', '.join(DEFAULT_PERMISSIONS)}"
            )
        for stage in (self.require_approval or "").split(","):
            if stage.strip() and stage.strip().casefold() not in ("staging", "production"):
                raise ValueError(
                    f"{described('require_approval')} may name Staging and Production, "
                    f"got {stage.strip()!r}"
                )
        if self.auth == "mtls" and self.tls_client_ca is None:
            raise ValueError(f"--auth mtls needs {described('tls_client_ca')}")
        if self.auth == "mtls" and self.http_port >= 0:
            raise ValueError(
                f"--auth mtls needs {described('http_port')} -1: HTTP requests carry no client "
                "certificate to identify the caller by"
            )
        if self.tracking_uri is not None and urlsplit(self.tracking_uri).scheme not in (
            "http",
            "https",
        ):
            raise ValueError(
                f"{described('tracking_uri')} must be an http(s) URL, got {self.tracking_uri!r}"
            )
        if self.log_format not in LOG_FORMATS:
            raise ValueError(
                f"{described('log_format')} must be one of {', '.join(LOG_FORMATS)}, "
                f"got {self.log_format!r}"
            )
        if not isinstance(logging.getLevelName(self.log_level.upper()), int):
            raise ValueError(f"{described('log_level')} {self.log_level!r} is not a logging level")

    @property
    def webhook_scheme_list(self) -> list[str]:
        return [part.strip().lower() for part in self.webhook_schemes.split(",") if part.strip()]

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for setting in fields(cls):
            raw = environ.get(env_name(setting))
            if raw is not None and raw != "":
                values[setting.name] = parse(setting, raw)
        return cls(**values)  # type: ignore[arg-type]


def env_name(setting: Field[Any]) -> str:
    return f"REGISTRY_{setting.name.upper()}"


def flag_name(setting: Field[Any]) -> str:
    return "--" + setting.name.replace("_", "-")


def shown(value: object) -> str:
    """A setting's value as --help and the docs spell it."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def described(name: str) -> str:
    """How an error message names a setting: both ways of giving it."""
    setting = next(setting for setting in fields(Settings) if setting.name == name)
    return f"{flag_name(setting)} ({env_name(setting)})"


def value_type(setting: Field[Any]) -> type:
    """The type a setting's values have, ``int`` for ``int | None``."""
    kind = get_type_hints(Settings)[setting.name]
    if isinstance(kind, types.UnionType):
        (kind,) = (member for member in kind.__args__ if member is not type(None))
    assert isinstance(kind, type)
    return kind


def parse(setting: Field[Any], raw: str) -> object:
    """The value of ``setting`` spelled ``raw`` in its REGISTRY_* variable."""
    kind = value_type(setting)
    if kind is bool:
        if raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise ValueError(f"{env_name(setting)}={raw!r} is not true or false")
    try:
        return kind(raw)
    except ValueError as error:
        raise ValueError(f"{env_name(setting)}={raw!r} is not a valid {kind.__name__}") from error
