"""The zone editor round trip in a real browser (Debian chromium through Playwright) against the real app: draw a
zone on the lobby camera's latest frame (GStreamer RTSP server), try it on the camera's last minutes with the real
model, save it, and find it again after a reload — in analytics.yaml (comments kept) and in the running analytics.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from streams.devserver.rtsp import RtspDevServer, free_port
from tests.browser_helpers import STATE_TIMEOUT_MS, keep_for_docs, open_page, screenshot
from tests.conftest import SiteStarter, wait_until
from wall.config import load_config

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TRY_TIMEOUT_MS = 240_000  # two minutes of video through the detector on a loaded two-core machine
# Where people stand at the lobby's table (tests/test_replay.py), as fractions of the picture.
TABLE = [(0.40, 0.70), (0.80, 0.70), (0.80, 0.98), (0.40, 0.98)]
ANALYTICS = "# The lobby's rules are drawn in the admin console.\ncameras: {}\n"


def wait_for(page: Page, script: str, arg: object = None, timeout: int = STATE_TIMEOUT_MS) -> None:
    page.wait_for_function(script, arg=arg, timeout=timeout, polling=250)


def click_at(page: Page, fx: float, fy: float) -> None:
    """Click the picture at a fraction of its width and height."""
    box = page.locator('[data-testid="zone-svg"]').bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag on the picture from one fraction of it to another, in steps as a hand would."""
    box = page.locator('[data-testid="zone-svg"]').bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0] * box["width"], box["y"] + end[1] * box["height"], steps=5)
    page.mouse.up()


def first_point(page: Page) -> tuple[float, float]:
    """The selected zone's first point as a fraction of the picture (from the drawn handle)."""
    return tuple(page.evaluate(  # type: ignore[return-value]
        "() => { const h = document.querySelector('[data-testid=zone-handle]');"
        " const v = h.ownerSVGElement.viewBox.baseVal;"
        " return [h.cx.baseVal.value / v.width, h.cy.baseVal.value / v.height]; }"))


def test_draw_try_save_and_reload_a_zone(serve_site: SiteStarter, rtsp: RtspDevServer, page: Page,
                                         page_errors: list[str], tmp_path: Path) -> None:
    site = serve_site(f'cameras:\n  - {{id: lobby, name: 大厅入口, url: "{rtsp.url("person")}"}}\n',
                      f"server:\n  data_dir: {tmp_path / 'data'}\nstreams:\n  ring_seconds: 150\n", ANALYTICS)
    session = site.app.state.services.runtime.hub.get("lobby")
    assert wait_until(lambda: session.ring.latest_keyframe() is not None, 60, 0.5), "no video from the camera"
    page.set_viewport_size({"width": 1440, "height": 1000})
    open_page(page, site, "/admin#zones")
    wait_for(page, "() => document.body.dataset.ready === '1'")
    section = '[data-testid="admin-section-zones"]'
    wait_for(page, "(s) => document.querySelector(s).dataset.loaded === '1'", section)
    wait_for(page, "() => document.querySelector('[data-testid=zone-stage]').dataset.snapshot === '1'")
    assert page.locator('[data-testid="zone-item"]').count() == 0

    # Draw: New zone, four clicks on the picture, then the first point again to close the polygon.
    page.click('[data-testid="zone-new"]')
    for fx, fy in TABLE:
        click_at(page, fx, fy)
    assert page.locator('[data-testid="draft-point"]').count() == 4
    click_at(page, *TABLE[0])
    wait_for(page, "() => document.querySelectorAll('[data-testid=zone-handle]').length === 4")
    # Edit the outline: drag a point away and back, drag an edge's middle to add a point, double-click it away.
    drag(page, TABLE[0], (0.30, 0.60))
    assert first_point(page) == pytest.approx((0.30, 0.60), abs=0.01)
    drag(page, (0.30, 0.60), TABLE[0])
    assert first_point(page) == pytest.approx(TABLE[0], abs=0.01)
    drag(page, (0.60, 0.70), (0.60, 0.62))  # the middle of the top edge
    wait_for(page, "() => document.querySelectorAll('[data-testid=zone-handle]').length === 5")
    box = page.locator('[data-testid="zone-svg"]').bounding_box()
    assert box is not None
    page.mouse.dblclick(box["x"] + 0.60 * box["width"], box["y"] + 0.62 * box["height"])
    wait_for(page, "() => document.querySelectorAll('[data-testid=zone-handle]').length === 4")
    page.fill('[data-testid="zone-field-id"]', "table")
    page.fill('[data-testid="zone-field-name"]', "站台桌")
    assert page.locator('[data-testid="zone-field-family"]').input_value() == "street_stall"
    page.select_option('[data-testid="zone-field-code"]', "0501")
    for key, value in (("dwell_seconds", "8"), ("grace_seconds", "4"), ("clear_after_seconds", "6"),
                       ("alarm_interval_seconds", "5"), ("hits", "3"), ("looks", "4")):
        page.fill(f'[data-testid="zone-field-{key}"]', value)
    page.uncheck('[data-testid="zone-field-require_object"]')  # the clip has no stall: a lingering person will do
    assert page.locator('[data-testid="zone-state"]').get_attribute("data-dirty") == "1"

    # Try it on what the camera saw in the last two minutes (the ring must hold a visit at the table first).
    assert wait_until(lambda: session.ring.span_seconds() >= 62, 150, 1.0), "the ring did not fill"
    page.fill('[data-testid="zone-try-minutes"]', "2")
    page.click('[data-testid="zone-try"]')
    wait_for(page, "() => ['done', 'error'].includes(document.querySelector('[data-testid=zone-try-state]')"
             ".dataset.state)", timeout=TRY_TIMEOUT_MS)
    assert page.locator('[data-testid="zone-try-state"]').get_attribute("data-state") == "done", \
        page.locator('[data-testid="zone-errors"]').inner_text()
    opened = page.locator('[data-testid="zone-try-event"][data-kind="opened"][data-zone="table"]')
    assert opened.count() >= 1
    wait_for(page, "() => { const i = document.querySelector('[data-testid=zone-try-event] img');"
             " return i && i.complete && i.naturalWidth === 640; }")
    assert "无照经营游商" in opened.first.inner_text()
    assert not (tmp_path / "analytics.yaml").read_text(encoding="utf-8").count("table"), "a try saves nothing"
    shot = screenshot(page, "zone-editor.png")
    keep_for_docs(shot, "zone-editor.png")

    # Save: the file has the zone (and its comment still), the running analytics has the rules.
    page.click('[data-testid="zone-save"]')
    wait_for(page, "(s) => document.querySelector(s).dataset.saved === '1'", section)
    assert page.locator('[data-testid="zone-state"]').get_attribute("data-dirty") == "0"
    text = (tmp_path / "analytics.yaml").read_text(encoding="utf-8")
    assert text.startswith("# The lobby's rules are drawn in the admin console.")
    rules = load_config(tmp_path).analytics.cameras["lobby"]  # type: ignore[union-attr]
    (table,) = rules.zones
    assert (table.id, table.name, table.family, table.code, table.dwell_seconds) == ("table", "站台桌",
                                                                                      "street_stall", "0501", 8)
    assert not table.require_object and (table.confirm.hits, table.confirm.looks) == (3, 4)
    for (x, y), (ex, ey) in zip(table.polygon, TABLE, strict=True):
        assert abs(x - ex) < 0.01 and abs(y - ey) < 0.01
    assert site.app.state.services.runtime.analytics.analyzers["lobby"].rules == rules
    audit = site.client().get("/api/audit", params={"action": "rules."}).json()["items"]
    assert [(a["action"], a["success"]) for a in audit] == [("rules.update", True), ("rules.try", True)]

    # The English switch re-renders the editor in place.
    page.click('[data-testid="lang-switch"]')
    wait_for(page, "() => document.querySelector('[data-testid=admin-tab-zones]').textContent === 'Zones'")
    assert page.locator('[data-testid="zone-field-family"] option:checked').inner_text() == "Street stall"
    assert page.locator('[data-testid="zone-try-summary"]').inner_text().startswith("video ")

    # Reload: the zone comes back from the file, on the picture and in the form.
    page.reload()
    wait_for(page, "() => document.body.dataset.ready === '1'")
    wait_for(page, "(s) => document.querySelector(s).dataset.loaded === '1'", section)
    assert page.locator('[data-testid="zone-item"][data-zone="table"]').count() == 1
    assert page.locator('[data-testid="zone-polygon"][data-id="table"]').count() == 1
    assert page.locator('[data-testid="zone-field-dwell_seconds"]').input_value() == "8"
    assert not page.locator('[data-testid="zone-field-require_object"]').is_checked()
    assert page_errors == []


def test_add_and_edit_cameras_in_the_form(serve_site: SiteStarter, rtsp: RtspDevServer, page: Page,
                                          page_errors: list[str], tmp_path: Path) -> None:
    closed = f"rtsp://viewer:s3cret@127.0.0.1:{free_port()}/x"
    site = serve_site(f'# The hall\'s cameras.\ncameras:\n  - {{id: lot, name: 停车场, url: "{rtsp.url("car")}"}}\n')
    open_page(page, site, "/admin#cameras")
    wait_for(page, "() => document.body.dataset.ready === '1'")
    row = '[data-testid="camera-row"][data-camera="{}"]'
    wait_for(page, "(sel) => document.querySelector(sel)", row.format("lot"))

    # Add: the stream is checked with the probe, a bad national id is refused with its key and reason.
    page.click('[data-testid="camera-add"]')
    page.fill('[data-testid="camera-field-id"]', "lobby")
    page.fill('[data-testid="camera-field-name"]', "大厅")
    page.fill('[data-testid="camera-field-url"]', rtsp.url("person"))
    page.fill('[data-testid="camera-field-national_id"]', "3402")
    page.click('[data-testid="camera-probe"]')
    wait_for(page, "() => document.querySelector('[data-testid=camera-probe-result]').dataset.ok === '1'")
    assert "h264" in page.locator('[data-testid="camera-probe-result"]').inner_text()
    page.click('[data-testid="camera-save"]')
    page.wait_for_selector('[data-testid="camera-form-error"] [data-testid="problem"]')
    assert page.locator('[data-testid="camera-form-error"] [data-testid="problem"]').all_inner_texts() == [
        "national_id: must be exactly 20 digits (GB/T 28181 device id)"]
    page.fill('[data-testid="camera-field-national_id"]', "34020000001320000009")
    page.click('[data-testid="camera-save"]')
    wait_for(page, "() => document.querySelector('[data-testid=camera-form]').hidden")
    wait_for(page, "(sel) => document.querySelector(sel)?.dataset.state === 'live'", row.format("lobby"))
    text = (tmp_path / "cameras.yaml").read_text(encoding="utf-8")
    assert text.startswith("# The hall's cameras.") and "id: lobby" in text

    # Edit: the URL field stays empty (the saved URL is never sent to the page); a new name keeps the video.
    session = site.app.state.services.runtime.hub.get("lobby")
    page.click('[data-testid="camera-edit"][data-camera="lobby"]')
    assert page.locator('[data-testid="camera-field-url"]').input_value() == ""
    assert page.locator('[data-testid="camera-field-national_id"]').input_value() == "34020000001320000009"
    page.fill('[data-testid="camera-field-name"]', "大厅 东门")
    page.click('[data-testid="camera-save"]')
    wait_for(page, "(sel) => document.querySelector(sel)?.textContent.includes('大厅 东门')", row.format("lobby"))
    assert site.app.state.services.runtime.hub.get("lobby") is session

    # A URL that does not open is refused, then saved anyway as offline on request.
    page.click('[data-testid="camera-edit"][data-camera="lot"]')
    page.fill('[data-testid="camera-field-url"]', closed)
    page.click('[data-testid="camera-save"]')
    page.wait_for_selector('[data-testid="camera-save-offline"]:not([hidden])')
    problem = page.locator('[data-testid="camera-form-error"] [data-testid="problem"]').inner_text()
    assert problem.startswith("url: the stream does not open (refused: ")
    page.click('[data-testid="camera-save-offline"]')
    wait_for(page, "() => document.querySelector('[data-testid=camera-form]').hidden")
    wait_for(page, "(sel) => ['offline', 'connecting'].includes(document.querySelector(sel)?.dataset.state)",
             row.format("lot"))
    assert "s3cret" in (tmp_path / "cameras.yaml").read_text(encoding="utf-8")
    screenshot(page, "admin-camera-editor.png")
    html = page.content()
    assert "rtsp://" not in html and "s3cret" not in html and f":{rtsp.port}/" not in html
    assert page_errors == []
