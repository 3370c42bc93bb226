"""Restore after delete in the browser, at 1440 and at 390 pixels: a model page's "Deleted
versions" section restores a version under its number, and the "Recently deleted" page restores a
model, asking for a new name when its old one was taken meanwhile. Every screenshot is checked by
axe-core too (tests/ui_harness.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .ui_harness import Ui

# The browser and any_width_ui fixtures.
pytest_plugins = ["tests.ui_harness"]
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_a_deleted_version_is_restored_from_its_model_page(any_width_ui: Ui) -> None:
    ui = any_width_ui
    ui.register("fraud-detector", versions=3)
    ui.call("DELETE", "model-versions/delete", name="fraud-detector", version="2")
    ui.open("/models/fraud-detector")
    expect(ui.version_rows()).to_have_count(2)
    deleted = ui.section("Deleted versions")
    expect(deleted.locator("tbody tr")).to_have_count(1)
    expect(deleted.locator("tbody tr")).to_contain_text("Version 2")
    ui.shot(ui.sized("restore-deleted-versions"))
    deleted.get_by_role("button", name="Restore version 2").click()
    expect(ui.page.locator("#toast")).to_have_text("Restored version 2")
    expect(ui.version_rows()).to_have_count(3)
    expect(deleted).to_have_count(0)
    restored = ui.call("GET", "model-versions/get?name=fraud-detector&version=2")
    assert restored["model_version"]["source"] == "s3://models/fraud-detector/2"


def test_a_deleted_model_is_restored_from_recently_deleted_under_a_new_name_if_taken(
    any_width_ui: Ui,
) -> None:
    ui = any_width_ui
    ui.register("fraud-detector", versions=2)
    ui.register("churn-model")
    ui.call("DELETE", "registered-models/delete", name="fraud-detector")
    ui.call("DELETE", "registered-models/delete", name="churn-model")
    ui.call("POST", "registered-models/create", name="fraud-detector")
    ui.open("/")
    if ui.width > 1000:
        ui.page.get_by_role("link", name="Recently deleted").click()
    else:
        # A narrow window hides the top bar's links (the page is still /deleted).
        ui.open("/deleted")
    expect(ui.heading()).to_have_text("Recently deleted")
    rows = ui.page.get_by_role("table", name="Deleted models").locator("tbody tr")
    # Newest first.
    expect(rows.first).to_contain_text("churn-model")
    expect(rows.nth(1)).to_contain_text("fraud-detector")
    ui.shot(ui.sized("restore-recently-deleted"))

    ui.page.get_by_role("button", name="Restore churn-model").click()
    expect(ui.heading()).to_have_text("churn-model")
    expect(ui.version_rows()).to_have_count(1)

    ui.open("/deleted")
    ui.page.get_by_role("button", name="Restore fraud-detector").click()
    dialog = ui.dialog("Restore under another name")
    expect(dialog).to_be_visible()
    ui.shot(ui.sized("restore-new-name"), dialog=True)
    dialog.get_by_label("New name").fill("fraud-detector-old")
    dialog.get_by_role("button", name="Restore").click()
    expect(ui.heading()).to_have_text("fraud-detector-old")
    expect(ui.version_rows()).to_have_count(2)
    ui.open("/deleted")
    expect(ui.page.get_by_text("No deleted models to restore.")).to_be_visible()
