"""Whose name the registry writes on a change made through MLflow's server.

MLflow's registry store API carries no user: every method gets only the model's fields. The
registry then knows the MLflow server by REGISTRY_TOKEN, and every event made through it
carries that token's user_id (or none, on a registry without authentication).

MLflow's basic-auth app (``mlflow server --app-name basic-auth``) records who is signed in as
``flask.g.mlflow_authenticated_user`` for the request the store is called in; MLflow's own
handlers read it there. With REGISTRY_USER_TOKENS naming a JSON file of
``{"<mlflow user>": "<registry token>"}``, each call made for a signed-in user carries that
user's own token, so the registry authenticates, authorizes and records that user. A signed-in
user with no token in the file is refused (PERMISSION_DENIED) rather than recorded under the
server's name. Calls made outside a signed-in request keep REGISTRY_TOKEN.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import flask
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, PERMISSION_DENIED

from registry_service.client import RegistryClient

USER_TOKENS_VARIABLE = "REGISTRY_USER_TOKENS"


class ClientsByUser:
    """The RegistryClient to call for the current request: the MLflow server's own, or the
    signed-in user's when per-user tokens are configured. Clients are made once and kept."""

    def __init__(self, make: Callable[[str | None], RegistryClient]) -> None:
        self._make = make
        self._service = make(os.environ.get("REGISTRY_TOKEN") or None)
        self._user_tokens = _user_tokens()
        self._by_user: dict[str, RegistryClient] = {}
        self._lock = threading.Lock()

    def current(self) -> RegistryClient:
        user = signed_in_user()
        if self._user_tokens is None or user is None:
            return self._service
        token = self._user_tokens.get(user)
        if token is None:
            raise MlflowException(
                f"MLflow user {user!r} has no registry token in {USER_TOKENS_VARIABLE}",
                PERMISSION_DENIED,
            )
        with self._lock:
            client = self._by_user.get(user)
            if client is None:
                client = self._by_user[user] = self._make(token)
            return client


def signed_in_user() -> str | None:
    """The user MLflow's basic-auth app signed in for the request being served, if any."""
    if not flask.has_app_context():
        return None
    user = getattr(flask.g, "mlflow_authenticated_user", None)
    return user if isinstance(user, str) and user else None


def _user_tokens() -> dict[str, str] | None:
    path = os.environ.get(USER_TOKENS_VARIABLE)
    if not path:
        return None
    try:
        tokens = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise MlflowException(
            f"{USER_TOKENS_VARIABLE}: cannot read {path}: {error}", INVALID_PARAMETER_VALUE
        ) from None
    if not isinstance(tokens, dict) or not all(
        isinstance(user, str) and isinstance(token, str) for user, token in tokens.items()
    ):
        raise MlflowException(
            f"{USER_TOKENS_VARIABLE}: {path} must hold one JSON object of user names to tokens",
            INVALID_PARAMETER_VALUE,
        )
    return tokens
