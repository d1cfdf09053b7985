"""The review desk (/desk) in a real browser: Debian chromium through Playwright, against the real app on a real
socket with its own SQLite database, cases raised through the real CaseDesk with real JPEG/MP4 evidence files, a
real GStreamer RTSP camera for the live view, and ``Receiver`` (a real HTTP server) as the city's case platform.

Two tests put Playwright's WebSocket routing between the page and the real /ws/wall (``page.route_web_socket`` with
``connect_to_server``): every message still comes from the server, the route only holds pushes back or drops the
connection — the network faults (a lagging channel, a dropped socket) no real part lets a test cause on demand.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from streams.devserver.clips import synthetic_clip
from streams.devserver.rtsp import RtspDevServer, free_port
from tests.browser_helpers import PLAY_TIMEOUT_MS, STATE_TIMEOUT_MS, open_page, screenshot
from tests.case_helpers import Receiver, event_change
from tests.conftest import wait_until
from vision.replay import store_evidence
from wall.store.cases import Label
from wall.store.platform import VideoCheck

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.conftest import LiveServer, SiteStarter

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FRAME = (640, 360)
PLACE_BOX = (100.0, 120.0, 180.0, 220.0)  # event_change's place box, in the snapshot's pixels
PLACES = itertools.count(1)  # one case per place and problem: each raise gets its own place
ROWS = "() => [...document.querySelectorAll('[data-testid=\"case-row\"]')].map((r) => Number(r.dataset.case))"
SELECTED = "() => Number(document.querySelector('[data-testid=\"case-row\"][aria-selected=\"true\"]')?.dataset.case)"


def cameras_yaml(cam_a_url: str | None = None) -> str:
    closed = f"rtsp://127.0.0.1:{free_port()}"
    cam_a = cam_a_url or closed + "/a"
    return f"""cameras:
  - {{id: cam-a, name: 解放路口, url: "{cam_a}", grid_code: "34010200100101", address: 解放路 18 号}}
  - {{id: cam-b, name: 人民路, url: "{closed}/b"}}
"""


def server_yaml(tmp_path: Path, receiver: Receiver | None = None) -> str:
    text = f"server:\n  data_dir: {tmp_path / 'data'}\n"
    if receiver is not None:
        text += (f"platform:\n  webhook_url: {receiver.url}\n  secret: webhook-secret\n"
                 "  backoff_initial: 0.05\n  backoff_max: 0.2\n")
    return text


def scene_jpeg(text: str) -> bytes:
    """A real JPEG the size of an analysed frame: a road with a 'stall' at the place box (unique per case)."""
    image = np.full((FRAME[1], FRAME[0], 3), (88, 92, 96), np.uint8)
    x1, y1, x2, y2 = (int(v) for v in PLACE_BOX)
    cv2.rectangle(image, (x1, y1), (x2, y2), (40, 130, 210), -1)
    cv2.putText(image, text, (220, 330), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (240, 240, 240), 2)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 4-second H.264 MP4, like the evidence clip the ring cuts around an event."""
    path = tmp_path_factory.mktemp("desk-clip") / "clip.mp4"
    return synthetic_clip(path, width=FRAME[0], height=FRAME[1], fps=25, gop=25, seconds=4).read_bytes()


def raise_case(site: LiveServer, camera: str, *, clip: bytes | None = None, code: tuple[str, str] | None = None,
               place: str | None = None) -> int:
    """Raise a case the way the analytics do: an 'opened' event change with its evidence already on disk."""
    desk = site.app.state.services.cases.desk
    place = place or f"p{next(PLACES)}"
    change = event_change(desk.evidence_dir, camera=camera, place=place, jpeg=scene_jpeg(f"{camera} {place}"))
    if code is not None:
        change.code, change.code_name = code
        change.family = "garbage"
    if clip is not None:
        change.evidence["clip"] = str(store_evidence(desk.evidence_dir, clip, ".mp4"))
    case_id = desk.on_event(change)
    assert case_id is not None
    return case_id


def rows(page: Page) -> list[int]:
    return page.evaluate(ROWS)


def wait_rows(page: Page, expected: list[int]) -> None:
    page.wait_for_function(f"(want) => JSON.stringify(({ROWS})()) === JSON.stringify(want)", arg=expected,
                           timeout=STATE_TIMEOUT_MS, polling=250)


def wait_selected(page: Page, case_id: int) -> None:
    """The row is selected and the detail shows that case's full record (its snapshot is on screen)."""
    page.wait_for_function(
        f"""(id) => ({SELECTED})() === id
              && document.querySelector('[data-testid="case-title"]').textContent.startsWith(`#${{id}} `)
              && document.querySelector('[data-testid="case-snapshot"]').complete
              && document.querySelector('[data-testid="case-snapshot"]').naturalWidth > 0""",
        arg=case_id, timeout=STATE_TIMEOUT_MS, polling=250)


def open_desk(page: Page, site: LiveServer, user: str) -> None:
    """Open /desk as ``user`` and wait until the queue is read and the push channel is up."""
    open_page(page, site, "/desk", user)
    page.wait_for_function(
        """() => document.body.dataset.ready === 'true'
              && document.querySelector('[data-testid="channel-state"]').dataset.state === 'online'""",
        timeout=STATE_TIMEOUT_MS, polling=250)


def case_of(site: LiveServer, case_id: int) -> dict[str, Any]:
    return site.client().get(f"/api/cases/{case_id}").json()


def new_page(browser: Browser, errors: list[str]) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 760}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(STATE_TIMEOUT_MS)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


def test_operator_sees_only_granted_cases_with_evidence_live_view_and_pushes(
        serve_site: SiteStarter, rtsp: RtspDevServer, tmp_path: Path, page: Page, page_errors: list[str],
        clip_bytes: bytes) -> None:
    site = serve_site(cameras_yaml(rtsp.url("car")), server_yaml(tmp_path))
    site.add_user("op", "operator", grants=("cam-a",))
    a1 = raise_case(site, "cam-a", clip=clip_bytes)
    raise_case(site, "cam-b", clip=clip_bytes)
    a2 = raise_case(site, "cam-a", clip=clip_bytes, code=("0102", "暴露垃圾"))
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))

    open_desk(page, site, "op")
    wait_rows(page, [a2, a1])  # newest first; the cam-b case is not this operator's
    wait_selected(page, a2)
    assert page.get_by_test_id("queue-count").inner_text() == "共 2 件"
    cameras = page.eval_on_selector_all('[data-testid="filter-camera"] option', "os => os.map((o) => o.value)")
    assert cameras == ["", "cam-a"]

    # the snapshot with the event's place box drawn in the picture's own pixels
    box = page.evaluate(
        """() => { const r = document.querySelector('[data-testid="event-box"]');
                   const svg = document.querySelector('[data-testid="case-boxes"]');
                   const at = (a) => Number(r.getAttribute(a));
                   return [svg.getAttribute('viewBox'), at('x'), at('y'), at('width'), at('height')];
                 }""")
    assert box == ["0 0 640 360", 100, 120, 80, 100]
    page.keyboard.press("b")  # the boxes can be hidden to see the picture alone, and shown again
    assert page.locator('[data-testid="event-box"]').count() == 0
    page.keyboard.press("b")
    assert page.locator('[data-testid="event-box"]').count() == 1

    # the live view of the camera plays (the wall's LiveTile over /ws/live/cam-a)
    try:
        page.wait_for_function(
            """() => { const tile = document.querySelector('[data-testid="case-live"]');
                       const v = tile.querySelector('video');
                       return tile.dataset.camera === 'cam-a' && tile.dataset.state === 'live' && v.currentTime > 1
                         && v.getVideoPlaybackQuality().totalVideoFrames > 0; }""",
            timeout=PLAY_TIMEOUT_MS, polling=250)
        # p plays the evidence clip
        page.keyboard.press("p")
        page.wait_for_function("() => document.querySelector('[data-testid=\"case-clip\"]').currentTime > 0.5",
                               timeout=STATE_TIMEOUT_MS, polling=250)
    finally:
        screenshot(page, "desk.png")

    # raised while the page is open: the granted camera's case appears at the top without a reload
    raise_case(site, "cam-b")
    a3 = raise_case(site, "cam-a")
    wait_rows(page, [a3, a2, a1])
    assert page.locator(f'[data-testid="case-row"][data-case="{a3}"]').get_attribute("class") == "fresh"
    assert page.get_by_test_id("queue-count").inner_text() == "共 3 件"
    assert page.evaluate(SELECTED) == a2, "a push must not move the operator's selection"

    # filters: event code, camera, time, state (the API answers; pushes are matched the same way)
    page.get_by_test_id("filter-code").select_option("0102")
    wait_rows(page, [a2])
    raise_case(site, "cam-a")  # a 0501 case: not under this filter
    page.get_by_test_id("filter-code").select_option("")
    page.get_by_test_id("filter-camera").select_option("cam-a")
    page.wait_for_function(f"() => ({ROWS})().length === 4", timeout=STATE_TIMEOUT_MS, polling=250)
    page.get_by_test_id("filter-time").select_option("1h")
    page.wait_for_function(f"() => ({ROWS})().length === 4", timeout=STATE_TIMEOUT_MS, polling=250)
    page.get_by_test_id("filter-status").select_option("rejected")
    wait_rows(page, [])
    assert page.get_by_test_id("queue-empty").is_visible()
    page.get_by_test_id("filter-status").focus()
    page.get_by_test_id("filter-status").select_option("pending_review")
    page.wait_for_function(f"() => ({ROWS})().length === 4", timeout=STATE_TIMEOUT_MS, polling=250)
    queue = rows(page)
    wait_selected(page, queue[0])
    assert page.evaluate("() => document.activeElement.dataset.testid") == "filter-status"
    page.keyboard.press("Escape")  # out of the filter field: the letters drive the queue again
    page.keyboard.press("j")
    wait_selected(page, queue[1])

    # English on the switch, with the catalogue's English names
    page.get_by_test_id("lang-switch").click()
    page.wait_for_function("() => document.querySelector('h1').textContent === 'Review desk'")
    assert page.get_by_test_id("case-confirm").inner_text().startswith("Confirm")
    assert "exposed garbage" in page.locator(f'[data-case="{a2}"] .row-code').inner_text()
    assert page.get_by_test_id("queue-count").inner_text() == "4 cases"

    # nothing of the camera this operator may not see ever reached the page
    assert "人民路" not in page.content()
    assert not [url for url in requested if "cam-b" in url], requested
    assert page_errors == []


def test_keyboard_confirm_reaches_the_case_platform(serve_site: SiteStarter, tmp_path: Path, page: Page,
                                                    page_errors: list[str], clip_bytes: bytes) -> None:
    receiver = Receiver()
    try:
        site = serve_site(cameras_yaml(), server_yaml(tmp_path, receiver))
        site.add_user("op", "operator", grants=("cam-a",))
        older = raise_case(site, "cam-a", clip=clip_bytes)
        newer = raise_case(site, "cam-a", clip=clip_bytes)
        open_desk(page, site, "op")
        wait_rows(page, [newer, older])
        wait_selected(page, newer)
        for key, expected in [("j", older), ("k", newer), ("ArrowDown", older), ("ArrowUp", newer), ("j", older)]:
            page.keyboard.press(key)
            page.wait_for_function(f"(id) => ({SELECTED})() === id", arg=expected, polling=250)
        wait_selected(page, older)

        page.keyboard.press("c")
        form = page.get_by_test_id("confirm-form")
        form.wait_for(state="visible")
        assert page.evaluate("() => document.activeElement.dataset.testid") == "confirm-code"
        assert page.get_by_test_id("confirm-code").input_value() == "0501"  # prefilled from the case
        assert page.get_by_test_id("confirm-grid").input_value() == "34010200100101"  # from the camera
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowDown")
        assert page.get_by_test_id("confirm-code").input_value() == "0503"
        page.keyboard.press("Tab")
        page.keyboard.press("Control+A")
        page.keyboard.type("12ab")  # not a grid code: the server refuses, the desk says why
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelector('[data-testid=\"desk-error\"]').textContent !== ''",
                               polling=250)
        error = page.get_by_test_id("desk-error").inner_text()
        assert error.startswith("422") and "网格编码" in error, error
        assert case_of(site, older)["status"] == "pending_review"

        page.keyboard.press("Control+A")
        page.keyboard.type("34010200100299")
        page.keyboard.press("Tab")
        page.keyboard.press("Control+A")
        page.keyboard.type("解放路 20 号东侧")
        page.keyboard.press("Tab")
        page.keyboard.type("check: r j k")  # letters typed in a field are text, not shortcuts
        page.keyboard.press("Enter")

        wait_rows(page, [newer])
        wait_selected(page, newer)  # the next case is up at once
        assert page.get_by_test_id("desk-notice").inner_text() == f"案件 #{older} 已确认，已提交案件平台"
        assert page.get_by_test_id("desk-error").inner_text() == ""
        assert not form.is_visible()
        assert wait_until(lambda: len(receiver.posts) == 1, 20), "the platform never received the case"
        headers, body = receiver.posts[0]
        document = json.loads(body)
        assert headers["Idempotency-Key"] == f"citywall-case-{older}"
        assert (document["code"], document["code_name"]) == ("0503", "占道废品收购")
        assert document["grid_code"] == "34010200100299" and document["address"] == "解放路 20 号东侧"
        assert document["note"] == "check: r j k" and document["confirmed_by"] == "op"
        assert case_of(site, newer)["status"] == "pending_review"
        assert page_errors == []
    finally:
        receiver.close()


def test_rejecting_with_a_reason_records_it(serve_site: SiteStarter, tmp_path: Path, page: Page,
                                            page_errors: list[str]) -> None:
    site = serve_site(cameras_yaml(), server_yaml(tmp_path))
    site.add_user("op", "operator", grants=("cam-a",))
    case_id = raise_case(site, "cam-a")
    open_desk(page, site, "op")
    wait_selected(page, case_id)

    page.keyboard.press("c")  # Esc cancels an open form without deciding anything
    page.get_by_test_id("confirm-form").wait_for(state="visible")
    page.keyboard.press("Escape")
    page.get_by_test_id("confirm-form").wait_for(state="hidden")

    page.keyboard.press("r")
    page.get_by_test_id("reject-form").wait_for(state="visible")
    reasons = page.eval_on_selector_all('[data-testid="reject-reason"] option', "os => os.map((o) => o.value)")
    assert reasons[:5] == ["", "licensed_stall", "abandoned_stall", "inside_shop", "vendor_walking"]
    page.keyboard.press("Enter")  # no reason chosen: the server's answer is shown
    page.wait_for_function("() => document.querySelector('[data-testid=\"desk-error\"]').textContent !== ''",
                           polling=250)
    assert page.get_by_test_id("desk-error").inner_text().startswith("422 reason must be one of")

    page.get_by_test_id("reject-reason").focus()
    page.keyboard.type("4")  # numbered reasons: 4 = vendor walking past
    assert page.get_by_test_id("reject-reason").input_value() == "vendor_walking"
    page.keyboard.press("Tab")
    page.keyboard.type("推车经过，没有停留")
    page.keyboard.press("Enter")
    wait_rows(page, [])
    assert page.get_by_test_id("desk-notice").inner_text() == f"案件 #{case_id} 已驳回"
    assert page.get_by_test_id("case-detail").is_hidden()

    record = case_of(site, case_id)
    assert (record["status"], record["reject_reason"], record["note"], record["decided_by"]) == (
        "rejected", "vendor_walking", "推车经过，没有停留", "op")
    assert [(e["action"], e["actor"], e["detail"].get("reason")) for e in record["events"]] == [
        ("raised", "vision", None), ("reject", "op", "vendor_walking")]
    with site.db.session() as s:  # the rejection is a training example (a hard negative with its reason)
        label = s.scalar(select(Label).where(Label.case_id == case_id))
        assert label is not None and (label.decision, label.reason, label.by) == ("rejected", "vendor_walking", "op")
    assert page_errors == []


def test_a_decision_by_another_operator_leaves_the_first_desk_at_once(
        serve_site: SiteStarter, tmp_path: Path, browser: Browser, page: Page, page_errors: list[str]) -> None:
    site = serve_site(cameras_yaml(), server_yaml(tmp_path))
    site.add_user("op1", "operator", grants=("cam-a",))
    site.add_user("op2", "operator", grants=("cam-a",))
    x, y, z = (raise_case(site, "cam-a") for _ in range(3))
    open_desk(page, site, "op1")
    wait_rows(page, [z, y, x])
    page.locator(f'[data-testid="case-row"][data-case="{x}"]').click()
    wait_selected(page, x)

    other = new_page(browser, page_errors)
    try:
        open_desk(other, site, "op2")
        wait_rows(other, [z, y, x])
        other.locator(f'[data-testid="case-row"][data-case="{x}"]').click()
        wait_selected(other, x)
        other.keyboard.press("c")
        other.get_by_test_id("confirm-form").wait_for(state="visible")
        other.get_by_test_id("confirm-submit").click()
        wait_rows(other, [z, y])

        # op1 is looking at x: it goes, op1 is told who took it, and the next case is up
        wait_rows(page, [z, y])
        assert page.get_by_test_id("desk-notice").inner_text() == f"案件 #{x} 已由 op2 处理（已确认）"
        wait_selected(page, y)

        # a decision through the API (an admin elsewhere) reaches both desks the same way
        res = site.client().post(f"/api/cases/{y}/reject", json={"reason": "duplicate"},
                                 headers={"Origin": site.origin})
        assert res.status_code == 200
        wait_rows(page, [z])
        wait_rows(other, [z])
        assert page.get_by_test_id("desk-notice").inner_text() == f"案件 #{y} 已由 admin 处理（已驳回）"
    finally:
        other.context.close()
    assert page_errors == []


def test_the_server_error_is_shown_when_another_operator_decided_first(
        serve_site: SiteStarter, tmp_path: Path, page: Page, page_errors: list[str]) -> None:
    site = serve_site(cameras_yaml(), server_yaml(tmp_path))
    site.add_user("op1", "operator", grants=("cam-a",))
    site.add_user("op2", "operator", grants=("cam-a",))
    held: list[str | bytes] = []
    channel: dict[str, Any] = {"hold": False}

    def lagging_channel(ws: Any) -> None:
        server = ws.connect_to_server()
        channel["page"] = ws

        def from_server(message: str | bytes) -> None:
            if channel["hold"] and "case_" in str(message):
                held.append(message)
            else:
                ws.send(message)

        server.on_message(from_server)

    page.route_web_socket("**/ws/wall", lagging_channel)
    case_id = raise_case(site, "cam-a")
    open_desk(page, site, "op1")
    wait_selected(page, case_id)
    page.keyboard.press("c")
    page.get_by_test_id("confirm-form").wait_for(state="visible")

    channel["hold"] = True  # op1's push channel lags: op2's decision has not reached this desk yet
    res = site.client("op2").post(f"/api/cases/{case_id}/confirm", json={}, headers={"Origin": site.origin})
    assert res.status_code == 200
    # the held push is proof the decision was announced (page calls let Playwright run the route's handler)
    assert wait_until(lambda: page.evaluate("() => true") and held, 20), "the decision was never pushed"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('[data-testid=\"desk-error\"]').textContent !== ''",
                           polling=250)
    error = page.get_by_test_id("desk-error").inner_text()
    assert error == f"409 case {case_id} is confirmed; 'confirm' needs pending_review", error

    channel["hold"] = False  # the channel catches up: the case leaves, the error stays readable
    for message in held:
        channel["page"].send(message)
    wait_rows(page, [])
    assert page.get_by_test_id("desk-notice").inner_text() == f"案件 #{case_id} 已由 op2 处理（已确认）"
    assert case_of(site, case_id)["decided_by"] == "op2"
    assert page_errors == []


def test_the_push_channel_reconnects_and_catches_up(serve_site: SiteStarter, tmp_path: Path, page: Page,
                                                    page_errors: list[str]) -> None:
    site = serve_site(cameras_yaml(), server_yaml(tmp_path))
    site.add_user("op", "operator", grants=("cam-a",))
    first = raise_case(site, "cam-a")
    sockets: list[Any] = []
    missed: list[int] = []

    def channel(ws: Any) -> None:
        sockets.append(ws)
        if len(sockets) == 2:
            missed.append(raise_case(site, "cam-a"))  # raised while the desk had no socket: its push is lost
        ws.connect_to_server()

    page.route_web_socket("**/ws/wall", channel)
    open_desk(page, site, "op")
    wait_rows(page, [first])
    sockets[0].close(code=1011, reason="dropped")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"channel-state\"]').dataset.state === 'offline'", polling=100)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"channel-state\"]').dataset.state === 'online'", polling=250)
    assert len(sockets) == 2
    wait_rows(page, [missed[0], first])  # re-read on reconnect
    later = raise_case(site, "cam-a")  # and pushes flow again on the new socket
    wait_rows(page, [later, missed[0], first])
    assert page_errors == []


def test_history_shows_the_case_loop_with_its_evidence(serve_site: SiteStarter, tmp_path: Path, page: Page,
                                                       page_errors: list[str], clip_bytes: bytes) -> None:
    receiver = Receiver(reply={"department": "城管执法一中队", "ref": "HF-2026-7"})
    try:
        site = serve_site(cameras_yaml(), server_yaml(tmp_path, receiver))
        site.add_user("op", "operator", grants=("cam-a",))
        case_id = raise_case(site, "cam-a", clip=clip_bytes)
        # this site runs no analytics: the injected clear below stands in for the analyzer's, and the checks'
        # ticker, which would end the dispatch's check for want of a rule first, stays off
        async def no_tick() -> None:
            return None

        site.app.state.services.cases.checks.tick = no_tick  # read by the ticker each second, from its loop
        admin = site.client()
        res = admin.post(f"/api/cases/{case_id}/confirm", json={"note": "现场核实有摊贩"},
                         headers={"Origin": site.origin})
        assert res.status_code == 200
        assert wait_until(lambda: case_of(site, case_id)["status"] == "dispatched", 20)
        desk = site.app.state.services.cases.desk  # the video check: the place is empty again, with an after-snapshot
        desk.on_event(event_change(desk.evidence_dir, kind="cleared", event_id=case_of(site, case_id)["event_id"],
                                   jpeg=scene_jpeg("cleared")))
        assert case_of(site, case_id)["status"] == "cleared_on_video"
        with site.app.state.services.db.session() as s:  # the case's own clear is the dispatch check's verdict
            assert [(c.status, c.verdict, c.after_picture is not None) for c in s.scalars(
                select(VideoCheck).where(VideoCheck.case_id == case_id))] == [("done", "cleared_on_video", True)]

        open_desk(page, site, "op")
        wait_rows(page, [])  # nothing pending
        page.get_by_test_id("filter-status").select_option("cleared_on_video")
        wait_rows(page, [case_id])
        wait_selected(page, case_id)
        assert page.get_by_test_id("case-status").inner_text() == "核查已消除"
        assert page.get_by_test_id("case-confirm").is_disabled() and page.get_by_test_id("case-reject").is_disabled()

        page.keyboard.press("h")
        history = page.get_by_test_id("case-history")
        history.wait_for(state="visible")
        page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="history-evidence"] img')]
                       .every((img) => img.complete && img.naturalWidth > 0)""", polling=250)
        lines = page.evaluate(
            """() => [...document.querySelectorAll('[data-testid="history-event"]')].map((li) => [
                 li.dataset.action,
                 [...li.querySelectorAll('[data-testid="history-evidence"]')].map((f) => f.dataset.kind)])""")
        assert lines == [["raised", ["snapshot", "clip"]], ["confirm", []], ["dispatch", []],
                         ["cleared_on_video", ["after_snapshot"]]], lines
        text = history.inner_text()
        for words in ["发现立案", "确认", "现场核实有摊贩", "派遣", "城管执法一中队", "视频核查：已消除", "核查后抓拍"]:
            assert words in text, (words, text)
        history.scroll_into_view_if_needed()
        screenshot(page, "desk-history.png")

        # the operator closes the loop: the case leaves this filter, its history gains the close
        page.get_by_test_id("case-close").click()
        page.get_by_test_id("close-note").fill("视频核查确认已清理")
        page.keyboard.press("Enter")
        wait_rows(page, [])
        record = case_of(site, case_id)
        assert record["status"] == "closed"
        assert [e["action"] for e in record["events"]] == ["raised", "confirm", "dispatch", "cleared_on_video",
                                                           "close"]
        page.get_by_test_id("filter-status").select_option("")
        wait_rows(page, [case_id])
        wait_selected(page, case_id)
        page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="history-event"]')].map((li) => li.dataset.action)
                       .join() === 'raised,confirm,dispatch,cleared_on_video,close'""", polling=250)
        assert "视频核查确认已清理" in history.inner_text()
        assert page_errors == []
    finally:
        receiver.close()


POINT = """([x, y]) => { const svg = document.querySelector('[data-testid="label-editor"]');
                       const box = svg.viewBox.baseVal;
                       const p = new DOMPoint(x * box.width, y * box.height).matrixTransform(svg.getScreenCTM());
                       return [p.x, p.y]; }"""


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A mouse drag over the clean frame, between two points in 0–1 of the frame."""
    x0, y0 = page.evaluate(POINT, list(start))
    x1, y1 = page.evaluate(POINT, list(end))
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=6)
    page.mouse.up()


def test_labels_drawn_on_the_clean_frame_by_mouse_and_keyboard(serve_site: SiteStarter, tmp_path: Path,
                                                               page: Page, page_errors: list[str]) -> None:
    """Confirming: the box corrected and a missed object drawn with the mouse on the clean frame, classes given
    from the list and by digits, a box nudged with the arrows. Rejecting: another class, chosen by keyboard."""
    site = serve_site(cameras_yaml(), server_yaml(tmp_path))
    site.add_user("op", "operator", grants=("cam-a",))
    desk = site.app.state.services.cases.desk
    ids = []
    for place in ("l1", "l2"):
        change = event_change(desk.evidence_dir, camera="cam-a", place=place, jpeg=scene_jpeg(f"annotated {place}"))
        change.evidence["frame"] = str(store_evidence(desk.evidence_dir, scene_jpeg(f"clean {place}"), ".jpg"))
        ids.append(desk.on_event(change))
    second, first = ids  # the queue shows the newest first
    open_desk(page, site, "op")
    wait_selected(page, first)

    page.keyboard.press("c")
    page.get_by_test_id("label-editor").wait_for(state="visible")
    frame = case_of(site, first)["evidence"]
    clean = next(e["url"] for e in frame if e["kind"] == "frame")
    page.wait_for_function("(url) => document.querySelector('[data-testid=\"case-snapshot\"]').src.endsWith(url)"
                           " && document.querySelectorAll('[data-testid=\"label-box\"]').length === 1", arg=clean)
    assert page.locator('[data-testid="label-box"]').get_attribute("data-origin") == "detector"
    assert page.locator('[data-testid="event-box"]').count() == 0  # the annotated boxes give way to the editor's
    classes = page.eval_on_selector_all('[data-testid="confirm-class"] option', "os => os.map((o) => o.textContent)")
    assert classes[1:3] == ["1 摊位", "2 遮阳伞"]  # the case's family first, numbered

    drag(page, (0.4, 0.2), (0.7, 0.7))  # mode "correct": the detector's box is replaced
    assert page.get_by_test_id("label-mode").input_value() == "add"  # the next drag adds an object
    page.get_by_test_id("confirm-class").select_option("dining table")  # the class of the selected box
    drag(page, (0.75, 0.5), (0.95, 0.9))
    page.get_by_test_id("label-mode").focus()
    page.keyboard.press("Tab")  # from the form's last label field to the picture
    assert page.evaluate("() => document.activeElement.dataset.testid") == "label-editor"
    page.keyboard.press("2")  # the drawn box is a 遮阳伞
    page.keyboard.press("ArrowLeft")  # and moves a step left
    page.keyboard.press("j")  # letters on the picture do not move the queue
    assert page.evaluate(SELECTED) == first
    origins = page.eval_on_selector_all('[data-testid="label-box"]', "rs => rs.map((r) => r.dataset.origin)")
    assert origins == ["corrected", "drawn"]
    screenshot(page, "desk-labels.png")
    page.keyboard.press("Enter")
    wait_rows(page, [second])

    with site.db.session() as s:
        label = s.scalar(select(Label).where(Label.case_id == first))
        assert label is not None and label.decision == "confirmed"
        objects = label.objects
    assert [(o["object_class"], o["family"], o["origin"]) for o in objects] == [
        ("dining table", "street_stall", "corrected"), ("umbrella", "street_stall", "drawn")]
    assert objects[0]["box"] == pytest.approx([0.4, 0.2, 0.7, 0.7], abs=0.01)
    assert objects[1]["box"] == pytest.approx([0.74, 0.5, 0.94, 0.9], abs=0.01)

    # rejecting as another class: the reason sets the kind, the class is typed by its number (8 = 汽车)
    wait_selected(page, second)
    page.keyboard.press("r")
    page.get_by_test_id("reject-reason").select_option("wrong_class")
    assert page.get_by_test_id("reject-kind").input_value() == "wrong_class"
    assert page.get_by_test_id("reject-kind").is_disabled()
    page.get_by_test_id("reject-class").focus()
    page.keyboard.type("8")
    assert page.get_by_test_id("reject-class").input_value() == "car"
    page.keyboard.press("Enter")
    wait_rows(page, [])
    with site.db.session() as s:
        label = s.scalar(select(Label).where(Label.case_id == second))
        assert label is not None and (label.decision, label.kind, label.reason) == (
            "rejected", "wrong_class", "wrong_class")
        assert label.objects == [{"object_class": "car", "family": "road_occupation", "box": None,
                                  "origin": "detector"}]
    assert page_errors == []
