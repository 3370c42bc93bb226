"""The MLflow tracking server a registry links its versions to (``--tracking-uri``): what it says
about a run and a logged model, read over its REST API.

Each lookup is bounded by the current call's deadline. A run's experiment and artifact location,
and a logged model's, never change once made, so answers are kept (a bounded map); a missing
run or model is asked again next time, since it may be created meanwhile.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock
from typing import Any

import httpx

from registry_service.errors import Unavailable
from registry_service.store.engine import time_left

# The longest a lookup waits when the call has no deadline of its own.
DEFAULT_TIMEOUT_S = 10.0
# Runs and logged models remembered; each entry is a few hundred bytes.
CACHE_ENTRIES = 10_000


@dataclass(frozen=True)
class Run:
    run_id: str
    experiment_id: str
    artifact_uri: str


@dataclass(frozen=True)
class LoggedModel:
    model_id: str
    experiment_id: str
    # The run that logged it; "" for a model logged outside a run.
    source_run_id: str
    artifact_location: str


class TrackingServer:
    """Lookups on one MLflow tracking server."""

    def __init__(self, uri: str, client: httpx.Client | None = None) -> None:
        self.uri = uri.rstrip("/")
        self._client = client or httpx.Client(base_url=self.uri)
        self._known: OrderedDict[tuple[str, str], Run | LoggedModel] = OrderedDict()
        self._lock = Lock()

    def run(self, run_id: str) -> Run | None:
        """The run, or None when the tracking server has no such run."""
        found = self._remembered(("run", run_id))
        if found is None:
            body = self._get("/api/2.0/mlflow/runs/get", {"run_id": run_id})
            if body is None:
                return None
            info = body.get("run", {}).get("info", {})
            found = self._remember(
                ("run", run_id),
                Run(run_id, str(info.get("experiment_id", "")), str(info.get("artifact_uri", ""))),
            )
        assert isinstance(found, Run)
        return found

    def logged_model(self, model_id: str) -> LoggedModel | None:
        """The logged model, or None when the tracking server has no such model."""
        found = self._remembered(("model", model_id))
        if found is None:
            body = self._get(f"/api/2.0/mlflow/logged-models/{model_id}", {})
            if body is None:
                return None
            info = body.get("model", {}).get("info", {})
            found = self._remember(
                ("model", model_id),
                LoggedModel(
                    model_id,
                    str(info.get("experiment_id", "")),
                    str(info.get("source_run_id", "")),
                    str(info.get("artifact_uri", "")),
                ),
            )
        assert isinstance(found, LoggedModel)
        return found

    def run_link(self, experiment_id: str, run_id: str) -> str:
        """The run's page in the tracking server's web UI."""
        return f"{self.uri}/#/experiments/{experiment_id}/runs/{run_id}"

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any] | None:
        left = time_left()
        timeout = DEFAULT_TIMEOUT_S if left is None else min(left, DEFAULT_TIMEOUT_S)
        try:
            response = self._client.get(path, params=params, timeout=timeout)
        except httpx.HTTPError as error:
            raise Unavailable(
                f"the tracking server {self.uri} cannot be reached: {error}"
            ) from error
        # A run id the server cannot parse is as absent as one it does not know; refused
        # credentials and throttling are the server's trouble, not the request's.
        if 400 <= response.status_code < 500 and response.status_code not in (401, 403, 429):
            return None
        if response.status_code != 200:
            raise Unavailable(
                f"the tracking server {self.uri} answered {response.status_code} to {path}"
            )
        body: dict[str, Any] = response.json()
        return body

    def _remembered(self, key: tuple[str, str]) -> Run | LoggedModel | None:
        with self._lock:
            found = self._known.get(key)
            if found is not None:
                self._known.move_to_end(key)
            return found

    def _remember(self, key: tuple[str, str], value: Run | LoggedModel) -> Run | LoggedModel:
        with self._lock:
            self._known[key] = value
            if len(self._known) > CACHE_ENTRIES:
                self._known.popitem(last=False)
        return value
