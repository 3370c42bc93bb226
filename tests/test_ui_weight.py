"""What each UI page costs a browser: the bytes transferred for it (page, scripts, styles, icon
and its API answers), which must stay under 150 KiB, and how soon its data shows, cold (empty
cache) and warm (a reload), recorded in tests/artifacts/ui/page-costs.json but not asserted,
since the time depends on the machine's load."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, Request

from registry_service.server import RunningServer

from .ui_harness import ARTIFACTS, NARROW, WIDE, Ui, _ui

# The browser fixture.
pytest_plugins = ["tests.ui_harness"]
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

MAX_PAGE_BYTES = 150 * 1024
MODELS = 12
# Each page and what on it is its data.
PAGES = {
    "models": ("/", "table tbody tr"),
    "model": ("/models/model-00", "table tbody tr"),
    "version": ("/models/model-00/versions/3", "dl.facts dd"),
    "compare": ("/models/model-00/compare?a=1&b=3", ".compare-table tbody tr"),
    "not found": ("/no/such/page", ".card.missing"),
}
# Records when the page's data first enters the document: a MutationObserver fires before the
# next paint, so this is when it shows.
WATCH_DATA = """
new MutationObserver((changes, observer) => {
  if (document.querySelector(%s)) {
    window.dataVisibleAt = performance.now();
    observer.disconnect();
  }
}).observe(document, { childList: true, subtree: true });
"""


def _seed(ui: Ui) -> None:
    for number in range(MODELS):
        name = f"model-{number:02d}"
        ui.register(name, versions=3)
        for key, value in [("team", "risk"), ("owner", f"user{number}"), ("tier", "1")]:
            ui.call("POST", "registered-models/set-tag", name=name, key=key, value=value)
        ui.call(
            "POST", "model-versions/set-tag", name=name, version="3", key="validated", value="yes"
        )
        ui.call("POST", "registered-models/alias", name=name, alias="champion", version="2")


def _measure(ui: Ui, path: str, selector: str) -> tuple[int, float, float]:
    """Bytes transferred on a cold load, and milliseconds until the data shows, cold and warm."""
    transferred: list[int] = []

    def note(request: Request) -> None:
        sizes = request.sizes()
        transferred.append(sizes["responseBodySize"] + sizes["responseHeadersSize"])

    ui.page.add_init_script(WATCH_DATA % json.dumps(selector))
    ui.page.on("requestfinished", note)
    ui.open(path)
    # (wait_for_function would evaluate a string, which the page's policy forbids.)
    ui.page.wait_for_selector(selector, state="attached")
    ui.page.wait_for_load_state("networkidle")
    cold = float(ui.page.evaluate("window.dataVisibleAt"))
    weight = sum(transferred)
    ui.page.reload()
    ui.page.wait_for_selector(selector, state="attached")
    warm = float(ui.page.evaluate("window.dataVisibleAt"))
    return weight, cold, warm


def test_every_page_weighs_under_150_kib_and_its_load_times_are_recorded(
    browser: Browser, http_server: RunningServer
) -> None:
    costs: dict[str, dict[str, float]] = {}
    for ui in _ui(browser, http_server, WIDE):
        _seed(ui)
    for viewport in (WIDE, NARROW):
        for page, (path, selector) in PAGES.items():
            # A new browser context each time: an empty cache for the cold load.
            for ui in _ui(browser, http_server, viewport):
                weight, cold, warm = _measure(ui, path, selector)
            costs[f"{page} at {viewport['width']}px"] = {
                "kib": round(weight / 1024, 1),
                "cold_ms": round(cold),
                "warm_ms": round(warm),
            }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "page-costs.json").write_text(json.dumps(costs, indent=2) + "\n")
    print(json.dumps(costs, indent=2))
    heavy = {
        page: cost["kib"] for page, cost in costs.items() if cost["kib"] * 1024 > MAX_PAGE_BYTES
    }
    assert heavy == {}, f"pages over {MAX_PAGE_BYTES // 1024} KiB"
