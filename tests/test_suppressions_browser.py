"""False-alarm memory in a real browser (Debian chromium through Playwright, the real app and database): the
desk's reject form offers "don't raise here again" only with a reason that allows it, the case then shows its
suppression, the next candidate at the place raises nothing, and the admin console lists it and lifts it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser_helpers import STATE_TIMEOUT_MS, screenshot
from tests.case_helpers import event_change
from tests.conftest import wait_until
from tests.test_admin_browser import by_testid, confirm_dialog, open_admin
from tests.test_desk_browser import cameras_yaml, open_desk, raise_case, server_yaml, wait_selected

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.conftest import SiteStarter

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_reject_with_remember_in_the_desk_then_lift_in_the_console(
        serve_site: SiteStarter, page: Page, browser: Browser, page_errors: list[str], tmp_path: Path) -> None:
    site = serve_site(cameras_yaml(), server_yaml(tmp_path))
    site.add_user("op", "operator", grants=("cam-a",))
    case_id = raise_case(site, "cam-a", place="3-4")
    open_desk(page, site, "op")
    page.locator(f'[data-testid="case-row"][data-case="{case_id}"]').click()
    wait_selected(page, case_id)
    page.keyboard.press("r")
    row = by_testid(page, "reject-remember-row")
    page.get_by_test_id("reject-reason").select_option("duplicate")
    assert row.is_hidden(), "a duplicate says nothing about the place"
    page.get_by_test_id("reject-reason").select_option("licensed_stall")
    assert row.is_visible()
    assert "30" in by_testid(page, "reject-remember-note").inner_text()
    page.get_by_test_id("reject-remember").check()
    page.get_by_test_id("reject-submit").scroll_into_view_if_needed()
    screenshot(page, "desk-reject-remember.png")
    page.get_by_test_id("reject-submit").click()
    admin = site.client()
    assert wait_until(lambda: admin.get("/api/suppressions").json(), 20), "no suppression was made"
    # the rejected case has left the queue of pending ones: the rejected ones show it with its suppression
    page.get_by_test_id("filter-status").select_option("rejected")
    page.locator(f'[data-testid="case-row"][data-case="{case_id}"]').click()
    wait_selected(page, case_id)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"case-facts\"]').textContent.includes('误报抑制')",
        timeout=STATE_TIMEOUT_MS, polling=250)
    [made] = admin.get("/api/suppressions").json()
    assert (made["case_id"], made["place"], made["reason"], made["created_by"]) == (case_id, "3-4", "licensed_stall",
                                                                                     "op")
    facts = page.get_by_test_id("case-facts").inner_text()
    assert f"#{made['id']} 生效中" in facts, facts
    screenshot(page, "desk-case-suppressed.png")

    desk = site.app.state.services.cases.desk
    assert desk.on_event(event_change(desk.evidence_dir, camera="cam-a", place="3-4")) is None

    console = browser.new_context(viewport={"width": 1280, "height": 760}, locale="zh-CN").new_page()
    console.on("pageerror", lambda exc: page_errors.append(str(exc)))
    open_admin(console, site, "suppressions")
    line = by_testid(console, "suppression-row", id=str(made["id"]))
    line.wait_for(state="visible")
    assert line.locator('[data-testid="suppression-hits"]').inner_text() == "1"
    assert line.locator('[data-testid="suppression-state"]').inner_text() == "生效中"
    screenshot(console, "admin-suppressions.png")
    line.locator('[data-testid="suppression-lift"]').click()
    confirm_dialog(console)
    line.wait_for(state="detached")
    [lifted] = admin.get("/api/suppressions", params={"state": "lifted"}).json()
    assert lifted["lifted_by"] == "admin"
    assert desk.on_event(event_change(desk.evidence_dir, camera="cam-a", place="3-4")) is not None
    assert page_errors == []
