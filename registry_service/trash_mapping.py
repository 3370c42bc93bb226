"""Deleted models and versions (store/trash.py) as the messages of modelregistry/v1/trash.proto."""

from __future__ import annotations

from modelregistry.v1 import trash_pb2

from registry_service.domain import DeletedModelVersion, DeletedRegisteredModel
from registry_service.proto_mapping import model_version_message, registered_model_message


def deleted_model_message(deleted: DeletedRegisteredModel) -> trash_pb2.DeletedRegisteredModel:
    return trash_pb2.DeletedRegisteredModel(
        registered_model=registered_model_message(deleted.model),
        deletion_timestamp=deleted.deletion_timestamp,
        deleted_by=deleted.deleted_by,
        version_count=deleted.version_count,
        purge_timestamp=deleted.purge_timestamp,
    )


def deleted_version_message(deleted: DeletedModelVersion) -> trash_pb2.DeletedModelVersion:
    return trash_pb2.DeletedModelVersion(
        model_version=model_version_message(deleted.version),
        deletion_timestamp=deleted.deletion_timestamp,
        deleted_by=deleted.deleted_by,
        purge_timestamp=deleted.purge_timestamp,
    )
