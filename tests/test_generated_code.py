"""generated/ is exactly what `make generate` makes from protos/."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def generated_files(folder: Path) -> set[str]:
    return {
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and path.name.endswith(("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"))
    }


def test_generated_code_matches_protos(tmp_path: Path) -> None:
    subprocess.run(["make", "-s", "generate", f"OUT={tmp_path}"], cwd=ROOT, check=True)
    committed = ROOT / "generated"
    fresh = generated_files(tmp_path)
    assert fresh, "make generate produced nothing"
    assert generated_files(committed) == fresh, "generated/ has missing or extra files"
    drifted = [
        name
        for name in sorted(fresh)
        if not filecmp.cmp(tmp_path / name, committed / name, shallow=False)
    ]
    assert not drifted, f"generated/ is stale, run `make generate`: {drifted}"


def test_every_registry_rpc_is_in_the_contract() -> None:
    from modelregistry.v1 import registry_service_pb2

    service = registry_service_pb2.DESCRIPTOR.services_by_name["ModelRegistryService"]
    assert {method.name for method in service.methods} == {
        "CreateRegisteredModel",
        "GetRegisteredModel",
        "RenameRegisteredModel",
        "UpdateRegisteredModel",
        "DeleteRegisteredModel",
        "SearchRegisteredModels",
        "GetLatestVersions",
        "CreateModelVersion",
        "GetModelVersion",
        "UpdateModelVersion",
        "TransitionModelVersionStage",
        "DeleteModelVersion",
        "SearchModelVersions",
        "GetModelVersionDownloadUri",
        "SetRegisteredModelTag",
        "DeleteRegisteredModelTag",
        "SetModelVersionTag",
        "DeleteModelVersionTag",
        "SetRegisteredModelAlias",
        "DeleteRegisteredModelAlias",
        "GetModelVersionByAlias",
        "ImportRegisteredModel",
        "WatchEvents",
        "ListEvents",
        "CreateWebhook",
        "ListWebhooks",
        "UpdateWebhook",
        "DeleteWebhook",
        "TestWebhook",
        "ListWebhookDeliveries",
        "CreateTransitionRequest",
        "ListTransitionRequests",
        "ApproveTransitionRequest",
        "RejectTransitionRequest",
        "CancelTransitionRequest",
        "CreateAccessToken",
        "ListAccessTokens",
        "RevokeAccessToken",
        "SetRegisteredModelPermission",
        "GetRegisteredModelPermissions",
        "DeleteRegisteredModelPermission",
        "GetCurrentIdentity",
        "RestoreRegisteredModel",
        "RestoreModelVersion",
        "ListDeletedRegisteredModels",
        "ListDeletedModelVersions",
    }
