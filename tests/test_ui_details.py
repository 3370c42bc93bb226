"""The UI's everyday details, each at 1440 and at 390 pixels: tags in the lists, the versions
table (stage filter, sorting, snippets, comparing two versions), menus and dialogs inside the
window, error pages, copy buttons and times. Every screenshot is checked by axe-core too
(tests/ui_harness.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Locator, Route, expect

from .ui_harness import TIME_ZONE, Ui, assert_within_window

# The browser and any_width_ui fixtures.
pytest_plugins = ["tests.ui_harness"]
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _tag(ui: Ui, name: str, key: str, value: str, version: str | None = None) -> None:
    if version is None:
        ui.call("POST", "registered-models/set-tag", name=name, key=key, value=value)
    else:
        ui.call("POST", "model-versions/set-tag", name=name, version=version, key=key, value=value)


def _seed_fraud_detector(ui: Ui) -> None:
    """Three versions: tags that differ, a description, one in Production with an alias."""
    ui.register("fraud-detector", versions=3)
    for key, value in [("team", "risk"), ("owner", "ann"), ("tier", "1"), ("zone", "eu")]:
        _tag(ui, "fraud-detector", key, value)
    _tag(ui, "fraud-detector", "validated", "yes", version="1")
    _tag(ui, "fraud-detector", "dataset", "march", version="1")
    _tag(ui, "fraud-detector", "validated", "no", version="2")
    _tag(ui, "fraud-detector", "reviewer", "bob", version="2")
    ui.call(
        "PATCH",
        "model-versions/update",
        name="fraud-detector",
        version="2",
        description="Retrained on April data.\nAUC 0.95.",
    )
    ui.call(
        "POST",
        "model-versions/transition-stage",
        name="fraud-detector",
        version="2",
        stage="Production",
    )
    ui.call("POST", "registered-models/alias", name="fraud-detector", alias="champion", version="2")


def _cell(row: Locator, label: str) -> Locator:
    return row.locator(f"td[data-label={label!r}]")


def test_tags_show_in_both_lists_and_a_click_filters_by_them(any_width_ui: Ui) -> None:
    ui = any_width_ui
    _seed_fraud_detector(ui)
    ui.register("churn-model")
    _tag(ui, "churn-model", "team", "growth")
    ui.open("/")
    row = ui.model_rows().filter(has_text="fraud-detector")
    tags = _cell(row, "Tags")
    # Three chips in key order, the fourth behind "+1".
    shown = tags.locator(".tag-chips > li > .chip.tag")
    expect(shown).to_have_text(["owner=ann", "team=risk", "tier=1"])
    more = tags.get_by_role("button", name="1 more tag")
    more.click()
    popover = tags.locator(".popover")
    expect(popover.get_by_role("link", name="Filter by tag zone=eu")).to_be_visible()
    assert_within_window(ui.page, popover)
    ui.shot(ui.sized("details-models-tags"))
    ui.page.keyboard.press("Escape")
    expect(popover).to_be_hidden()
    expect(more).to_be_focused()
    more.click()
    popover.get_by_role("link", name="Filter by tag zone=eu").click()
    expect(ui.page.get_by_role("searchbox", name="Search models")).to_have_value("tag.zone = 'eu'")
    expect(ui.model_rows()).to_have_count(1)
    expect(ui.page.locator(".popover:not([hidden])")).to_have_count(0)

    tags.get_by_role("link", name="Filter by tag team=risk").click()
    expect(ui.page).to_have_url(f"{ui.base}/?" + urlencode({"search": "tag.team = 'risk'"}))
    expect(ui.page.get_by_role("searchbox", name="Search models")).to_have_value(
        "tag.team = 'risk'"
    )
    expect(ui.model_rows()).to_have_count(1)
    expect(ui.model_rows().first).to_contain_text("fraud-detector")

    ui.open("/models/fraud-detector")
    expect(ui.version_rows()).to_have_count(3)
    first = ui.version_rows().filter(has_text="Version 1")
    expect(_cell(first, "Tags").locator(".tag-chips > li > .chip.tag")).to_have_text(
        ["dataset=march", "validated=yes"]
    )
    _cell(first, "Tags").get_by_role("button", name="Filter by tag validated=yes").click()
    expect(ui.version_rows()).to_have_count(1)
    expect(ui.version_rows().first).to_contain_text("Version 1")
    expect(ui.page.get_by_role("searchbox", name="Filter versions")).to_have_value(
        "tag.validated = 'yes'"
    )
    expect(ui.page.get_by_role("searchbox", name="Filter versions")).to_be_focused()
    expect(ui.section("Versions")).to_contain_text(
        "name = 'fraud-detector' AND (tag.validated = 'yes')"
    )
    assert "filter=tag.validated" in ui.page.url
    ui.shot(ui.sized("details-versions-tag-filter"))


def test_versions_table_filters_by_stage_sorts_by_heading_and_shows_descriptions(
    any_width_ui: Ui,
) -> None:
    ui = any_width_ui
    _seed_fraud_detector(ui)
    ui.open("/models/fraud-detector")
    numbers = ui.version_rows().locator("td[data-label=Version] a")
    expect(numbers).to_have_text(["Version 3", "Version 2", "Version 1"])
    second = ui.version_rows().filter(has_text="Version 2")
    expect(second.locator(".description-snippet")).to_have_text("Retrained on April data.")

    ui.page.get_by_label("Stage", exact=True).select_option("Production")
    expect(numbers).to_have_text(["Version 2"])
    assert ui.page.url.endswith("?stage=Production")
    ui.page.get_by_label("Stage", exact=True).select_option("")
    expect(numbers).to_have_count(3)

    heading = ui.page.get_by_role("columnheader", name="Version")
    sort_version = heading.get_by_role("button")
    sort = ui.page.get_by_label("Sort", exact=True)
    if ui.width < 600:
        # Rows are cards there and the headings hidden: the same orders come from a drop-down.
        expect(heading).to_be_hidden()
        sort.select_option(label="Version, oldest first")
    else:
        expect(sort).to_be_hidden()
        sort_version.click()
        expect(sort_version).to_be_focused()
        expect(heading).to_have_attribute("aria-sort", "ascending")
    expect(numbers).to_have_text(["Version 1", "Version 2", "Version 3"])
    assert ui.page.url.endswith("?sort=version&dir=asc")
    ui.page.reload()
    expect(numbers).to_have_text(["Version 1", "Version 2", "Version 3"])
    ui.shot(ui.sized("details-versions-sorted"))
    if ui.width < 600:
        sort.select_option(label="Created, newest first")
    else:
        created = ui.page.get_by_role("columnheader", name="Created")
        created.get_by_role("button").click()
        expect(created).to_have_attribute("aria-sort", "descending")
    expect(numbers).to_have_text(["Version 3", "Version 2", "Version 1"])
    assert ui.page.url.endswith("?sort=created&dir=desc")
    ui.page.go_back()
    expect(numbers).to_have_text(["Version 1", "Version 2", "Version 3"])


def test_two_selected_versions_are_compared_side_by_side(any_width_ui: Ui) -> None:
    ui = any_width_ui
    _seed_fraud_detector(ui)
    ui.open("/models/fraud-detector")
    compare = ui.page.get_by_role("link", name="Compare")
    expect(ui.section("Versions")).to_contain_text("Select two versions to compare (0 selected)")
    ui.page.get_by_label("Select version 2 to compare").check()
    expect(ui.section("Versions")).to_contain_text("(1 selected)")
    ui.page.get_by_label("Select version 1 to compare").check()
    expect(ui.section("Versions")).to_contain_text("Versions 1 and 2 selected")
    compare.click()
    expect(ui.page).to_have_url(f"{ui.base}/models/fraud-detector/compare?a=1&b=2")
    expect(ui.heading()).to_have_text("Versions 1 and 2")

    facts = ui.page.get_by_role("table", name="Version 1 and version 2")
    stage = facts.get_by_role("row", name="Stage")
    expect(stage).to_contain_text("None")
    expect(stage).to_contain_text("Production")
    expect(stage).to_have_class("differs")
    expect(facts.get_by_role("row", name="Aliases")).to_contain_text("@champion")
    expect(facts.get_by_role("row", name="Source")).to_contain_text("s3://models/fraud-detector/1")
    expect(facts.get_by_role("row", name="Description")).to_contain_text("AUC 0.95.")

    tags = ui.page.get_by_role("table", name="Tags compared")
    expect(tags.get_by_role("row", name="dataset")).to_contain_text("Removed")
    expect(tags.get_by_role("row", name="reviewer")).to_contain_text("Added")
    validated = tags.get_by_role("row", name="validated")
    expect(validated).to_contain_text("yes")
    expect(validated).to_contain_text("no")
    expect(validated).to_contain_text("Changed")
    expect(validated).to_have_class("tag-changed")
    width = ui.page.evaluate("document.documentElement.scrollWidth")
    assert width <= ui.width, f"the comparison is {width}px wide"
    ui.shot(ui.sized("details-compare"))


def test_menus_popovers_and_dialogs_stay_inside_the_window(any_width_ui: Ui) -> None:
    ui = any_width_ui
    page = ui.page
    _seed_fraud_detector(ui)
    ui.open("/models/fraud-detector/versions/2")
    page.get_by_role("button", name="Stage: Production. Change stage").click()
    menu = page.get_by_role("menu", name="Change stage")
    expect(menu).to_be_visible()
    assert_within_window(page, menu)
    ui.shot(ui.sized("details-stage-menu"))
    page.get_by_role("menuitem", name="Transition to Staging").click()
    assert_within_window(page, ui.dialog("Change stage"))
    ui.shot(ui.sized("details-stage-dialog"), dialog=True)
    page.keyboard.press("Escape")

    page.get_by_role("button", name="Delete version 2").click()
    assert_within_window(page, ui.dialog("Delete version"))
    ui.shot(ui.sized("details-delete-version-dialog"), dialog=True)
    page.keyboard.press("Escape")

    page.get_by_role("button", name="Register model", exact=True).click()
    assert_within_window(page, ui.dialog("Register model"))
    ui.shot(ui.sized("details-register-dialog"), dialog=True)
    page.keyboard.press("Escape")

    ui.open("/models/fraud-detector")
    for action, title in [("Rename", "Rename model"), ("Delete", "Delete model")]:
        page.get_by_role("button", name=action, exact=True).click()
        assert_within_window(page, ui.dialog(title))
        ui.shot(ui.sized(f"details-{action.lower()}-model-dialog"), dialog=True)
        page.keyboard.press("Escape")
        expect(ui.dialog(title)).to_be_hidden()

    # The last tag of a row at the right edge of the window opens to the left.
    ui.open("/")
    row = ui.model_rows().first
    more = _cell(row, "Tags").get_by_role("button", name="1 more tag")
    more.scroll_into_view_if_needed()
    more.click()
    assert_within_window(page, _cell(row, "Tags").locator(".popover"))


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


def test_version_page_copies_uris_and_shows_how_to_use_the_version(any_width_ui: Ui) -> None:
    ui = any_width_ui
    ui.register("fraud-detector")
    ui.call("POST", "registered-models/alias", name="fraud-detector", alias="champion", version="1")
    ui.open("/models/fraud-detector/versions/1")
    lineage = ui.section("Lineage")
    usage = ui.section("Use this version")
    copies = {
        lineage.get_by_role("button", name="Copy source URI"): "s3://models/fraud-detector/1",
        lineage.get_by_role("button", name="Copy run ID"): "run0001",
        usage.get_by_role(
            "button", name="Copy URI models:/fraud-detector/1"
        ): "models:/fraud-detector/1",
        usage.get_by_role(
            "button", name="Copy URI models:/fraud-detector@champion"
        ): "models:/fraud-detector@champion",
    }
    for button, text in copies.items():
        button.click()
        assert ui.page.evaluate("navigator.clipboard.readText()") == text
        expect(ui.page.locator("#toast")).to_contain_text("Copied")

    snippet = usage.locator("pre").first
    expect(snippet).to_contain_text('mlflow.set_registry_uri("' + ui.base + '")')
    expect(snippet).to_contain_text('mlflow.pyfunc.load_model("models:/fraud-detector@champion")')
    usage.get_by_role("button", name="Copy MLflow snippet").click()
    copied = ui.page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("import mlflow\n")
    client = usage.locator("pre").nth(1)
    expect(client).to_contain_text("from registry_service.client import RegistryClient")
    expect(client).to_contain_text(
        'registry.get_model_version_by_alias("fraud-detector", "champion")'
    )
    width = ui.page.evaluate("document.documentElement.scrollWidth")
    assert width <= ui.width, f"the version page is {width}px wide"
    ui.shot(ui.sized("details-version-use"))


def test_times_are_shown_in_utc_and_local_time(any_width_ui: Ui) -> None:
    ui = any_width_ui
    ui.register("fraud-detector")
    created = int(
        ui.call("GET", "model-versions/get?name=fraud-detector&version=1")["model_version"][
            "creation_timestamp"
        ]
    )
    moment = datetime.fromtimestamp(created / 1000, UTC)
    utc = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    local = moment.astimezone(ZoneInfo(TIME_ZONE))
    ui.open("/models/fraud-detector/versions/1")
    times = ui.page.locator("dl.times")
    registered = times.locator("dd").first
    expect(registered).to_contain_text(utc)
    expect(registered).to_contain_text(f"{local.hour}:{local.minute:02d}:{local.second:02d}")
    expect(registered).to_contain_text("GMT+9")

    ui.open("/models/fraud-detector")
    created_cell = _cell(ui.version_rows().first, "Created").locator("time")
    title = created_cell.get_attribute("title")
    assert title is not None
    assert title.startswith(utc)
    assert "GMT+9" in title
