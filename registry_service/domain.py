"""Plain records that the store returns and the servicer turns into protobuf messages."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Generic, TypeVar


class Stage(enum.StrEnum):
    """Lifecycle stages, in the order latest_versions lists them."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"


class VersionStatus(enum.StrEnum):
    """Registration states of a model version (MLflow's ModelVersionStatus)."""

    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"


@dataclass(frozen=True)
class ModelVersion:
    """One numbered version of a registered model."""

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    user_id: str
    current_stage: Stage
    description: str
    source: str
    run_id: str
    run_link: str
    experiment_id: str
    status: VersionStatus
    status_message: str
    # Changes whenever the version changes; a write that carries it fails if it no longer matches.
    # Empty on records that go into the store (an import); set on every record that comes out.
    etag: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RegisteredModel:
    """A named model with its annotations and the latest version in each stage."""

    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    user_id: str
    description: str
    # Changes whenever the model or anything under it (tags, aliases, versions) changes; empty
    # on records that go into the store.
    etag: str = ""
    latest_versions: list[ModelVersion] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of search results and the token that continues it ("" on the last page)."""

    items: list[T]
    next_page_token: str


class ConflictPolicy(enum.StrEnum):
    """What importing a model does when a model of its name already exists."""

    FAIL = "fail"
    SKIP = "skip"
    # Import under "<name>-imported", "<name>-imported-2", … whichever is free first.
    RENAME = "rename"


class ImportOutcome(enum.StrEnum):
    """What importing a model did."""

    CREATED = "created"
    SKIPPED = "skipped"
    RENAMED = "renamed"


@dataclass(frozen=True)
class ImportResult:
    """The imported model under its final name, or the existing model when skipped."""

    outcome: ImportOutcome
    model: RegisteredModel


class Permission(enum.IntEnum):
    """A user's level on one registered model; each level includes the ones below it."""

    READ = 1
    EDIT = 2
    MANAGE = 3


@dataclass(frozen=True)
class AccessToken:
    """A bearer token as it is listed: never its secret."""

    id: int
    user_id: str
    admin: bool
    description: str
    creation_timestamp: int
    # None while the token is valid.
    revocation_timestamp: int | None


@dataclass(frozen=True)
class ModelPermission:
    """One user's permission on one registered model."""

    name: str
    user_id: str
    permission: Permission
