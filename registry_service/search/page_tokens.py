"""Opaque page tokens: the last row's sort-key values and a fingerprint of the search.

A token is urlsafe base64 (unpadded) of compact JSON ``{"f": fingerprint, "k": [values]}``. The
fingerprint ties it to one filter and order; resuming a different search from it would skip or
repeat rows silently, so that is refused instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence

from registry_service.errors import InvalidArgument

# Generous for the largest sort values (a 256-character name of 4-byte characters, JSON-escaped)
# yet small enough that decoding a hostile token is cheap.
MAX_TOKEN_LENGTH = 8192
_FORMAT = "v1"
_TOKEN_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
_MIN_INTEGER = -(2**63)
_MAX_INTEGER = 2**63 - 1

SortValue = str | int


def fingerprint(*parts: str) -> str:
    """A short hash of the normalized search that tokens must be used with."""
    data = json.dumps([_FORMAT, *parts], separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:16]


def encode(values: Sequence[SortValue], search_fingerprint: str) -> str:
    for value in values:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise TypeError(f"sort value {value!r} is not a string or an integer")
    data = json.dumps({"f": search_fingerprint, "k": list(values)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(data.encode("ascii")).decode("ascii").rstrip("=")


def decode(token: str, search_fingerprint: str, integer_keys: Sequence[bool]) -> list[SortValue]:
    """The sort values in ``token``; ``integer_keys`` says which keys must be integers."""
    data = _load(token)
    if not isinstance(data, dict) or not isinstance(data.get("f"), str):
        raise _invalid()
    if data["f"] != search_fingerprint:
        raise InvalidArgument(
            "page_token belongs to a search with a different filter or order_by; "
            "repeat the search without a page_token to start again",
            field="page_token",
        )
    values = data.get("k")
    if not isinstance(values, list) or len(values) != len(integer_keys):
        raise _invalid()
    for value, integer in zip(values, integer_keys, strict=True):
        if not _valid_value(value, integer):
            raise _invalid()
    return values


def _load(token: str) -> object:
    if len(token) > MAX_TOKEN_LENGTH or not _TOKEN_ALPHABET.fullmatch(token):
        raise _invalid()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        # RecursionError: deeply nested JSON arrays.
        return json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, RecursionError):
        raise _invalid() from None


def _valid_value(value: object, integer: bool) -> bool:
    if integer:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and _MIN_INTEGER <= value <= _MAX_INTEGER
        )
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        # JSON escapes can spell lone surrogates, which no database driver can send.
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _invalid() -> InvalidArgument:
    return InvalidArgument(
        "page_token is not a token this service issued; pass the next_page_token of the "
        "previous page unchanged",
        field="page_token",
    )
