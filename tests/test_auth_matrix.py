"""Every RPC against every role, through a real server with --auth token, over gRPC and HTTP.

Each cell runs on a model of its own, made by an admin and granted to the role's user, so that
one cell's write cannot change another's outcome. The expected requirements are written out here,
not read from registry_service.auth, so that a change of the code's table fails this test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from modelregistry.v1 import access_pb2, events_pb2, requests_pb2, trash_pb2, webhooks_pb2
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1.registry_service_pb2_grpc import ModelRegistryServiceStub
from prometheus_client import CollectorRegistry

from registry_service import auth, identity
from registry_service.calls import CallPipeline
from registry_service.config import Settings
from registry_service.gateway.routes import http_routes
from registry_service.interceptors import CallInterceptor
from registry_service.metrics import ServerMetrics
from registry_service.server import RunningServer, start
from registry_service.store.registry_store import RegistryStore

SERVICE = pb.DESCRIPTOR.services_by_name["ModelRegistryService"]
ROUTES = {route.rpc: route for route in http_routes(SERVICE)}
TIMEOUT = 10

# Never reached: its name does not resolve here, and TestWebhook reports that as an outcome.
HOOK_URL = "https://ci.example.com/hook"

ROLES = ("nobody", "reader", "editor", "manager", "admin")
GRANTS = {"reader": "READ", "editor": "EDIT", "manager": "MANAGE"}
OK = grpc.StatusCode.OK
DENIED = grpc.StatusCode.PERMISSION_DENIED
HIDDEN = grpc.StatusCode.NOT_FOUND
HTTP_STATUS = {OK: 200, DENIED: 403, HIDDEN: 404, grpc.StatusCode.UNAUTHENTICATED: 401}

# What each requirement means for each role, with --default-permission NONE.
OUTCOMES = {
    "authenticated": dict.fromkeys(ROLES, OK),
    "READ": {"nobody": HIDDEN, "reader": OK, "editor": OK, "manager": OK, "admin": OK},
    "EDIT": {"nobody": HIDDEN, "reader": DENIED, "editor": OK, "manager": OK, "admin": OK},
    "MANAGE": {"nobody": HIDDEN, "reader": DENIED, "editor": DENIED, "manager": OK, "admin": OK},
    "admin": {"nobody": DENIED, "reader": DENIED, "editor": DENIED, "manager": DENIED, "admin": OK},
    # Cancelling someone else's transition request: its requester (not a role here) or an admin.
    "requester": {
        "nobody": HIDDEN,
        "reader": DENIED,
        "editor": DENIED,
        "manager": DENIED,
        "admin": OK,
    },
}

Request = Callable[[str, Any], Message]

# (case, RPC, request on model ``name`` (and the token or webhook id ``t`` it acts on), requirement)
# fmt: off
CASES: list[tuple[str, str, Request, str]] = [
    ("create-model", "CreateRegisteredModel",
     lambda n, t: pb.CreateRegisteredModelRequest(name=f"{n}-new"), "authenticated"),
    ("get-model", "GetRegisteredModel",
     lambda n, t: pb.GetRegisteredModelRequest(name=n), "READ"),
    ("rename-model", "RenameRegisteredModel",
     lambda n, t: pb.RenameRegisteredModelRequest(name=n, new_name=f"{n}-renamed"), "EDIT"),
    ("update-model", "UpdateRegisteredModel",
     lambda n, t: pb.UpdateRegisteredModelRequest(name=n, description="d"), "EDIT"),
    ("delete-model", "DeleteRegisteredModel",
     lambda n, t: pb.DeleteRegisteredModelRequest(name=n), "MANAGE"),
    ("search-models", "SearchRegisteredModels",
     lambda n, t: pb.SearchRegisteredModelsRequest(), "authenticated"),
    ("latest-versions", "GetLatestVersions",
     lambda n, t: pb.GetLatestVersionsRequest(name=n), "READ"),
    ("create-version", "CreateModelVersion",
     lambda n, t: pb.CreateModelVersionRequest(name=n, source="s3://b/3"), "EDIT"),
    ("get-version", "GetModelVersion",
     lambda n, t: pb.GetModelVersionRequest(name=n, version=1), "READ"),
    ("update-version", "UpdateModelVersion",
     lambda n, t: pb.UpdateModelVersionRequest(name=n, version=1, description="d"), "EDIT"),
    ("to-staging", "TransitionModelVersionStage",
     lambda n, t: pb.TransitionModelVersionStageRequest(name=n, version=2, stage="Staging"),
     "EDIT"),
    ("to-production", "TransitionModelVersionStage",
     lambda n, t: pb.TransitionModelVersionStageRequest(name=n, version=2, stage="production"),
     "MANAGE"),
    # Version 1 is in Production: moving it out needs what moving it in needed.
    ("out-of-production", "TransitionModelVersionStage",
     lambda n, t: pb.TransitionModelVersionStageRequest(name=n, version=1, stage="Archived"),
     "MANAGE"),
    ("production-to-staging", "TransitionModelVersionStage",
     lambda n, t: pb.TransitionModelVersionStageRequest(name=n, version=1, stage="Staging"),
     "MANAGE"),
    ("delete-version", "DeleteModelVersion",
     lambda n, t: pb.DeleteModelVersionRequest(name=n, version=2), "MANAGE"),
    ("search-versions", "SearchModelVersions",
     lambda n, t: pb.SearchModelVersionsRequest(), "authenticated"),
    ("download-uri", "GetModelVersionDownloadUri",
     lambda n, t: pb.GetModelVersionDownloadUriRequest(name=n, version=1), "READ"),
    ("set-model-tag", "SetRegisteredModelTag",
     lambda n, t: pb.SetRegisteredModelTagRequest(name=n, key="k", value="v"), "EDIT"),
    ("delete-model-tag", "DeleteRegisteredModelTag",
     lambda n, t: pb.DeleteRegisteredModelTagRequest(name=n, key="k"), "EDIT"),
    ("set-version-tag", "SetModelVersionTag",
     lambda n, t: pb.SetModelVersionTagRequest(name=n, version=1, key="k", value="v"), "EDIT"),
    ("delete-version-tag", "DeleteModelVersionTag",
     lambda n, t: pb.DeleteModelVersionTagRequest(name=n, version=1, key="k"), "EDIT"),
    ("set-alias", "SetRegisteredModelAlias",
     lambda n, t: pb.SetRegisteredModelAliasRequest(name=n, alias="shadow", version=2), "EDIT"),
    ("set-protected-alias", "SetRegisteredModelAlias",
     lambda n, t: pb.SetRegisteredModelAliasRequest(name=n, alias="champion", version=2),
     "MANAGE"),
    ("delete-alias", "DeleteRegisteredModelAlias",
     lambda n, t: pb.DeleteRegisteredModelAliasRequest(name=n, alias="shadow"), "EDIT"),
    ("delete-protected-alias", "DeleteRegisteredModelAlias",
     lambda n, t: pb.DeleteRegisteredModelAliasRequest(name=n, alias="champion"), "MANAGE"),
    # Every case variant of a protected alias is protected, though lookups stay exact.
    ("set-protected-alias-variant", "SetRegisteredModelAlias",
     lambda n, t: pb.SetRegisteredModelAliasRequest(name=n, alias="CHAMPION", version=2),
     "MANAGE"),
    ("move-protected-alias-variant", "SetRegisteredModelAlias",
     lambda n, t: pb.SetRegisteredModelAliasRequest(name=n, alias="Champion", version=1),
     "MANAGE"),
    ("delete-protected-alias-variant", "DeleteRegisteredModelAlias",
     lambda n, t: pb.DeleteRegisteredModelAliasRequest(name=n, alias="Champion"), "MANAGE"),
    ("by-alias-variant", "GetModelVersionByAlias",
     lambda n, t: pb.GetModelVersionByAliasRequest(name=n, alias="Champion"), "READ"),
    ("by-alias", "GetModelVersionByAlias",
     lambda n, t: pb.GetModelVersionByAliasRequest(name=n, alias="champion"), "READ"),
    ("import", "ImportRegisteredModel",
     lambda n, t: pb.ImportRegisteredModelRequest(registered_model={"name": f"{n}-imported"}),
     "admin"),
    # The model (or version 2) is deleted first (see PREPARED): a deleted model's grants decide.
    ("restore-model", "RestoreRegisteredModel",
     lambda n, t: trash_pb2.RestoreRegisteredModelRequest(name=n), "MANAGE"),
    ("restore-version", "RestoreModelVersion",
     lambda n, t: trash_pb2.RestoreModelVersionRequest(name=n, version=2), "MANAGE"),
    ("list-deleted-models", "ListDeletedRegisteredModels",
     lambda n, t: trash_pb2.ListDeletedRegisteredModelsRequest(), "authenticated"),
    ("list-deleted-versions", "ListDeletedModelVersions",
     lambda n, t: trash_pb2.ListDeletedModelVersionsRequest(name=n), "READ"),
    ("create-token", "CreateAccessToken",
     lambda n, t: access_pb2.CreateAccessTokenRequest(user_id="someone"), "admin"),
    ("list-tokens", "ListAccessTokens",
     lambda n, t: access_pb2.ListAccessTokensRequest(), "admin"),
    ("revoke-token", "RevokeAccessToken",
     lambda n, t: access_pb2.RevokeAccessTokenRequest(id=t), "admin"),
    ("grant", "SetRegisteredModelPermission",
     lambda n, t: access_pb2.SetRegisteredModelPermissionRequest(
         name=n, user_id="someone", permission=access_pb2.PERMISSION_READ), "MANAGE"),
    ("list-grants", "GetRegisteredModelPermissions",
     lambda n, t: access_pb2.GetRegisteredModelPermissionsRequest(name=n), "MANAGE"),
    ("revoke-grant", "DeleteRegisteredModelPermission",
     lambda n, t: access_pb2.DeleteRegisteredModelPermissionRequest(name=n, user_id="someone"),
     "MANAGE"),
    ("whoami", "GetCurrentIdentity",
     lambda n, t: access_pb2.GetCurrentIdentityRequest(), "authenticated"),
    ("watch-events", "WatchEvents",
     lambda n, t: events_pb2.WatchEventsRequest(model_names=[n]), "authenticated"),
    ("list-events", "ListEvents",
     lambda n, t: events_pb2.ListEventsRequest(model_names=[n]), "authenticated"),
    ("create-webhook", "CreateWebhook",
     lambda n, t: webhooks_pb2.CreateWebhookRequest(
         url=HOOK_URL, event_types=[events_pb2.EVENT_TYPE_MODEL_VERSION_CREATED]), "admin"),
    ("list-webhooks", "ListWebhooks",
     lambda n, t: webhooks_pb2.ListWebhooksRequest(), "admin"),
    ("update-webhook", "UpdateWebhook",
     lambda n, t: webhooks_pb2.UpdateWebhookRequest(
         id=t, description="d", update_mask={"paths": ["description"]}), "admin"),
    ("delete-webhook", "DeleteWebhook",
     lambda n, t: webhooks_pb2.DeleteWebhookRequest(id=t), "admin"),
    ("test-webhook", "TestWebhook",
     lambda n, t: webhooks_pb2.TestWebhookRequest(id=t), "admin"),
    ("list-deliveries", "ListWebhookDeliveries",
     lambda n, t: webhooks_pb2.ListWebhookDeliveriesRequest(webhook_id=t), "admin"),
    ("ask", "CreateTransitionRequest",
     lambda n, t: requests_pb2.CreateTransitionRequestRequest(
         name=n, version=2, stage="Production"), "EDIT"),
    ("list-requests", "ListTransitionRequests",
     lambda n, t: requests_pb2.ListTransitionRequestsRequest(), "authenticated"),
    # ``t`` is a pending request on the model, made by another user ("requester").
    ("approve", "ApproveTransitionRequest",
     lambda n, t: requests_pb2.ApproveTransitionRequestRequest(id=t), "MANAGE"),
    ("reject", "RejectTransitionRequest",
     lambda n, t: requests_pb2.RejectTransitionRequestRequest(id=t), "MANAGE"),
    ("cancel", "CancelTransitionRequest",
     lambda n, t: requests_pb2.CancelTransitionRequestRequest(id=t), "requester"),
]
# fmt: on

# What an admin does to a case's model before the call.
PREPARED: dict[str, tuple[str, Callable[[str], Message]]] = {
    "restore-model": ("DeleteRegisteredModel", lambda n: pb.DeleteRegisteredModelRequest(name=n)),
    "restore-version": (
        "DeleteModelVersion",
        lambda n: pb.DeleteModelVersionRequest(name=n, version=2),
    ),
}


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


class Registry:
    """A server with --auth token, an admin, and a token for every role."""

    def __init__(self, running: RunningServer, admin_token: str, store: RegistryStore) -> None:
        self.running = running
        self.store = store
        self.channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
        self.stub = ModelRegistryServiceStub(self.channel)
        self.tokens = {"admin": admin_token}
        for role in ROLES[:-1]:
            self.tokens[role] = self.call(
                "admin", "CreateAccessToken", access_pb2.CreateAccessTokenRequest(user_id=role)
            ).token

    def call(self, role: str, rpc: str, request: Message) -> Any:
        answer = getattr(self.stub, rpc)(
            request, timeout=TIMEOUT, metadata=bearer(self.tokens[role])
        )
        if SERVICE.methods_by_name[rpc].server_streaming:
            # A watch replays the model's history first: its first message proves the call passed.
            first = next(answer)
            answer.cancel()
            return first
        return answer

    def status(self, role: str, rpc: str, request: Message) -> grpc.StatusCode:
        try:
            self.call(role, rpc, request)
        except grpc.RpcError as error:
            return error.code()  # type: ignore[no-any-return]
        return OK

    def http_status(self, role: str, rpc: str, request: Message) -> int:
        assert self.running.http is not None
        route = ROUTES[rpc]
        data = json_format.MessageToDict(request, preserving_proto_field_name=True)
        url = f"http://127.0.0.1:{self.running.http.port}{route.path}"
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        given: dict[str, Any] = {"json": data} if route.from_body else {"params": data}
        # Streamed: a WatchEvents answer never ends; its status is all that is read.
        with httpx.stream(route.http_method, url, headers=headers, **given) as response:
            return response.status_code

    def seed(self, name: str, role: str) -> None:
        """Model ``name`` with versions 1 (in Production) and 2, aliases champion -> 1 and
        Champion -> 2, granted to ``role``."""
        self.call("admin", "CreateRegisteredModel", pb.CreateRegisteredModelRequest(name=name))
        for source in ("s3://b/1", "s3://b/2"):
            self.call(
                "admin",
                "CreateModelVersion",
                pb.CreateModelVersionRequest(name=name, source=source),
            )
        for alias, version in (("champion", 1), ("Champion", 2)):
            self.call(
                "admin",
                "SetRegisteredModelAlias",
                pb.SetRegisteredModelAliasRequest(name=name, alias=alias, version=version),
            )
        self.call(
            "admin",
            "TransitionModelVersionStage",
            pb.TransitionModelVersionStageRequest(name=name, version=1, stage="Production"),
        )
        if role in GRANTS:
            self.call(
                "admin",
                "SetRegisteredModelPermission",
                access_pb2.SetRegisteredModelPermissionRequest(
                    name=name,
                    user_id=role,
                    permission=access_pb2.Permission.Value(f"PERMISSION_{GRANTS[role]}"),
                ),
            )

    def acted_on(self, rpc: str, name: str) -> int | str:
        """A fresh token, webhook or transition request (on model ``name``) for an RPC that acts
        on one, so that no cell finds it gone."""
        if rpc.endswith("TransitionRequest") and rpc != "CreateTransitionRequest":
            with identity.calling_as("requester"):
                return self.store.transition_requests.create(name, 2, "Staging").id
        if rpc == "RevokeAccessToken":
            request = access_pb2.CreateAccessTokenRequest(user_id="throwaway")
            return int(self.call("admin", "CreateAccessToken", request).access_token.id)
        if "id" in SERVICE.methods_by_name[rpc].input_type.fields_by_name or rpc.endswith(
            "WebhookDeliveries"
        ):
            webhook = webhooks_pb2.CreateWebhookRequest(
                url=HOOK_URL, event_types=[events_pb2.EVENT_TYPE_MODEL_VERSION_CREATED]
            )
            return str(self.call("admin", "CreateWebhook", webhook).webhook.id)
        return 0


@pytest.fixture
def registry(store: RegistryStore) -> Iterator[Registry]:
    from registry_service.store.access_store import AccessStore

    _, admin_token = AccessStore(store).create_token("root", admin=True)
    settings = Settings(
        port=0,
        http_port=0,
        auth="token",
        default_permission="NONE",
        protected_aliases="champion",
        webhooks=False,
        # A watch of events the caller may not read sends only heartbeats: the first comes soon.
        event_heartbeat_interval=0.1,
    )
    running = start(settings, store=store)
    registry = Registry(running, admin_token, store)
    yield registry
    registry.channel.close()
    running.stop(None)


def test_every_rpc_of_the_service_has_a_rule_and_a_matrix_case() -> None:
    assert set(auth.RULES) == set(SERVICE.methods_by_name)
    assert {case[1] for case in CASES} == set(SERVICE.methods_by_name)


def test_role_by_rpc_matrix_over_grpc_and_http(registry: Registry) -> None:
    wrong: list[str] = []
    for number, (case, rpc, make, requirement) in enumerate(CASES):
        for role in ROLES:
            transports = ["grpc", "http"] if rpc in ROUTES else ["grpc"]
            for transport in transports:
                name = f"m{number}-{role}-{transport}"
                registry.seed(name, role)
                if case in PREPARED:
                    prepare, preparation = PREPARED[case]
                    registry.call("admin", prepare, preparation(name))
                request = make(name, registry.acted_on(rpc, name))
                expected = OUTCOMES[requirement][role]
                if transport == "grpc":
                    got: object = registry.status(role, rpc, request)
                    want: object = expected
                else:
                    got, want = registry.http_status(role, rpc, request), HTTP_STATUS[expected]
                if got != want:
                    wrong.append(f"{case} as {role} over {transport}: {got}, expected {want}")
    assert not wrong, "\n".join(wrong)


def test_an_rpc_without_a_rule_is_refused_even_to_admins(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(auth.RULES, "GetCurrentIdentity")
    request = access_pb2.GetCurrentIdentityRequest()
    assert registry.status("admin", "GetCurrentIdentity", request) == DENIED


class _Refused(Exception):
    pass


class _Context:
    """The little of a ServicerContext the interceptor touches."""

    def __init__(self) -> None:
        self.refused_with: grpc.StatusCode | None = None

    def code(self) -> grpc.StatusCode | None:
        return self.refused_with

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()

    def time_remaining(self) -> float:
        return 10.0

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    def add_callback(self, _callback: Callable[[], None]) -> bool:
        return True

    def is_active(self) -> bool:
        return True

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()

    def set_trailing_metadata(self, _metadata: object) -> None:
        pass

    def abort(self, code: grpc.StatusCode, _details: str) -> None:
        self.refused_with = code
        raise _Refused


class _Details:
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


@pytest.mark.parametrize(
    ("make", "rpc", "code"),
    [
        # A server stream is checked like a unary call: a rule lets it through...
        (grpc.unary_stream_rpc_method_handler, "GetCurrentIdentity", None),
        # ...and no rule closes it,
        (grpc.unary_stream_rpc_method_handler, "WatchSomething", DENIED),
        # while request streams have no single request to check and are always closed.
        (grpc.stream_unary_rpc_method_handler, "GetCurrentIdentity", DENIED),
        (grpc.stream_stream_rpc_method_handler, "GetCurrentIdentity", DENIED),
    ],
)
def test_streaming_rpcs_of_the_service_pass_the_same_checks(
    store: RegistryStore, make: Any, rpc: str, code: grpc.StatusCode | None
) -> None:
    from registry_service.store.access_store import AccessStore

    access = auth.Access(Settings(), AccessStore(store))
    pipeline = CallPipeline(ServerMetrics(CollectorRegistry()), 10.0, access)
    handler = make(lambda _request, _context: iter(["answer"]))
    method = f"/{SERVICE.full_name}/{rpc}"
    wrapped = CallInterceptor(pipeline).intercept_service(lambda _: handler, _Details(method))
    assert wrapped is not None
    behavior = wrapped.unary_stream or wrapped.stream_unary or wrapped.stream_stream
    context = _Context()
    try:
        answers = list(behavior(pb.GetRegisteredModelRequest(), context))
    except _Refused:
        answers = []
    assert context.refused_with == code
    assert answers == ([] if code else ["answer"])
