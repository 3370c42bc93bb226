"""Pending transition requests in the browser, at 1440 and 390 pixels: the model and version pages
list them with their comments, and Approve and Reject answer them (the change shows at once).
Every screenshot is checked by axe-core (tests/ui_harness.py)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from .ui_harness import Ui

# The browser and any_width_ui fixtures.
pytest_plugins = ["tests.ui_harness"]
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _ask(ui: Ui, **fields: Any) -> dict[str, Any]:
    response = ui.api.post(
        f"{ui.base}/api/2.0/modelregistry/transition-requests/create", json=fields
    )
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()["transition_request"]
    return created


def _stage(ui: Ui, version: str) -> str:
    found = ui.call("GET", f"model-versions/get?name=fraud-detector&version={version}")
    stage: str = found["model_version"]["current_stage"]
    return stage


def test_pending_requests_show_with_their_comment_and_approve_applies_the_change(
    any_width_ui: Ui,
) -> None:
    ui = any_width_ui
    ui.register("fraud-detector", versions=2)
    ui.call(
        "POST",
        "model-versions/transition-stage",
        name="fraud-detector",
        version="1",
        stage="Production",
    )
    asked = _ask(
        ui,
        name="fraud-detector",
        version=2,
        stage="Production",
        archive_existing_versions=True,
        comment="AUC 0.94 on the holdout set",
    )
    _ask(ui, name="fraud-detector", version=2, alias="champion", comment="the new best")
    ui.open("/models/fraud-detector")
    panel = ui.section("Pending requests")
    items = panel.locator("li")
    expect(items).to_have_count(2)
    first = items.filter(has_text="AUC 0.94")
    expect(first).to_contain_text("Version 2 to Production, archiving the others there")
    expect(first.locator("blockquote")).to_have_text("AUC 0.94 on the holdout set")
    ui.shot(ui.sized("40-model-pending-requests"))
    first.get_by_role("button", name="Approve").click()
    dialog = ui.dialog(f"Approve request #{asked['id']}")
    dialog.get_by_label("Comment").fill("ship it")
    ui.shot(ui.sized("41-approve-request"), dialog=True)
    dialog.get_by_role("button", name="Approve").click()
    expect(dialog).to_be_hidden()
    expect(ui.section("Pending requests").locator("li")).to_have_count(1)
    assert _stage(ui, "2") == "Production"
    assert _stage(ui, "1") == "Archived"
    # The versions table shows the change without a reload.
    expect(ui.version_rows().filter(has_text="Archived")).to_have_count(1)


def test_the_version_page_rejects_a_request_and_shows_why_an_approval_failed(
    any_width_ui: Ui,
) -> None:
    ui = any_width_ui
    ui.register("fraud-detector", versions=1)
    rejected = _ask(ui, name="fraud-detector", version=1, stage="Staging", comment="try it")
    stale = _ask(ui, name="fraud-detector", version=1, stage="Production")
    ui.open("/models/fraud-detector/versions/1")
    panel = ui.section("Pending requests")
    expect(panel.locator("li")).to_have_count(2)
    ui.shot(ui.sized("42-version-pending-requests"))
    panel.locator("li").filter(has_text="try it").get_by_role("button", name="Reject").click()
    dialog = ui.dialog(f"Reject request #{rejected['id']}")
    dialog.get_by_label("Comment").fill("not yet")
    dialog.get_by_role("button", name="Reject").click()
    expect(dialog).to_be_hidden()
    expect(panel.locator("li")).to_have_count(1)
    # Someone changes the version meanwhile: the approval is refused, and the dialog says why.
    ui.call(
        "POST",
        "model-versions/set-tag",
        name="fraud-detector",
        version="1",
        key="validated",
        value="no",
    )
    panel.get_by_role("button", name="Approve").click()
    dialog = ui.dialog(f"Approve request #{stale['id']}")
    dialog.get_by_role("button", name="Approve").click()
    expect(dialog.get_by_role("alert")).to_contain_text("has changed since transition request")
    dialog.get_by_role("button", name="Cancel").click()
    assert _stage(ui, "1") == "None"
    listed = ui.api.get(
        f"{ui.base}/api/2.0/modelregistry/transition-requests/list",
        params={"name": "fraud-detector"},
    ).json()["transition_requests"]
    assert {r["id"]: r["state"] for r in listed} == {
        rejected["id"]: "REJECTED",
        stale["id"]: "PENDING",
    }


def test_a_model_without_pending_requests_shows_no_panel(ui: Ui) -> None:
    ui.register("fraud-detector", versions=1)
    ui.open("/models/fraud-detector")
    expect(ui.heading()).to_have_text("fraud-detector")
    expect(ui.version_rows()).to_have_count(1)
    expect(ui.page.get_by_role("region", name="Pending requests")).to_have_count(0)
