"""The browser side of the UI tests: Debian's chromium driven by Playwright against a real server,
a tab with the JSON API beside it, and the checks every view gets (axe-core, the window's edges).

Screenshots land in tests/artifacts/ui/ (gitignored); each one is also checked by axe-core
(tests/vendor/axe-core), which must find no serious or critical violation. Without
/usr/bin/chromium the tests skip, unless REGISTRY_REQUIRE_BROWSER=1 (as CI sets) makes that a
failure.

Test modules load it as a plugin (pytest_plugins) for its fixtures after importing its names, too
late for pytest to rewrite its asserts, which therefore carry their own messages:
PYTEST_DONT_REWRITE.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    ViewportSize,
    sync_playwright,
)

from registry_service.server import RunningServer

CHROMIUM = Path("/usr/bin/chromium")
# Playwright's own browser builds cannot be downloaded here; these flags keep Debian's
# chromium from reaching the network on its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "ui"
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
# What axe-core may find: nothing above "moderate".
BLOCKING_IMPACTS = ("serious", "critical")
WIDE: ViewportSize = {"width": 1440, "height": 900}
NARROW: ViewportSize = {"width": 390, "height": 844}
TIME_ZONE = "Asia/Tokyo"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium): browser tests skipped"
        if os.environ.get("REGISTRY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"REGISTRY_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Ui:
    """A browser tab on the server's UI, and the JSON API beside it for setup and checks."""

    page: Page
    base: str
    api: httpx.Client
    # Requests for anything not served by the registry itself, and uncaught script errors.
    foreign_requests: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)

    def open(self, path: str) -> None:
        self.page.goto(self.base + path)

    @property
    def width(self) -> int:
        viewport = self.page.viewport_size
        assert viewport is not None
        return viewport["width"]

    def shot(self, name: str, *, dialog: bool = False) -> None:
        """A screenshot of what the tab shows, after axe-core has checked it. Tests run at more
        than one width name theirs with the width (ui.sized)."""
        self.check_accessibility(name)
        # A modal's backdrop covers the window only, so a dialog is shot as the window shows it.
        self.page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=not dialog)

    def sized(self, name: str) -> str:
        return f"{name}-{self.width}"

    def check_accessibility(self, view: str) -> None:
        """axe-core on the whole document as it is now (an open dialog included)."""
        if not self.page.evaluate("typeof window.axe === 'object'"):
            # Evaluated through the DevTools protocol, so the page's own policy, which allows
            # no script but its own files, does not apply to the checker.
            self.page.evaluate(AXE.read_text())
        violations = self.page.evaluate(
            """async () => (await axe.run(document, { resultTypes: ["violations"] })).violations
                .map(({ id, impact, help, nodes }) => ({
                    id, impact, help, targets: nodes.slice(0, 5).map((node) => node.target),
                }))"""
        )
        blocking = [item for item in violations if item["impact"] in BLOCKING_IMPACTS]
        assert blocking == [], f"axe-core on {view}:\n{json.dumps(blocking, indent=2)}"

    def call(self, method: str, path: str, **body: Any) -> Any:
        response = self.api.request(method, path, json=body or None)
        assert response.status_code == 200, response.text
        return response.json()

    def error_message(self, method: str, path: str, **body: Any) -> str:
        """The message the server gives for a failing call, to find it on the page."""
        response = self.api.request(method, path, json=body)
        assert response.status_code >= 400, response.text
        message: str = response.json()["message"]
        return message

    def register(self, name: str, versions: int = 1) -> None:
        self.call("POST", "registered-models/create", name=name)
        for number in range(versions):
            self.call(
                "POST",
                "model-versions/create",
                name=name,
                source=f"s3://models/{name}/{number + 1}",
                run_id=f"run{number + 1:04d}",
            )

    def heading(self) -> Locator:
        return self.page.get_by_role("heading", level=1)

    def dialog(self, name: str) -> Locator:
        return self.page.get_by_role("dialog", name=name)

    def section(self, name: str) -> Locator:
        return self.page.get_by_role("region", name=name)

    def version_rows(self) -> Locator:
        return self.page.get_by_role("table", name="Versions").locator("tbody tr")

    def model_rows(self) -> Locator:
        return self.page.get_by_role("table", name="Registered models").locator("tbody tr")


def _ui(browser: Browser, server: RunningServer, viewport: ViewportSize) -> Iterator[Ui]:
    assert server.http is not None
    base = f"http://127.0.0.1:{server.http.port}"
    # A zone nine hours from UTC with no summer time, so local and UTC times always differ,
    # and a 24-hour clock.
    context = browser.new_context(
        viewport=viewport,
        timezone_id=TIME_ZONE,
        locale="en-GB",
        permissions=["clipboard-read", "clipboard-write"],
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    with httpx.Client(base_url=f"{base}/api/2.0/mlflow/", timeout=10) as api:
        ui = Ui(page, base, api)

        def note_foreign(request: Request) -> None:
            if not request.url.startswith((base + "/", "data:")):
                ui.foreign_requests.append(request.url)

        def note_console_error(message: ConsoleMessage) -> None:
            # The browser logs every 4xx answer, which the error tests cause on purpose; what
            # remains are script errors and refusals by the Content-Security-Policy.
            if message.type == "error" and not message.text.startswith("Failed to load resource"):
                ui.script_errors.append(message.text)

        page.on("request", note_foreign)
        page.on("console", note_console_error)
        page.on("pageerror", lambda error: ui.script_errors.append(str(error)))
        yield ui
    context.close()
    assert ui.foreign_requests == [], "the UI fetched from elsewhere"
    assert ui.script_errors == [], "the UI threw or broke its own policy"


@pytest.fixture
def ui(browser: Browser, http_server: RunningServer) -> Iterator[Ui]:
    yield from _ui(browser, http_server, WIDE)


@pytest.fixture
def narrow_ui(browser: Browser, http_server: RunningServer) -> Iterator[Ui]:
    yield from _ui(browser, http_server, NARROW)


@pytest.fixture(params=[WIDE, NARROW], ids=["1440px", "390px"])
def any_width_ui(
    request: pytest.FixtureRequest, browser: Browser, http_server: RunningServer
) -> Iterator[Ui]:
    """The same test at 1440 and at 390 pixels."""
    yield from _ui(browser, http_server, request.param)


def assert_within_window(page: Page, locator: Locator, *, vertically: bool = True) -> None:
    """The element's box lies inside the window (a menu, dialog or popover); with
    ``vertically=False`` only inside its width (a row further down the page)."""
    box = locator.bounding_box()
    assert box is not None, "not shown"
    viewport = page.viewport_size
    assert viewport is not None
    assert box["x"] >= 0, box
    assert box["x"] + box["width"] <= viewport["width"], (box, viewport)
    if vertically:
        assert box["y"] >= 0, box
        assert box["y"] + box["height"] <= viewport["height"], (box, viewport)
        # Inside the window is not enough: nothing may cover or clip it (a scrolling box).
        on_top = locator.evaluate(
            """(element) => {
                const box = element.getBoundingClientRect();
                return element.contains(document.elementFromPoint(
                    box.left + box.width / 2, box.top + box.height / 2));
            }"""
        )
        assert on_top, "covered or clipped where it shows"
