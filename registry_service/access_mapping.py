"""Access records (tokens, permissions) to protobuf messages and back."""

from __future__ import annotations

from modelregistry.v1 import access_pb2

from registry_service.domain import AccessToken, ModelPermission, Permission
from registry_service.errors import InvalidArgument


def access_token_message(token: AccessToken) -> access_pb2.AccessToken:
    return access_pb2.AccessToken(
        id=token.id,
        user_id=token.user_id,
        admin=token.admin,
        description=token.description,
        creation_timestamp=token.creation_timestamp,
        revocation_timestamp=token.revocation_timestamp or 0,
        expiration_timestamp=token.expiration_timestamp or 0,
        last_used_timestamp=token.last_used_timestamp or 0,
    )


def permission_message(permission: ModelPermission) -> access_pb2.RegisteredModelPermission:
    return access_pb2.RegisteredModelPermission(
        name=permission.name,
        user_id=permission.user_id,
        permission=f"PERMISSION_{permission.permission.name}",
    )


def permission_of(value: int) -> Permission:
    try:
        return Permission[access_pb2.Permission.Name(value).removeprefix("PERMISSION_")]
    except (ValueError, KeyError):
        raise InvalidArgument(
            "permission must be PERMISSION_READ, PERMISSION_EDIT or PERMISSION_MANAGE",
            field="permission",
        ) from None
