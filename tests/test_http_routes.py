"""The registry's own RPCs on HTTP, at the paths their google.api.http options declare: events
(listed, and watched as Server-Sent Events or newline-delimited JSON, resumed by sequence),
webhooks, access tokens, permissions, import and the caller's identity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from registry_service.server import RunningServer

API = "/api/2.0/modelregistry"
MLFLOW = "/api/2.0/mlflow"


@pytest.fixture
def api(http_server: RunningServer) -> Iterator[httpx.Client]:
    assert http_server.http is not None
    with httpx.Client(base_url=f"http://127.0.0.1:{http_server.http.port}", timeout=30) as client:
        yield client


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def two_events(api: httpx.Client) -> list[dict[str, Any]]:
    ok(api.post(f"{MLFLOW}/registered-models/create", json={"name": "watched"}))
    ok(api.post(f"{MLFLOW}/model-versions/create", json={"name": "watched", "source": "s3://b/1"}))
    events: list[dict[str, Any]] = ok(
        api.get(f"{API}/events/list", params={"model_names": "watched"})
    )["events"]
    return events


def test_events_are_listed_with_filters_by_event_type_word(api: httpx.Client) -> None:
    created, versioned = two_events(api)
    assert (created["event_type"], versioned["event_type"]) == (
        "REGISTERED_MODEL_CREATED",
        "MODEL_VERSION_CREATED",
    )
    assert versioned["version"] == "1" and versioned["after"]["source"] == "s3://b/1"
    only = ok(api.get(f"{API}/events/list", params={"event_types": "MODEL_VERSION_CREATED"}))
    assert [e["sequence"] for e in only["events"]] == [versioned["sequence"]]
    refused = api.get(f"{API}/events/list", params={"event_types": "NO_SUCH_EVENT"})
    assert refused.status_code == 400


def first_lines(response: httpx.Response, count: int) -> list[str]:
    lines: list[str] = []
    for line in response.iter_lines():
        if line:
            lines.append(line)
        if len(lines) == count:
            break
    return lines


def test_watch_streams_newline_delimited_json_and_resumes_after_a_sequence(
    api: httpx.Client,
) -> None:
    created, versioned = two_events(api)
    params = {"model_names": "watched"}
    with api.stream("GET", f"{API}/events/watch", params=params) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        assert response.headers["x-request-id"]
        answers = [json.loads(line) for line in first_lines(response, 2)]
    assert [a["event"]["sequence"] for a in answers] == [created["sequence"], versioned["sequence"]]
    assert answers[0]["high_water_sequence"] == created["sequence"]

    resumed = {**params, "start_after": str(created["sequence"])}
    with api.stream("GET", f"{API}/events/watch", params=resumed) as response:
        [answer] = [json.loads(line) for line in first_lines(response, 1)]
    assert answer["event"]["sequence"] == versioned["sequence"]


def test_watch_streams_server_sent_events_resumed_by_last_event_id(api: httpx.Client) -> None:
    created, versioned = two_events(api)
    headers = {"Accept": "text/event-stream"}
    params = {"model_names": "watched"}
    with api.stream("GET", f"{API}/events/watch", params=params, headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event_id, data = first_lines(response, 2)
    assert event_id == f"id: {created['sequence']}"
    assert json.loads(data.removeprefix("data: "))["event"]["event_type"] == (
        "REGISTERED_MODEL_CREATED"
    )

    # What an EventSource sends when it reconnects: the id of the last event it received.
    again = {**headers, "Last-Event-ID": str(created["sequence"])}
    with api.stream("GET", f"{API}/events/watch", params=params, headers=again) as response:
        event_id, data = first_lines(response, 2)
    assert event_id == f"id: {versioned['sequence']}"


def test_a_watch_the_filters_refuse_is_an_error_status_not_a_stream(api: httpx.Client) -> None:
    refused = api.get(f"{API}/events/watch", params={"start_after": "-1"})
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    bad_resume = api.get(f"{API}/events/watch", headers={"Last-Event-ID": "soon"})
    assert bad_resume.status_code == 400


def test_webhooks_are_created_updated_by_mask_listed_and_deleted(api: httpx.Client) -> None:
    created = ok(
        api.post(
            f"{API}/webhooks/create",
            json={
                "name": "ci",
                "url": "https://ci.example.com/hook",
                "event_types": ["MODEL_VERSION_CREATED"],
            },
        )
    )["webhook"]
    assert created["event_types"] == ["MODEL_VERSION_CREATED"]
    updated = ok(
        api.patch(
            f"{API}/webhooks/update",
            json={"id": created["id"], "description": "builds", "update_mask": "description"},
        )
    )["webhook"]
    assert (updated["description"], updated["name"]) == ("builds", "ci")
    assert [w["id"] for w in ok(api.get(f"{API}/webhooks/list"))["webhooks"]] == [created["id"]]
    # Nothing delivered yet: the empty answer, as every empty list is left out.
    deliveries = api.get(f"{API}/webhooks/deliveries/list", params={"webhook_id": created["id"]})
    assert ok(deliveries) == {}
    assert ok(api.request("DELETE", f"{API}/webhooks/delete", json={"id": created["id"]})) == {}
    assert ok(api.get(f"{API}/webhooks/list")) == {}


def test_access_tokens_and_permissions_are_managed_over_http(api: httpx.Client) -> None:
    made = ok(api.post(f"{API}/access-tokens/create", json={"user_id": "bob"}))
    assert made["token"] and made["access_token"]["user_id"] == "bob"
    listed = ok(api.get(f"{API}/access-tokens/list", params={"user_id": "bob"}))
    assert [t["id"] for t in listed["access_tokens"]] == [made["access_token"]["id"]]
    ok(api.post(f"{API}/access-tokens/revoke", json={"id": made["access_token"]["id"]}))

    ok(api.post(f"{MLFLOW}/registered-models/create", json={"name": "guarded"}))
    granted = ok(
        api.post(
            f"{API}/registered-models/permissions/set",
            json={"name": "guarded", "user_id": "bob", "permission": "EDIT"},
        )
    )["registered_model_permission"]
    assert granted["permission"] == "EDIT"
    listed = ok(api.get(f"{API}/registered-models/permissions/get", params={"name": "guarded"}))
    assert [p["user_id"] for p in listed["registered_model_permissions"]] == ["bob"]
    ok(
        api.request(
            "DELETE",
            f"{API}/registered-models/permissions/delete",
            json={"name": "guarded", "user_id": "bob"},
        )
    )
    assert ok(api.get(f"{API}/identity/get")) == {"admin": True}


def test_a_model_read_over_http_imports_back_under_another_name(api: httpx.Client) -> None:
    ok(api.post(f"{MLFLOW}/registered-models/create", json={"name": "origin"}))
    ok(api.post(f"{MLFLOW}/model-versions/create", json={"name": "origin", "source": "s3://b/1"}))
    model = ok(api.get(f"{MLFLOW}/registered-models/get", params={"name": "origin"}))
    version = ok(
        api.get(f"{MLFLOW}/model-versions/get", params={"name": "origin", "version": "1"})
    )["model_version"]
    copy = {**model["registered_model"], "name": "copy"}
    imported = ok(
        api.post(
            f"{API}/registered-models/import",
            json={
                "registered_model": copy,
                "model_versions": [{**version, "name": "copy"}],
                "last_version": 1,
            },
        )
    )
    assert imported["registered_model"]["name"] == "copy"
    got = ok(api.get(f"{MLFLOW}/model-versions/get", params={"name": "copy", "version": "1"}))
    assert got["model_version"]["source"] == "s3://b/1"
