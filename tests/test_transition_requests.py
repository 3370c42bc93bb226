"""Transition requests as their users see them, on SQLite and PostgreSQL: a change a caller without
MANAGE may not make is refused with a pointer to CreateTransitionRequest; a MANAGE holder approves
the request and the change is made in that one transaction; self-approval, stale approvals, racing
approvers, rejection and cancellation; every step an event that webhooks deliver; over gRPC, HTTP
and the CLI."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from click.testing import CliRunner
from modelregistry.v1 import events_pb2, requests_pb2

from registry_service.client import RegistryClient
from registry_service.config import Settings
from registry_service.errors import RegistryError
from registry_service.operator.commands import main as registry_cli
from registry_service.server import RunningServer, start
from registry_service.store.access_store import AccessStore
from registry_service.store.registry_store import RegistryStore

from .test_webhooks import LOCAL_WEBHOOKS, SECRET, receiving

PENDING = requests_pb2.TRANSITION_REQUEST_STATE_PENDING
APPROVED = requests_pb2.TRANSITION_REQUEST_STATE_APPROVED
REJECTED = requests_pb2.TRANSITION_REQUEST_STATE_REJECTED
CANCELLED = requests_pb2.TRANSITION_REQUEST_STATE_CANCELLED
REQUEST_EVENTS = [
    events_pb2.EVENT_TYPE_TRANSITION_REQUEST_CREATED,
    events_pb2.EVENT_TYPE_TRANSITION_REQUEST_APPROVED,
    events_pb2.EVENT_TYPE_TRANSITION_REQUEST_REJECTED,
    events_pb2.EVENT_TYPE_TRANSITION_REQUEST_CANCELLED,
]


@dataclass
class Registry:
    """A server with --auth token, and tokens: root (admin, owns the model "fraud", versions 1
    and 2, version 1 in Production), ann (EDIT), bob and cy (MANAGE), rita (READ)."""

    server: RunningServer
    tokens: dict[str, str]

    def client(self, user: str) -> RegistryClient:
        return RegistryClient(f"127.0.0.1:{self.server.port}", token=self.tokens[user], timeout=20)

    @property
    def http(self) -> str:
        assert self.server.http is not None
        return f"http://127.0.0.1:{self.server.http.port}/api/2.0/modelregistry/transition-requests"


def open_registry(store: RegistryStore, **settings: object) -> Registry:
    tokens = {"root": AccessStore(store).create_token("root", admin=True)[1]}
    server = start(
        Settings(  # type: ignore[arg-type]
            port=0, http_port=0, auth="token", default_permission="NONE", **settings
        ),
        store=store,
    )
    registry = Registry(server, tokens)
    with registry.client("root") as root:
        for user in ("ann", "bob", "cy", "rita"):
            tokens[user] = root.create_access_token(user).token
        root.create_registered_model("fraud")
        root.create_model_version("fraud", "s3://b/1")
        root.create_model_version("fraud", "s3://b/2")
        root.transition_model_version_stage("fraud", 1, "Production")
        for user, level in (("ann", "EDIT"), ("bob", "MANAGE"), ("cy", "MANAGE"), ("rita", "READ")):
            root.set_registered_model_permission("fraud", user, level)
    return registry


@pytest.fixture
def registry(store: RegistryStore) -> Iterator[Registry]:
    running = open_registry(
        store,
        require_approval="Production,Staging",
        protected_aliases="champion",
        **LOCAL_WEBHOOKS,
    )
    yield running
    running.server.stop(None)


def failure(call: object) -> RegistryError:
    assert callable(call)
    with pytest.raises(RegistryError) as raised:
        call()
    return raised.value


def stages(client: RegistryClient) -> dict[int, str]:
    return {v.version: v.current_stage for v in client.search_model_versions("name = 'fraud'")}


def test_a_transition_that_needs_approval_is_refused_with_the_way_to_ask_for_it(
    registry: Registry,
) -> None:
    with registry.client("ann") as ann:
        for stage in ("Production", "staging"):
            refused = failure(lambda s=stage: ann.transition_model_version_stage("fraud", 2, s))
            assert refused.code == grpc.StatusCode.PERMISSION_DENIED
            assert refused.reason == "APPROVAL_REQUIRED"
            assert "CreateTransitionRequest" in refused.message
            assert "needs MANAGE permission; you have EDIT" in refused.message
        refused = failure(lambda: ann.set_registered_model_alias("fraud", "Champion", 2))
        assert refused.reason == "APPROVAL_REQUIRED"
        # Changes that need no approval stay the caller's own.
        ann.set_registered_model_alias("fraud", "candidate", 2)
        ann.transition_model_version_stage("fraud", 2, "Archived")
    with registry.client("rita") as rita:
        # A reader may not ask either, and is not told to.
        refused = failure(lambda: rita.transition_model_version_stage("fraud", 2, "Production"))
        assert refused.reason == "PERMISSION_DENIED"
        refused = failure(lambda: rita.create_transition_request("fraud", 2, "Production"))
        assert refused.code == grpc.StatusCode.PERMISSION_DENIED
    assert registry.server.http is not None
    response = httpx.post(
        f"http://127.0.0.1:{registry.server.http.port}/api/2.0/mlflow/model-versions/"
        "transition-stage",
        headers={"Authorization": f"Bearer {registry.tokens['ann']}"},
        json={"name": "fraud", "version": "2", "stage": "Production"},
    )
    assert response.status_code == 403
    assert response.json()["error_code"] == "APPROVAL_REQUIRED"


def test_without_require_approval_production_still_needs_manage_and_says_so_plainly(
    store: RegistryStore,
) -> None:
    plain = open_registry(store)
    try:
        with plain.client("ann") as ann:
            ann.transition_model_version_stage("fraud", 2, "Staging")
            refused = failure(lambda: ann.transition_model_version_stage("fraud", 2, "Production"))
            assert refused.reason == "PERMISSION_DENIED"
            assert "CreateTransitionRequest" not in refused.message
            # Asking is open all the same.
            asked = ann.create_transition_request("fraud", 2, "Production")
        with plain.client("bob") as bob:
            bob.approve_transition_request(asked.id)
            assert stages(bob)[2] == "Production"
    finally:
        plain.server.stop(None)


def test_approval_applies_the_transition_with_archive_existing_in_one_transaction(
    registry: Registry,
) -> None:
    with registry.client("ann") as ann:
        asked = ann.create_transition_request(
            "fraud", 2, "production", archive_existing_versions=True, comment="AUC 0.94"
        )
        assert asked.state == PENDING
        assert (asked.stage, asked.user_id, asked.comment) == ("Production", "ann", "AUC 0.94")
        assert asked.version_etag == ann.get_model_version("fraud", 2).etag
        # Nothing changed yet.
        assert stages(ann) == {1: "Production", 2: "None"}
    with registry.client("bob") as bob:
        mark = bob.list_events()[-1].sequence
        answer = bob.approve_transition_request(asked.id, asked.etag, comment="ship it")
        assert answer.transition_request.state == APPROVED
        assert answer.transition_request.resolved_by == "bob"
        assert answer.transition_request.resolution_comment == "ship it"
        assert answer.transition_request.etag != asked.etag
        assert answer.model_version.current_stage == "Production"
        assert stages(bob) == {1: "Archived", 2: "Production"}
        events = bob.list_events(start_after=mark)
    # One transaction: one timestamp, consecutive sequences, the approver as the actor.
    assert [(e.event_type, e.version) for e in events] == [
        (events_pb2.EVENT_TYPE_MODEL_VERSION_STAGE_CHANGED, 2),
        (events_pb2.EVENT_TYPE_MODEL_VERSION_STAGE_CHANGED, 1),
        (events_pb2.EVENT_TYPE_TRANSITION_REQUEST_APPROVED, 2),
    ]
    assert len({e.timestamp for e in events}) == 1
    assert {e.actor for e in events} == {"bob"}
    assert [e.sequence for e in events] == list(range(mark + 1, mark + 4))


def test_a_requester_cannot_approve_their_own_request(registry: Registry) -> None:
    with registry.client("bob") as bob:
        asked = bob.create_transition_request("fraud", 2, "Production")
        refused = failure(lambda: bob.approve_transition_request(asked.id))
        assert refused.code == grpc.StatusCode.PERMISSION_DENIED
        assert "your own" in refused.message
    with registry.client("root") as root:
        mine = root.create_transition_request("fraud", 2, "Staging")
        refused = failure(lambda: root.approve_transition_request(mine.id))
        assert "--allow-self-approval" in refused.message
        assert stages(root)[2] == "None"
        # Another MANAGE holder may.
    with registry.client("cy") as cy:
        cy.approve_transition_request(asked.id)
        assert stages(cy)[2] == "Production"


def test_admins_may_approve_their_own_with_allow_self_approval(store: RegistryStore) -> None:
    lenient = open_registry(store, require_approval="Production", allow_self_approval=True)
    try:
        with lenient.client("root") as root:
            mine = root.create_transition_request("fraud", 2, "Production")
            root.approve_transition_request(mine.id)
            assert stages(root)[2] == "Production"
        with lenient.client("bob") as bob:
            # Only admins: a MANAGE holder still may not.
            own = bob.create_transition_request("fraud", 1, "Archived")
            assert "your own" in failure(lambda: bob.approve_transition_request(own.id)).message
    finally:
        lenient.server.stop(None)


def test_an_approval_of_a_version_changed_since_the_request_is_aborted_and_changes_nothing(
    registry: Registry,
) -> None:
    with registry.client("ann") as ann:
        asked = ann.create_transition_request("fraud", 2, "Production")
        ann.transition_model_version_stage("fraud", 2, "Archived")
    with registry.client("bob") as bob:
        mark = bob.list_events()[-1].sequence
        refused = failure(lambda: bob.approve_transition_request(asked.id))
        assert refused.code == grpc.StatusCode.ABORTED
        assert "has changed since transition request" in refused.message
        assert stages(bob) == {1: "Production", 2: "Archived"}
        [still] = bob.list_transition_requests("fraud", 2)
        assert (still.state, still.etag) == (PENDING, asked.etag)
        assert bob.list_events(start_after=mark) == []


def test_a_stale_request_etag_is_aborted_and_a_closed_request_is_failed_precondition(
    registry: Registry,
) -> None:
    with registry.client("ann") as ann:
        asked = ann.create_transition_request("fraud", 2, "Production")
        ann.cancel_transition_request(asked.id, asked.etag, comment="wrong version")
    with registry.client("bob") as bob:
        refused = failure(lambda: bob.approve_transition_request(asked.id, asked.etag))
        assert refused.code == grpc.StatusCode.ABORTED
        for act in (
            bob.approve_transition_request,
            bob.reject_transition_request,
            bob.cancel_transition_request,
        ):
            closed = failure(lambda act=act: act(asked.id))  # type: ignore[misc]
            assert closed.code == grpc.StatusCode.FAILED_PRECONDITION
            assert "CANCELLED, not PENDING" in closed.message
        assert stages(bob) == {1: "Production", 2: "None"}
        missing = failure(lambda: bob.approve_transition_request(asked.id + 1000))
        assert missing.code == grpc.StatusCode.NOT_FOUND
        bad = failure(lambda: bob.approve_transition_request(asked.id, "not-an-etag"))
        assert bad.code == grpc.StatusCode.INVALID_ARGUMENT


def test_two_approvers_racing_on_one_request_exactly_one_wins(registry: Registry) -> None:
    with registry.client("ann") as ann:
        asked = ann.create_transition_request(
            "fraud", 2, "Production", archive_existing_versions=True
        )
    outcomes: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def approve(user: str) -> None:
        with registry.client(user) as client:
            barrier.wait()
            try:
                outcomes[user] = client.approve_transition_request(asked.id, asked.etag)
            except RegistryError as error:
                outcomes[user] = error.code

    threads = [threading.Thread(target=approve, args=(user,)) for user in ("bob", "cy")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    losers = [o for o in outcomes.values() if isinstance(o, grpc.StatusCode)]
    assert losers in ([grpc.StatusCode.ABORTED], [grpc.StatusCode.FAILED_PRECONDITION])
    with registry.client("root") as root:
        assert stages(root) == {1: "Archived", 2: "Production"}
        approvals = root.list_events(
            event_types=[events_pb2.EVENT_TYPE_TRANSITION_REQUEST_APPROVED]
        )
        assert len(approvals) == 1


def test_reject_and_cancel_change_nothing_and_only_the_requester_or_an_admin_cancels(
    registry: Registry,
) -> None:
    with registry.client("ann") as ann:
        first = ann.create_transition_request("fraud", 2, "Production", comment="please")
        second = ann.create_transition_request("fraud", 2, "Staging")
        third = ann.create_transition_request("fraud", 1, "Archived")
    with registry.client("bob") as bob:
        rejected = bob.reject_transition_request(first.id, comment="not yet")
        assert (rejected.state, rejected.resolved_by, rejected.resolution_comment) == (
            REJECTED,
            "bob",
            "not yet",
        )
        refused = failure(lambda: bob.cancel_transition_request(second.id))
        assert refused.code == grpc.StatusCode.PERMISSION_DENIED
        assert "only its requester or an admin" in refused.message
    with registry.client("ann") as ann:
        # Rejecting needs MANAGE.
        assert failure(lambda: ann.reject_transition_request(second.id)).code == (
            grpc.StatusCode.PERMISSION_DENIED
        )
        assert ann.cancel_transition_request(second.id).state == CANCELLED
    with registry.client("root") as root:
        assert root.cancel_transition_request(third.id).resolved_by == "root"
        assert stages(root) == {1: "Production", 2: "None"}
        listed = root.list_transition_requests("fraud")
        assert [(r.id, r.state) for r in listed] == [
            (third.id, CANCELLED),
            (second.id, CANCELLED),
            (first.id, REJECTED),
        ]
        assert [r.id for r in root.list_transition_requests("fraud", 2)] == [second.id, first.id]
        assert root.list_transition_requests(state=REJECTED)[0].id == first.id
        paged = root.list_transition_requests("fraud", page_size=1)
        assert [r.id for r in paged] == [third.id, second.id, first.id]


def test_requests_are_visible_only_to_readers_of_the_model(registry: Registry) -> None:
    with registry.client("ann") as ann:
        asked = ann.create_transition_request("fraud", 2, "Production")
    with registry.client("root") as root:
        root.create_access_token("zed")
        zed_token = root.create_access_token("zed").token
    with RegistryClient(f"127.0.0.1:{registry.server.port}", token=zed_token) as zed:
        assert zed.list_transition_requests() == []
        assert failure(lambda: zed.list_transition_requests("fraud")).code == (
            grpc.StatusCode.NOT_FOUND
        )
        assert failure(lambda: zed.approve_transition_request(asked.id)).code == (
            grpc.StatusCode.NOT_FOUND
        )
    with registry.client("rita") as rita:
        assert [r.id for r in rita.list_transition_requests()] == [asked.id]


def test_a_protected_alias_is_set_and_deleted_through_requests(registry: Registry) -> None:
    with registry.client("ann") as ann:
        set_it = ann.create_transition_request("fraud", 2, alias="champion", comment="winner")
        assert (set_it.alias, set_it.stage, set_it.delete_alias) == ("champion", "", False)
    with registry.client("bob") as bob:
        bob.approve_transition_request(set_it.id)
        assert bob.get_model_version_by_alias("fraud", "champion").version == 2
    with registry.client("ann") as ann:
        assert failure(lambda: ann.delete_registered_model_alias("fraud", "champion")).reason == (
            "APPROVAL_REQUIRED"
        )
        drop = ann.create_transition_request("fraud", 0, alias="champion", delete_alias=True)
        assert drop.version == 2
        bad = failure(lambda: ann.create_transition_request("fraud", 2, "Production", "champion"))
        assert bad.code == grpc.StatusCode.INVALID_ARGUMENT
    with registry.client("cy") as cy:
        cy.approve_transition_request(drop.id)
        missing = failure(lambda: cy.get_model_version_by_alias("fraud", "champion"))
        assert missing.code == grpc.StatusCode.NOT_FOUND


def test_every_step_is_an_event_and_a_webhook_receives_them(registry: Registry) -> None:
    with receiving() as receiver, registry.client("root") as root:
        root.create_webhook(receiver.url, REQUEST_EVENTS, SECRET)
        with registry.client("ann") as ann:
            ids = [ann.create_transition_request("fraud", 2, "Production").id for _ in range(3)]
            ann.cancel_transition_request(ids[2])
        with registry.client("bob") as bob:
            bob.reject_transition_request(ids[1], comment="no")
            bob.approve_transition_request(ids[0])
        expected = [
            ("created", ids[0]),
            ("created", ids[1]),
            ("created", ids[2]),
            ("cancelled", ids[2]),
            ("rejected", ids[1]),
            ("approved", ids[0]),
        ]
        events = root.list_events(event_types=REQUEST_EVENTS)
        assert [(e.event_type, int(e.after["id"])) for e in events] == [
            (getattr(events_pb2, f"EVENT_TYPE_TRANSITION_REQUEST_{a.upper()}"), i)
            for a, i in expected
        ]
        assert [e.actor for e in events] == ["ann"] * 4 + ["bob"] * 2
        receiver.wait_for(lambda r: len(r.succeeded()) == 6)
        bodies = sorted((d.body for d in receiver.succeeded()), key=lambda b: b["sequence"])
    assert [(b["entity"], b["action"], b["data"]["id"]) for b in bodies] == [
        ("transition_request", action, i) for action, i in expected
    ]
    assert bodies[4]["data"]["resolution_comment"] == "no"
    assert bodies[0]["data"]["stage"] == "Production"
    assert (
        bodies[0]["data"] | {"name": "fraud", "version": "2", "state": "PENDING"}
        == bodies[0]["data"]
    )


def test_requests_over_http(registry: Registry) -> None:
    def call(user: str, verb: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {registry.tokens[user]}"}
        return httpx.request(verb, f"{registry.http}/{path}", headers=headers, **kwargs)  # type: ignore[arg-type]

    created = call(
        "ann",
        "POST",
        "create",
        json={"name": "fraud", "version": "2", "stage": "Production", "comment": "go"},
    )
    assert created.status_code == 200, created.text
    asked = created.json()["transition_request"]
    assert asked["state"] == "PENDING"
    listed = call("bob", "GET", "list", params={"name": "fraud", "state": "PENDING"})
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()["transition_requests"]] == [asked["id"]]
    own = call("ann", "POST", "approve", json={"id": asked["id"]})
    assert own.status_code == 403
    approved = call("bob", "POST", "approve", json={"id": asked["id"], "etag": asked["etag"]})
    assert approved.status_code == 200, approved.text
    assert approved.json()["model_version"]["current_stage"] == "Production"
    again = call("bob", "POST", "reject", json={"id": asked["id"]})
    assert again.status_code == 400
    assert again.json()["error_code"] == "INVALID_STATE"
    stale = call("cy", "POST", "cancel", json={"id": asked["id"], "etag": asked["etag"]})
    assert stale.status_code == 409


def test_requests_from_the_cli(registry: Registry) -> None:
    target = f"127.0.0.1:{registry.server.port}"

    def run(user: str, *args: str) -> str:
        result = CliRunner().invoke(
            registry_cli,
            ["--target", target, *args],
            env={"REGISTRY_TOKEN": registry.tokens[user]},
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        return result.output

    created = run("ann", "requests", "create", "fraud", "2", "--stage", "Production", "--archive")
    assert "PENDING" in created
    listing = run("bob", "requests", "list", "fraud", "--state", "pending")
    assert "ann" in listing and "Production" in listing
    with registry.client("bob") as bob:
        [asked] = bob.list_transition_requests("fraud")
    approved = run("bob", "requests", "approve", str(asked.id), "--comment", "ok")
    assert "APPROVED" in approved
    with registry.client("bob") as bob:
        assert stages(bob) == {1: "Archived", 2: "Production"}
    second = run("ann", "--json", "requests", "create", "fraud", "1", "--stage", "Staging")
    assert '"state": "PENDING"' in second
    with registry.client("bob") as bob:
        [newest, _] = bob.list_transition_requests("fraud")
    assert "REJECTED" in run("bob", "requests", "reject", str(newest.id), "--comment", "no")
    with registry.client("ann") as ann:
        third = ann.create_transition_request("fraud", 1, "Staging")
    assert "CANCELLED" in run("ann", "requests", "cancel", str(third.id))


def test_requests_follow_their_model_through_a_rename_and_go_with_its_delete(
    registry: Registry,
) -> None:
    with registry.client("ann") as ann:
        asked = ann.create_transition_request("fraud", 2, "Production", request_id=RETRIED)
        # A retried create (same request_id) makes one request.
        again = ann.create_transition_request("fraud", 2, "Production", request_id=RETRIED)
        assert again.id == asked.id
    with registry.client("root") as root:
        root.rename_registered_model("fraud", "fraud-v2")
        [renamed] = root.list_transition_requests("fraud-v2")
        assert (renamed.id, renamed.name) == (asked.id, "fraud-v2")
        root.delete_registered_model("fraud-v2")
        root.create_registered_model("fraud-v2")
        assert root.list_transition_requests() == []
        missing = failure(lambda: root.approve_transition_request(asked.id))
        assert missing.code == grpc.StatusCode.NOT_FOUND


RETRIED = "3f2b8c1e-8d4a-4c7e-9b1a-2f6d5e4c3b2a"


def test_require_approval_names_only_staging_and_production() -> None:
    assert Settings(require_approval="production, Staging").require_approval
    with pytest.raises(ValueError, match="may name Staging and Production"):
        Settings(require_approval="Archived")
