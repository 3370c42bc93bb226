"""The web UI as the HTTP server hands it out: its pages, its files, and nothing from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from registry_service.gateway.ui_routes import UI_DIR
from registry_service.server import RunningServer

from .processes import serving

# What the page loads: <script src>, <link href>, <img src> and ES module imports.
REFERENCE = re.compile(r"""(?:src|href)="([^"#]+)"|^import [^;]*? from "([^"]+)";""", re.MULTILINE)


@pytest.fixture
def base(http_server: RunningServer) -> str:
    assert http_server.http is not None
    return f"http://127.0.0.1:{http_server.http.port}"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "path",
    ["/", "/models/fraud", "/models/fraud%20v2/versions/3", "/models/fraud/compare", "/deleted"],
)
def test_every_ui_path_serves_the_page_under_a_same_origin_policy(base: str, path: str) -> None:
    response = requests.get(base + path, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/ui/js/main.js">' in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_ui_files_are_served_with_their_types_and_revalidated(base: str) -> None:
    script = requests.get(f"{base}/ui/js/main.js", timeout=10)
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.headers["cache-control"] == "no-cache"
    style = requests.get(f"{base}/ui/style.css", timeout=10)
    assert style.headers["content-type"].startswith("text/css")
    again = requests.get(
        f"{base}/ui/style.css", headers={"If-None-Match": style.headers["etag"]}, timeout=10
    )
    assert again.status_code == 304


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_scripts_and_styles_are_sent_compressed_to_browsers_that_accept_it(base: str) -> None:
    for path in ("/ui/js/main.js", "/ui/js/history.js", "/ui/style.css"):
        packed = requests.get(f"{base}{path}", headers={"Accept-Encoding": "gzip"}, timeout=10)
        assert packed.headers["content-encoding"] == "gzip", path
        assert "accept-encoding" in packed.headers["vary"].lower(), path
        plain = requests.get(f"{base}{path}", headers={"Accept-Encoding": "identity"}, timeout=10)
        assert "content-encoding" not in plain.headers, path
        assert packed.text == plain.text, path
        assert int(packed.headers["content-length"]) < len(plain.content) / 2, path


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("path", ["/experiments/12", "/models", "/models/a/b/c/d", "/api"])
def test_an_unknown_page_is_a_404_that_serves_the_app_and_its_not_found_page(
    base: str, path: str
) -> None:
    response = requests.get(base + path, timeout=10)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/ui/js/main.js">' in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("method", "path", "status", "error_code"),
    [
        ("GET", "/api/2.0/mlflow/experiments/list", 404, "ENDPOINT_NOT_FOUND"),
        ("GET", "/api/2.0/preview/mlflow/registered-models/list", 404, "ENDPOINT_NOT_FOUND"),
        ("POST", "/experiments/12", 404, "ENDPOINT_NOT_FOUND"),
        # A page's path with another method than GET.
        ("DELETE", "/models/fraud", 405, "BAD_REQUEST"),
    ],
)
def test_api_paths_and_other_methods_keep_the_apis_json_errors(
    base: str, method: str, path: str, status: int, error_code: str
) -> None:
    response = requests.request(method, base + path, timeout=10)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error_code"] == error_code


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_missing_ui_file_is_a_404_in_the_apis_error_shape(base: str) -> None:
    response = requests.get(f"{base}/ui/js/missing.js", timeout=10)
    assert response.status_code == 404
    assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_everything_the_page_loads_is_a_local_file_of_the_package() -> None:
    """No CDN, web font or other URL: every reference resolves to a file under ui/."""
    pending = [UI_DIR / "index.html"]
    seen: set[Path] = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for match in REFERENCE.finditer(current.read_text()):
            reference = match.group(1) or match.group(2)
            assert "//" not in reference, f"{current.name} loads {reference} from elsewhere"
            # Pages (the top bar's links), not files.
            if reference in ("/", "/deleted"):
                continue
            if reference.startswith("/ui/"):
                target = UI_DIR / reference.removeprefix("/ui/")
            else:
                target = (current.parent / reference).resolve()
            assert target.is_file(), f"{current.name} refers to {reference}, which is missing"
            if target.suffix in (".js", ".html"):
                pending.append(target)
    scripts = {path.resolve() for path in UI_DIR.rglob("*.js")}
    assert scripts <= seen, f"scripts nothing imports: {sorted(map(str, scripts - seen))}"


def test_the_serve_command_serves_the_ui(tmp_path: Path) -> None:
    with serving("--port", "0", "--database-url", f"sqlite:///{tmp_path / 'registry.db'}") as s:
        page = requests.get(f"http://127.0.0.1:{s.http_port}/", timeout=10)
        script = requests.get(f"http://127.0.0.1:{s.http_port}/ui/js/pages/version.js", timeout=10)
    assert page.status_code == 200
    assert "<title>Model Registry</title>" in page.text
    assert script.status_code == 200
