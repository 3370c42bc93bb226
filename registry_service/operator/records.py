"""Models and versions as plain JSON objects: what `--json` prints and what export files hold.

Numbers are JSON numbers (not the strings protobuf's JSON mapping makes of int64), tags are
objects, a version's status is MLflow's word ("READY").
"""

from __future__ import annotations

from typing import Any

from modelregistry.v1.access_pb2 import AccessToken, Permission, RegisteredModelPermission
from modelregistry.v1.model_version_pb2 import ModelVersion, ModelVersionStatus
from modelregistry.v1.registered_model_pb2 import RegisteredModel

_STATUS_PREFIX = "MODEL_VERSION_STATUS_"

# The scalar fields of each record, in the order JSON shows them.
MODEL_FIELDS = ("name", "creation_timestamp", "last_updated_timestamp", "user_id", "description")
VERSION_FIELDS = (
    "name",
    "version",
    "creation_timestamp",
    "last_updated_timestamp",
    "user_id",
    "current_stage",
    "description",
    "source",
    "run_id",
    "run_link",
    "experiment_id",
    "status",
    "status_message",
)


def model_json(model: RegisteredModel) -> dict[str, Any]:
    """A model with its tags, aliases and latest versions."""
    record: dict[str, Any] = {field: getattr(model, field) for field in MODEL_FIELDS}
    record["tags"] = dict(sorted(model.tags.items()))
    record["aliases"] = dict(sorted(model.aliases.items()))
    record["latest_versions"] = [version_json(v) for v in model.latest_versions]
    return record


def version_json(version: ModelVersion) -> dict[str, Any]:
    record: dict[str, Any] = {field: getattr(version, field) for field in VERSION_FIELDS}
    record["status"] = status_word(version.status)
    record["tags"] = dict(sorted(version.tags.items()))
    record["aliases"] = list(version.aliases)
    return record


def model_from_json(record: dict[str, Any]) -> RegisteredModel:
    """The model of a JSON record; absent fields are empty, unknown ones ignored."""
    return RegisteredModel(
        **{field: record[field] for field in MODEL_FIELDS if field in record},
        tags=record.get("tags", {}),
        aliases=record.get("aliases", {}),
    )


def version_from_json(record: dict[str, Any]) -> ModelVersion:
    """The version of a JSON record; absent fields are empty, unknown ones ignored."""
    scalars = {field: record[field] for field in VERSION_FIELDS if field in record}
    if "status" in scalars:
        scalars["status"] = status_value(scalars["status"])
    return ModelVersion(**scalars, tags=record.get("tags", {}))


def status_word(status: int) -> str:
    """ "READY" for MODEL_VERSION_STATUS_READY: the word MLflow uses."""
    return ModelVersionStatus.Name(status).removeprefix(_STATUS_PREFIX)


def status_value(word: str) -> int:
    try:
        return ModelVersionStatus.Value(_STATUS_PREFIX + word)
    except ValueError:
        raise ValueError(f"status {word!r} is not a model version status") from None


def access_token_json(token: AccessToken) -> dict[str, Any]:
    """A token as listed: never its secret; revocation_timestamp 0 while it is valid."""
    fields = ("id", "user_id", "admin", "description", "creation_timestamp")
    return {field: getattr(token, field) for field in fields} | {
        "revocation_timestamp": token.revocation_timestamp
    }


def permission_word(permission: RegisteredModelPermission) -> str:
    return Permission.Name(permission.permission).removeprefix("PERMISSION_")


def permission_json(permission: RegisteredModelPermission) -> dict[str, Any]:
    return {
        "name": permission.name,
        "user_id": permission.user_id,
        "permission": permission_word(permission),
    }
