from modelregistry.v1 import model_version_pb2 as _model_version_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransitionRequestState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSITION_REQUEST_STATE_UNSPECIFIED: _ClassVar[TransitionRequestState]
    TRANSITION_REQUEST_STATE_PENDING: _ClassVar[TransitionRequestState]
    TRANSITION_REQUEST_STATE_APPROVED: _ClassVar[TransitionRequestState]
    TRANSITION_REQUEST_STATE_REJECTED: _ClassVar[TransitionRequestState]
    TRANSITION_REQUEST_STATE_CANCELLED: _ClassVar[TransitionRequestState]
TRANSITION_REQUEST_STATE_UNSPECIFIED: TransitionRequestState
TRANSITION_REQUEST_STATE_PENDING: TransitionRequestState
TRANSITION_REQUEST_STATE_APPROVED: TransitionRequestState
TRANSITION_REQUEST_STATE_REJECTED: TransitionRequestState
TRANSITION_REQUEST_STATE_CANCELLED: TransitionRequestState

class TransitionRequest(_message.Message):
    __slots__ = ("id", "name", "version", "stage", "alias", "delete_alias", "archive_existing_versions", "comment", "state", "user_id", "creation_timestamp", "last_updated_timestamp", "resolved_by", "resolution_comment", "etag", "version_etag")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    DELETE_ALIAS_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_EXISTING_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATED_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_BY_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_COMMENT_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    VERSION_ETAG_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    version: int
    stage: str
    alias: str
    delete_alias: bool
    archive_existing_versions: bool
    comment: str
    state: TransitionRequestState
    user_id: str
    creation_timestamp: int
    last_updated_timestamp: int
    resolved_by: str
    resolution_comment: str
    etag: str
    version_etag: str
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., stage: _Optional[str] = ..., alias: _Optional[str] = ..., delete_alias: _Optional[bool] = ..., archive_existing_versions: _Optional[bool] = ..., comment: _Optional[str] = ..., state: _Optional[_Union[TransitionRequestState, str]] = ..., user_id: _Optional[str] = ..., creation_timestamp: _Optional[int] = ..., last_updated_timestamp: _Optional[int] = ..., resolved_by: _Optional[str] = ..., resolution_comment: _Optional[str] = ..., etag: _Optional[str] = ..., version_etag: _Optional[str] = ...) -> None: ...

class CreateTransitionRequestRequest(_message.Message):
    __slots__ = ("name", "version", "stage", "alias", "delete_alias", "archive_existing_versions", "comment", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    DELETE_ALIAS_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_EXISTING_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    stage: str
    alias: str
    delete_alias: bool
    archive_existing_versions: bool
    comment: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., stage: _Optional[str] = ..., alias: _Optional[str] = ..., delete_alias: _Optional[bool] = ..., archive_existing_versions: _Optional[bool] = ..., comment: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateTransitionRequestResponse(_message.Message):
    __slots__ = ("transition_request",)
    TRANSITION_REQUEST_FIELD_NUMBER: _ClassVar[int]
    transition_request: TransitionRequest
    def __init__(self, transition_request: _Optional[_Union[TransitionRequest, _Mapping]] = ...) -> None: ...

class ListTransitionRequestsRequest(_message.Message):
    __slots__ = ("name", "version", "state", "page_size", "page_token")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    state: TransitionRequestState
    page_size: int
    page_token: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., state: _Optional[_Union[TransitionRequestState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTransitionRequestsResponse(_message.Message):
    __slots__ = ("transition_requests", "next_page_token")
    TRANSITION_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    transition_requests: _containers.RepeatedCompositeFieldContainer[TransitionRequest]
    next_page_token: str
    def __init__(self, transition_requests: _Optional[_Iterable[_Union[TransitionRequest, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ApproveTransitionRequestRequest(_message.Message):
    __slots__ = ("id", "etag", "comment")
    ID_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    id: int
    etag: str
    comment: str
    def __init__(self, id: _Optional[int] = ..., etag: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class ApproveTransitionRequestResponse(_message.Message):
    __slots__ = ("transition_request", "model_version")
    TRANSITION_REQUEST_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    transition_request: TransitionRequest
    model_version: _model_version_pb2.ModelVersion
    def __init__(self, transition_request: _Optional[_Union[TransitionRequest, _Mapping]] = ..., model_version: _Optional[_Union[_model_version_pb2.ModelVersion, _Mapping]] = ...) -> None: ...

class RejectTransitionRequestRequest(_message.Message):
    __slots__ = ("id", "etag", "comment")
    ID_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    id: int
    etag: str
    comment: str
    def __init__(self, id: _Optional[int] = ..., etag: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class RejectTransitionRequestResponse(_message.Message):
    __slots__ = ("transition_request",)
    TRANSITION_REQUEST_FIELD_NUMBER: _ClassVar[int]
    transition_request: TransitionRequest
    def __init__(self, transition_request: _Optional[_Union[TransitionRequest, _Mapping]] = ...) -> None: ...

class CancelTransitionRequestRequest(_message.Message):
    __slots__ = ("id", "etag", "comment")
    ID_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    id: int
    etag: str
    comment: str
    def __init__(self, id: _Optional[int] = ..., etag: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class CancelTransitionRequestResponse(_message.Message):
    __slots__ = ("transition_request",)
    TRANSITION_REQUEST_FIELD_NUMBER: _ClassVar[int]
    transition_request: TransitionRequest
    def __init__(self, transition_request: _Optional[_Union[TransitionRequest, _Mapping]] = ...) -> None: ...
