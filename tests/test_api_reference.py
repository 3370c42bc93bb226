"""docs/api.md: generated from the proto comments, complete, and its examples work."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import grpc
import pytest
from google.protobuf import json_format, message_factory
from modelregistry.v1 import events_pb2, registry_service_pb2, registry_service_pb2_grpc

from registry_service.client import RegistryClient
from registry_service.server import RunningServer

ROOT = Path(__file__).resolve().parents[1]
API_DOC = ROOT / "docs" / "api.md"
SERVICE = registry_service_pb2.DESCRIPTOR.services_by_name["ModelRegistryService"]
EXAMPLE = re.compile(
    r"```sh\n(buf curl .*?/modelregistry\.v1\.ModelRegistryService/(\w+) <<'EOF'\n(.*?)\nEOF)\n```",
    re.DOTALL,
)


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("api_reference", ROOT / "docs/api_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def examples() -> dict[str, tuple[str, str]]:
    """RPC name -> (the whole buf curl command, its JSON request), as docs/api.md shows them."""
    return {match[2]: (match[1], match[3]) for match in EXAMPLE.finditer(API_DOC.read_text())}


def test_api_reference_matches_the_protos() -> None:
    generator = load_generator()
    fresh = generator.render(generator.read_contract(generator.build_descriptor_set()))
    assert API_DOC.read_text() == fresh, "docs/api.md is stale: run `make docs`"


def test_every_rpc_has_request_response_errors_and_an_example() -> None:
    text = API_DOC.read_text()
    sections = re.split(r"^### ", text, flags=re.MULTILINE)
    by_name = {section.split("\n", 1)[0]: section for section in sections}
    shown = examples()
    for method in SERVICE.methods:
        section = by_name.get(method.name)
        assert section is not None, f"docs/api.md has no section for {method.name}"
        assert f"**Request** `{method.input_type.name}`" in section
        assert f"**Response** `{method.output_type.name}`" in section
        assert "**Errors**" in section
        assert method.name in shown, f"docs/api.md has no example for {method.name}"
        for field in method.input_type.fields:
            assert f"| `{field.name}` |" in section, f"{method.name}: {field.name} undocumented"


def test_errors_named_in_comments_are_listed_with_their_rpc() -> None:
    section = API_DOC.read_text().split("### CreateRegisteredModel\n", 1)[1].split("### ")[0]
    errors = section.split("**Errors**", 1)[1].split("**Example**")[0]
    assert "- `ALREADY_EXISTS` when the name is taken." in errors
    assert "[Errors](#errors)" in errors


def reset(client: RegistryClient, with_model: bool) -> None:
    """The state the examples assume: model fraud-detector with version 1, aliased champion."""
    for model in client.search_registered_models():
        client.delete_registered_model(model.name)
    if with_model:
        client.create_registered_model("fraud-detector")
        client.create_model_version("fraud-detector", "runs:/4f1c2a9e/model", run_id="4f1c2a9e")
        client.transition_model_version_stage("fraud-detector", 1, "Production")
        client.set_registered_model_alias("fraud-detector", "champion", 1)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_example_succeeds(server: RunningServer, client: RegistryClient) -> None:
    shown = examples()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        for method in SERVICE.methods:
            reset(
                client,
                with_model=method.name not in ("CreateRegisteredModel", "ImportRegisteredModel"),
            )
            # What a restore example restores: deleted just before.
            if method.name == "RestoreRegisteredModel":
                client.delete_registered_model("fraud-detector")
            if method.name == "RestoreModelVersion":
                client.delete_model_version("fraud-detector", 1)
            request_class = message_factory.GetMessageClass(method.input_type)
            request = json_format.Parse(shown[method.name][1], request_class())
            if method.name.endswith(("Webhook", "WebhookDeliveries")) and "id" in (
                method.input_type.fields_by_name
            ):
                # Webhook ids are the server's: the example's stands for one that exists.
                request.id = client.create_webhook(
                    "https://ci.example.com/hook", [events_pb2.EVENT_TYPE_MODEL_VERSION_CREATED]
                ).id
            if method.name.endswith("TransitionRequest") and "id" in (
                method.input_type.fields_by_name
            ):
                # So are request ids: the example's stands for a pending request.
                request.id = client.create_transition_request("fraud-detector", 1, "Staging").id
            try:
                call = getattr(stub, method.name)(request, timeout=10)
                if method.server_streaming:
                    # The model's history is there to replay: one event is enough.
                    next(iter(call))
                    call.cancel()
            except grpc.RpcError as error:
                pytest.fail(
                    f"the {method.name} example failed: {error.code().name} {error.details()}"
                )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_buf_curl_example_runs_verbatim(
    server: RunningServer, client: RegistryClient, googleapis_module: Path
) -> None:
    command, _ = examples()["CreateRegisteredModel"]
    command = command.replace("127.0.0.1:50051", f"127.0.0.1:{server.port}")
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=ROOT,
        env={**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert '"name": "fraud-detector"' in result.stdout
    assert client.get_registered_model("fraud-detector").tags["team"] == "risk"
