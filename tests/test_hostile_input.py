"""Malformed and malicious requests through a real server on both backends: every RPC answers with
a canonical client-error status (never UNKNOWN or INTERNAL), the server stays up, and a rejected
call changes nothing. Besides fixed cases, thousands of requests are generated (hypothesis) for
every RPC: random, oversized, unicode and control characters, negative and out-of-range numbers,
unknown fields, SQL-shaped filters and names, reused request ids, stale etags."""

from __future__ import annotations

import base64
import functools
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.engine import Engine

from registry_service.server import RunningServer
from registry_service.store.tables import metadata

from .test_grpc_integration import INVALID, SERVICE, TIMEOUT, Stub, expect_error, pb, snapshot

# gRPC's default limit on a received message, which the server keeps (README "Limits").
MAX_REQUEST_BYTES = 4 * 1024 * 1024

RawMethod = Callable[..., Any]


@pytest.fixture
def channel(server: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as opened:
        yield opened


def raw_method(channel: grpc.Channel, name: str) -> RawMethod:
    """An RPC of the service that sends and receives bytes as they are, unchecked."""
    path = f"/{SERVICE.full_name}/{name}"
    if not SERVICE.methods_by_name[name].server_streaming:
        method: RawMethod = channel.unary_unary(path)
        return method
    streaming = channel.unary_stream(path)

    def drained(request: bytes, timeout: float) -> list[bytes]:
        return list(streaming(request, timeout=timeout))

    return drained


# Every unary RPC. A well-formed WatchEvents request opens a stream that never ends, so the
# generated requests leave it out; its refusals are tested on their own.
UNARY_METHODS = [method for method in SERVICE.methods if not method.server_streaming]


# Bytes no protobuf parser accepts as a request message.
UNDECODABLE = {
    # Field 1 (a string in most requests) holding bytes that are not UTF-8.
    "bad-utf8": b"\x0a\x02\xff\xfe",
    # A length-delimited field claiming more bytes than the message has.
    "truncated": b"\x0a\x10abc",
    # A varint that never ends.
    "endless-varint": b"\x10" + b"\xff" * 11,
    # Wire type 7 does not exist.
    "bad-wire-type": b"\x0f",
}


def test_undecodable_bytes_are_invalid_argument_on_every_rpc(
    stub: Stub, channel: grpc.Channel
) -> None:
    stub.CreateRegisteredModel(pb.CreateRegisteredModelRequest(name="kept"), timeout=TIMEOUT)
    before = snapshot(stub)
    for method in SERVICE.methods:
        for kind, payload in UNDECODABLE.items():
            # Bytes in a field 1 that is not a string, or that the message lacks, are an
            # unknown field, which proto3 keeps and ignores.
            first = method.input_type.fields_by_number.get(1)
            if kind == "bad-utf8" and (first is None or first.type != FieldDescriptor.TYPE_STRING):
                continue
            error = expect_error(raw_method(channel, method.name), payload, INVALID, None)
            assert method.input_type.full_name in error.details()
    assert snapshot(stub) == before


def test_a_request_over_the_message_limit_is_resource_exhausted_and_the_server_stays_up(
    stub: Stub,
) -> None:
    before = snapshot(stub)
    request = pb.CreateRegisteredModelRequest(name="big", description="d" * MAX_REQUEST_BYTES)
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateRegisteredModel(request, timeout=TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert snapshot(stub) == before
    stub.CreateRegisteredModel(pb.CreateRegisteredModelRequest(name="after"), timeout=TIMEOUT)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("version_number > -9223372036854775808", [1, 2]),
        ("version_number < 9223372036854775807", [1, 2]),
        ("version_number = 2147483648", []),
        ("version_number IN (1, 9223372036854775807)", [1]),
    ],
)
def test_integer_filters_beyond_the_version_column_are_answered(
    registry: Stub, condition: str, expected: list[int]
) -> None:
    request = pb.SearchModelVersionsRequest(filter=f"name = 'fraud' AND {condition}")
    found = registry.SearchModelVersions(request, timeout=TIMEOUT).model_versions
    assert sorted(v.version for v in found) == expected


def test_a_page_token_forged_with_a_huge_version_is_answered(registry: Stub) -> None:
    ordered = pb.SearchModelVersionsRequest(page_size=1, order_by=["version_number"])
    token = registry.SearchModelVersions(ordered, timeout=TIMEOUT).next_page_token
    data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    data["k"][0] = 2**62  # the version number the next page starts after
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    ordered.page_token = forged
    assert list(registry.SearchModelVersions(ordered, timeout=TIMEOUT).model_versions) == []


# -- generated requests ----------------------------------------------------------------------

# Requests per backend. Each is one call to a real server plus one snapshot of every table; the
# two backends together take under a minute on a busy two-core machine.
EXAMPLES_PER_BACKEND = 4000
# Statuses a hostile request may get. UNKNOWN and INTERNAL mean a bug, UNAVAILABLE or
# DEADLINE_EXCEEDED a server that fell over or hung.
EXPECTED_CODES = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.ABORTED,
    # Restoring a version of a model that is itself deleted.
    grpc.StatusCode.FAILED_PRECONDITION,
}

NAMES = ["fraud", "churn", "new"]
SQL_SHAPED = [
    "'",
    "''",
    "fraud' OR '1'='1",
    "fraud'; DROP TABLE registered_models; --",
    "1; DELETE FROM model_versions",
    '" OR ""="',
    "%",
    "_",
    "\\",
    "%' --",
    "name = 'fraud' OR 1=1",
    "name LIKE '%' UNION SELECT * FROM idempotent_requests --",
    "tag.`x'; DROP TABLE model_version_tags; --` = 'y'",
    "version_number = 1 OR version_number != 1",
    "version_number > -9223372036854775808",
    "version_number = 99999999999999999999999",
    "version_number < 2147483648",
    "creation_timestamp > 9223372036854775807",
    "run_id IN ('a', 'b', 'c'",
    "run_id IN ()",
    "current_stage = 'Production' AND (name = 'x' OR (name = 'y'",
    "alias = 'champion'",
    "tag.team != 'risk'",
    "name ILIKE '%FRAUD%'",
    "name LIKE 'fraud\\%'",
    "name LIKE 'fraud\\'",
    "(" * 200 + "name = 'x'" + ")" * 200,
    " AND ".join(["name = 'x'"] * 150),
    "name = '\x00'",
    "name = '\uff46\uff52\uff41\uff55\uff44'",  # "fraud" in full-width letters
]
STAGE_WORDS = ["None", "Staging", "Production", "Archived", "production", "PROD", "Deleted", ""]
SOURCES = [
    "s3://bucket/model",
    "runs:/r1/model",
    "runs:/",
    "runs://model",
    "models:/fraud/1",
    "models:/fraud/Production",
    "models:/fraud/latest",
    "models:/fraud@champion",
    "models:/ghost/1",
    "models:/fraud/99999999999999999999",
    "models:/",
    "models:/@",
    "file:///etc/passwd",
]
ORDER_BY = ["name", "name DESC", "version_number ASC", "timestamp", "colour", "name; DROP", ""]
ALIASES = ["champion", "challenger", "latest", "v1", "V2", "a" * 255, "prod/eu", "-", "_"]
# The codepoints no UTF-8 string can carry; protobuf refuses to serialize them.
NO_SURROGATES = st.characters(exclude_categories=["Cs"])


def _repeated(character: str, length: int) -> str:
    return character * length


hostile_text = st.one_of(
    st.sampled_from(NAMES),
    st.text(NO_SURROGATES, max_size=40),
    st.text(st.characters(max_codepoint=0x1F), min_size=1, max_size=8),
    st.builds(_repeated, NO_SURROGATES, st.sampled_from([250, 251, 256, 257, 4097, 5001, 65537])),
    st.sampled_from(SQL_SHAPED),
)


REUSED_IDS = [str(uuid.UUID(int=n)) for n in range(1, 4)]
FILTERS = ["", "name = 'fraud'", "tag.team = 'r'", "version_number >= 1", "alias = 'champion'"]
# Values that mean something to the registry, by field name, so that requests reach the store.
MEANINGFUL: dict[str, st.SearchStrategy[Any]] = {
    "name": st.sampled_from(NAMES),
    "new_name": st.sampled_from(NAMES),
    "request_id": st.one_of(st.just(""), st.uuids().map(str), st.sampled_from(REUSED_IDS)),
    # Mostly none, so that writes can succeed; a random one is stale.
    "etag": st.sampled_from(["", "", "", "0123456789abcdef"]),
    "filter": st.sampled_from(FILTERS),
    "stage": st.sampled_from(STAGE_WORDS[:4]),
    "source": st.sampled_from(SOURCES[:8]),
    "alias": st.sampled_from(["champion", "challenger", "latest"]),
    "page_token": st.just(""),
    "key": st.sampled_from(["team", "auc", "k"]),
    "version": st.integers(1, 4),
    "page_size": st.integers(0, 50),
    "stages": st.lists(st.sampled_from(STAGE_WORDS[:4]), max_size=4),
    "order_by": st.lists(st.sampled_from(ORDER_BY[:4]), max_size=2),
    "tags": st.dictionaries(st.sampled_from(["team", "auc"]), st.sampled_from(["", "x"])),
}
INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    # proto3 enums are open: any int32 may arrive, named or not.
    FieldDescriptor.TYPE_ENUM: (-(2**31), 2**31 - 1),
}
# Nested messages (an import's model and versions) go this deep, this many to a list.
MAX_DEPTH = 2
MAX_NESTED = 2


PLAIN_TEXT = st.text(st.characters(categories=["L", "N", "Zs"]), max_size=20)


# Cached: building a strategy costs more than drawing from it.
@functools.cache
def _scalar(field: FieldDescriptor, hostile: bool) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_ENUM and not hostile:
        return st.sampled_from([value.number for value in field.enum_type.values])
    if field.type in INT_RANGES:
        if not hostile:
            return st.integers(0, 4)
        low, high = INT_RANGES[field.type]
        edges = [n for n in (low, -1, 0, 2**31 - 1, 2**31, high) if low <= n <= high]
        return st.one_of(st.integers(low, high), st.sampled_from(edges))
    return hostile_text if hostile else PLAIN_TEXT


@functools.cache
def _field(field: FieldDescriptor, hostile: bool, depth: int) -> st.SearchStrategy[Any]:
    """Values for ``field``: meaningful ones (by field name where the registry gives names a
    meaning), or hostile ones."""
    if not hostile and field.name in MEANINGFUL:
        return MEANINGFUL[field.name]
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        pairs = st.dictionaries(_scalar(key, hostile), _scalar(value, hostile), max_size=3)
        if not hostile or value.type != FieldDescriptor.TYPE_STRING:
            return pairs
        too_many = st.builds(lambda n: {f"k{i}": "v" for i in range(n)}, st.sampled_from([101]))
        return st.one_of(pairs, too_many)
    if entry is not None:
        nested = _message(entry, hostile, depth + 1)
        return st.lists(nested, max_size=MAX_NESTED) if field.is_repeated else nested
    if field.is_repeated:
        elements = st.lists(_scalar(field, hostile), max_size=4)
        if not hostile or field.type != FieldDescriptor.TYPE_STRING:
            return elements
        too_many = st.builds(lambda n: ["Production"] * n, st.sampled_from([11, 1000]))
        return st.one_of(elements, too_many)
    return _scalar(field, hostile)


@st.composite
def _message(draw: st.DrawFn, descriptor: Descriptor, hostile: bool, depth: int) -> Message:
    """A nested message, every field meaningful or every field hostile; empty past MAX_DEPTH."""
    message = message_factory.GetMessageClass(descriptor)()
    if depth <= MAX_DEPTH:
        for field in descriptor.fields:
            _set(draw, message, field, _field(field, hostile, depth))
    return message


def _set(
    draw: st.DrawFn, message: Message, field: FieldDescriptor, values: st.SearchStrategy[Any]
) -> None:
    if field.has_presence and field.message_type is None and draw(st.booleans()):
        return  # an optional scalar left unset
    value = draw(values)
    target = getattr(message, field.name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        target.update(value)
    elif field.is_repeated:
        target.extend(value)
    elif field.message_type is not None:
        target.CopyFrom(value)
    else:
        setattr(message, field.name, value)


# Half meaningful, so that many requests get past validation into the store.
MODES = st.sampled_from(["meaningful"] * 3 + ["one-hostile"] * 2 + ["hostile"])
DAMAGES = st.sampled_from(["unknown-varint", "unknown-bytes", "wrong-type", "bad-utf8", "random"])
# Above every field number the requests use.
UNKNOWN_FIELD_NUMBERS = st.integers(1000, 2**29 - 1)


@st.composite
def _request(draw: st.DrawFn, method: MethodDescriptor) -> bytes:
    """A well-formed message: every field meaningful, or one field hostile, or all of them."""
    fields = method.input_type.fields
    mode = draw(MODES)
    spoiled = (
        fields[draw(st.integers(0, len(fields) - 1))].name
        if mode == "one-hostile" and fields
        else None
    )
    message = message_factory.GetMessageClass(method.input_type)()
    for field in fields:
        hostile = mode == "hostile" or field.name == spoiled
        _set(draw, message, field, _field(field, hostile, depth=1))
    return bytes(message.SerializeToString())


def _varint(value: int) -> bytes:
    encoded = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        encoded.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(encoded)


@st.composite
def _wire_damage(draw: st.DrawFn, method: MethodDescriptor) -> bytes:
    """Bytes a well-behaved client would never send: unknown fields (an unknown enum value looks
    like an unknown varint on the wire), a known field with the wrong wire type, strings that are
    not UTF-8, random bytes."""
    damage = draw(DAMAGES)
    valid = draw(REQUESTS[method.name])
    number = draw(UNKNOWN_FIELD_NUMBERS)
    if damage == "unknown-varint":
        return valid + _varint(number << 3) + _varint(draw(st.integers(0, 2**64 - 1)))
    if damage == "wrong-type" and method.input_type.fields:
        # a fixed64 where a string, number or message belongs
        known = method.input_type.fields[draw(st.integers(0, len(method.input_type.fields) - 1))]
        return valid + _varint(known.number << 3 | 1) + b"\xff" * 8
    if damage == "unknown-bytes":
        payload = draw(st.binary(max_size=30))
        return valid + _varint(number << 3 | 2) + _varint(len(payload)) + payload
    if damage == "bad-utf8":
        return valid + b"\x0a\x03\xc3\x28\xff"  # field 1, a string in most, as invalid UTF-8
    return bytes(draw(st.binary(max_size=64)))


# Built once: building strategies costs more than drawing from them.
REQUESTS = {method.name: _request(method) for method in UNARY_METHODS}
DAMAGED = {method.name: _wire_damage(method) for method in UNARY_METHODS}
METHOD_NAMES = st.sampled_from(sorted(REQUESTS))


@st.composite
def hostile_requests(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(METHOD_NAMES)
    # One request in four is damaged on the wire; the rest parse.
    damaged = draw(st.integers(0, 3)) == 0
    return name, draw(DAMAGED[name] if damaged else REQUESTS[name])


def generated(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Hypothesis's settings for a run of ``examples`` generated requests: the same ones on
    every run (derandomized, no example database), however slow a shared machine is."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def database_snapshot(engine: Engine) -> list[list[Any]]:
    """Every row of every table, in primary-key order."""
    with engine.connect() as connection:
        return [
            list(connection.execute(select(table).order_by(*table.primary_key.columns)).all())
            for table in metadata.sorted_tables
        ]


def test_generated_hostile_requests_to_every_rpc_are_refused_cleanly_and_change_nothing(
    registry: Stub, server: RunningServer, channel: grpc.Channel
) -> None:
    engine = server.store.engine
    methods = {method.name: raw_method(channel, method.name) for method in UNARY_METHODS}
    sent: Counter[tuple[str, grpc.StatusCode]] = Counter()
    state = [database_snapshot(engine)]

    @generated(EXAMPLES_PER_BACKEND)
    @given(hostile_requests())
    def send(call: tuple[str, bytes]) -> None:
        name, payload = call
        try:
            methods[name](payload, timeout=TIMEOUT)
            code = grpc.StatusCode.OK
        except grpc.RpcError as error:
            code = error.code()
            assert code in EXPECTED_CODES, (name, payload[:200], code, error.details())
        sent[name, code] += 1
        after = database_snapshot(engine)
        if code != grpc.StatusCode.OK:
            assert after == state[0], (name, payload[:200], code)
        state[0] = after

    send()

    total = sum(sent.values())
    statuses: Counter[str] = Counter()
    for (_, code), count in sent.items():
        statuses[code.name] += count
    print(f"\nsent {total} generated requests; statuses: {dict(statuses)}")
    assert total == EXAMPLES_PER_BACKEND
    assert {name for name, _ in sent} == {method.name for method in UNARY_METHODS}
    # Still serving, on a new connection too.
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as fresh:
        Stub(fresh).SearchRegisteredModels(pb.SearchRegisteredModelsRequest(), timeout=TIMEOUT)
