"""The History panel and Markdown descriptions, in chromium at 1440 and 390 pixels, on SQLite and
PostgreSQL: a model changed by two token users shows its changes newest first with who, what,
when and before → after; older pages load; the type filter keeps to its type and lives in the
URL; and a description's HTML, script and javascript: links are shown as text, never run.
Every screenshot is checked by axe-core (tests/ui_harness.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Route, ViewportSize, expect

from registry_service.config import Settings
from registry_service.server import RunningServer, start
from registry_service.store.registry_store import RegistryStore

from .ui_harness import NARROW, WIDE, Ui, _ui

# The browser fixture.
pytest_plugins = ["tests.ui_harness"]
pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

MODEL = "fraud-detector"
# Filler changes between the first ones and the interesting ones, so that they span two pages
# of the panel (20 a page): 3 + FILLER + 8 events in all.
FILLER = 12
EVENTS_API = "/api/2.0/modelregistry/events/list"


@pytest.fixture(params=[WIDE, NARROW], ids=["1440px", "390px"])
def viewport(request: pytest.FixtureRequest) -> ViewportSize:
    size: ViewportSize = request.param
    return size


@pytest.fixture
def token_server(store: RegistryStore) -> Iterator[RunningServer]:
    running = start(Settings(port=0, http_port=0, auth="token", webhooks=False), store=store)
    yield running
    running.stop(None)


@pytest.fixture
def admin_ui(
    browser: Browser, token_server: RunningServer, tokens: dict[str, str], viewport: ViewportSize
) -> Iterator[Ui]:
    """The UI signed in as admin (the token kept for the tab, as the sign-in form does)."""
    for ui in _ui(browser, token_server, viewport):
        ui.api.headers["Authorization"] = f"Bearer {tokens['admin']}"
        ui.page.add_init_script(f"sessionStorage.setItem('registry-token', {tokens['admin']!r})")
        yield ui


@pytest.fixture
def plain_ui(browser: Browser, http_server: RunningServer, viewport: ViewportSize) -> Iterator[Ui]:
    yield from _ui(browser, http_server, viewport)


def _seed(admin: Ui, alice: httpx.Client) -> None:
    """A model changed by alice and by admin: create, versions, tags, description, transitions,
    alias moves. The newest of them is alice's description of version 2."""

    def call(client: httpx.Client, method: str, path: str, **body: Any) -> None:
        response = client.request(method, path, json=body)
        assert response.status_code == 200, response.text

    call(alice, "POST", "registered-models/create", name=MODEL)
    for number in (1, 2):
        call(alice, "POST", "model-versions/create", name=MODEL, source=f"s3://m/{number}")
    for step in range(FILLER):
        call(
            alice,
            "POST",
            "model-versions/set-tag",
            name=MODEL,
            version="2",
            key="step",
            value=str(step),
        )
    call(admin.api, "PATCH", "registered-models/update", name=MODEL, description="Flags card fraud")
    call(alice, "POST", "registered-models/set-tag", name=MODEL, key="team", value="risk")
    call(admin.api, "POST", "registered-models/set-tag", name=MODEL, key="team", value="fraud")
    for user, stage in ((alice, "Staging"), (admin.api, "Production")):
        call(user, "POST", "model-versions/transition-stage", name=MODEL, version="1", stage=stage)
    call(alice, "POST", "registered-models/alias", name=MODEL, alias="champion", version="1")
    call(admin.api, "POST", "registered-models/alias", name=MODEL, alias="champion", version="2")
    call(alice, "PATCH", "model-versions/update", name=MODEL, version="2", description="AUC 0.95")


def _events(ui: Ui, **query: Any) -> list[dict[str, Any]]:
    """Every event of the model, newest first, as the JSON API gives them."""
    response = ui.api.get(
        ui.base + EVENTS_API,
        params={"model_names": MODEL, "newest_first": "true", "page_size": 1000, **query},
    )
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def test_history_shows_who_what_when_and_before_after_newest_first_pages_and_filters(
    admin_ui: Ui, tokens: dict[str, str]
) -> None:
    ui = admin_ui
    with httpx.Client(base_url=str(ui.api.base_url), timeout=10) as alice:
        alice.headers["Authorization"] = f"Bearer {tokens['alice']}"
        _seed(ui, alice)
    events = _events(ui)
    assert len(events) == 3 + FILLER + 8
    page = ui.page
    ui.open(f"/models/{MODEL}")
    history = ui.section("History")
    items = history.locator(".history-item")
    expect(items).to_have_count(20)

    # Newest first: the panel's order is the feed's, backwards.
    expect(items.first).to_contain_text("Version description changed")
    types = [item.get_attribute("data-type") for item in items.all()]
    assert types == [event["event_type"] for event in events[:20]]

    newest = items.first
    expect(newest.locator(".history-who")).to_have_text("by alice")
    expect(newest.get_by_role("link", name="Version 2")).to_have_attribute(
        "href", f"/models/{MODEL}/versions/2"
    )
    expect(newest.locator("dd")).to_have_text(re.compile(r"^none\s*→\s*changed to\s*AUC 0\.95$"))
    # When: relative, with the moment in UTC and in local time (Tokyo) on hover, as lists show it.
    moment = datetime.fromtimestamp(int(events[0]["timestamp"]) / 1000, UTC)
    when = newest.locator("time")
    expect(when).to_have_attribute(
        "datetime", moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
    title = when.get_attribute("title") or ""
    assert title.startswith(moment.strftime("%Y-%m-%d %H:%M:%S UTC\n")), title
    assert "GMT+9" in title, title

    moved = items.filter(has_text="Alias moved")
    expect(moved.locator(".history-who")).to_have_text("by admin")
    expect(moved.locator("dt")).to_have_text("@champion")
    expect(moved.locator(".history-before")).to_have_text("version 1")
    expect(moved.locator(".history-after")).to_have_text("version 2")
    promoted = items.filter(has_text="Stage changed").first
    expect(promoted.locator(".history-who")).to_have_text("by admin")
    expect(promoted.locator(".history-before")).to_have_text("Staging")
    expect(promoted.locator(".history-after")).to_have_text("Production")
    retagged = items.filter(has_text="Model tag set").first
    expect(retagged.locator("dt")).to_have_text("tag team")
    expect(retagged.locator(".history-before")).to_have_text("risk")
    expect(retagged.locator(".history-after")).to_have_text("fraud")
    described = items.filter(has_text="Model description changed")
    expect(described.locator(".history-who")).to_have_text("by admin")
    expect(described.locator(".history-after")).to_have_text("Flags card fraud")
    ui.shot(ui.sized("history-model"))

    # Older: the three first changes, the oldest last; focus moves to the first one loaded.
    older = history.get_by_role("button", name="Load older changes")
    older.click()
    expect(items).to_have_count(len(events))
    expect(older).to_be_hidden()
    expect(items.nth(20)).to_be_focused()
    oldest = items.last
    expect(oldest).to_contain_text("Model created")
    expect(oldest.locator(".history-who")).to_have_text("by alice")

    # A type: only that type, in the URL, still there after a reload.
    history.get_by_label("Show").select_option(label="Stage changed")
    expect(items).to_have_count(2)
    assert page.url.endswith(f"/models/{MODEL}?history=model_version.stage_changed"), page.url
    for item in items.all():
        expect(item).to_have_attribute("data-type", "MODEL_VERSION_STAGE_CHANGED")
    page.reload()
    expect(history.get_by_label("Show")).to_have_value("model_version.stage_changed")
    expect(items).to_have_count(2)
    # The versions table keeps the history's filter in the URL beside its own.
    ui.section("Versions").get_by_label("Stage").select_option("Production")
    expect(page).to_have_url(
        re.compile(r"\?history=model_version\.stage_changed&stage=Production$")
    )
    ui.shot(ui.sized("history-model-filtered"))

    # Empty: a type with no change yet.
    history.get_by_label("Show").select_option(label="Model renamed")
    expect(history.locator(".history-empty")).to_have_text("No “Model renamed” changes recorded.")
    expect(items).to_have_count(0)

    # A change made on the page shows at the top at once, with who made it.
    history.get_by_label("Show").select_option(label="All changes")
    assert "history=" not in page.url, page.url
    description = ui.section("Description")
    description.get_by_role("button", name="Edit description").click()
    description.get_by_label("Description").fill("Flags card and wire fraud")
    description.get_by_role("button", name="Save").click()
    expect(items.first).to_contain_text("Model description changed")
    expect(items.first.locator(".history-who")).to_have_text("by admin")
    expect(items.first.locator(".history-before")).to_have_text("Flags card fraud")
    expect(items.first.locator(".history-after")).to_have_text("Flags card and wire fraud")

    # A version page: that version's changes only.
    ui.open(f"/models/{MODEL}/versions/1")
    versions_events = _events(ui, version=1)
    expect(items).to_have_count(len(versions_events))
    assert [item.get_attribute("data-type") for item in items.all()] == [
        event["event_type"] for event in versions_events
    ]
    assert {event["event_type"] for event in versions_events} == {
        "MODEL_VERSION_CREATED",
        "MODEL_VERSION_STAGE_CHANGED",
        "MODEL_VERSION_ALIAS_CREATED",
    }
    expect(items.last).to_contain_text("Version created")
    expect(items.last.locator(".history-who")).to_have_text("by alice")
    # A creation shows what it wrote, with nothing before it.
    source = items.last.locator(".history-change").filter(has_text="source").locator("dd")
    expect(source).to_have_text("s3://m/1")
    # Its filter offers version changes only.
    options = history.get_by_label("Show").locator("option")
    expect(options.filter(has_text="Model created")).to_have_count(0)
    expect(options.filter(has_text="Stage changed")).to_have_count(1)
    ui.shot(ui.sized("history-version"))


def test_history_shows_errors_in_place_and_tries_again(admin_ui: Ui) -> None:
    ui = admin_ui
    ui.call("POST", "registered-models/create", name=MODEL)
    # 21 changes: one more than a page.
    for step in range(20):
        ui.call("POST", "registered-models/set-tag", name=MODEL, key="step", value=str(step))
    failing = {"first": True, "older": False}

    def answer(route: Route) -> None:
        older = "page_token=" in route.request.url
        if failing["older" if older else "first"]:
            route.fulfill(
                status=503,
                content_type="application/json",
                body='{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "the database is busy"}',
            )
        else:
            route.continue_()

    ui.page.route(f"**{EVENTS_API}*", answer)
    ui.open(f"/models/{MODEL}")
    history = ui.section("History")
    items = history.locator(".history-item")
    alert = history.get_by_role("alert")
    expect(alert).to_contain_text("The history could not be loaded")
    expect(alert).to_contain_text("the database is busy")
    expect(alert).to_contain_text("TEMPORARILY_UNAVAILABLE")
    ui.shot(ui.sized("history-error"))
    failing["first"] = False
    alert.get_by_role("button", name="Try again").click()
    expect(items).to_have_count(20)
    expect(alert).to_have_count(0)
    # Older changes that fail to load: the error shows by the button, the loaded ones stay.
    failing["older"] = True
    history.get_by_role("button", name="Load older changes").click()
    expect(alert).to_contain_text("Older changes could not be loaded")
    expect(items).to_have_count(20)
    failing["older"] = False
    alert.get_by_role("button", name="Try again").click()
    expect(items).to_have_count(21)
    expect(items.last).to_contain_text("Model created")
    expect(alert).to_have_count(0)


HOSTILE = """# Release notes

Scores **card** payments, _weekly_ with `predict()`; model_v2_final stays as typed.
<script>alert(1)</script>
<img src=x onerror=alert(2)>

- a [link](javascript:alert(1)), [another](JavaScript:alert(3)) and [tab](java\tscript:alert(5))
- [data](data:text/html,<script>alert(4)</script>) and [docs](https://example.com)
- [mail](mailto:team@example.com) and [model page](/models/fraud-detector)

```
<b>not bold</b>
```"""


def test_descriptions_render_markdown_and_never_run_or_link_what_is_unsafe(plain_ui: Ui) -> None:
    ui = plain_ui
    page = ui.page
    dialogs: list[str] = []

    def note(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", note)
    ui.register(MODEL)
    ui.call("PATCH", "registered-models/update", name=MODEL, description=HOSTILE)
    ui.call("PATCH", "model-versions/update", name=MODEL, version="1", description=HOSTILE)
    for path in (f"/models/{MODEL}", f"/models/{MODEL}/versions/1"):
        ui.open(path)
        description = ui.section("Description")
        text = description.locator(".markdown")
        expect(text.get_by_role("heading", name="Release notes")).to_be_visible()
        expect(text.locator("strong")).to_have_text("card")
        expect(text.locator("em")).to_have_text("weekly")
        expect(text.locator("p code")).to_have_text("predict()")
        expect(text).to_contain_text("model_v2_final stays as typed.")
        # HTML is text: shown as typed, never made into elements.
        expect(text).to_contain_text("<script>alert(1)</script>")
        expect(text).to_contain_text("<img src=x onerror=alert(2)>")
        expect(text.locator("pre code")).to_have_text("<b>not bold</b>")
        for tag in ("script", "img", "b", "iframe"):
            expect(page.locator(f"main {tag}")).to_have_count(0)
        expect(text.locator("li")).to_have_count(3)
        # Only http(s), mailto and relative addresses are links; each opens a new tab, rel noopener.
        links = text.get_by_role("link")
        expect(links).to_have_text(["docs", "mail", "model page"])
        for index, href in enumerate(
            ["https://example.com/", "mailto:team@example.com", f"{ui.base}/models/fraud-detector"]
        ):
            expect(links.nth(index)).to_have_attribute("href", href)
            expect(links.nth(index)).to_have_attribute("rel", "noopener noreferrer")
            expect(links.nth(index)).to_have_attribute("target", "_blank")
        expect(text.locator(".md-refused-link")).to_have_text(["link", "another", "tab", "data"])
        expect(
            text.locator("a[href^='javascript'], a[href^='data'], a[href^='JavaScript']")
        ).to_have_count(0)
        # The refused link is inert: clicking it goes nowhere and runs nothing.
        before = page.url
        text.locator(".md-refused-link").first.click()
        assert page.url == before
        ui.shot(ui.sized("history-markdown-" + ("version" if "versions" in path else "model")))
    # The History panel shows the description as plain text too.
    ui.open(f"/models/{MODEL}")
    history = ui.section("History")
    expect(history.locator(".history-after").first).to_contain_text("<script>alert(1)</script>")
    expect(page.locator("main script")).to_have_count(0)
    assert dialogs == [], dialogs
    assert page.evaluate("typeof window.alert") == "function"
