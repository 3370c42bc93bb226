from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_REGISTERED_MODEL_CREATED: _ClassVar[EventType]
    EVENT_TYPE_REGISTERED_MODEL_RENAMED: _ClassVar[EventType]
    EVENT_TYPE_REGISTERED_MODEL_UPDATED: _ClassVar[EventType]
    EVENT_TYPE_REGISTERED_MODEL_DELETED: _ClassVar[EventType]
    EVENT_TYPE_MODEL_VERSION_CREATED: _ClassVar[EventType]
    EVENT_TYPE_MODEL_VERSION_UPDATED: _ClassVar[EventType]
    EVENT_TYPE_MODEL_VERSION_STAGE_CHANGED: _ClassVar[EventType]
    EVENT_TYPE_MODEL_VERSION_DELETED: _ClassVar[EventType]
    EVENT_TYPE_REGISTERED_MODEL_TAG_SET: _ClassVar[EventType]
    EVENT_TYPE_REGISTERED_MODEL_TAG_DELETED: _ClassVar[EventType]
    EVENT_TYPE_MODEL_VERSION_TAG_SET: _ClassVar[EventType]
    EVENT_TYPE_MODEL_VERSION_TAG_DELETED: _ClassVar[EventType]
    EVENT_TYPE_MODEL_VERSION_ALIAS_CREATED: _ClassVar[EventType]
    EVENT_TYPE_MODEL_VERSION_ALIAS_MOVED: _ClassVar[EventType]
    EVENT_TYPE_MODEL_VERSION_ALIAS_DELETED: _ClassVar[EventType]
    EVENT_TYPE_TRANSITION_REQUEST_CREATED: _ClassVar[EventType]
    EVENT_TYPE_TRANSITION_REQUEST_APPROVED: _ClassVar[EventType]
    EVENT_TYPE_TRANSITION_REQUEST_REJECTED: _ClassVar[EventType]
    EVENT_TYPE_TRANSITION_REQUEST_CANCELLED: _ClassVar[EventType]
    EVENT_TYPE_REGISTERED_MODEL_RESTORED: _ClassVar[EventType]
    EVENT_TYPE_MODEL_VERSION_RESTORED: _ClassVar[EventType]
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_REGISTERED_MODEL_CREATED: EventType
EVENT_TYPE_REGISTERED_MODEL_RENAMED: EventType
EVENT_TYPE_REGISTERED_MODEL_UPDATED: EventType
EVENT_TYPE_REGISTERED_MODEL_DELETED: EventType
EVENT_TYPE_MODEL_VERSION_CREATED: EventType
EVENT_TYPE_MODEL_VERSION_UPDATED: EventType
EVENT_TYPE_MODEL_VERSION_STAGE_CHANGED: EventType
EVENT_TYPE_MODEL_VERSION_DELETED: EventType
EVENT_TYPE_REGISTERED_MODEL_TAG_SET: EventType
EVENT_TYPE_REGISTERED_MODEL_TAG_DELETED: EventType
EVENT_TYPE_MODEL_VERSION_TAG_SET: EventType
EVENT_TYPE_MODEL_VERSION_TAG_DELETED: EventType
EVENT_TYPE_MODEL_VERSION_ALIAS_CREATED: EventType
EVENT_TYPE_MODEL_VERSION_ALIAS_MOVED: EventType
EVENT_TYPE_MODEL_VERSION_ALIAS_DELETED: EventType
EVENT_TYPE_TRANSITION_REQUEST_CREATED: EventType
EVENT_TYPE_TRANSITION_REQUEST_APPROVED: EventType
EVENT_TYPE_TRANSITION_REQUEST_REJECTED: EventType
EVENT_TYPE_TRANSITION_REQUEST_CANCELLED: EventType
EVENT_TYPE_REGISTERED_MODEL_RESTORED: EventType
EVENT_TYPE_MODEL_VERSION_RESTORED: EventType

class Event(_message.Message):
    __slots__ = ("sequence", "timestamp", "actor", "event_type", "model_name", "version", "before", "after")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp: int
    actor: str
    event_type: EventType
    model_name: str
    version: int
    before: _struct_pb2.Struct
    after: _struct_pb2.Struct
    def __init__(self, sequence: _Optional[int] = ..., timestamp: _Optional[int] = ..., actor: _Optional[str] = ..., event_type: _Optional[_Union[EventType, str]] = ..., model_name: _Optional[str] = ..., version: _Optional[int] = ..., before: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., after: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("start_after", "model_names", "event_types")
    START_AFTER_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAMES_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    start_after: int
    model_names: _containers.RepeatedScalarFieldContainer[str]
    event_types: _containers.RepeatedScalarFieldContainer[EventType]
    def __init__(self, start_after: _Optional[int] = ..., model_names: _Optional[_Iterable[str]] = ..., event_types: _Optional[_Iterable[_Union[EventType, str]]] = ...) -> None: ...

class WatchEventsResponse(_message.Message):
    __slots__ = ("event", "high_water_sequence")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    HIGH_WATER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    event: Event
    high_water_sequence: int
    def __init__(self, event: _Optional[_Union[Event, _Mapping]] = ..., high_water_sequence: _Optional[int] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("start_after", "model_names", "event_types", "page_size", "page_token", "newest_first", "version")
    START_AFTER_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAMES_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NEWEST_FIRST_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    start_after: int
    model_names: _containers.RepeatedScalarFieldContainer[str]
    event_types: _containers.RepeatedScalarFieldContainer[EventType]
    page_size: int
    page_token: str
    newest_first: bool
    version: int
    def __init__(self, start_after: _Optional[int] = ..., model_names: _Optional[_Iterable[str]] = ..., event_types: _Optional[_Iterable[_Union[EventType, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., newest_first: _Optional[bool] = ..., version: _Optional[int] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
