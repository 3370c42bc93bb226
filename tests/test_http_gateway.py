"""The HTTP/JSON gateway on the wire: MLflow's paths, JSON shapes, errors and status codes."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
import requests
from mlflow.protos import databricks_pb2
from mlflow.protos.model_registry_pb2 import ModelRegistryService
from mlflow.utils.rest_utils import _REST_API_PATH_PREFIX

from registry_service.errors import AlreadyExists, InvalidArgument, NotFound, Unavailable
from registry_service.gateway.app import SERVICE
from registry_service.gateway.errors import error_response
from registry_service.gateway.routes import http_routes
from registry_service.grpc_errors import from_rpc_error
from registry_service.server import RunningServer

API = "/api/2.0/mlflow"


class Api:
    """Raw HTTP calls to a server's gateway."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}{API}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.base}/{path}", timeout=30, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def api(http_server: RunningServer) -> Api:
    assert http_server.http is not None
    return Api(http_server.http.port)


def test_every_endpoint_the_mlflow_client_calls_is_routed_from_the_protos() -> None:
    client_endpoints = {
        (endpoint.method, _REST_API_PATH_PREFIX + endpoint.path)
        for method in ModelRegistryService.DESCRIPTOR.methods
        for endpoint in method.GetOptions().Extensions[databricks_pb2.rpc].endpoints
    }
    routes = {(route.http_method, route.path) for route in http_routes(SERVICE)}
    assert len(client_endpoints) == 22  # 21 RPCs; get-latest-versions by POST and by GET
    assert {route for route in routes if route[1].startswith(API + "/")} == client_endpoints


def test_every_rpc_is_served_over_http_and_the_registrys_own_apart_from_mlflows() -> None:
    routes = http_routes(SERVICE)
    assert {route.rpc for route in routes} == {method.name for method in SERVICE.methods}
    for route in routes:
        assert route.path.startswith((API + "/", "/api/2.0/modelregistry/")), route


def test_registered_model_json_has_mlflow_shapes(api: Api) -> None:
    created = api.ok(
        "POST",
        "registered-models/create",
        json={"name": "fraud", "tags": [{"key": "team", "value": "risk"}], "description": "d"},
    )["registered_model"]
    assert created["name"] == "fraud"
    assert created["tags"] == [{"key": "team", "value": "risk"}]
    assert isinstance(created["creation_timestamp"], int)
    assert created["last_updated_timestamp"] == created["creation_timestamp"]
    # Empty lists and strings are left out, as MLflow leaves out unset fields.
    assert "aliases" not in created and "latest_versions" not in created

    api.ok("POST", "model-versions/create", json={"name": "fraud", "source": "s3://b/1"})
    assert (
        api.ok(
            "POST",
            "registered-models/alias",
            json={"name": "fraud", "alias": "champion", "version": "1"},
        )
        == {}
    )
    model = api.ok("GET", "registered-models/get", params={"name": "fraud"})["registered_model"]
    assert model["aliases"] == [{"alias": "champion", "version": "1"}]
    assert [v["version"] for v in model["latest_versions"]] == ["1"]


def test_model_version_json_has_mlflow_shapes(api: Api) -> None:
    api.ok("POST", "registered-models/create", json={"name": "fraud"})
    created = api.ok(
        "POST",
        "model-versions/create",
        json={
            "name": "fraud",
            "source": "runs:/r1/model",
            "run_id": "r1",
            "tags": [{"key": "framework", "value": "sklearn"}],
        },
    )["model_version"]
    assert created["version"] == "1"
    assert created["status"] == "READY"
    assert created["current_stage"] == "None"
    assert created["run_id"] == "r1"
    assert created["tags"] == [{"key": "framework", "value": "sklearn"}]
    assert isinstance(created["creation_timestamp"], int)
    assert "description" not in created and "status_message" not in created

    for alias in ("b", "a"):
        api.ok(
            "POST", "registered-models/alias", json={"name": "fraud", "alias": alias, "version": 1}
        )
    got = api.ok("GET", "model-versions/get", params={"name": "fraud", "version": "1"})
    assert got["model_version"]["aliases"] == ["a", "b"]


def test_empty_responses_are_an_empty_object(api: Api) -> None:
    api.ok("POST", "registered-models/create", json={"name": "fraud"})
    assert (
        api.ok(
            "POST", "registered-models/set-tag", json={"name": "fraud", "key": "k", "value": "v"}
        )
        == {}
    )
    assert (
        api.ok("DELETE", "registered-models/delete-tag", json={"name": "fraud", "key": "k"}) == {}
    )
    assert api.ok("DELETE", "registered-models/delete", json={"name": "fraud"}) == {}


def test_get_takes_repeated_fields_as_repeated_query_keys(api: Api) -> None:
    api.ok("POST", "registered-models/create", json={"name": "fraud"})
    for number in (1, 2, 3):
        api.ok(
            "POST", "model-versions/create", json={"name": "fraud", "source": f"s3://b/{number}"}
        )
    api.ok(
        "POST",
        "model-versions/transition-stage",
        json={
            "name": "fraud",
            "version": "1",
            "stage": "Staging",
            "archive_existing_versions": False,
        },
    )
    api.ok(
        "POST",
        "model-versions/transition-stage",
        json={"name": "fraud", "version": "2", "stage": "Production"},
    )
    query = [("name", "fraud"), ("stages", "Production"), ("stages", "Staging")]
    latest = api.ok("GET", "registered-models/get-latest-versions", params=query)
    assert sorted(v["version"] for v in latest["model_versions"]) == ["1", "2"]
    by_post = api.ok(
        "POST", "registered-models/get-latest-versions", json={"name": "fraud", "stages": ["None"]}
    )
    assert [v["version"] for v in by_post["model_versions"]] == ["3"]

    api.ok("POST", "registered-models/create", json={"name": "churn"})
    api.ok("POST", "model-versions/create", json={"name": "churn", "source": "s3://c/1"})
    order = [("order_by", "name DESC"), ("order_by", "version_number ASC")]
    found = api.ok("GET", "model-versions/search", params=order)["model_versions"]
    assert [(v["name"], v["version"]) for v in found] == [
        ("fraud", "1"),
        ("fraud", "2"),
        ("fraud", "3"),
        ("churn", "1"),
    ]


def test_search_pages_with_max_results_and_page_token(api: Api) -> None:
    for name in ("a", "b", "c"):
        api.ok("POST", "registered-models/create", json={"name": name})
    names = []
    params: dict[str, Any] = {"max_results": 2}
    while True:
        page = api.ok("GET", "registered-models/search", params=params)
        names += [m["name"] for m in page["registered_models"]]
        if "next_page_token" not in page:
            break
        params["page_token"] = page["next_page_token"]
    assert names == ["a", "b", "c"]


@pytest.mark.parametrize("max_results", ["10000", "200000", str(2**40)])
def test_max_results_above_the_page_limit_is_capped_not_refused(api: Api, max_results: str) -> None:
    api.ok("POST", "registered-models/create", json={"name": "fraud"})
    api.ok("POST", "model-versions/create", json={"name": "fraud", "source": "s3://b/1"})
    page = api.ok("GET", "model-versions/search", params={"max_results": max_results})
    assert [v["version"] for v in page["model_versions"]] == ["1"]


def test_unknown_request_fields_are_ignored(api: Api) -> None:
    created = api.ok(
        "POST",
        "registered-models/create",
        json={"name": "fraud", "deployment_job_id": "job-1", "future": {"nested": [1, 2]}},
    )
    assert created["registered_model"]["name"] == "fraud"
    got = api.ok("GET", "registered-models/get", params={"name": "fraud", "workspace": "w"})
    assert got["registered_model"]["name"] == "fraud"


def test_update_without_description_leaves_it_and_an_empty_one_clears_it(api: Api) -> None:
    api.ok("POST", "registered-models/create", json={"name": "fraud", "description": "kept"})
    unchanged = api.ok("PATCH", "registered-models/update", json={"name": "fraud"})
    assert unchanged["registered_model"]["description"] == "kept"
    cleared = api.ok("PATCH", "registered-models/update", json={"name": "fraud", "description": ""})
    assert "description" not in cleared["registered_model"]


def test_errors_have_mlflow_error_codes_and_statuses(api: Api) -> None:
    missing = api.call("GET", "registered-models/get", params={"name": "nope"})
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert "nope" in missing.json()["message"]

    api.ok("POST", "registered-models/create", json={"name": "fraud"})
    taken = api.call("POST", "registered-models/create", json={"name": "fraud"})
    assert (taken.status_code, taken.json()["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")

    bad_name = api.call("POST", "registered-models/create", json={"name": "a/b"})
    assert (bad_name.status_code, bad_name.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "model-versions/get", {"params": {"name": "fraud", "version": "one"}}),
        ("GET", "registered-models/search", {"params": {"max_results": "-1"}}),
        ("GET", "registered-models/search", {"params": {"page_token": "not-a-token"}}),
        ("GET", "model-versions/search", {"params": {"filter": "name = = 'x'"}}),
        ("POST", "registered-models/create", {"data": b"{not json"}),
        ("POST", "registered-models/create", {"json": ["fraud"]}),
        ("POST", "registered-models/create", {"json": {"name": 7}}),
        ("POST", "registered-models/create", {"json": {"name": "m", "tags": "k=v"}}),
        (
            "POST",
            "model-versions/transition-stage",
            {"json": {"name": "fraud", "version": "1", "stage": "Live"}},
        ),
        (
            "POST",
            "model-versions/transition-stage",
            {
                "json": {
                    "name": "fraud",
                    "version": "1",
                    "stage": "None",
                    "archive_existing_versions": "maybe",
                }
            },
        ),
    ],
)
def test_malformed_requests_are_400_invalid_parameter_value(
    api: Api, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    api.ok("POST", "registered-models/create", json={"name": "fraud"})
    api.ok("POST", "model-versions/create", json={"name": "fraud", "source": "s3://b/1"})
    response = api.call(method, path, **kwargs)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_no_registry_call_answers_a_deterministic_error_with_a_5xx(api: Api) -> None:
    # MLflow's calls; the registry's own routes get generated requests in
    # test_http_hostile_input.py.
    for route in http_routes(SERVICE):
        if not route.path.startswith(API + "/"):
            continue
        path = route.path.removeprefix(API + "/")
        for payload in ({}, {"name": "nope", "version": "1", "alias": "x", "key": "k"}):
            if route.from_body:
                response = api.call(route.http_method, path, json=payload)
            else:
                response = api.call(route.http_method, path, params=payload)
            assert response.status_code in (200, 400, 404), (route, payload, response.text)
            assert response.json().get("error_code") in (
                None,
                "INVALID_PARAMETER_VALUE",
                "RESOURCE_DOES_NOT_EXIST",
            )


def test_unknown_paths_and_methods_answer_in_mlflow_error_shape(api: Api) -> None:
    unknown = api.call("GET", "experiments/list")
    assert (unknown.status_code, unknown.json()["error_code"]) == (404, "ENDPOINT_NOT_FOUND")
    wrong_method = api.call("PUT", "registered-models/create", json={"name": "fraud"})
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error_code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    ("error", "status", "error_code"),
    [
        (NotFound("gone"), 404, "RESOURCE_DOES_NOT_EXIST"),
        (AlreadyExists("taken"), 400, "RESOURCE_ALREADY_EXISTS"),
        (InvalidArgument("bad"), 400, "INVALID_PARAMETER_VALUE"),
        (Unavailable("database down"), 503, "TEMPORARILY_UNAVAILABLE"),
    ],
)
def test_domain_errors_map_to_mlflow_statuses(error: Any, status: int, error_code: str) -> None:
    response = error_response(error)
    assert response.status_code == status
    assert response.body == (
        f'{{"error_code":"{error_code}","message":"{error.message}"}}'.encode()
    )


def test_a_status_without_error_info_is_mlflow_internal_error() -> None:
    class Failed(grpc.RpcError):
        def code(self) -> grpc.StatusCode:
            return grpc.StatusCode.INTERNAL

        def details(self) -> str:
            return "internal error"

        def trailing_metadata(self) -> tuple[()]:
            return ()

    response = error_response(from_rpc_error(Failed()))
    assert response.status_code == 500
    assert b'"error_code":"INTERNAL_ERROR"' in response.body
