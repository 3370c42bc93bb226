"""The registry's messages in MLflow's JSON, as the mlflow client writes and parses it.

Field names are the protos' own snake_case names, which are MLflow's. Where MLflow's JSON differs
from the proto3 JSON mapping it wins, because the client parses responses into MLflow's protos:
- a map is a list of entry objects: {"key", "value"} for tags, {"alias", "version"} for aliases;
- a field named ``version`` is a JSON string (MLflow's versions are strings), other integers are
  JSON numbers, int64 included;
- an enum value loses its type prefix (MODEL_VERSION_STATUS_READY is "READY");
- fields at their default value are left out, as MLflow leaves out unset fields, so the client
  sees None where MLflow's server would send nothing; ``{}`` is the empty response;
- ``max_results`` is MLflow's name for ``page_size``;
- MLflow's server sorts registered models by ``timestamp`` on their last update, where the
  contract reads it as their creation: over HTTP it keeps MLflow's meaning.
Requests may carry fields this registry does not know (MLflow's newer ones): they are ignored.
Requests take enum values as responses show them, by full name or by number; message fields as
JSON objects in the same shapes (a response's model reads back into ImportRegisteredModel); a
FieldMask as proto3 JSON's comma-separated paths. An event's before and after are plain JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TypeVar, cast

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from registry_service.errors import Flaw, InvalidArgument

M = TypeVar("M", bound=Message)

# MLflow's names for the two halves of each map entry.
_ENTRY_NAMES = {"tags": ("key", "value"), "aliases": ("alias", "version")}
_DEFAULT_ENTRY_NAMES = ("key", "value")
# MLflow's request field names that differ from the protos'.
_FIELD_ALIASES = {"max_results": "page_size"}
# Per request message, MLflow's order_by keys that mean another key of the contract.
_ORDER_KEYS = {"SearchRegisteredModelsRequest": {"timestamp": "last_updated_timestamp"}}
_STRUCT = "google.protobuf.Struct"
_FIELD_MASK = "google.protobuf.FieldMask"
_INTEGER_RANGES = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1),
}


# -- responses -------------------------------------------------------------------------------


def to_json(message: Message) -> dict[str, Any]:
    return {field.name: _field_to_json(field, value) for field, value in message.ListFields()}


def _field_to_json(field: FieldDescriptor, value: Any) -> Any:
    entry = _map_entry(field)
    if entry is not None:
        key_name, value_name = _ENTRY_NAMES.get(field.name, _DEFAULT_ENTRY_NAMES)
        value_field = entry.fields_by_name["value"]
        return [
            {key_name: key, value_name: _value_to_json(value_field, value_name, item)}
            for key, item in sorted(value.items())
        ]
    if field.is_repeated:
        return [_value_to_json(field, field.name, item) for item in value]
    return _value_to_json(field, field.name, value)


def _value_to_json(field: FieldDescriptor, name: str, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if value.DESCRIPTOR.full_name == _STRUCT:
            # An event's before and after: the JSON object they hold, as proto3 JSON has it.
            return json_format.MessageToDict(value)
        return to_json(value)
    if field.enum_type is not None:
        return _enum_word(field.enum_type, value)
    if name == "version":
        return str(value)
    return value


def _enum_word(enum: EnumDescriptor, number: int) -> str:
    return enum.values_by_number[number].name.removeprefix(_enum_prefix(enum))


def _enum_prefix(enum: EnumDescriptor) -> str:
    # buf's ENUM_VALUE_PREFIX rule makes every value start with the type's name in UPPER_SNAKE.
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"


# -- requests --------------------------------------------------------------------------------


def request_from_json(message_type: type[M], body: Any) -> M:
    """The request a JSON body stands for; null fields count as absent."""
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object")
    message = message_type()
    for name, value in body.items():
        field = _request_field(message, name)
        if field is not None and value is not None:
            _set_field(message, field, name, value)
    return _in_mlflow_order_keys(message)


def request_from_query(message_type: type[M], params: Iterable[tuple[str, str]]) -> M:
    """The request a query string stands for: a repeated field takes every occurrence of its
    key, a singular field the last one."""
    message = message_type()
    for name, value in params:
        field = _request_field(message, name)
        if field is None:
            continue
        if field.is_repeated and _map_entry(field) is None:
            getattr(message, field.name).append(_scalar(field, name, value))
        else:
            _set_field(message, field, name, value)
    return _in_mlflow_order_keys(message)


def _in_mlflow_order_keys(message: M) -> M:
    keys = _ORDER_KEYS.get(message.DESCRIPTOR.name, {})
    if keys:
        order_by = message.order_by  # type: ignore[attr-defined]
        for index, entry in enumerate(order_by):
            words = entry.split()
            if words and words[0].lower() in keys:
                order_by[index] = " ".join([keys[words[0].lower()], *words[1:]])
    return message


def _request_field(message: Message, name: str) -> FieldDescriptor | None:
    fields = message.DESCRIPTOR.fields_by_name
    field = fields.get(name) or fields.get(_FIELD_ALIASES.get(name, ""))
    # The stubs type descriptors of C++-backed messages as a second, unrelated class.
    return cast(FieldDescriptor | None, field)


def _set_field(message: Message, field: FieldDescriptor, name: str, value: Any) -> None:
    entry = _map_entry(field)
    if entry is not None:
        _set_map(getattr(message, field.name), field.name, entry, name, value)
    elif field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        container = getattr(message, field.name)
        if not field.is_repeated:
            _fill(container, name, value)
            return
        if not isinstance(value, list):
            raise InvalidArgument(f"{name} must be a list", field=name)
        for index, item in enumerate(value):
            _fill(container.add(), f"{name}[{index}]", item)
    elif field.is_repeated:
        items = value if isinstance(value, list) else [value]
        getattr(message, field.name).extend(_scalar(field, name, item) for item in items)
    else:
        setattr(message, field.name, _scalar(field, name, value))


def _fill(target: Message, name: str, value: Any) -> None:
    """Set ``target``, a message field, from its JSON: an object of its fields in the same
    shapes as a request's (so a response's JSON reads back, as ImportRegisteredModel wants), a
    FieldMask as proto3 JSON's comma-separated paths (or a list of them)."""
    full_name = target.DESCRIPTOR.full_name
    if full_name == _FIELD_MASK:
        paths = value.split(",") if isinstance(value, str) else value
        if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
            raise InvalidArgument(f"{name} must be a comma-separated list of paths", field=name)
        target.paths.extend(path.strip() for path in paths if path.strip())  # type: ignore[attr-defined]
        return
    if not isinstance(value, dict):
        raise InvalidArgument(f"{name} must be a JSON object", field=name)
    if full_name == _STRUCT:
        try:
            json_format.ParseDict(value, target)
        except json_format.ParseError as error:
            raise InvalidArgument(f"{name}: {error}", field=name) from None
        return
    target.SetInParent()
    for key, item in value.items():
        field = _request_field(target, key)
        if field is not None and item is not None:
            _set_field(target, field, f"{name}.{key}", item)


def _set_map(target: Any, field_name: str, entry: Descriptor, name: str, value: Any) -> None:
    key_field = entry.fields_by_name["key"]
    value_field = entry.fields_by_name["value"]
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
        key_name, value_name = _ENTRY_NAMES.get(field_name, _DEFAULT_ENTRY_NAMES)
        pairs = [(item.get(key_name), item.get(value_name, "")) for item in value]
    else:
        raise InvalidArgument(f"{name} must be a list of {{key, value}} objects", field=name)
    for key, item in pairs:
        target[_scalar(key_field, name, key)] = _scalar(value_field, name, item)


def _scalar(field: FieldDescriptor, name: str, value: Any) -> Any:
    """``value`` as ``field``'s Python type; query strings bring every value as a string."""
    kind = field.cpp_type
    if kind == FieldDescriptor.CPPTYPE_STRING and isinstance(value, str):
        return value
    if kind == FieldDescriptor.CPPTYPE_BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    if kind == FieldDescriptor.CPPTYPE_ENUM and field.enum_type is not None:
        known = _enum_number(field.enum_type, value)
        if known is not None:
            return known
    if kind in _INTEGER_RANGES:
        number = _integer(value)
        if number is not None:
            # Clamped, not refused: the mlflow client sends max_results as an int64 (10000 by
            # default for version searches), and the store already caps page sizes.
            low, high = _INTEGER_RANGES[kind]
            return min(max(number, low), high)
    # Only a string is kept as the rejected value: it is the spelling MLflow quotes back.
    text = value if isinstance(value, str) else None
    raise InvalidArgument(
        f"{name} has an invalid value: {value!r}",
        field=name,
        flaw=Flaw.EMPTY if text == "" else Flaw.WRONG_TYPE,
        value=text,
    )


def _enum_number(enum: EnumDescriptor, value: Any) -> int | None:
    """The number of the value of ``enum`` that ``value`` names: its word as responses show it
    (READY), its full name (MODEL_VERSION_STATUS_READY), or its number."""
    number = _integer(value)
    if number is not None:
        return number if number in enum.values_by_number else None
    if not isinstance(value, str):
        return None
    word = value.strip().upper()
    known = enum.values_by_name.get(word) or enum.values_by_name.get(_enum_prefix(enum) + word)
    return None if known is None else int(known.number)


def _integer(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d{1,40}\s*", value):
        return int(value)
    return None


def _map_entry(field: FieldDescriptor) -> Descriptor | None:
    """The entry type of a map field; None for any other field."""
    entry = field.message_type
    return entry if entry is not None and entry.GetOptions().map_entry else None
