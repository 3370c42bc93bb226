"""Input rules for every field the registry stores, checked before any write.

Each limit here is no larger than its column in ``store.tables``, so nothing that passes validation
can fail in the database. Every rejection names the request field.
"""

from __future__ import annotations

import re

from registry_service.domain import Stage
from registry_service.errors import Flaw, InvalidArgument

MAX_NAME_LENGTH = 256
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 5000
MAX_TAGS_PER_REQUEST = 100
MAX_DESCRIPTION_LENGTH = 65536
MAX_SOURCE_LENGTH = 4096
MAX_RUN_ID_LENGTH = 256
MAX_RUN_LINK_LENGTH = 4096
MAX_EXPERIMENT_ID_LENGTH = 256
MAX_MODEL_ID_LENGTH = 256
MAX_ALIAS_LENGTH = 255
MAX_USER_ID_LENGTH = 256
# Version numbers are INTEGER (32-bit) columns; the contract's int64 has room they do not.
MAX_VERSION = 2**31 - 1
MAX_STAGES_PER_REQUEST = 10
# The canonical text form of a UUID: 8-4-4-4-12 hexadecimal digits.
REQUEST_ID_LENGTH = 36
# An etag is a resource's revision as 16 hexadecimal digits.
ETAG_LENGTH = 16

# Control characters break logs, URIs and terminals; NUL is also refused by PostgreSQL text columns.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Free text may hold line breaks and tabs, never NUL or other control characters.
_CONTROL_EXCEPT_WHITESPACE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ALIAS = re.compile(r"[A-Za-z0-9_-]+")
_RESERVED_VERSION_ALIAS = re.compile(r"v\d+", re.IGNORECASE)
_REQUEST_ID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", re.IGNORECASE)
_ETAG = re.compile(f"[0-9a-f]{{{ETAG_LENGTH}}}")

LATEST_ALIAS = "latest"


def _check_length(field: str, value: str, maximum: int) -> None:
    if len(value) > maximum:
        raise InvalidArgument(
            f"{field} is {len(value)} characters long; the maximum is {maximum}", field=field
        )


def check_identifier(field: str, value: str, maximum: int) -> str:
    """A required single-line string: non-empty, bounded, no control characters."""
    if not value:
        raise InvalidArgument(f"{field} must not be empty", field=field, flaw=Flaw.EMPTY)
    _check_length(field, value, maximum)
    if _CONTROL.search(value):
        raise InvalidArgument(f"{field} must not contain control characters", field=field)
    return value


def check_optional_line(field: str, value: str, maximum: int) -> str:
    """An optional single-line string: bounded, no control characters."""
    _check_length(field, value, maximum)
    if _CONTROL.search(value):
        raise InvalidArgument(f"{field} must not contain control characters", field=field)
    return value


def check_text(field: str, value: str, maximum: int) -> str:
    """Free text such as a description or tag value: bounded, line breaks and tabs allowed."""
    _check_length(field, value, maximum)
    if _CONTROL_EXCEPT_WHITESPACE.search(value):
        raise InvalidArgument(f"{field} must not contain control characters", field=field)
    return value


def check_model_name(value: str, field: str = "name") -> str:
    """A registered model name: "/" is refused because it would make models:/ URIs ambiguous."""
    check_identifier(field, value, MAX_NAME_LENGTH)
    if "/" in value:
        raise InvalidArgument(f"{field} must not contain '/'", field=field)
    if value != value.strip():
        raise InvalidArgument(f"{field} must not start or end with whitespace", field=field)
    return value


def check_version(value: int, field: str = "version") -> int:
    if not 1 <= value <= MAX_VERSION:
        raise InvalidArgument(
            f"{field} must be between 1 and {MAX_VERSION}, got {value}",
            field=field,
            flaw=Flaw.OUT_OF_RANGE,
            value=str(value),
        )
    return value


def check_tag_key(value: str, field: str = "key") -> str:
    return check_identifier(field, value, MAX_TAG_KEY_LENGTH)


def check_tag_value(value: str, field: str = "value") -> str:
    return check_text(field, value, MAX_TAG_VALUE_LENGTH)


def check_tags(tags: dict[str, str], field: str = "tags") -> dict[str, str]:
    if len(tags) > MAX_TAGS_PER_REQUEST:
        raise InvalidArgument(
            f"{field} has {len(tags)} entries; the maximum is {MAX_TAGS_PER_REQUEST}", field=field
        )
    return check_tag_entries(tags, field)


def check_tag_entries(tags: dict[str, str], field: str = "tags") -> dict[str, str]:
    """Each key and value, with no count limit: an import carries every tag a model collected one
    call at a time."""
    for key, value in tags.items():
        check_tag_key(key, f"{field}.key")
        check_tag_value(value, f"{field}[{key}]")
    return tags


def check_description(value: str, field: str = "description") -> str:
    return check_text(field, value, MAX_DESCRIPTION_LENGTH)


def parse_stages(values: list[str], field: str = "stages") -> list[Stage]:
    if len(values) > MAX_STAGES_PER_REQUEST:
        raise InvalidArgument(
            f"{field} has {len(values)} entries; the maximum is {MAX_STAGES_PER_REQUEST}",
            field=field,
        )
    return [parse_stage(value, field) for value in values]


def parse_stage(value: str, field: str = "stage") -> Stage:
    """A stage name in any case, returned in its canonical spelling."""
    for stage in Stage:
        if value.lower() == stage.value.lower():
            return stage
    choices = ", ".join(repr(s.value) for s in Stage)
    raise InvalidArgument(
        f"{field} {value!r} is not a stage; expected one of {choices}",
        field=field,
        flaw=Flaw.UNKNOWN_STAGE,
        value=value,
    )


def check_alias_to_set(value: str, field: str = "alias") -> str:
    """An alias a user may create: reserved names resolve on their own and cannot be set."""
    check_alias_to_resolve(value, field)
    if value.lower() == LATEST_ALIAS or _RESERVED_VERSION_ALIAS.fullmatch(value):
        raise InvalidArgument(
            f"{field} {value!r} is reserved ('latest' and 'v<digits>' cannot be set)", field=field
        )
    return value


def check_alias_to_resolve(value: str, field: str = "alias") -> str:
    """An alias to look up or delete: the same alphabet as a settable alias."""
    if not value:
        raise InvalidArgument(f"{field} must not be empty", field=field, flaw=Flaw.EMPTY)
    _check_length(field, value, MAX_ALIAS_LENGTH)
    if not _ALIAS.fullmatch(value):
        raise InvalidArgument(
            f"{field} {value!r} may contain only letters, digits, '_' and '-'", field=field
        )
    return value


def check_request_id(value: str, field: str = "request_id") -> str | None:
    """None when absent; otherwise the UUID in lower case, so that one id has one spelling."""
    if not value:
        return None
    if not _REQUEST_ID.fullmatch(value):
        raise InvalidArgument(
            f"{field} must be a UUID (8-4-4-4-12 hexadecimal digits), got {value!r:.80}",
            field=field,
        )
    return value.lower()


def etag_of(revision: int) -> str:
    return f"{revision:0{ETAG_LENGTH}x}"


def check_etag(value: str, field: str = "etag") -> int | None:
    """The revision an etag names, or None when the caller sent none (no check wanted)."""
    if not value:
        return None
    if not _ETAG.fullmatch(value):
        raise InvalidArgument(
            f"{field} {value!r:.80} is not an etag this service issued; pass the etag of the "
            "resource as last read, unchanged",
            field=field,
        )
    return int(value, 16)
