"""The wall page in a real browser: Debian chromium (via Playwright) plays the real cameras through MSE.

Never ``playwright install``: the browser is the system's ``/usr/bin/chromium``. Each test runs the real app on a
loopback port with cameras from the session's GStreamer RTSP server and waits on the page's own state (polling
in the page, no fixed sleeps), with timeouts sized for a loaded two-core machine. The wall needs a session: one
test logs in through the login page, the others put the admin's session cookie into the browser first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from streams.devserver.rtsp import RtspDevServer, free_port
from tests.browser_helpers import PLAY_TIMEOUT_MS, STATE_TIMEOUT_MS, cameras_yaml, open_wall
from tests.conftest import ADMIN, ARTIFACTS, TEST_PASSWORD
from wall.auth.sessions import COOKIE

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def tile_states(page: Page) -> dict[str, str]:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('[data-testid="tile"]')]
             .map((t) => [t.dataset.camera, t.dataset.state]))"""
    )


WALL_PLAYS = """(n) => {
  const tiles = [...document.querySelectorAll('[data-testid="tile"]')];
  return tiles.length === n && tiles.every((t) => {
    const v = t.querySelector('video');
    return v && v.currentTime > 2 && v.getVideoPlaybackQuality().totalVideoFrames > 0;
  });
}"""


def test_wall_plays_four_live_cameras(serve_site, rtsp: RtspDevServer, page: Page, page_errors: list[str]) -> None:
    site = serve_site(cameras_yaml(
        ("car", "停车场", rtsp.url("car")), ("person", "大厅 入口", rtsp.url("person")),
        ("bottle", "传送带", rtsp.url("bottle")), ("hd", "路口 1080p", rtsp.url("hd")),
    ))
    open_wall(page, site)
    tiles = page.locator('[data-testid="tile"]')
    tiles.first.wait_for()
    assert tiles.count() == 4
    cameras = [tiles.nth(i).get_attribute("data-camera") for i in range(4)]
    assert sorted(cameras) == ["bottle", "car", "hd", "person"]

    try:
        page.wait_for_function(WALL_PLAYS, arg=4, timeout=PLAY_TIMEOUT_MS, polling=250)
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "wall-2x2.png"))
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="tile"]')].every((t) => t.dataset.state === 'live')""",
        timeout=STATE_TIMEOUT_MS, polling=250,
    )
    assert set(tile_states(page).values()) == {"live"}
    videos = page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="tile"] video')].map((v) => ({
             w: v.videoWidth, h: v.videoHeight, err: v.error && v.error.code,
             lag: v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : null }))"""
    )
    for video in videos:
        assert video["err"] is None, videos
        assert video["w"] > 0 and video["h"] > 0, videos
        assert video["lag"] is not None and video["lag"] < 5, f"a tile fell behind live: {videos}"
    assert {(v["w"], v["h"]) for v in videos} >= {(1920, 1080)}
    for badge in page.locator('[data-testid="tile"] .state').all_inner_texts():
        assert badge == "在线"
    assert page_errors == []


def test_offline_camera_tile_is_not_shown_as_live(serve_site, rtsp: RtspDevServer, page: Page) -> None:
    closed = free_port()
    site = serve_site(cameras_yaml(
        ("car", "停车场", rtsp.url("car")), ("dead", "已拆除 路口", f"rtsp://127.0.0.1:{closed}/gone"),
    ))
    open_wall(page, site)
    dead = page.locator('[data-testid="tile"][data-camera="dead"]')
    dead.wait_for()
    # the live camera beside it plays, so the page works and the dead one is judged on its own
    page.wait_for_function(
        """() => { const v = document.querySelector('[data-camera="car"] video');
                   return v && v.currentTime > 1 && document.querySelector('[data-camera="car"]').dataset.state
                     === 'live'; }""",
        timeout=PLAY_TIMEOUT_MS, polling=250,
    )
    page.wait_for_function(
        """() => document.querySelector('[data-camera="dead"]').dataset.state === 'offline'""",
        timeout=STATE_TIMEOUT_MS, polling=250,
    )
    # watched over several refreshes of the wall (every 2 s), it never claims to be live
    seen = page.evaluate(
        """() => new Promise((resolve) => {
             const states = new Set(); let n = 0;
             const timer = setInterval(() => {
               states.add(document.querySelector('[data-camera="dead"]').dataset.state);
               if (++n >= 25) { clearInterval(timer); resolve([...states]); }
             }, 200);
           })"""
    )
    assert set(seen) <= {"offline", "connecting"}, seen
    caption = dead.locator(".caption").inner_text()
    assert "离线" in caption or "连接中" in caption, caption
    assert "已拆除 路口" in caption
    assert page.evaluate("() => document.querySelector('[data-camera=\"dead\"] video').currentTime") == 0
    # four places on a 2×2 wall: the two unused ones are marked empty
    states = page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="tile"]')].map((t) => t.dataset.state)"""
    )
    assert len(states) == 4 and states.count("empty") == 2, states


def test_language_switch_shows_english_states(serve_site, rtsp: RtspDevServer, page: Page) -> None:
    closed = free_port()
    site = serve_site(cameras_yaml(
        ("car", "停车场", rtsp.url("car")), ("dead", "路口", f"rtsp://127.0.0.1:{closed}/gone"),
    ))
    open_wall(page, site)
    page.wait_for_function(
        """() => document.querySelector('[data-camera="car"]')?.dataset.state === 'live'
              && document.querySelector('[data-camera="dead"]')?.dataset.state === 'offline'""",
        timeout=STATE_TIMEOUT_MS, polling=250,
    )
    live_badge = page.locator('[data-camera="car"] .state')
    dead_badge = page.locator('[data-camera="dead"] .state')
    switch = page.locator('[data-testid="lang-switch"]')
    assert (live_badge.inner_text(), dead_badge.inner_text()) == ("在线", "离线")
    assert page.locator("h1").inner_text() == "视频墙"

    switch.click()
    page.wait_for_function("() => document.querySelector('[data-camera=\"car\"] .state').textContent === 'live'")
    assert dead_badge.inner_text() == "offline"
    assert page.locator("h1").inner_text() == "Video wall"
    assert switch.inner_text() == "中文"
    assert page.evaluate("() => document.documentElement.lang") == "en"

    page.reload()  # the choice is remembered
    page.wait_for_function(
        "() => document.querySelector('[data-camera=\"car\"] .state')?.textContent === 'live'",
        timeout=STATE_TIMEOUT_MS, polling=250,
    )
    page.locator('[data-testid="lang-switch"]').click()
    page.wait_for_function("() => document.querySelector('[data-camera=\"car\"] .state').textContent === '在线'")
    assert page.locator('[data-camera="dead"] .state').inner_text() == "离线"


def test_jpeg_stills_when_the_browser_cannot_play_the_codec(serve_site, rtsp: RtspDevServer, page: Page,
                                                            page_errors: list[str]) -> None:
    site = serve_site(cameras_yaml(("car", "停车场", rtsp.url("car")), ("hd", "路口 1080p", rtsp.url("hd"))))
    page.add_init_script("MediaSource.isTypeSupported = () => false;")
    snapshots: list[int] = []
    page.on("response", lambda r: snapshots.append(r.status) if "/snapshot.jpg" in r.url else None)
    open_wall(page, site)
    page.locator('[data-testid="tile"][data-camera="hd"]').wait_for()  # the page asks /api/me, then lays out tiles
    page.wait_for_function(
        """() => ['car', 'hd'].every((id) => {
             const tile = document.querySelector(`[data-camera="${id}"]`);
             const img = tile && tile.querySelector('img');
             return tile.classList.contains('still') && img.complete && img.naturalWidth > 0
               && new URL(img.src).pathname === `/api/cameras/${id}/snapshot.jpg`;
           })""",
        timeout=PLAY_TIMEOUT_MS, polling=250,
    )
    sizes = page.evaluate(
        """() => Object.fromEntries(['car', 'hd'].map((id) => {
             const img = document.querySelector(`[data-camera="${id}"] img`);
             return [id, [img.naturalWidth, img.naturalHeight, getComputedStyle(img).display]];
           }))"""
    )
    assert sizes["hd"][:2] == [1920, 1080], sizes
    assert all(display == "block" for _, _, display in sizes.values()), sizes
    # no video was fed through MediaSource
    frames = page.evaluate(
        "() => [...document.querySelectorAll('video')].map((v) => v.getVideoPlaybackQuality().totalVideoFrames)"
    )
    assert set(frames) == {0}, frames
    # the stills keep refreshing (about once a second per tile)
    before = len(snapshots)
    page.wait_for_function("(n) => performance.getEntriesByType('resource')"
                           ".filter((e) => e.name.includes('/snapshot.jpg')).length >= n",
                           arg=before + 4, timeout=STATE_TIMEOUT_MS, polling=250)
    assert 200 in snapshots
    assert all(status in (200, 204) for status in snapshots), snapshots
    assert page_errors == []


def test_login_page_grants_and_logout(serve_site, rtsp: RtspDevServer, page: Page, page_errors: list[str]) -> None:
    site = serve_site(cameras_yaml(("car", "停车场", rtsp.url("car")), ("person", "大厅 入口", rtsp.url("person"))))
    site.add_user("duty", "operator", grants=("car",))
    admin = site.client()

    page.goto(site.url + "/")  # no session: the wall sends the browser to the login page
    page.wait_for_url("**/login")
    assert page.locator("h1").inner_text() == "数字城管视频墙 · 登录"
    page.get_by_test_id("login-username").fill("duty")
    page.get_by_test_id("login-password").fill("wrong-Passw0rd")
    page.get_by_test_id("login-submit").click()
    page.wait_for_function("() => document.querySelector('[data-testid=\"login-error\"]').textContent !== ''")
    assert page.get_by_test_id("login-error").inner_text() == "用户名或密码错误"

    page.get_by_test_id("login-password").fill(TEST_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(site.url + "/")
    page.wait_for_function(
        """() => { const v = document.querySelector('[data-camera="car"] video');
                   return v && v.currentTime > 1; }""",
        timeout=PLAY_TIMEOUT_MS, polling=250,
    )
    assert page.get_by_test_id("wall-user").inner_text() == "duty"
    cameras = page.evaluate(
        "() => [...document.querySelectorAll('[data-testid=\"tile\"]')].map((t) => t.dataset.camera)")
    assert cameras == ["car", "", "", ""], "the operator sees only the granted camera"
    assert COOKIE not in page.evaluate("() => document.cookie"), "the session cookie must be HttpOnly"
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    # the admin revokes the camera: the open tile stops within seconds and says so
    grant = admin.get("/api/grants", params={"subject": "duty"}).json()[0]
    assert admin.delete(f"/api/grants/{grant['id']}").status_code == 204
    page.wait_for_function("() => document.querySelector('[data-camera=\"car\"]').dataset.state === 'forbidden'",
                           timeout=STATE_TIMEOUT_MS, polling=250)
    assert page.locator('[data-camera="car"] .state').inner_text() == "无权限"

    page.get_by_test_id("logout").click()
    page.wait_for_url("**/login")
    old = httpx.get(site.url + "/api/me", cookies={COOKIE: cookie["value"]})
    assert old.status_code == 401, "the session ended on the server at logout"
    actions = [(e["user"], e["action"], e["success"]) for e in admin.get("/api/audit").json()["items"]]
    for expected in [("duty", "login", False), ("duty", "login", True), ("duty", "live.start", True),
                     ("duty", "live.stop", True), ("duty", "logout", True), (ADMIN, "grant.delete", True)]:
        assert expected in actions, (expected, actions)
    assert page_errors == []


def test_a_kiosk_display_logs_in_and_comes_back_to_its_wall(serve_site, rtsp: RtspDevServer, page: Page) -> None:
    site = serve_site(cameras_yaml(("car", "停车场", rtsp.url("car"))))
    site.add_user("hall-display", "viewer", grants=("car",))
    page.goto(site.url + "/wall/hall?kiosk=1")
    page.wait_for_url("**/login?next=*")
    page.get_by_test_id("login-username").fill("hall-display")
    page.get_by_test_id("login-password").fill(TEST_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(site.url + "/wall/hall?kiosk=1")
    page.locator('[data-testid="tile"]').first.wait_for()
    assert page.evaluate("() => document.body.classList.contains('kiosk')")
    # a next= that leaves the site is ignored
    page.goto(site.url + "/login?next=//evil.example/x")
    page.wait_for_url(site.url + "/")


def test_the_page_leaves_for_the_login_page_once(serve_site, rtsp: RtspDevServer, page: Page) -> None:
    """After a logout or an expiry every poll and socket in flight answers 401 (4401) as well: each calls
    toLogin(), and a second location.replace() aborted the first navigation half-way (net::ERR_ABORTED in CI).
    The first call wins: the logout's plain /login, not a later caller's /login?next=…"""
    site = serve_site(cameras_yaml(("car", "停车场", rtsp.url("car"))))
    page.goto(site.url + "/login?from=test")
    page.evaluate("() => import('/static/nav.js').then((nav) => { nav.toLogin(false); nav.toLogin(); })")
    page.wait_for_url(site.url + "/login")
    page.wait_for_timeout(500)  # a second navigation, had one started, would have replaced the URL by now
    assert page.url == site.url + "/login"
