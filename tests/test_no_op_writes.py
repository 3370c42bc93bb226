"""Writes that change nothing, over gRPC on both backends: they leave every etag and
last_updated_timestamp as it was and write no event, so that an etag read before them still
vouches for the resource; their changing counterparts give new etags and write one event each.
The etag changes exactly when an event is written (docs/events.md)."""

from __future__ import annotations

from typing import Any

import pytest
from modelregistry.v1 import events_pb2

from .test_etags import etags
from .test_grpc_integration import TIMEOUT, Stub, get_model, get_version, pb, snapshot, transition

# On the conftest registry (fraud: tag team=r, v1 with tag auc=0.9 and alias champion, v2): each
# write that asks for what is already there, and a write of the same kind that changes something.
WRITES: dict[str, tuple[Any, Any]] = {
    "rename-model": (
        pb.RenameRegisteredModelRequest(name="fraud", new_name="fraud"),
        pb.RenameRegisteredModelRequest(name="fraud", new_name="fraud-2"),
    ),
    "update-model": (
        pb.UpdateRegisteredModelRequest(name="fraud", description=""),
        pb.UpdateRegisteredModelRequest(name="fraud", description="d"),
    ),
    "update-model-without-description": (
        pb.UpdateRegisteredModelRequest(name="fraud"),
        pb.UpdateRegisteredModelRequest(name="fraud", description="d"),
    ),
    "set-model-tag": (
        pb.SetRegisteredModelTagRequest(name="fraud", key="team", value="r"),
        pb.SetRegisteredModelTagRequest(name="fraud", key="team", value="x"),
    ),
    "delete-model-tag": (
        pb.DeleteRegisteredModelTagRequest(name="fraud", key="absent"),
        pb.DeleteRegisteredModelTagRequest(name="fraud", key="team"),
    ),
    "update-version": (
        pb.UpdateModelVersionRequest(name="fraud", version=1, description=""),
        pb.UpdateModelVersionRequest(name="fraud", version=1, description="d"),
    ),
    "transition": (
        pb.TransitionModelVersionStageRequest(name="fraud", version=1, stage="None"),
        pb.TransitionModelVersionStageRequest(name="fraud", version=1, stage="Staging"),
    ),
    "set-version-tag": (
        pb.SetModelVersionTagRequest(name="fraud", version=1, key="auc", value="0.9"),
        pb.SetModelVersionTagRequest(name="fraud", version=1, key="auc", value="1.0"),
    ),
    "delete-version-tag": (
        pb.DeleteModelVersionTagRequest(name="fraud", version=1, key="absent"),
        pb.DeleteModelVersionTagRequest(name="fraud", version=1, key="auc"),
    ),
    "set-alias": (
        pb.SetRegisteredModelAliasRequest(name="fraud", alias="champion", version=1),
        pb.SetRegisteredModelAliasRequest(name="fraud", alias="champion", version=2),
    ),
    "delete-alias": (
        pb.DeleteRegisteredModelAliasRequest(name="fraud", alias="absent"),
        pb.DeleteRegisteredModelAliasRequest(name="fraud", alias="champion"),
    ),
}


def send(stub: Stub, request: Any) -> None:
    getattr(stub, request.DESCRIPTOR.name.removesuffix("Request"))(request, timeout=TIMEOUT)


def events_after(stub: Stub, sequence: int) -> list[Any]:
    request = events_pb2.ListEventsRequest(start_after=sequence, page_size=1000)
    return list(stub.ListEvents(request, timeout=TIMEOUT).events)


def last_sequence(stub: Stub) -> int:
    return max((event.sequence for event in events_after(stub, 0)), default=0)


@pytest.mark.parametrize("write", WRITES)
def test_a_write_that_changes_nothing_keeps_etags_and_times_and_writes_no_event(
    registry: Stub, write: str
) -> None:
    no_op, _ = WRITES[write]
    before, sequence = snapshot(registry), last_sequence(registry)

    send(registry, no_op)

    assert snapshot(registry) == before  # etags and last_updated_timestamps included
    assert events_after(registry, sequence) == []


@pytest.mark.parametrize("write", WRITES)
def test_a_write_that_changes_something_gives_a_new_etag_and_writes_one_event(
    registry: Stub, write: str
) -> None:
    before, sequence = get_model(registry, "fraud").etag, last_sequence(registry)

    send(registry, WRITES[write][1])

    renamed = write == "rename-model"
    assert get_model(registry, "fraud-2" if renamed else "fraud").etag != before
    assert len(events_after(registry, sequence)) == 1


@pytest.mark.parametrize("write", WRITES)
def test_etags_read_before_a_write_that_changes_nothing_still_guard_writes(
    registry: Stub, write: str
) -> None:
    no_op, _ = WRITES[write]
    model_etag = get_model(registry, "fraud").etag
    version_etag = get_version(registry, "fraud", 1).etag

    send(registry, no_op)

    # The model's write first: it leaves the version's etag as it is (the reverse would not).
    send(
        registry, pb.SetRegisteredModelTagRequest(name="fraud", key="k", value="v", etag=model_etag)
    )
    send(
        registry,
        pb.UpdateModelVersionRequest(name="fraud", version=1, description="d", etag=version_etag),
    )


def test_an_archiving_transition_to_the_stage_a_version_has_changes_only_the_others(
    registry: Stub,
) -> None:
    transition(registry, "fraud", 1, "Staging")
    transition(registry, "fraud", 2, "Staging")
    model_before, versions_before = etags(registry)
    kept = get_version(registry, "fraud", 1)
    sequence = last_sequence(registry)

    transition(registry, "fraud", 1, "Staging", archive=True)

    model_after, versions_after = etags(registry)
    assert get_version(registry, "fraud", 1) == kept
    assert model_after != model_before and versions_after[2] != versions_before[2]
    [archived] = events_after(registry, sequence)
    assert (archived.version, archived.after["current_stage"]) == (2, "Archived")
