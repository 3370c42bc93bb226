"""Domain records to protobuf messages and back: the only code that knows both shapes."""

from __future__ import annotations

from modelregistry.v1 import model_version_pb2, registered_model_pb2, registry_service_pb2

from registry_service import validation
from registry_service.domain import (
    ConflictPolicy,
    ImportOutcome,
    ModelVersion,
    RegisteredModel,
    Stage,
    VersionStatus,
)
from registry_service.errors import InvalidArgument

_STATUS = {
    VersionStatus.PENDING_REGISTRATION: (
        model_version_pb2.MODEL_VERSION_STATUS_PENDING_REGISTRATION
    ),
    VersionStatus.FAILED_REGISTRATION: model_version_pb2.MODEL_VERSION_STATUS_FAILED_REGISTRATION,
    VersionStatus.READY: model_version_pb2.MODEL_VERSION_STATUS_READY,
}


def model_version_message(version: ModelVersion) -> model_version_pb2.ModelVersion:
    return model_version_pb2.ModelVersion(
        name=version.name,
        version=version.version,
        creation_timestamp=version.creation_timestamp,
        last_updated_timestamp=version.last_updated_timestamp,
        user_id=version.user_id,
        current_stage=version.current_stage.value,
        description=version.description,
        source=version.source,
        run_id=version.run_id,
        run_link=version.run_link,
        experiment_id=version.experiment_id,
        status=_STATUS[version.status],
        status_message=version.status_message,
        etag=version.etag,
        tags=version.tags,
        aliases=version.aliases,
    )


def registered_model_message(model: RegisteredModel) -> registered_model_pb2.RegisteredModel:
    return registered_model_pb2.RegisteredModel(
        name=model.name,
        creation_timestamp=model.creation_timestamp,
        last_updated_timestamp=model.last_updated_timestamp,
        user_id=model.user_id,
        description=model.description,
        etag=model.etag,
        latest_versions=[model_version_message(v) for v in model.latest_versions],
        tags=model.tags,
        aliases=model.aliases,
    )


_CONFLICT_POLICY = {
    registry_service_pb2.IMPORT_CONFLICT_POLICY_UNSPECIFIED: ConflictPolicy.FAIL,
    registry_service_pb2.IMPORT_CONFLICT_POLICY_FAIL: ConflictPolicy.FAIL,
    registry_service_pb2.IMPORT_CONFLICT_POLICY_SKIP: ConflictPolicy.SKIP,
    registry_service_pb2.IMPORT_CONFLICT_POLICY_RENAME: ConflictPolicy.RENAME,
}
_IMPORT_OUTCOME = {
    ImportOutcome.CREATED: registry_service_pb2.IMPORT_OUTCOME_CREATED,
    ImportOutcome.SKIPPED: registry_service_pb2.IMPORT_OUTCOME_SKIPPED,
    ImportOutcome.RENAMED: registry_service_pb2.IMPORT_OUTCOME_RENAMED,
}
_STATUS_OF_MESSAGE = {message: status for status, message in _STATUS.items()}


def import_outcome_message(outcome: ImportOutcome) -> registry_service_pb2.ImportOutcome:
    return _IMPORT_OUTCOME[outcome]


def conflict_policy_of(
    value: registry_service_pb2.ImportConflictPolicy,
) -> ConflictPolicy:
    """The policy an on_conflict field names; proto3 enums are open, so any number may arrive."""
    if value not in _CONFLICT_POLICY:
        raise InvalidArgument(
            f"on_conflict {value} is not an ImportConflictPolicy", field="on_conflict"
        )
    return _CONFLICT_POLICY[value]


def imported_model_record(message: registered_model_pb2.RegisteredModel) -> RegisteredModel:
    """The model part of an import; latest_versions is derived from the versions, not read."""
    return RegisteredModel(
        name=message.name,
        creation_timestamp=message.creation_timestamp,
        last_updated_timestamp=message.last_updated_timestamp,
        user_id=message.user_id,
        description=message.description,
        tags=dict(message.tags),
        aliases=dict(message.aliases),
    )


def imported_version_record(
    message: model_version_pb2.ModelVersion, name: str, field: str
) -> ModelVersion:
    """One version of an import, belonging to the model ``name``; ``field`` is its request path.
    An empty stage is "None" and an unspecified status READY, as for a created version."""
    stage = Stage.NONE
    if message.current_stage:
        stage = validation.parse_stage(message.current_stage, f"{field}.current_stage")
    if message.status == model_version_pb2.MODEL_VERSION_STATUS_UNSPECIFIED:
        status = VersionStatus.READY
    elif message.status in _STATUS_OF_MESSAGE:
        status = _STATUS_OF_MESSAGE[message.status]
    else:
        raise InvalidArgument(
            f"{field}.status {message.status} is not a ModelVersionStatus", field=f"{field}.status"
        )
    return ModelVersion(
        name=name,
        version=message.version,
        creation_timestamp=message.creation_timestamp,
        last_updated_timestamp=message.last_updated_timestamp,
        user_id=message.user_id,
        current_stage=stage,
        description=message.description,
        source=message.source,
        run_id=message.run_id,
        run_link=message.run_link,
        experiment_id=message.experiment_id,
        status=status,
        status_message=message.status_message,
        tags=dict(message.tags),
    )
