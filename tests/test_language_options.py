"""The language options that clients generated from protos/ get, and the client guide's Java
recipe."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[1]
PROTO_FILES = sorted(path.stem for path in (ROOT / "protos/modelregistry/v1").glob("*.proto"))
GO_PACKAGE = "github.com/registry-service/registry-service/gen/go/modelregistry/v1;modelregistryv1"


@pytest.mark.parametrize("stem", PROTO_FILES)
def test_every_file_of_the_package_sets_the_same_language_options(stem: str) -> None:
    module = importlib.import_module(f"modelregistry.v1.{stem}_pb2")
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    options = proto.options
    assert proto.package == "modelregistry.v1"
    assert options.go_package == GO_PACKAGE
    assert options.java_package == "com.modelregistry.v1"
    assert options.HasField("java_multiple_files") and options.java_multiple_files
    assert options.csharp_namespace == "ModelRegistry.V1"


def clients_guide_java_template() -> str:
    text = (ROOT / "docs" / "clients.md").read_text()
    match = re.search(r"<!-- buf.gen.yaml: java -->\s*```yaml\n(.*?)```", text, re.DOTALL)
    assert match, "docs/clients.md has no Java buf.gen.yaml"
    return match.group(1)


def test_clients_guide_java_recipe_generates_one_class_per_message_in_the_java_package(
    tmp_path: Path, googleapis_module: Path
) -> None:
    template = tmp_path / "buf.gen.yaml"
    template.write_text(clients_guide_java_template())
    venv_bin = ROOT / ".venv" / "bin"
    result = subprocess.run(
        [str(venv_bin / "buf"), "generate", "--template", str(template), "-o", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PATH": f"{venv_bin}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    package = tmp_path / "gen" / "java" / "com" / "modelregistry" / "v1"
    classes = {path.name for path in package.glob("*.java")}
    expected = {"ModelVersion.java", "RegisteredModel.java", "CreateModelVersionRequest.java"}
    assert expected <= classes
    assert "package com.modelregistry.v1;" in (package / "ModelVersion.java").read_text()
    assert not (tmp_path / "gen" / "java" / "com" / "google").exists()  # googleapis not generated
