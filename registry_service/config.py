"""Settings: one dataclass, filled from REGISTRY_* environment variables and then flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from registry_service.store.engine import DEFAULT_TIMEOUT
from registry_service.store.idempotency import DEFAULT_WINDOW_S

DEFAULT_DATABASE_URL = "sqlite:///registry.db"


@dataclass(frozen=True)
class Settings:
    """How the server runs. Each field ``x`` is read from REGISTRY_X and the flag ``--x``."""

    # Interface to listen on.
    host: str = "127.0.0.1"
    # gRPC port; 0 picks a free one (the log line says which).
    port: int = 50051
    # HTTP/JSON port serving MLflow's REST API (MLflow's default port); 0 picks a free one,
    # a negative value turns HTTP off.
    http_port: int = 5000
    # SQLAlchemy URL of the store: sqlite:///file.db (default, in the working directory) or
    # postgresql://user@host:port/db.
    database_url: str = DEFAULT_DATABASE_URL
    # Threads that serve calls concurrently in one process.
    threads: int = 16
    # Seconds in-flight calls get to finish after SIGTERM or SIGINT.
    grace: float = 10.0
    # Python logging level name.
    log_level: str = "INFO"
    # Seconds a call waits for the database (to connect, for a pooled connection, for SQLite's
    # write lock) before failing with UNAVAILABLE.
    database_timeout: float = DEFAULT_TIMEOUT
    # Seconds a write's request_id is remembered, so that a retry within it changes nothing.
    idempotency_window: float = DEFAULT_WINDOW_S

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for setting in fields(cls):
            raw = environ.get(f"REGISTRY_{setting.name.upper()}")
            if raw is not None and raw != "":
                values[setting.name] = _parse(setting.name, setting.type, raw)
        return cls(**values)  # type: ignore[arg-type]


def _parse(name: str, kind: object, raw: str) -> object:
    try:
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
    except ValueError as error:
        raise ValueError(f"REGISTRY_{name.upper()}={raw!r} is not a {kind}") from error
    return raw
