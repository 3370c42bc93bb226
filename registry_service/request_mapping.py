"""Transition requests between their domain records and protobuf messages."""

from __future__ import annotations

from modelregistry.v1 import requests_pb2

from registry_service.domain import RequestState, TransitionRequest
from registry_service.errors import InvalidArgument

# Each state's enum value is named after it: TRANSITION_REQUEST_STATE_<member name>.
_STATE = {
    state: getattr(requests_pb2, f"TRANSITION_REQUEST_STATE_{state.name}") for state in RequestState
}
_STATE_OF = {number: state for state, number in _STATE.items()}


def state_of(value: int) -> RequestState | None:
    """The state a filter names; None (every state) for the unspecified value."""
    if value == requests_pb2.TRANSITION_REQUEST_STATE_UNSPECIFIED:
        return None
    if value not in _STATE_OF:
        raise InvalidArgument(f"state {value} is not a transition request state", field="state")
    return _STATE_OF[value]


def transition_request_message(request: TransitionRequest) -> requests_pb2.TransitionRequest:
    return requests_pb2.TransitionRequest(
        id=request.id,
        name=request.name,
        version=request.version,
        stage=request.stage,
        alias=request.alias,
        delete_alias=request.delete_alias,
        archive_existing_versions=request.archive_existing_versions,
        comment=request.comment,
        state=_STATE[request.state],
        user_id=request.user_id,
        creation_timestamp=request.creation_timestamp,
        last_updated_timestamp=request.last_updated_timestamp,
        resolved_by=request.resolved_by,
        resolution_comment=request.resolution_comment,
        etag=request.etag,
        version_etag=request.version_etag,
    )
