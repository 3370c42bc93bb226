"""Domain records to protobuf messages: the only code that knows both shapes."""

from __future__ import annotations

from modelregistry.v1 import model_version_pb2, registered_model_pb2

from registry_service.domain import ModelVersion, RegisteredModel, VersionStatus

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
