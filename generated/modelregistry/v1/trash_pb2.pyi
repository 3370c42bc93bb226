from modelregistry.v1 import model_version_pb2 as _model_version_pb2
from modelregistry.v1 import registered_model_pb2 as _registered_model_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeletedRegisteredModel(_message.Message):
    __slots__ = ("registered_model", "deletion_timestamp", "deleted_by", "version_count", "purge_timestamp")
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    DELETION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    DELETED_BY_FIELD_NUMBER: _ClassVar[int]
    VERSION_COUNT_FIELD_NUMBER: _ClassVar[int]
    PURGE_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    registered_model: _registered_model_pb2.RegisteredModel
    deletion_timestamp: int
    deleted_by: str
    version_count: int
    purge_timestamp: int
    def __init__(self, registered_model: _Optional[_Union[_registered_model_pb2.RegisteredModel, _Mapping]] = ..., deletion_timestamp: _Optional[int] = ..., deleted_by: _Optional[str] = ..., version_count: _Optional[int] = ..., purge_timestamp: _Optional[int] = ...) -> None: ...

class DeletedModelVersion(_message.Message):
    __slots__ = ("model_version", "deletion_timestamp", "deleted_by", "purge_timestamp")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    DELETION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    DELETED_BY_FIELD_NUMBER: _ClassVar[int]
    PURGE_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    model_version: _model_version_pb2.ModelVersion
    deletion_timestamp: int
    deleted_by: str
    purge_timestamp: int
    def __init__(self, model_version: _Optional[_Union[_model_version_pb2.ModelVersion, _Mapping]] = ..., deletion_timestamp: _Optional[int] = ..., deleted_by: _Optional[str] = ..., purge_timestamp: _Optional[int] = ...) -> None: ...

class RestoreRegisteredModelRequest(_message.Message):
    __slots__ = ("name", "new_name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NEW_NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    new_name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., new_name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RestoreRegisteredModelResponse(_message.Message):
    __slots__ = ("registered_model",)
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    registered_model: _registered_model_pb2.RegisteredModel
    def __init__(self, registered_model: _Optional[_Union[_registered_model_pb2.RegisteredModel, _Mapping]] = ...) -> None: ...

class RestoreModelVersionRequest(_message.Message):
    __slots__ = ("name", "version", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    request_id: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class RestoreModelVersionResponse(_message.Message):
    __slots__ = ("model_version",)
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_version: _model_version_pb2.ModelVersion
    def __init__(self, model_version: _Optional[_Union[_model_version_pb2.ModelVersion, _Mapping]] = ...) -> None: ...

class ListDeletedRegisteredModelsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDeletedRegisteredModelsResponse(_message.Message):
    __slots__ = ("deleted_registered_models", "next_page_token")
    DELETED_REGISTERED_MODELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    deleted_registered_models: _containers.RepeatedCompositeFieldContainer[DeletedRegisteredModel]
    next_page_token: str
    def __init__(self, deleted_registered_models: _Optional[_Iterable[_Union[DeletedRegisteredModel, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListDeletedModelVersionsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListDeletedModelVersionsResponse(_message.Message):
    __slots__ = ("deleted_model_versions",)
    DELETED_MODEL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    deleted_model_versions: _containers.RepeatedCompositeFieldContainer[DeletedModelVersion]
    def __init__(self, deleted_model_versions: _Optional[_Iterable[_Union[DeletedModelVersion, _Mapping]]] = ...) -> None: ...
