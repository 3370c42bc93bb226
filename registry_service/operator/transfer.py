"""Copying whole models into the registry, whichever source they come from (an export file, an
MLflow server): one ImportRegisteredModel call per model, and the summary both imports print."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1.model_version_pb2 import ModelVersion
from modelregistry.v1.registered_model_pb2 import RegisteredModel

from registry_service.client import RegistryClient
from registry_service.errors import RegistryError


class TransferError(Exception):
    """A source that cannot be read: an unreachable MLflow server, a malformed export file."""


class Result(enum.StrEnum):
    COPIED = "copied"
    RENAMED = "renamed"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class ModelCopy:
    """One whole model as read from a source: what one ImportRegisteredModel call carries."""

    model: RegisteredModel
    versions: list[ModelVersion]
    # The highest version number the source ever allocated; 0 when it does not say.
    last_version: int = 0


@dataclass(frozen=True)
class Outcome:
    """What became of one model: ``detail`` is the new name (renamed) or the reason."""

    name: str
    result: Result
    detail: str = ""
    versions: int = 0


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, *results: Result) -> int:
        return sum(1 for outcome in self.outcomes if outcome.result in results)

    @property
    def failed(self) -> bool:
        return self.count(Result.FAILED) > 0


def error_text(error: RegistryError) -> str:
    """A registry error as one line that names the field at fault (most messages start with it)."""
    if not error.field or error.message.startswith(error.field):
        return error.message
    return f"{error.field}: {error.message}"


def import_copy(client: RegistryClient, copy: ModelCopy, on_conflict: str) -> Outcome:
    """Import one model; a refusal by the registry (a clash under "fail", a field it rejects) is
    this model's failure, not the whole run's."""
    name = copy.model.name
    try:
        response = client.import_registered_model(
            copy.model, copy.versions, on_conflict=on_conflict, last_version=copy.last_version
        )
    except RegistryError as error:
        return Outcome(name, Result.FAILED, error_text(error))
    if response.outcome == pb.IMPORT_OUTCOME_SKIPPED:
        return Outcome(name, Result.SKIPPED, "already present")
    versions = len(copy.versions)
    if response.outcome == pb.IMPORT_OUTCOME_RENAMED:
        return Outcome(name, Result.RENAMED, response.registered_model.name, versions)
    return Outcome(name, Result.COPIED, versions=versions)
