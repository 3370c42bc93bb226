"""Write docs/api.md, the API reference of modelregistry.v1, from the comments in protos/.

    python docs/api_reference.py           # rewrite docs/api.md (what `make docs` runs)
    python docs/api_reference.py --check   # exit 1 with a diff when docs/api.md is stale

The protos are compiled by grpc_tools' protoc into a descriptor set with source info, which holds
every comment; nothing else is read. Each RPC gets its comment, its HTTP route (google.api.http),
its request and response fields, the errors its comments name (the RPC's, its request message's,
its fields' and the enum values they take), and an example `buf curl` call. The example requests
are built from the sample values below and checked against the request messages, so an example
that no longer fits the contract stops the generation.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

ROOT = Path(__file__).resolve().parents[1]
PROTOS = ROOT / "protos"
OUTPUT = ROOT / "docs" / "api.md"
PACKAGE = "modelregistry.v1"
TARGET = "http://127.0.0.1:50051"

# Canonical gRPC codes; a sentence of a comment that names one documents an error.
CODES = [
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
]
CODE_PATTERN = re.compile(r"\b(" + "|".join(CODES) + r")\b")

# The webhook id in examples; tests/test_api_reference.py puts a real one in its place.
WEBHOOK_ID = "0f8e6a52-3c1d-4d9b-9a57-2b7f1c9e4d10"
# Example values of request fields, by field name; fields without one are left out of examples.
SAMPLES: dict[str, Any] = {
    "name": "fraud-detector",
    "new_name": "fraud-detector-v2",
    "description": "Scores card payments for fraud.",
    "tags": {"team": "risk"},
    "version": 1,
    "source": "runs:/4f1c2a9e/model",
    "run_id": "4f1c2a9e",
    "stage": "Production",
    "archive_existing_versions": True,
    "stages": ["Production"],
    "page_size": 50,
    "key": "validated",
    "value": "yes",
    "alias": "champion",
    "user_id": "ci-bot",
    "permission": "PERMISSION_EDIT",
    "id": 1,
}
# Whole example requests, for the RPCs whose fields need values that fit together.
EXAMPLES: dict[str, dict[str, Any]] = {
    "SearchRegisteredModels": {
        "filter": "name LIKE 'fraud-%' AND tag.team = 'risk'",
        "page_size": 50,
        "order_by": ["last_updated_timestamp DESC"],
    },
    "SearchModelVersions": {
        "filter": "name = 'fraud-detector' AND current_stage = 'Production'",
        "page_size": 50,
        "order_by": ["version_number DESC"],
    },
    "UpdateRegisteredModel": {"name": "fraud-detector", "description": "Retired in June."},
    "CreateAccessToken": {"user_id": "ci-bot", "description": "training pipeline"},
    "UpdateModelVersion": {"name": "fraud-detector", "version": 1, "description": "AUC 0.94"},
    "ImportRegisteredModel": {
        "registered_model": {
            "name": "fraud-detector",
            "description": "Scores card payments for fraud.",
            "creation_timestamp": 1714000000000,
            "tags": {"team": "risk"},
            "aliases": {"champion": 2},
        },
        "model_versions": [
            {"version": 1, "source": "s3://models/fraud/1", "current_stage": "Archived"},
            {
                "version": 2,
                "source": "s3://models/fraud/2",
                "current_stage": "Production",
                "run_id": "4f1c2a9e",
            },
        ],
        "last_version": 3,
        "on_conflict": "IMPORT_CONFLICT_POLICY_SKIP",
    },
    "WatchEvents": {
        "start_after": 0,
        "model_names": ["fraud-detector"],
        "event_types": ["EVENT_TYPE_MODEL_VERSION_STAGE_CHANGED"],
    },
    "ListEvents": {"model_names": ["fraud-detector"], "page_size": 50},
    "CreateWebhook": {
        "url": "https://ci.example.com/registry-hook",
        "event_types": ["EVENT_TYPE_MODEL_VERSION_CREATED", "EVENT_TYPE_MODEL_VERSION_ALIAS_MOVED"],
        "secret": "s3cr3t-shared-with-the-receiver",
        "enabled": True,
        "description": "Deploy on new versions and alias moves.",
    },
    "UpdateWebhook": {
        "id": WEBHOOK_ID,
        "enabled": False,
        "update_mask": "enabled",
    },
    "DeleteWebhook": {"id": WEBHOOK_ID},
    "TestWebhook": {"id": WEBHOOK_ID},
    "ListWebhookDeliveries": {
        "webhook_id": WEBHOOK_ID,
        "status": "DELIVERY_STATUS_FAILED",
        "page_size": 50,
    },
    "CreateTransitionRequest": {
        "name": "fraud-detector",
        "version": 1,
        "stage": "Production",
        "archive_existing_versions": True,
        "comment": "AUC 0.94 on the holdout set.",
    },
    "ListTransitionRequests": {
        "name": "fraud-detector",
        "state": "TRANSITION_REQUEST_STATE_PENDING",
        "page_size": 50,
    },
    "ApproveTransitionRequest": {"id": 7, "comment": "Ship it."},
    "RejectTransitionRequest": {"id": 7, "comment": "Needs a shadow run first."},
    "CancelTransitionRequest": {"id": 7, "comment": "Wrong version."},
}

HEADER = f"""\
# API reference: {PACKAGE}

<!-- Generated from the comments in protos/ by docs/api_reference.py. Edit the protos and run
`make docs`; never edit this file. A test fails when it is stale. -->

The contract is `protos/{PACKAGE.replace(".", "/")}/*.proto`, package `{PACKAGE}`. Generate a
client from it in any language (see the README), or call it with `buf curl` as in the examples.
"""

CALLING = """\
## Calling it

Every example is a `buf curl` call from the repository root against `make run` (gRPC on
`127.0.0.1:50051`). `--schema protos` compiles the contract from protos/, so run `make googleapis`
once to fill the googleapis module it imports. The request is the JSON form of the request
message, read from standard input: field names as written in the proto or in lowerCamelCase,
int64 values as numbers or strings, enum values by name. The answer is printed the same way
(int64 as strings, fields at their default left out).
"""

ERRORS = """\
## Errors

A failed call ends with a canonical gRPC code. Its `grpc-status-details-bin` trailer holds a
`google.rpc.Status` whose `details` carry one `google.rpc.ErrorInfo` with domain
`modelregistry.v1`, a `reason` (MLflow's error code), and, when one request field is at fault,
`metadata["field"]` with its path (e.g. `version`, `model_versions[2].source`). The codes and
reasons are the same for every RPC:

| code | ErrorInfo reason | when |
|---|---|---|
{rows}

Any RPC can answer `INVALID_ARGUMENT`, `UNAVAILABLE`, and `NOT_FOUND` when it names a model,
version or alias; each RPC below also lists the errors that its own comments describe.
"""
# The server's mapping of failures to codes and reasons, which every RPC shares.
ERROR_ROWS = [
    ("INVALID_ARGUMENT", "INVALID_PARAMETER_VALUE", "a field is malformed or out of range"),
    ("NOT_FOUND", "RESOURCE_DOES_NOT_EXIST", "a model, version or alias named does not exist"),
    ("ALREADY_EXISTS", "RESOURCE_ALREADY_EXISTS", "a model name is taken"),
    ("UNAVAILABLE", "TEMPORARILY_UNAVAILABLE", "the database is unreachable or busy; retry"),
]


@dataclass
class Field:
    name: str
    type: str
    comment: str
    enum: str | None = None  # the enum it takes, if any (a name in this package)


@dataclass
class Message:
    name: str
    comment: str
    fields: list[Field] = field(default_factory=list)


@dataclass
class EnumValue:
    name: str
    number: int
    comment: str


@dataclass
class Enum:
    name: str
    comment: str
    values: list[EnumValue] = field(default_factory=list)


@dataclass
class Method:
    name: str
    comment: str
    request: str
    response: str
    http: list[tuple[str, str, str]]  # (verb, path, body)


@dataclass
class Contract:
    service: str
    service_comment: str
    service_file: str
    methods: list[Method]
    messages: dict[str, Message]
    enums: dict[str, Enum]
    pool: descriptor_pool.DescriptorPool


def build_descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    """protos/ compiled with its imports and source info (the comments)."""
    import google.api
    from grpc_tools import protoc  # type: ignore[import-untyped]

    googleapis = Path(google.api.__path__[0]).parents[1]  # googleapis-common-protos
    well_known = Path(protoc.__file__).parent / "_proto"
    sources = sorted(
        str(path.relative_to(PROTOS)) for path in PROTOS.glob("modelregistry/**/*.proto")
    )
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "contract.binpb"
        code = protoc.main(
            [
                "protoc",
                f"-I{PROTOS}",
                f"-I{googleapis}",
                f"-I{well_known}",
                "--include_imports",
                "--include_source_info",
                f"--descriptor_set_out={out}",
                *sources,
            ]
        )
        if code != 0:
            raise SystemExit(f"protoc failed on {sources}")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def clean(comment: str) -> str:
    """A comment as one paragraph."""
    return " ".join(line.strip() for line in comment.splitlines() if line.strip())


def short(type_name: str) -> str:
    prefix = f".{PACKAGE}."
    return type_name[len(prefix) :] if type_name.startswith(prefix) else type_name.lstrip(".")


SCALARS = {
    value: name.removeprefix("TYPE_").lower()
    for name, value in descriptor_pb2.FieldDescriptorProto.Type.items()
    if name not in ("TYPE_MESSAGE", "TYPE_ENUM", "TYPE_GROUP")
}


def read_contract(files: descriptor_pb2.FileDescriptorSet) -> Contract:
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    messages: dict[str, Message] = {}
    enums: dict[str, Enum] = {}
    maps: dict[str, tuple[str, str]] = {}
    services: list[tuple[str, str, str, list[Method]]] = []

    own = [file for file in files.file if file.package == PACKAGE]
    for file in own:  # map entry types first: fields refer to them across files
        for outer in file.message_type:
            for nested in outer.nested_type:
                if nested.options.map_entry:
                    key, value = nested.field
                    full = f".{file.package}.{outer.name}.{nested.name}"
                    maps[full] = (type_of(key, {}), type_of(value, {}))

    for file in own:
        comments = {tuple(loc.path): loc.leading_comments for loc in file.source_code_info.location}
        for index, enum_proto in enumerate(file.enum_type):
            enum = Enum(enum_proto.name, clean(comments.get((5, index), "")))
            for number, value_proto in enumerate(enum_proto.value):
                comment = clean(comments.get((5, index, 2, number), ""))
                enum.values.append(EnumValue(value_proto.name, value_proto.number, comment))
            enums[enum_proto.name] = enum
        for index, message_proto in enumerate(file.message_type):
            message = Message(message_proto.name, clean(comments.get((4, index), "")))
            for number, field_proto in enumerate(message_proto.field):
                comment = clean(comments.get((4, index, 2, number), ""))
                enum_name = (
                    short(field_proto.type_name)
                    if field_proto.type == field_proto.TYPE_ENUM
                    else None
                )
                message.fields.append(
                    Field(field_proto.name, type_of(field_proto, maps), comment, enum_name)
                )
            messages[message_proto.name] = message
        for index, service in enumerate(file.service):
            methods = []
            for number, method in enumerate(service.method):
                rule = method.options.Extensions[annotations_pb2.http]
                methods.append(
                    Method(
                        method.name,
                        clean(comments.get((6, index, 2, number), "")),
                        short(method.input_type),
                        short(method.output_type),
                        http_routes(rule),
                    )
                )
            services.append((service.name, clean(comments.get((6, index), "")), file.name, methods))

    if len(services) != 1:
        raise SystemExit(f"expected one service in {PACKAGE}, found {len(services)}")
    name, comment, file_name, methods = services[0]
    return Contract(name, comment, file_name, methods, messages, enums, pool)


def type_of(proto: descriptor_pb2.FieldDescriptorProto, maps: dict[str, tuple[str, str]]) -> str:
    if proto.type_name in maps:
        key, value = maps[proto.type_name]
        return f"map<{key}, {value}>"
    base = short(proto.type_name) if proto.type_name else SCALARS[proto.type]
    if proto.label == proto.LABEL_REPEATED:
        return f"repeated {base}"
    if proto.proto3_optional:
        return f"optional {base}"
    return base


def http_routes(rule: http_pb2.HttpRule) -> list[tuple[str, str, str]]:
    routes = []
    for each in [rule, *rule.additional_bindings]:
        verb = each.WhichOneof("pattern")
        if verb is not None and verb != "custom":
            routes.append((verb.upper(), getattr(each, verb), each.body))
    return routes


def sentences(text: str) -> list[str]:
    return [part for part in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text) if part]


def prose(text: str) -> str:
    """Comment text as Markdown: canonical codes in backticks, "<key>" shown, not taken as HTML."""
    return CODE_PATTERN.sub(r"`\1`", text.replace("&", "&amp;").replace("<", "&lt;"))


def errors_of(contract: Contract, method: Method) -> list[str]:
    """The sentences of the comments around an RPC that name a canonical code."""
    found: list[str] = []

    def add(prefix: str, text: str) -> None:
        for sentence in sentences(text):
            if CODE_PATTERN.search(sentence):
                found.append(prefix + prose(sentence))

    add("", method.comment)
    request = contract.messages[method.request]
    add("", request.comment)
    for each in request.fields:
        add(f"`{each.name}`: ", each.comment)
        if each.enum is not None and each.enum in contract.enums:
            for value in contract.enums[each.enum].values:
                add(f"`{each.name}` = `{value.name}`: ", value.comment)
    return found


def example_of(contract: Contract, method: Method) -> dict[str, Any]:
    if method.name in EXAMPLES:
        example = EXAMPLES[method.name]
    else:
        request = contract.messages[method.request]
        example = {each.name: SAMPLES[each.name] for each in request.fields if each.name in SAMPLES}
    message_class = message_factory.GetMessageClass(
        contract.pool.FindMessageTypeByName(f"{PACKAGE}.{method.request}")
    )
    try:
        json_format.ParseDict(example, message_class())
    except json_format.ParseError as error:
        message = f"the example of {method.name} does not fit {method.request}: {error}"
        raise SystemExit(message) from error
    return example


def cell(text: str) -> str:
    return text.replace("|", "\\|") or " "


def anchor(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "", name.lower().replace(" ", "-"))


def linked(type_name: str, contract: Contract) -> str:
    """A field type, its message or enum linked when it has a section of its own."""
    label, base = "", type_name
    if type_name.startswith(("repeated ", "optional ")):
        label, base = type_name.split(" ", 1)
    if base in contract.enums or base in documented_messages(contract):
        text = f"[`{base}`](#{anchor(base)})"
    else:
        text = f"`{base}`"
    return f"{label} {text}" if label else text


def documented_messages(contract: Contract) -> list[str]:
    """Messages with a section of their own: all but the requests and responses of RPCs."""
    inline = {m.request for m in contract.methods} | {m.response for m in contract.methods}
    return [name for name in contract.messages if name not in inline]


def field_table(message: Message, contract: Contract) -> Iterator[str]:
    if not message.fields:
        yield "No fields."
        return
    yield "| field | type | description |"
    yield "|---|---|---|"
    for each in message.fields:
        description = cell(prose(each.comment))
        yield f"| `{each.name}` | {linked(each.type, contract)} | {description} |"


def render_method(contract: Contract, method: Method) -> Iterator[str]:
    yield f"### {method.name}"
    yield ""
    yield prose(method.comment)
    yield ""
    yield f"`rpc {method.name}({method.request}) returns ({method.response})`"
    yield ""
    for verb, path, body in method.http:
        suffix = f" (body `{body}`)" if body else " (fields as query parameters)"
        yield f"- HTTP/JSON: `{verb} {path}`{suffix}"
    if not method.http:
        yield "- HTTP/JSON: none (gRPC only)"
    yield ""
    for role, name in (("Request", method.request), ("Response", method.response)):
        message = contract.messages[name]
        yield f"**{role}** `{name}`: {prose(message.comment)}"
        yield ""
        yield from field_table(message, contract)
        yield ""
    yield "**Errors**"
    yield ""
    for sentence in errors_of(contract, method):
        yield f"- {sentence}"
    yield "- Those of every call: see [Errors](#errors)."
    yield ""
    yield "**Example**"
    yield ""
    body = json.dumps(example_of(contract, method), indent=2, ensure_ascii=False)
    yield "```sh"
    yield "buf curl --schema protos --protocol grpc --http2-prior-knowledge --data @- \\"
    yield f"  {TARGET}/{PACKAGE}.{contract.service}/{method.name} <<'EOF'"
    yield body
    yield "EOF"
    yield "```"
    yield ""


def render(contract: Contract) -> str:
    lines = [HEADER]
    lines.append(f"## {contract.service}")
    lines.append("")
    lines.append(prose(contract.service_comment))
    lines.append("")
    full_name = f"{PACKAGE}.{contract.service}"
    lines.append(f"Defined in `protos/{contract.service_file}`; full name `{full_name}`.")
    lines.append("")
    lines.append("| RPC | what it does |")
    lines.append("|---|---|")
    for method in contract.methods:
        summary = sentences(method.comment)[0] if method.comment else ""
        lines.append(f"| [{method.name}](#{anchor(method.name)}) | {cell(prose(summary))} |")
    lines.append("")
    lines.append(CALLING)
    rows = [f"| `{code}` | `{reason}` | {when} |" for code, reason, when in ERROR_ROWS]
    lines.append(ERRORS.format(rows="\n".join(rows)))
    lines.append("## RPCs")
    lines.append("")
    for method in contract.methods:
        lines.extend(render_method(contract, method))
    lines.append("## Messages")
    lines.append("")
    for name in documented_messages(contract):
        message = contract.messages[name]
        lines.append(f"### {name}")
        lines.append("")
        lines.append(prose(message.comment))
        lines.append("")
        lines.extend(field_table(message, contract))
        lines.append("")
    lines.append("## Enums")
    lines.append("")
    for _, enum in sorted(contract.enums.items()):
        lines.append(f"### {enum.name}")
        lines.append("")
        lines.append(prose(enum.comment))
        lines.append("")
        lines.append("| value | number | description |")
        lines.append("|---|---|---|")
        for value in enum.values:
            lines.append(f"| `{value.name}` | {value.number} | {cell(prose(value.comment))} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="default: docs/api.md")
    args = parser.parse_args(argv)
    text = render(read_contract(build_descriptor_set()))
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current == text:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            text.splitlines(keepends=True),
            f"{args.output} (committed)",
            f"{args.output} (from protos/)",
        )
        sys.stdout.writelines(diff)
        print(f"\n{args.output} is stale: run `make docs`")
        return 1
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
