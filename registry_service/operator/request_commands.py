"""`registry requests create|list|approve|reject|cancel`: transition requests, the way a caller
without MANAGE on a model asks for a stage change or a protected alias move, and the way someone
with MANAGE answers (docs/security.md, "Approval requests")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
from modelregistry.v1 import requests_pb2
from modelregistry.v1.requests_pb2 import TransitionRequest

from registry_service.operator.options import Options, pass_options, show
from registry_service.operator.output import millis_text, table

STATE_WORDS = ("pending", "approved", "rejected", "cancelled")


def state_word(state: int) -> str:
    name: str = requests_pb2.TransitionRequestState.Name(state)
    return name.removeprefix("TRANSITION_REQUEST_STATE_")


def change_text(request: TransitionRequest) -> str:
    """What the request asks for, in a few words."""
    if request.stage:
        archive = ", archiving the others" if request.archive_existing_versions else ""
        return f"version {request.version} to {request.stage}{archive}"
    if request.delete_alias:
        return f"delete alias {request.alias} (on version {request.version})"
    return f"alias {request.alias} to version {request.version}"


def request_json(request: TransitionRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "name": request.name,
        "version": request.version,
        "stage": request.stage,
        "alias": request.alias,
        "delete_alias": request.delete_alias,
        "archive_existing_versions": request.archive_existing_versions,
        "comment": request.comment,
        "state": state_word(request.state),
        "user_id": request.user_id,
        "creation_timestamp": request.creation_timestamp,
        "last_updated_timestamp": request.last_updated_timestamp,
        "resolved_by": request.resolved_by,
        "resolution_comment": request.resolution_comment,
        "etag": request.etag,
        "version_etag": request.version_etag,
    }


def requests_table(found: Sequence[TransitionRequest]) -> str:
    if not found:
        return "no transition requests"
    rows = [
        [
            str(r.id),
            r.name,
            change_text(r),
            state_word(r.state),
            r.user_id,
            r.comment.replace("\n", " "),
            r.resolved_by,
            millis_text(r.creation_timestamp),
        ]
        for r in found
    ]
    headers = ["ID", "MODEL", "CHANGE", "STATE", "BY", "COMMENT", "RESOLVED BY", "CREATED"]
    return table(headers, rows)


def request_details(request: TransitionRequest) -> str:
    text = (
        f"transition request {request.id} on {request.name}: {change_text(request)} "
        f"[{state_word(request.state)}]"
    )
    if request.resolved_by:
        text += f" by {request.resolved_by}"
    if request.resolution_comment:
        text += f": {request.resolution_comment}"
    return text


@click.group()
def requests() -> None:
    """Transition requests: ask for a stage change or protected alias move; approve or reject."""


@requests.command("create")
@click.argument("name")
@click.argument("version", type=int, required=False, default=0)
@click.option("--stage", default="", help="The stage to move VERSION to.")
@click.option("--alias", default="", help="The alias to point at VERSION (or to delete).")
@click.option("--delete-alias", is_flag=True, help="Delete --alias instead of setting it.")
@click.option(
    "--archive", is_flag=True, help="Archive the other versions in the stage when approved."
)
@click.option("--comment", default="", help="Why; shown to the approvers.")
@pass_options
def requests_create(
    options: Options,
    name: str,
    version: int,
    stage: str,
    alias: str,
    delete_alias: bool,
    archive: bool,
    comment: str,
) -> None:
    """Ask for a change of model NAME's VERSION that someone with MANAGE approves."""
    with options.client() as client:
        created = client.create_transition_request(
            name,
            version,
            stage,
            alias,
            delete_alias=delete_alias,
            archive_existing_versions=archive,
            comment=comment,
        )
    show(options, request_json(created), request_details(created))


@requests.command("list")
@click.argument("name", required=False, default="")
@click.argument("version", type=int, required=False, default=0)
@click.option("--state", type=click.Choice(STATE_WORDS, case_sensitive=False))
@click.option("--max-results", type=click.IntRange(min=1), help="Stop after N.")
@pass_options
def requests_list(
    options: Options, name: str, version: int, state: str | None, max_results: int | None
) -> None:
    """Transition requests, newest first: on every model you may read, or on NAME (VERSION)."""
    number = requests_pb2.TransitionRequestState.Value(
        f"TRANSITION_REQUEST_STATE_{state.upper()}"
        if state
        else "TRANSITION_REQUEST_STATE_UNSPECIFIED"
    )
    with options.client() as client:
        found = client.list_transition_requests(name, version, number, max_results)
    show(options, [request_json(r) for r in found], requests_table(found))


def _answer_command(verb: str, help_text: str) -> None:
    @requests.command(verb, help=help_text)
    @click.argument("request_id", type=int)
    @click.option("--etag", default="", help="Act only if the request is still at this etag.")
    @click.option("--comment", default="")
    @pass_options
    def answer(options: Options, request_id: int, etag: str, comment: str) -> None:
        with options.client() as client:
            if verb == "approve":
                done = client.approve_transition_request(request_id, etag, comment)
                result = done.transition_request
            elif verb == "reject":
                result = client.reject_transition_request(request_id, etag, comment)
            else:
                result = client.cancel_transition_request(request_id, etag, comment)
        show(options, request_json(result), request_details(result))


_answer_command("approve", "Approve REQUEST_ID: its change is made now (MANAGE; not your own).")
_answer_command("reject", "Reject REQUEST_ID; nothing changes (MANAGE).")
_answer_command("cancel", "Withdraw your own REQUEST_ID (admins: anyone's).")
