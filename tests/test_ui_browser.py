"""The web UI in a real browser: Debian's chromium driven by Playwright against a real server
(tests/ui_harness.py). Screenshots of every page land in tests/artifacts/ui/, each checked by
axe-core. The UI only talks to the JSON API, so one database backend is enough here.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Locator, Route, expect

from registry_service.config import Settings
from registry_service.server import start
from registry_service.store.access_store import AccessStore
from registry_service.store.registry_store import RegistryStore

from .ui_harness import NARROW, WIDE, Ui, _ui, assert_within_window

# The browser, ui and narrow_ui fixtures.
pytest_plugins = ["tests.ui_harness"]
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _outcome(register_dialog: Locator) -> Locator:
    """What the Register dialog says it registered."""
    return register_dialog.get_by_role("heading", level=3)


def test_register_promote_alias_describe_and_search(ui: Ui) -> None:
    page = ui.page
    ui.open("/")
    expect(page.get_by_role("heading", name="No models registered yet")).to_be_visible()
    ui.shot("01-models-empty")

    page.get_by_role("button", name="Register model", exact=True).click()
    dialog = ui.dialog("Register model")
    dialog.get_by_label("Model").fill("fraud-detector")
    expect(dialog.get_by_text('New model: "fraud-detector" will be created.')).to_be_visible()
    dialog.get_by_label("Source URI").fill("runs:/4f1c2a9e/model")
    dialog.get_by_label("Run ID").fill("4f1c2a9e")
    ui.shot("02-register-dialog", dialog=True)
    dialog.get_by_role("button", name="Register", exact=True).click()
    expect(_outcome(dialog)).to_have_text("✓ Registered fraud-detector, version 1")
    ui.shot("03-register-success", dialog=True)

    dialog.get_by_role("link", name="Open model").click()
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(f"{ui.base}/models/fraud-detector")
    expect(ui.heading()).to_have_text("fraud-detector")
    expect(ui.version_rows()).to_have_count(1)
    expect(ui.version_rows().first).to_contain_text("None")
    ui.shot("04-model")

    ui.version_rows().first.get_by_role("link", name="Version 1").click()
    expect(ui.heading()).to_have_text("Version 1")
    expect(ui.section("Lineage")).to_contain_text("runs:/4f1c2a9e/model")
    page.get_by_role("button", name="Stage: None. Change stage").click()
    ui.shot("05-stage-menu")
    page.get_by_role("menuitem", name="Transition to Production").click()
    confirm = ui.dialog("Change stage")
    expect(confirm).to_contain_text("Move version 1 of fraud-detector from None to Production?")
    confirm.get_by_label("Archive existing versions in Production").check()
    ui.shot("06-transition-confirm", dialog=True)
    confirm.get_by_role("button", name="Move to Production").click()
    expect(confirm).to_be_hidden()
    expect(page.get_by_role("button", name="Stage: Production. Change stage")).to_be_focused()
    ui.shot("07-version-production")
    stored = ui.call("GET", "model-versions/get?name=fraud-detector&version=1")
    assert stored["model_version"]["current_stage"] == "Production"

    page.get_by_role("navigation", name="Breadcrumb").get_by_role(
        "link", name="fraud-detector"
    ).click()
    expect(ui.version_rows().first).to_contain_text("Production")

    aliases = ui.section("Aliases")
    aliases.get_by_label("Alias", exact=True).fill("champion")
    aliases.get_by_label("Version", exact=True).fill("1")
    aliases.get_by_role("button", name="Add alias").click()
    expect(aliases.get_by_role("link", name="@champion v1")).to_be_visible()
    expect(ui.version_rows().first).to_contain_text("@champion")

    description = ui.section("Description")
    description.get_by_role("button", name="Edit description").click()
    description.get_by_label("Description").fill("Scores card payments.\nRetrained weekly.")
    description.get_by_role("button", name="Save").click()
    expect(description.get_by_role("button", name="Edit description")).to_be_focused()
    expect(description).to_contain_text("Retrained weekly.")
    ui.shot("08-model-after-changes")
    model = ui.call("GET", "registered-models/get?name=fraud-detector")["registered_model"]
    assert model["description"] == "Scores card payments.\nRetrained weekly."
    assert model["aliases"] == [{"alias": "champion", "version": "1"}]

    ui.register("churn-model", versions=2)
    page.get_by_role("link", name="Registered models").click()
    expect(ui.model_rows()).to_have_count(2)
    ui.shot("09-models")
    search = page.get_by_role("searchbox", name="Search models")
    search.fill("fraud")
    search.press("Enter")
    expect(page).to_have_url(f"{ui.base}/?search=fraud")
    expect(ui.model_rows()).to_have_count(1)
    row = ui.model_rows().first
    expect(row.get_by_role("link", name="fraud-detector")).to_be_visible()
    expect(row).to_contain_text("Production")
    expect(row).to_contain_text("@champion")
    expect(page.locator("#search-hint")).to_contain_text("name ILIKE '%fraud%'")
    ui.shot("10-models-search")

    search.fill("alias = 'champion'")
    search.press("Enter")
    expect(ui.model_rows()).to_have_count(1)
    expect(ui.model_rows().first).to_contain_text("fraud-detector")


def test_registering_with_a_bad_name_shows_the_servers_message(ui: Ui) -> None:
    expected = ui.error_message("POST", "registered-models/create", name="fraud/detector")
    ui.open("/")
    ui.page.get_by_role("button", name="Register model", exact=True).click()
    dialog = ui.dialog("Register model")
    dialog.get_by_label("Model").fill("fraud/detector")
    dialog.get_by_label("Source URI").fill("s3://models/fraud")
    dialog.get_by_role("button", name="Register", exact=True).click()
    alert = dialog.get_by_role("alert")
    expect(alert).to_have_text(f"{expected} (INVALID_PARAMETER_VALUE)")
    # Still open with what was typed, for a corrected try.
    expect(dialog.get_by_label("Model")).to_have_value("fraud/detector")
    ui.shot("11-register-error", dialog=True)

    dialog.get_by_label("Model").fill("fraud-detector")
    dialog.get_by_role("button", name="Register", exact=True).click()
    expect(_outcome(dialog)).to_contain_text("version 1")
    expect(alert).to_be_hidden()


def test_registering_from_a_model_page_adds_its_next_version(ui: Ui) -> None:
    ui.register("fraud-detector", versions=1)
    ui.register("churn-model")
    ui.open("/models/fraud-detector")
    expect(ui.version_rows()).to_have_count(1)
    ui.page.get_by_role("button", name="Register version").click()
    dialog = ui.dialog("Register model")
    expect(dialog.get_by_label("Model")).to_have_value("fraud-detector")
    expect(dialog.get_by_text("Existing model: this adds its next version.")).to_be_visible()
    # The drop-down offers existing models; it narrows as a name is typed.
    expect(dialog.locator("datalist option")).to_have_count(1)
    expect(dialog.get_by_label("Source URI")).to_be_focused()
    dialog.get_by_label("Source URI").fill("s3://models/fraud-detector/2")
    dialog.get_by_role("button", name="Register", exact=True).click()
    expect(_outcome(dialog)).to_have_text("✓ Registered fraud-detector, version 2")
    dialog.get_by_role("button", name="Close").last.click()
    expect(ui.version_rows()).to_have_count(2)
    expect(ui.version_rows().first).to_contain_text("Version 2")

    ui.page.get_by_role("button", name="Register version").click()
    dialog.get_by_label("Model").fill("")
    expect(dialog.locator("datalist option")).to_have_count(2)


def test_register_dialog_knows_an_existing_name_beyond_its_suggestions(ui: Ui) -> None:
    # Fifty names that contain "model" and sort before it fill the drop-down.
    for number in range(50):
        ui.call("POST", "registered-models/create", name=f"a-model-{number:02d}")
    ui.call("POST", "registered-models/create", name="model")
    ui.open("/")
    ui.page.get_by_role("button", name="Register model", exact=True).click()
    dialog = ui.dialog("Register model")
    dialog.get_by_label("Model").fill("model")
    expect(dialog.locator("datalist option")).to_have_count(50)
    expect(dialog.get_by_text("Existing model: this adds its next version.")).to_be_visible()


def test_version_page_edits_lineage_tags_and_aliases(ui: Ui) -> None:
    ui.call("POST", "registered-models/create", name="fraud-detector")
    ui.call(
        "POST",
        "model-versions/create",
        name="fraud-detector",
        source="s3://models/fraud/7",
        run_id="4f1c2a9e",
        run_link="https://tracking.example/#/runs/4f1c2a9e",
        experiment_id="12",
    )
    ui.open("/models/fraud-detector/versions/1")
    lineage = ui.section("Lineage")
    expect(lineage).to_contain_text("s3://models/fraud/7")
    expect(lineage).to_contain_text("4f1c2a9e")
    expect(lineage).to_contain_text("12")
    expect(
        lineage.get_by_role("link", name="https://tracking.example/#/runs/4f1c2a9e")
    ).to_have_attribute("href", "https://tracking.example/#/runs/4f1c2a9e")
    # A link of another system than MLflow's tracking server leads nowhere else.
    expect(lineage.get_by_role("link")).to_have_count(2)

    tags = ui.section("Tags")
    tags.get_by_label("Key").fill("validated")
    tags.get_by_label("Value").fill("yes")
    tags.get_by_role("button", name="Add tag").click()
    expect(tags.get_by_role("row")).to_have_text(["validatedyesRemove"])

    aliases = ui.section("Aliases")
    aliases.get_by_label("Alias", exact=True).fill("prod")
    aliases.get_by_role("button", name="Add alias").click()
    expect(aliases.get_by_text("@prod")).to_be_visible()

    description = ui.section("Description")
    description.get_by_role("button", name="Edit description").click()
    description.get_by_label("Description").fill("AUC 0.94 on March data")
    description.get_by_role("button", name="Save").click()
    expect(description).to_contain_text("AUC 0.94 on March data")
    ui.shot("12-version")

    version = ui.call("GET", "model-versions/get?name=fraud-detector&version=1")["model_version"]
    assert version["tags"] == [{"key": "validated", "value": "yes"}]
    assert version["aliases"] == ["prod"]
    assert version["description"] == "AUC 0.94 on March data"

    tags.get_by_role("button", name="Remove tag validated").click()
    expect(tags).to_contain_text("No tags yet.")
    aliases.get_by_role("button", name="Remove alias prod").click()
    expect(aliases).to_contain_text("No alias points at this version.")
    version = ui.call("GET", "model-versions/get?name=fraud-detector&version=1")["model_version"]
    assert "tags" not in version
    assert "aliases" not in version


def test_version_page_links_run_experiment_and_logged_model_on_the_tracking_server(
    ui: Ui,
) -> None:
    tracking = "http://tracking.example:5000"
    ui.call("POST", "registered-models/create", name="churn")
    ui.call(
        "POST",
        "model-versions/create",
        name="churn",
        source="models:/m-7d2f0c1e",
        model_id="m-7d2f0c1e",
        run_id="9b8e1f",
        experiment_id="3",
        run_link=f"{tracking}/#/experiments/3/runs/9b8e1f",
    )
    ui.open("/models/churn/versions/1")
    lineage = ui.section("Lineage")
    expect(lineage.get_by_role("link", name="9b8e1f", exact=True)).to_have_attribute(
        "href", f"{tracking}/#/experiments/3/runs/9b8e1f"
    )
    expect(lineage.get_by_role("link", name="3", exact=True)).to_have_attribute(
        "href", f"{tracking}/#/experiments/3"
    )
    expect(lineage.get_by_role("link", name="m-7d2f0c1e", exact=True)).to_have_attribute(
        "href", f"{tracking}/#/experiments/3/models/m-7d2f0c1e"
    )
    expect(lineage).not_to_contain_text("Not recorded")
    ui.shot("18-version-lineage")


def test_a_run_link_that_is_not_a_web_url_is_shown_as_text(ui: Ui) -> None:
    ui.call("POST", "registered-models/create", name="m")
    ui.call(
        "POST", "model-versions/create", name="m", source="s3://m/1", run_link="javascript:alert(1)"
    )
    ui.open("/models/m/versions/1")
    lineage = ui.section("Lineage")
    expect(lineage).to_contain_text("javascript:alert(1)")
    expect(lineage.get_by_role("link")).to_have_count(0)


def test_model_page_tags_rename_and_delete_with_confirmation(ui: Ui) -> None:
    ui.register("fraud-detector")
    ui.register("taken")
    ui.open("/models/fraud-detector")
    tags = ui.section("Tags")
    tags.get_by_label("Key").fill("team")
    tags.get_by_label("Value").fill("risk")
    tags.get_by_role("button", name="Add tag").click()
    expect(tags.get_by_role("row")).to_have_text(["teamriskRemove"])
    tags.get_by_role("button", name="Remove tag team").click()
    expect(tags).to_contain_text("No tags yet.")

    expected = ui.error_message(
        "POST", "registered-models/rename", name="fraud-detector", new_name="taken"
    )
    ui.page.get_by_role("button", name="Rename").click()
    rename = ui.dialog("Rename model")
    rename.get_by_label("New name").fill("taken")
    rename.get_by_role("button", name="Rename").click()
    expect(rename.get_by_role("alert")).to_contain_text(expected)
    rename.get_by_label("New name").fill("card-fraud")
    rename.get_by_role("button", name="Rename").click()
    expect(ui.page).to_have_url(f"{ui.base}/models/card-fraud")
    expect(ui.heading()).to_have_text("card-fraud")

    ui.page.get_by_role("button", name="Delete").click()
    delete = ui.dialog("Delete model")
    expect(delete.get_by_role("button", name="Cancel")).to_be_focused()
    ui.shot("13-delete-confirm", dialog=True)
    delete.get_by_role("button", name="Delete model").click()
    expect(ui.page).to_have_url(f"{ui.base}/")
    expect(ui.model_rows()).to_have_count(1)
    expect(ui.model_rows().first).to_contain_text("taken")
    assert ui.api.get("registered-models/get?name=card-fraud").status_code == 404


def test_server_errors_are_shown_in_place(ui: Ui) -> None:
    ui.open("/models/ghost")
    expect(ui.heading()).to_have_text("Model not found")
    expect(ui.page.locator("main")).to_contain_text("There is no registered model named ghost.")
    ui.shot("14-model-not-found")

    ui.register("fraud-detector")
    bad_filter = ui.error_message("GET", "registered-models/search?filter=name%20%3D")
    ui.open("/")
    search = ui.page.get_by_role("searchbox", name="Search models")
    search.fill("name =")
    search.press("Enter")
    alert = ui.page.get_by_role("alert")
    expect(alert).to_contain_text("The search could not be run")
    expect(alert).to_contain_text(bad_filter)
    ui.shot("15-search-error")

    reserved = ui.error_message(
        "POST", "registered-models/alias", name="fraud-detector", alias="latest", version="1"
    )
    ui.open("/models/fraud-detector/versions/1")
    aliases = ui.section("Aliases")
    aliases.get_by_label("Alias", exact=True).fill("latest")
    aliases.get_by_role("button", name="Add alias").click()
    expect(aliases.get_by_role("alert")).to_have_text(f"{reserved} (INVALID_PARAMETER_VALUE)")
    ui.shot("16-alias-error")


def test_a_slow_answer_shows_loading_and_a_failed_one_offers_a_retry(ui: Ui) -> None:
    ui.register("fraud-detector")
    held: list[Route] = []
    ui.page.route("**/registered-models/search*", lambda route: held.append(route))
    ui.open("/")
    expect(ui.page.get_by_role("status")).to_have_text("Loading models…")
    held[0].fulfill(
        status=503,
        json={"error_code": "TEMPORARILY_UNAVAILABLE", "message": "the database is busy; retry"},
    )
    ui.page.unroute("**/registered-models/search*")
    alert = ui.page.get_by_role("alert")
    expect(alert).to_contain_text("The models could not be loaded")
    expect(alert).to_contain_text("the database is busy; retry")
    ui.shot("17-models-unavailable")
    alert.get_by_role("button", name="Try again").click()
    expect(ui.model_rows()).to_have_count(1)


def test_models_page_pages_through_results(ui: Ui) -> None:
    for number in range(12):
        ui.call("POST", "registered-models/create", name=f"model-{number:02d}")
    ui.open("/")
    ui.page.get_by_label("Models per page").select_option("10")
    expect(ui.model_rows()).to_have_count(10)
    expect(ui.page.get_by_role("button", name="← Previous")).to_be_disabled()
    ui.page.get_by_role("button", name="Next →").click()
    expect(ui.model_rows()).to_have_count(2)
    expect(ui.model_rows().first).to_contain_text("model-10")
    expect(ui.page.get_by_text("Page 2 · 2 models")).to_be_visible()
    expect(ui.page.get_by_role("button", name="Next →")).to_be_disabled()
    ui.page.get_by_role("button", name="← Previous").click()
    expect(ui.model_rows()).to_have_count(10)
    expect(ui.model_rows().first).to_contain_text("model-00")
    ui.page.go_back()
    expect(ui.model_rows()).to_have_count(2)
    expect(ui.page.get_by_role("button", name="← Previous")).to_be_enabled()


def test_keyboard_alone_registers_and_changes_stage(ui: Ui) -> None:
    page = ui.page
    ui.register("fraud-detector")
    ui.open("/")
    register = page.get_by_role("button", name="Register model", exact=True)
    register.focus()
    page.keyboard.press("Enter")
    dialog = ui.dialog("Register model")
    expect(dialog.get_by_label("Model")).to_be_focused()
    # Focus stays in the dialog however far Tab goes.
    for _ in range(8):
        page.keyboard.press("Tab")
        assert page.evaluate("document.querySelector('dialog').contains(document.activeElement)")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(register).to_be_focused()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"

    ui.open("/models/fraud-detector/versions/1")
    stage = page.get_by_role("button", name="Stage: None. Change stage")
    stage.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("menuitem", name="Transition to Staging")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("menuitem", name="Transition to Production")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("menu")).to_be_hidden()
    expect(stage).to_be_focused()

    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    confirm = ui.dialog("Change stage")
    expect(confirm.get_by_role("button", name="Move to Staging")).to_be_focused()
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    stored = ui.call("GET", "model-versions/get?name=fraud-detector&version=1")
    assert stored["model_version"]["current_stage"] == "None"

    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Stage: Staging. Change stage")).to_be_focused()


def test_archive_existing_versions_moves_the_previous_production_version(ui: Ui) -> None:
    ui.register("fraud-detector", versions=2)
    ui.call(
        "POST",
        "model-versions/transition-stage",
        name="fraud-detector",
        version="1",
        stage="Production",
    )
    ui.open("/models/fraud-detector/versions/2")
    ui.page.get_by_role("button", name="Stage: None. Change stage").click()
    ui.page.get_by_role("menuitem", name="Transition to Production").click()
    confirm = ui.dialog("Change stage")
    confirm.get_by_label("Archive existing versions in Production").check()
    confirm.get_by_role("button", name="Move to Production").click()
    expect(ui.page.get_by_role("button", name="Stage: Production. Change stage")).to_be_visible()
    ui.page.get_by_role("navigation", name="Breadcrumb").get_by_role(
        "link", name="fraud-detector"
    ).click()
    expect(ui.version_rows()).to_have_count(2)
    expect(ui.version_rows().nth(0).locator("td[data-label=Stage]")).to_have_text("Production")
    expect(ui.version_rows().nth(1).locator("td[data-label=Stage]")).to_have_text("Archived")


def test_narrow_window_shows_every_page_without_sideways_scrolling(narrow_ui: Ui) -> None:
    ui = narrow_ui
    ui.register("image-classifier-resnet50-with-a-long-name", versions=3)
    name = "image-classifier-resnet50-with-a-long-name"
    ui.call("POST", "model-versions/transition-stage", name=name, version="2", stage="Production")
    ui.call("POST", "registered-models/alias", name=name, alias="champion", version="2")
    pages = {
        "narrow-models": ("/", ui.model_rows),
        "narrow-model": (f"/models/{name}", ui.version_rows),
        "narrow-version": (f"/models/{name}/versions/2", None),
    }
    for shot, (path, rows) in pages.items():
        ui.open(path)
        if rows is not None:
            expect(rows().first).to_be_visible()
            # Rows become cards, so even the stage column lies within the window's width.
            assert_within_window(
                ui.page, rows().get_by_text("Production", exact=True).first, vertically=False
            )
        else:
            stage = ui.page.get_by_role("button", name="Stage: Production. Change stage")
            expect(stage).to_be_in_viewport()
        width = ui.page.evaluate("document.documentElement.scrollWidth")
        assert width <= NARROW["width"], f"{path} is {width}px wide"
        ui.shot(shot)

    ui.page.get_by_role("button", name="Stage: Production. Change stage").click()
    ui.page.get_by_role("menuitem", name="Transition to Staging").click()
    assert_within_window(ui.page, ui.dialog("Change stage"))
    ui.shot("narrow-transition-confirm", dialog=True)


def test_headers_link_and_back_button_move_between_pages(ui: Ui) -> None:
    ui.register("fraud-detector")
    ui.open("/models/fraud-detector/versions/1")
    ui.page.get_by_role("link", name="Model Registry").click()
    expect(ui.heading()).to_have_text("Registered models")
    ui.page.go_back()
    expect(ui.heading()).to_have_text("Version 1")
    expect(ui.page).to_have_title(re.compile("fraud-detector version 1"))


def test_with_token_auth_the_ui_signs_in_keeps_the_token_for_the_tab_and_signs_out(
    browser: Browser, store: RegistryStore
) -> None:
    access = AccessStore(store)
    _, token = access.create_token("ann")
    revoked, revoked_secret = access.create_token("bob")
    access.revoke_token(revoked.id)
    running = start(Settings(port=0, http_port=0, auth="token"), store=store)
    try:
        for ui in _ui(browser, running, WIDE):
            ui.api.headers["Authorization"] = f"Bearer {token}"
            ui.register("fraud-detector")
            page = ui.page
            ui.open("/")
            expect(ui.heading()).to_have_text("Sign in")
            ui.shot("30-sign-in")
            page.get_by_label("Access token").fill(revoked_secret)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("alert")).to_contain_text("not accepted")
            page.get_by_label("Access token").fill(token)
            page.get_by_role("button", name="Sign in").click()
            expect(ui.model_rows()).to_have_count(1)
            # Kept for the tab: another page of the UI needs no second sign-in.
            ui.open("/models/fraud-detector")
            expect(ui.heading()).to_have_text("fraud-detector")
            page.get_by_role("button", name="Sign out").click()
            expect(ui.heading()).to_have_text("Sign in")
            expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    finally:
        running.stop(None)
