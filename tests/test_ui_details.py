"""The UI's everyday details, each at 1440 and at 390 pixels. Every screenshot is checked by
axe-core too (tests/ui_harness.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Route, expect

from .ui_harness import Ui

# The browser and any_width_ui fixtures.
pytest_plugins = ["tests.ui_harness"]
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_an_unknown_path_shows_the_apps_not_found_page(any_width_ui: Ui) -> None:
    ui = any_width_ui
    response = ui.page.goto(f"{ui.base}/experiments/12/runs")
    assert response is not None
    assert response.status == 404
    expect(ui.heading()).to_have_text("Page not found")
    expect(ui.page.locator("main")).to_contain_text("There is no page at /experiments/12/runs.")
    ui.shot(ui.sized("details-page-not-found"))
    ui.page.get_by_role("link", name="Browse the registered models").click()
    expect(ui.heading()).to_have_text("Registered models")


def test_a_missing_model_or_version_says_what_is_missing_and_offers_close_matches(
    any_width_ui: Ui,
) -> None:
    ui = any_width_ui
    ui.register("fraud-detector", versions=2)
    ui.register("fraud-scorer")
    ui.register("churn-model")
    ui.open("/models/Fraud-Detectr")
    expect(ui.heading()).to_have_text("Model not found")
    main = ui.page.locator("main")
    expect(main).to_contain_text("There is no registered model named Fraud-Detectr.")
    matches = ui.page.get_by_role("list").filter(has=ui.page.get_by_role("link", name="fraud-"))
    expect(matches.get_by_role("link")).to_have_text(["fraud-detector", "fraud-scorer"])
    ui.shot(ui.sized("details-model-not-found"))
    matches.get_by_role("link", name="fraud-detector").click()
    expect(ui.heading()).to_have_text("fraud-detector")

    ui.open("/models/fraud-detector/versions/9")
    expect(ui.heading()).to_have_text("Version not found")
    expect(main).to_contain_text("fraud-detector has no version 9.")
    expect(main.get_by_role("link", name="Version 2")).to_have_attribute(
        "href", "/models/fraud-detector/versions/2"
    )
    ui.shot(ui.sized("details-version-not-found"))

    ui.open("/models/ghost/versions/1")
    expect(ui.heading()).to_have_text("Model not found")
    expect(main).to_contain_text("There is no registered model named ghost, so no version 1")
    expect(main).to_contain_text("No model has a similar name.")


def test_an_unreachable_registry_is_shown_as_such_with_a_retry(any_width_ui: Ui) -> None:
    ui = any_width_ui
    ui.register("fraud-detector")
    api_calls = "**/api/2.0/mlflow/**"

    def refuse(route: Route) -> None:
        route.abort("connectionrefused")

    ui.page.route(api_calls, refuse)
    ui.open("/")
    expect(ui.heading()).to_have_text("The registry cannot be reached")
    expect(ui.page.get_by_role("alert")).to_contain_text("Could not reach the registry")
    ui.shot(ui.sized("details-unreachable"))
    ui.open("/models/fraud-detector")
    expect(ui.heading()).to_have_text("The registry cannot be reached")
    ui.page.unroute(api_calls, refuse)
    ui.page.get_by_role("button", name="Try again").click()
    expect(ui.heading()).to_have_text("fraud-detector")
    expect(ui.version_rows()).to_have_count(1)
