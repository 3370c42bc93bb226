"""ListEvents newest first and for one version: the order and filter the UI's History panel
reads, paged with tokens that serve only the order that made them."""

from __future__ import annotations

import grpc
import pytest
from modelregistry.v1 import events_pb2
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1.registry_service_pb2_grpc import ModelRegistryServiceStub


def _history(stub: ModelRegistryServiceStub, **request: object) -> list[int]:
    """Every page of a newest-first listing, as the sequences read, following the tokens."""
    sequences: list[int] = []
    token = ""
    while True:
        response = stub.ListEvents(
            events_pb2.ListEventsRequest(newest_first=True, page_token=token, **request)  # type: ignore[arg-type]
        )
        sequences += [event.sequence for event in response.events]
        token = response.next_page_token
        if not token:
            return sequences


def test_newest_first_pages_back_through_a_models_events(stub: ModelRegistryServiceStub) -> None:
    for name in ("a", "b"):
        stub.CreateRegisteredModel(pb.CreateRegisteredModelRequest(name=name))
        for number in (1, 2, 3):
            stub.CreateModelVersion(
                pb.CreateModelVersionRequest(name=name, source=f"s3://b/{name}/{number}")
            )
            stub.TransitionModelVersionStage(
                pb.TransitionModelVersionStageRequest(name=name, version=number, stage="Staging")
            )
    # a: 1-7, b: 8-14.
    assert _history(stub, page_size=3) == list(range(14, 0, -1))
    assert _history(stub, model_names=["a"], page_size=2) == list(range(7, 0, -1))
    assert _history(stub, model_names=["b"], start_after=10, page_size=2) == [14, 13, 12, 11]
    stages = _history(
        stub,
        model_names=["a"],
        event_types=[events_pb2.EVENT_TYPE_MODEL_VERSION_STAGE_CHANGED],
        page_size=1,
    )
    assert stages == [7, 5, 3]
    # One version's events: its creation and its transition.
    assert _history(stub, model_names=["b"], version=2, page_size=1) == [12, 11]
    # Oldest first is unchanged, and the version filter applies there too.
    oldest = stub.ListEvents(events_pb2.ListEventsRequest(model_names=["a"], version=3))
    assert [event.sequence for event in oldest.events] == [6, 7]


def test_a_page_token_serves_only_the_order_that_made_it(stub: ModelRegistryServiceStub) -> None:
    stub.CreateRegisteredModel(pb.CreateRegisteredModelRequest(name="a"))
    for _ in range(3):
        stub.CreateModelVersion(pb.CreateModelVersionRequest(name="a", source="s3://b/a"))
    newest = stub.ListEvents(events_pb2.ListEventsRequest(newest_first=True, page_size=1))
    oldest = stub.ListEvents(events_pb2.ListEventsRequest(page_size=1))
    assert newest.next_page_token and oldest.next_page_token
    for request in (
        events_pb2.ListEventsRequest(page_token=newest.next_page_token),
        events_pb2.ListEventsRequest(newest_first=True, page_token=oldest.next_page_token),
        events_pb2.ListEventsRequest(version=-1),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            stub.ListEvents(request)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
