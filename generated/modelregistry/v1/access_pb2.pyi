from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Permission(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PERMISSION_UNSPECIFIED: _ClassVar[Permission]
    PERMISSION_READ: _ClassVar[Permission]
    PERMISSION_EDIT: _ClassVar[Permission]
    PERMISSION_MANAGE: _ClassVar[Permission]
PERMISSION_UNSPECIFIED: Permission
PERMISSION_READ: Permission
PERMISSION_EDIT: Permission
PERMISSION_MANAGE: Permission

class AccessToken(_message.Message):
    __slots__ = ("id", "user_id", "admin", "description", "creation_timestamp", "revocation_timestamp", "expiration_timestamp", "last_used_timestamp")
    ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    REVOCATION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    EXPIRATION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    id: int
    user_id: str
    admin: bool
    description: str
    creation_timestamp: int
    revocation_timestamp: int
    expiration_timestamp: int
    last_used_timestamp: int
    def __init__(self, id: _Optional[int] = ..., user_id: _Optional[str] = ..., admin: _Optional[bool] = ..., description: _Optional[str] = ..., creation_timestamp: _Optional[int] = ..., revocation_timestamp: _Optional[int] = ..., expiration_timestamp: _Optional[int] = ..., last_used_timestamp: _Optional[int] = ...) -> None: ...

class RegisteredModelPermission(_message.Message):
    __slots__ = ("name", "user_id", "permission")
    NAME_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    user_id: str
    permission: Permission
    def __init__(self, name: _Optional[str] = ..., user_id: _Optional[str] = ..., permission: _Optional[_Union[Permission, str]] = ...) -> None: ...

class CreateAccessTokenRequest(_message.Message):
    __slots__ = ("user_id", "admin", "description", "expires_in")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    admin: bool
    description: str
    expires_in: int
    def __init__(self, user_id: _Optional[str] = ..., admin: _Optional[bool] = ..., description: _Optional[str] = ..., expires_in: _Optional[int] = ...) -> None: ...

class CreateAccessTokenResponse(_message.Message):
    __slots__ = ("access_token", "token")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    access_token: AccessToken
    token: str
    def __init__(self, access_token: _Optional[_Union[AccessToken, _Mapping]] = ..., token: _Optional[str] = ...) -> None: ...

class ListAccessTokensRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class ListAccessTokensResponse(_message.Message):
    __slots__ = ("access_tokens",)
    ACCESS_TOKENS_FIELD_NUMBER: _ClassVar[int]
    access_tokens: _containers.RepeatedCompositeFieldContainer[AccessToken]
    def __init__(self, access_tokens: _Optional[_Iterable[_Union[AccessToken, _Mapping]]] = ...) -> None: ...

class RevokeAccessTokenRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class RevokeAccessTokenResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetRegisteredModelPermissionRequest(_message.Message):
    __slots__ = ("name", "user_id", "permission")
    NAME_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    user_id: str
    permission: Permission
    def __init__(self, name: _Optional[str] = ..., user_id: _Optional[str] = ..., permission: _Optional[_Union[Permission, str]] = ...) -> None: ...

class SetRegisteredModelPermissionResponse(_message.Message):
    __slots__ = ("registered_model_permission",)
    REGISTERED_MODEL_PERMISSION_FIELD_NUMBER: _ClassVar[int]
    registered_model_permission: RegisteredModelPermission
    def __init__(self, registered_model_permission: _Optional[_Union[RegisteredModelPermission, _Mapping]] = ...) -> None: ...

class GetRegisteredModelPermissionsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetRegisteredModelPermissionsResponse(_message.Message):
    __slots__ = ("registered_model_permissions",)
    REGISTERED_MODEL_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    registered_model_permissions: _containers.RepeatedCompositeFieldContainer[RegisteredModelPermission]
    def __init__(self, registered_model_permissions: _Optional[_Iterable[_Union[RegisteredModelPermission, _Mapping]]] = ...) -> None: ...

class DeleteRegisteredModelPermissionRequest(_message.Message):
    __slots__ = ("name", "user_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    user_id: str
    def __init__(self, name: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class DeleteRegisteredModelPermissionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCurrentIdentityRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCurrentIdentityResponse(_message.Message):
    __slots__ = ("user_id", "admin")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    admin: bool
    def __init__(self, user_id: _Optional[str] = ..., admin: _Optional[bool] = ...) -> None: ...
