"""Reading an MLflow Model Registry through MLflow's REST API (``/api/2.0/mlflow/...``) and copying
each registered model, with every version MLflow still shows, into this registry.

MLflow hides deleted versions from every call, so a copy keeps its numbers and the gaps between
them; a version deleted at the very end of MLflow's numbering cannot be seen, so the counter here
resumes after the highest version that MLflow still has.
"""

from __future__ import annotations

from typing import Any

import httpx

from registry_service.client import RegistryClient
from registry_service.operator.reading import model_exists
from registry_service.operator.records import model_from_json, version_from_json
from registry_service.operator.transfer import (
    ModelCopy,
    Outcome,
    Result,
    TransferError,
    import_copy,
)

API_PREFIX = "/api/2.0/mlflow/"
# MLflow's largest page of registered models; its version search allows more.
DEFAULT_PAGE_SIZE = 1000


class MlflowSource:
    """An MLflow tracking server's model registry, read page by page; ``close()`` when done."""

    def __init__(self, url: str, page_size: int = DEFAULT_PAGE_SIZE, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self._page_size = page_size
        self._http = httpx.Client(base_url=self.url + API_PREFIX, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def registered_models(self) -> list[dict[str, Any]]:
        """Every registered model, with its tags and aliases, in MLflow's JSON."""
        return self._all_pages("registered-models/search", "registered_models", {})

    def model_versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of one model that MLflow still shows, whatever its stage."""
        found = self._all_pages(
            "model-versions/search", "model_versions", {"filter": f"name = {_quoted(name)}"}
        )
        return sorted(found, key=lambda version: int(version["version"]))

    def _all_pages(self, path: str, key: str, params: dict[str, str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        token = ""
        while True:
            query = {**params, "max_results": str(self._page_size)}
            if token:
                query["page_token"] = token
            page = self._get(path, query)
            found.extend(page.get(key, []))
            token = page.get("next_page_token", "")
            if not token:
                return found

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            response = self._http.get(path, params=params)
        except httpx.HTTPError as error:
            raise TransferError(f"cannot reach MLflow at {self.url}: {error}") from error
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if response.is_error:
            message = body.get("message") or response.text[:200] or response.reason_phrase
            raise TransferError(f"MLflow at {self.url} answered {response.status_code}: {message}")
        return body


def model_copy(model: dict[str, Any], versions: list[dict[str, Any]]) -> ModelCopy:
    """MLflow's JSON of a model and its versions as one import: MLflow lists tags and aliases as
    key/value entries and writes version numbers as strings."""
    record = {
        **model,
        "tags": _tags(model),
        "aliases": {entry["alias"]: int(entry["version"]) for entry in model.get("aliases", [])},
    }
    return ModelCopy(
        model=model_from_json(record),
        versions=[
            version_from_json(
                {**version, "version": int(version["version"]), "tags": _tags(version)}
            )
            for version in versions
        ],
    )


def copy_model(client: RegistryClient, source: MlflowSource, model: dict[str, Any]) -> Outcome:
    """Copy one MLflow model unless a model of its name is already here (an earlier run copied it:
    each model is imported whole or not at all, so a present model is a complete one)."""
    name = str(model.get("name", ""))
    if model_exists(client, name):
        return Outcome(name, Result.SKIPPED, "already present")
    try:
        copy = model_copy(model, source.model_versions(name))
    except TransferError as error:
        return Outcome(name, Result.FAILED, str(error))
    except (KeyError, TypeError, ValueError) as error:
        return Outcome(name, Result.FAILED, f"MLflow sent a record this CLI cannot read: {error!r}")
    # "skip" rather than "fail": another run copying the same model at the same time is not an
    # error, the model is there either way.
    return import_copy(client, copy, on_conflict="skip")


def _tags(record: dict[str, Any]) -> dict[str, str]:
    return {entry["key"]: entry.get("value", "") for entry in record.get("tags", [])}


def _quoted(name: str) -> str:
    """A model name as a string literal of MLflow's filter syntax, which has no escapes: the name
    is wrapped in whichever quote it does not contain."""
    if "'" not in name:
        return f"'{name}'"
    if '"' not in name:
        return f'"{name}"'
    raise TransferError(f"MLflow's filter syntax cannot express the name {name!r}")
