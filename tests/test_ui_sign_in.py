"""The web UI against a server run with --auth token: it asks for a token, keeps it for the tab,
and signs out. Debian's chromium driven by Playwright, as in test_ui_browser."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from registry_service.config import Settings
from registry_service.server import start
from registry_service.store.access_store import AccessStore
from registry_service.store.registry_store import RegistryStore

from .test_ui_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def page() -> Iterator[Page]:
    if not CHROMIUM.exists():
        if os.environ.get("REGISTRY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"REGISTRY_REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is missing: browser tests skipped")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.set_default_timeout(10_000)
        yield context.new_page()
        browser.close()


def test_the_ui_signs_in_with_a_token_and_out_again(store: RegistryStore, page: Page) -> None:
    access = AccessStore(store)
    _, token = access.create_token("ann")
    _, revoked = access.create_token("bob")
    access.revoke_token(2)
    running = start(Settings(port=0, http_port=0, auth="token"), store=store)
    try:
        assert running.http is not None
        with_token = {"Authorization": f"Bearer {token}"}
        page.request.post(
            f"http://127.0.0.1:{running.http.port}/api/2.0/mlflow/registered-models/create",
            data={"name": "fraud"},
            headers=with_token,
        )
        page.goto(f"http://127.0.0.1:{running.http.port}/")
        heading = page.get_by_role("heading", level=1)
        expect(heading).to_have_text("Sign in")
        page.get_by_label("Access token").fill(revoked)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("not accepted")
        page.get_by_label("Access token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        models = page.get_by_role("table", name="Registered models")
        expect(models.get_by_role("link", name="fraud")).to_be_visible()
        page.get_by_role("button", name="Sign out").click()
        expect(heading).to_have_text("Sign in")
        expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    finally:
        running.stop(None)
