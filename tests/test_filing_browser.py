"""视频立案 in a real browser: an operator files a case from a wall tile (keyboard to open, mouse to draw the
box, the code chosen, the location prefilled and edited, Enter to file) and it shows on the desk as confirmed,
source 视频巡查; Esc cancels without a case. Real app, real GStreamer RTSP camera, Debian chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from streams.devserver.rtsp import RtspDevServer
from streams.stills import jpeg_size
from tests.browser_helpers import PLAY_TIMEOUT_MS, STATE_TIMEOUT_MS, keep_for_docs, open_page, screenshot
from tests.case_helpers import Receiver
from tests.conftest import wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.conftest import SiteStarter

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STILL_SHOWN = """() => { const img = document.querySelector('[data-testid="filing-still"]');
  return img && img.complete && img.naturalWidth > 0; }"""


def test_an_operator_files_a_case_from_a_wall_tile_and_the_desk_shows_it_confirmed(
        serve_site: SiteStarter, rtsp: RtspDevServer, page: Page, page_errors: list[str], tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        site = serve_site(
            "cameras:\n"
            f'  - {{id: car, name: 解放路口, url: "{rtsp.url("car")}", grid_code: "34010200100101", '
            "street: 解放路街道, community: 人民社区, address: 解放路 18 号}\n",
            f"server:\n  data_dir: {tmp_path / 'data'}\n"
            f"platform:\n  webhook_url: {receiver.url}\n  secret: s\n  backoff_initial: 0.05\n")
        site.add_user("op", "operator", grants=("car",))
        open_page(page, site, "/", "op")
        tile = page.locator('#wall [data-testid="tile"][data-index="0"]')
        page.wait_for_function("() => document.querySelector('#wall [data-index=\"0\"]')?.dataset.state === 'live'",
                               timeout=PLAY_TIMEOUT_MS, polling=250)
        assert page.evaluate("() => document.getElementById('wall').classList.contains('may-file')")

        # Esc cancels: nothing is filed
        tile.hover()
        tile.get_by_test_id("tile-file").click()
        dialog = page.get_by_test_id("filing-dialog")
        dialog.wait_for(state="visible")
        page.keyboard.press("Escape")
        dialog.wait_for(state="detached")

        # keyboard first: select the tile, "f" opens the dialog over the server's still
        tile.click()
        page.keyboard.press("f")
        dialog.wait_for(state="visible")
        page.wait_for_function(STILL_SHOWN, timeout=STATE_TIMEOUT_MS, polling=250)
        assert page.get_by_test_id("filing-grid-code").input_value() == "34010200100101"
        assert page.get_by_test_id("filing-street").input_value() == "解放路街道"
        assert page.get_by_test_id("filing-address").input_value() == "解放路 18 号"
        page.keyboard.press("Enter")  # no box yet: refused on the page, nothing sent
        assert "框出" in page.get_by_test_id("filing-error").inner_text()

        still = page.get_by_test_id("filing-still").bounding_box()
        assert still is not None
        drawn = (0.2, 0.35, 0.55, 0.8)
        page.mouse.move(still["x"] + drawn[0] * still["width"], still["y"] + drawn[1] * still["height"])
        page.mouse.down()
        page.mouse.move(still["x"] + drawn[2] * still["width"], still["y"] + drawn[3] * still["height"], steps=8)
        page.mouse.up()
        assert page.get_by_test_id("filing-box").is_visible()
        page.get_by_test_id("filing-code").select_option("0501")
        page.get_by_test_id("filing-address").fill("解放路 18 号东侧人行道")
        keep_for_docs(screenshot(page, "wall-filing.png"), "wall-filing.png")
        page.get_by_test_id("filing-description").fill("流动摊贩占道经营")
        page.keyboard.press("Enter")
        dialog.wait_for(state="detached")
        notice = "() => document.querySelector('[data-testid=\"wall-notice\"]').textContent.includes('已立案')"
        page.wait_for_function(notice, timeout=STATE_TIMEOUT_MS, polling=250)

        items = site.client("op").get("/api/cases").json()["items"]
        assert len(items) == 1
        case = items[0]
        assert (case["status"], case["source"], case["decided_by"], case["code"]) == ("confirmed", "patrol", "op",
                                                                                     "0501")
        assert case["address"] == "解放路 18 号东侧人行道" and case["street"] == "解放路街道"
        assert case["description"] == "流动摊贩占道经营"
        record = site.client("op").get(f"/api/cases/{case['id']}").json()
        assert {e["kind"] for e in record["evidence"]} == {"snapshot", "clip"}
        snapshot = next(e["url"] for e in record["evidence"] if e["kind"] == "snapshot")
        size = jpeg_size(site.client("op").get(snapshot).content)
        assert size is not None
        width, height = size
        kept = [record["place_box"][0] / width, record["place_box"][1] / height, record["place_box"][2] / width,
                record["place_box"][3] / height]
        assert kept == pytest.approx(list(drawn), abs=0.02)  # where the mouse went, in the kept picture
        assert wait_until(lambda: receiver.keys() == [f"citywall-case-{case['id']}"], 20)
        document = json.loads(receiver.posts[0][1])
        assert document["source"] == "视频巡查"
        # the platform fetches the evidence by the signed links it was sent, without a login; a link whose
        # signature or expiry was changed is refused
        links = {e["kind"]: e["url"] for e in document["evidence"]}
        assert set(links) == {"snapshot", "clip"}
        fetched = httpx.get(site.url + links["snapshot"], timeout=20)
        assert fetched.status_code == 200 and fetched.content == site.client("op").get(snapshot).content
        assert httpx.get(site.url + links["clip"], timeout=20).status_code == 200
        signed = links["snapshot"]
        tampered = signed[:-1] + ("0" if signed[-1] != "0" else "1")
        assert httpx.get(site.url + tampered, timeout=20).status_code == 403

        # the desk shows it, confirmed, with its source
        page.goto(site.url + "/desk")
        page.get_by_test_id("filter-status").select_option("confirmed")
        row = page.locator(f'[data-testid="case-row"][data-case="{case["id"]}"]')
        row.wait_for(state="visible")
        assert row.locator(".row-source").inner_text() == "视频巡查"
        row.click()
        page.wait_for_function("() => document.querySelector('[data-testid=\"case-status\"]').textContent === '已确认'",
                               timeout=STATE_TIMEOUT_MS, polling=250)
        assert "视频巡查" in page.get_by_test_id("case-facts").inner_text()
        screenshot(page, "desk-filed-case.png")
        assert page_errors == []
    finally:
        receiver.close()
