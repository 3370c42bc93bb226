"""The file-level language options that Go, Java and C# clients generated from protos/ get."""

from __future__ import annotations

import importlib
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
