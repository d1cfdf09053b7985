"""视频立案 from the review desk in a real browser: an operator looking at a case's live view files a new case
on that camera (f, box drawn, code chosen, Enter) and, from the camera's memory, one of a moment ago (the
dialog's "15 s ago": the still and the clip come from the ring); both are confirmed, source 视频巡查, and the
queue shows them. A viewer's desk has no filing button. Real app, real GStreamer RTSP camera, Debian chromium."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from streams.devserver.rtsp import RtspDevServer
from tests.browser_helpers import PLAY_TIMEOUT_MS, STATE_TIMEOUT_MS, open_page, screenshot
from tests.case_helpers import event_change

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.conftest import SiteStarter

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STILL_SHOWN = """() => { const img = document.querySelector('[data-testid="filing-still"]');
  return img && img.complete && img.naturalWidth > 0; }"""
LIVE = """() => { const tile = document.querySelector('[data-testid="case-live"]');
  return tile.dataset.camera === 'car' && tile.dataset.state === 'live'; }"""
NOTICE = "() => document.querySelector('[data-testid=\"desk-notice\"]').textContent.includes('已立案')"


def draw_and_file(page: Page, code: str = "0501") -> None:
    page.wait_for_function(STILL_SHOWN, timeout=STATE_TIMEOUT_MS, polling=250)
    still = page.get_by_test_id("filing-still").bounding_box()
    assert still is not None
    page.mouse.move(still["x"] + 0.3 * still["width"], still["y"] + 0.3 * still["height"])
    page.mouse.down()
    page.mouse.move(still["x"] + 0.6 * still["width"], still["y"] + 0.7 * still["height"], steps=6)
    page.mouse.up()
    page.get_by_test_id("filing-code").select_option(code)
    page.keyboard.press("Enter")
    page.get_by_test_id("filing-dialog").wait_for(state="detached")


def test_an_operator_files_from_the_desks_live_view_now_and_a_moment_ago(
        serve_site: SiteStarter, rtsp: RtspDevServer, page: Page, page_errors: list[str], tmp_path: Path) -> None:
    site = serve_site(
        "cameras:\n"
        f'  - {{id: car, name: 解放路口, url: "{rtsp.url("car")}", street: 解放路街道, address: 解放路 18 号}}\n',
        f"server:\n  data_dir: {tmp_path / 'data'}\n")
    site.add_user("op", "operator", grants=("car",))
    site.add_user("viewer", "viewer", grants=("car",))
    desk = site.app.state.services.cases.desk
    raised = desk.on_event(event_change(desk.evidence_dir, camera="car"))
    started = time.monotonic()

    open_page(page, site, "/desk", "op")
    page.locator(f'[data-testid="case-row"][data-case="{raised}"]').click()
    page.wait_for_function(LIVE, timeout=PLAY_TIMEOUT_MS, polling=250)
    assert page.get_by_test_id("desk-file").is_visible()

    page.keyboard.press("f")  # keyboard first, like the rest of the desk
    dialog = page.get_by_test_id("filing-dialog")
    dialog.wait_for(state="visible")
    page.wait_for_function(STILL_SHOWN, timeout=STATE_TIMEOUT_MS, polling=250)  # the camera's location came first
    assert page.get_by_test_id("filing-address").input_value() == "解放路 18 号"
    page.keyboard.press("c")  # the desk's letters stay out of the open dialog: no confirm form opens
    assert page.get_by_test_id("confirm-form").is_hidden()
    draw_and_file(page)
    page.wait_for_function(NOTICE, timeout=STATE_TIMEOUT_MS, polling=250)

    # a moment ago, from the camera's memory: the ring must hold 15 s of this camera first
    time.sleep(max(0.0, 18 - (time.monotonic() - started)))
    page.get_by_test_id("desk-file").click()
    dialog.wait_for(state="visible")
    page.wait_for_function(STILL_SHOWN, timeout=STATE_TIMEOUT_MS, polling=250)
    page.get_by_test_id("filing-moment").select_option("15")
    page.wait_for_function("() => document.querySelector('[data-testid=\"filing-error\"]').textContent === ''",
                           timeout=STATE_TIMEOUT_MS, polling=250)
    screenshot(page, "desk-filing.png")
    draw_and_file(page)
    page.wait_for_function(NOTICE, timeout=STATE_TIMEOUT_MS, polling=250)

    items = site.client("op").get("/api/cases", params={"status": "confirmed"}).json()["items"]
    assert len(items) == 2
    assert {(c["source"], c["camera"], c["decided_by"], c["code"]) for c in items} == {("patrol", "car", "op", "0501")}
    for case in items:
        record = site.client("op").get(f"/api/cases/{case['id']}").json()
        assert {e["kind"] for e in record["evidence"]} == {"snapshot", "clip"}
    filings = site.client().get("/api/audit", params={"action": "case_file"}).json()["items"]
    ago = sorted(float(a["detail"]["seconds_ago"]) for a in filings if a["success"])
    assert len(ago) == 2 and ago[0] < 15 <= ago[1] < 40
    page.get_by_test_id("filter-status").select_option("confirmed")
    page.locator('[data-testid="case-row"]').nth(1).wait_for(state="visible")  # the queue shows both

    open_page(page, site, "/desk", "viewer")  # may watch, may not decide: no filing from the desk
    page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=STATE_TIMEOUT_MS, polling=250)
    assert page.get_by_test_id("desk-file").is_hidden()
    assert page_errors == []
