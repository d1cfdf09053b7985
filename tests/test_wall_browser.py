"""The video wall in a real browser (issue 6 §5): layouts, an 18-tile wall, switching, tours, the hall's kiosk
display, the alarm pop-up, grants, a camera that dies and comes back, and presets.

Every test runs the real app on a loopback port (its own SQLite database), cameras from a real GStreamer RTSP
server (the session's ``rtsp`` fixture, or ``own_rtsp`` where the test kills and restarts the camera), and Debian
chromium through Playwright; cases are raised through the real CaseDesk with a real JPEG snapshot. Waits poll the
page's own state; where a test must show that something does *not* happen (a pinned tile, a paused tour) it
watches the page for longer than the tour's interval.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from streams.devserver.rtsp import RtspDevServer
from tests.browser_helpers import PLAY_TIMEOUT_MS, STATE_TIMEOUT_MS, keep_for_docs, open_page, screenshot
from tests.case_helpers import event_change
from tests.conftest import wait_until
from wall.auth.sessions import COOKIE

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.conftest import LiveServer, SiteStarter

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The small sample cameras, in turn (never the 1080p one: 18 of them would swamp a two-core machine).
SMALL_MOUNTS = ("car", "person", "bottle")
NAMES = {"car": "停车场", "person": "大厅入口", "bottle": "传送带"}
TILE_COUNTS = {"1": 1, "2x2": 4, "3x3": 9, "4x4": 16, "1+5": 6, "1+7": 8, "3x6": 18}

TILES = """() => [...document.querySelectorAll('#wall [data-testid="tile"]')]
  .sort((a, b) => Number(a.dataset.index) - Number(b.dataset.index))
  .map((t) => ({ index: Number(t.dataset.index), camera: t.dataset.camera, state: t.dataset.state,
                 pinned: t.classList.contains('pinned'), alarm: t.classList.contains('alarm') }))"""
# The wall shows exactly `cameras` (tile by tile, "" for an empty tile).
SHOWS = """(cameras) => {
  const tiles = [...document.querySelectorAll('#wall [data-testid="tile"]')];
  return tiles.length === cameras.length
    && cameras.every((c, i) => document.querySelector(`#wall [data-testid="tile"][data-index="${i}"]`)
         ?.dataset.camera === c);
}"""
# The tiles at `indices` play: their video has decoded frames and its clock passed `after` seconds.
PLAYING = """([indices, after]) => indices.every((i) => {
  const v = document.querySelector(`#wall [data-testid="tile"][data-index="${i}"] video`);
  return v && v.currentTime > after && v.getVideoPlaybackQuality().totalVideoFrames > 0;
})"""
CURRENT_TIMES = """(indices) => indices.map((i) =>
  document.querySelector(`#wall [data-testid="tile"][data-index="${i}"] video`).currentTime)"""
# Every tile's clock moved on by a second from `before` (the video is live, not a frozen first frame).
ADVANCED = """(before) => before.every((t, i) => {
  const v = document.querySelector(`#wall [data-testid="tile"][data-index="${i}"] video`);
  return v && v.currentTime > t + 1;
})"""


# -- sites ---------------------------------------------------------------------------------------------------------


def cameras_yaml(cameras: list[tuple[str, str, str]]) -> str:
    lines = ["cameras:"]
    for cam_id, name, url in cameras:
        lines += [f"  - id: {cam_id}", f"    name: {name}", f'    url: "{url}"']
    return "\n".join(lines) + "\n"


def small_cameras(rtsp: RtspDevServer, count: int) -> list[tuple[str, str, str]]:
    """``count`` camera entries over the small sample mounts (several entries share a mount, each its own
    RTSP session on the server side, as separate cameras would)."""
    out = []
    for i in range(count):
        mount = SMALL_MOUNTS[i % len(SMALL_MOUNTS)]
        out.append((f"{mount}-{i + 1:02d}", f"{NAMES[mount]} {i + 1}", rtsp.url(mount)))
    return out


def server_yaml(tmp_path: Path, walls: str = "", streams: str = "") -> str:
    text = f"server:\n  data_dir: {tmp_path / 'data'}\n"
    if streams:
        text += f"streams:\n{streams}"
    if walls:
        text += f"walls:\n{walls}"
    return text


def hall(layout: str, cameras: list[str], extra: str = "") -> str:
    """The hall's shared wall as server.yaml ``walls:`` seeds it, controlled by the operator ``duty`` (and the
    admins): other operators only watch it (tests/test_wall_rights.py)."""
    return (f"  - name: hall\n    title: 指挥大厅\n    layout: \"{layout}\"\n    cameras: {json.dumps(cameras)}\n"
            f"    controllers: [duty]\n{extra}")


@contextmanager
def second_page(browser: Browser, site: LiveServer, path: str, user: str) -> Iterator[Page]:
    """Another person's browser (own context, own cookies), e.g. the hall's kiosk display."""
    context = browser.new_context(viewport={"width": 1280, "height": 760}, locale="zh-CN")
    try:
        page = context.new_page()
        page.set_default_timeout(STATE_TIMEOUT_MS)
        open_page(page, site, path, user)
        yield page
    finally:
        context.close()


# -- reading the page ----------------------------------------------------------------------------------------------


def tiles(page: Page) -> list[dict[str, Any]]:
    return page.evaluate(TILES)  # type: ignore[no-any-return]


def cameras_on(page: Page) -> list[str]:
    return [t["camera"] for t in tiles(page)]


def wait_shows(page: Page, cameras: list[str], timeout: float = STATE_TIMEOUT_MS) -> None:
    page.wait_for_function(SHOWS, arg=cameras, timeout=timeout, polling=250)


def wait_playing(page: Page, indices: list[int], after: float = 1.0) -> None:
    page.wait_for_function(PLAYING, arg=[indices, after], timeout=PLAY_TIMEOUT_MS, polling=250)


def wait_version(page: Page) -> int:
    """The page has drawn a state from the server; its version."""
    page.wait_for_function("() => document.body.dataset.version", timeout=STATE_TIMEOUT_MS, polling=250)
    return int(page.evaluate("() => document.body.dataset.version"))


def wait_menus(page: Page) -> None:
    """The page has filled its menus (layouts, walls, push targets) from the API."""
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"wall-select\"] option').length > 0",
                           timeout=STATE_TIMEOUT_MS, polling=250)


def tile(page: Page, index: int) -> Any:
    return page.locator(f'#wall [data-testid="tile"][data-index="{index}"]')


def camera_item(page: Page, camera: str) -> Any:
    return page.locator(f'[data-testid="camera-item"][data-camera-id="{camera}"]')


def wall_state(site: LiveServer, name: str, user: str) -> dict[str, Any]:
    res = site.client(user).get(f"/api/walls/{name}")
    assert res.status_code == 200, res.text
    return res.json()  # type: ignore[no-any-return]


# -- cases ---------------------------------------------------------------------------------------------------------


def scene_jpeg(label: str) -> bytes:
    """A real JPEG like an analysed frame (a 'stall' at event_change's place box), unique per case."""
    image = np.full((360, 640, 3), (88, 92, 96), np.uint8)
    cv2.rectangle(image, (100, 120), (180, 220), (40, 130, 210), -1)
    cv2.putText(image, label, (220, 330), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (240, 240, 240), 2)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def raise_case(site: LiveServer, camera: str, place: str) -> int:
    """Raise a case the way the analytics do: an 'opened' event change with its snapshot already on disk."""
    desk = site.app.state.services.cases.desk
    case_id = desk.on_event(event_change(desk.evidence_dir, camera=camera, place=place,
                                         jpeg=scene_jpeg(f"{camera} {place}")))
    assert case_id is not None
    return int(case_id)


# -- 1. layouts ----------------------------------------------------------------------------------------------------

RECTS = """() => [...document.querySelectorAll('#wall [data-testid="tile"]')].map((t) => {
  const r = t.getBoundingClientRect();
  return { index: Number(t.dataset.index), left: r.left, top: r.top, right: r.right, bottom: r.bottom };
})"""
PX = 2.0  # layout rounding tolerance
# Tile `index` alone fills the wall (double-clicked to enlarge it).
ENLARGED = """(index) => {
  const wall = document.getElementById('wall').getBoundingClientRect();
  const shown = [...document.querySelectorAll('#wall [data-testid="tile"]')].filter((t) => t.offsetParent !== null);
  const box = shown.length === 1 && shown[0].dataset.index === String(index) && shown[0].getBoundingClientRect();
  return Boolean(box) && box.width > wall.width * 0.95 && box.height > wall.height * 0.95;
}"""


def edges(rects: list[dict[str, float]], cells: list[dict[str, int]], start: str, size: str, near: str,
          far: str) -> tuple[dict[int, float], dict[int, float]]:
    """Each grid line's position as the tiles that start or end on it put it (they must agree to ``PX``)."""
    lows: dict[int, list[float]] = {}
    highs: dict[int, list[float]] = {}
    for rect in rects:
        cell = cells[int(rect["index"])]
        lows.setdefault(cell[start], []).append(rect[near])
        highs.setdefault(cell[start] + cell[size] - 1, []).append(rect[far])
    for line in (*lows.values(), *highs.values()):
        assert max(line) - min(line) <= PX, f"tiles of one grid line are not aligned: {line}"
    return {k: v[0] for k, v in lows.items()}, {k: v[0] for k, v in highs.items()}


def test_each_layout_renders_its_tiles_and_the_big_tile_spans_its_cells(
        serve_site: SiteStarter, rtsp: RtspDevServer, page: Page, page_errors: list[str], tmp_path: Path) -> None:
    site = serve_site(cameras_yaml([("car", "停车场", rtsp.url("car"))]), server_yaml(tmp_path))
    layouts = {layout["name"]: layout for layout in site.client().get("/api/layouts").json()}
    open_page(page, site, "/")
    wait_shows(page, ["car", "", "", ""])
    options = page.locator('[data-testid="layout-select"] option').evaluate_all("(os) => os.map((o) => o.value)")
    assert options == list(TILE_COUNTS), "every built-in layout is offered, in the hall's order"
    tile(page, 0).dblclick()  # enlarged over the wall; another layout puts it back in its place
    page.wait_for_function(ENLARGED, arg=0, timeout=STATE_TIMEOUT_MS, polling=250)

    for name, count in TILE_COUNTS.items():  # from 2x2: "1" first, so every pick is a change
        page.get_by_test_id("layout-select").select_option(name)
        page.wait_for_function(
            """([name, n]) => document.getElementById('wall').dataset.layout === name
                 && document.querySelectorAll('#wall [data-testid="tile"]').length === n""",
            arg=[name, count], timeout=STATE_TIMEOUT_MS, polling=250)
        assert cameras_on(page)[0] == "car", "a layout change keeps the cameras on their tiles"
        cells = layouts[name]["cells"]
        rects = page.evaluate(RECTS)
        assert sorted(r["index"] for r in rects) == list(range(count))
        lefts, rights = edges(rects, cells, "col", "width", "left", "right")
        tops, bottoms = edges(rects, cells, "row", "height", "top", "bottom")
        widths = [rights[c] - lefts[c] for c in range(layouts[name]["columns"])]
        heights = [bottoms[r] - tops[r] for r in range(layouts[name]["rows"])]
        assert max(widths) - min(widths) <= PX and min(widths) > 20, (name, widths)
        assert max(heights) - min(heights) <= PX and min(heights) > 10, (name, heights)
        for rect in rects:  # every tile covers exactly its cells, from its first grid line to its last
            cell = cells[int(rect["index"])]
            assert abs(rect["left"] - lefts[cell["col"]]) <= PX, (name, rect)
            assert abs(rect["right"] - rights[cell["col"] + cell["width"] - 1]) <= PX, (name, rect)
            assert abs(rect["top"] - tops[cell["row"]]) <= PX, (name, rect)
            assert abs(rect["bottom"] - bottoms[cell["row"] + cell["height"] - 1]) <= PX, (name, rect)
        assert wall_state(site, "@me", "admin")["layout"]["name"] == name, "the server keeps the layout"

        if name in ("1+5", "1+7"):
            span = 2 if name == "1+5" else 3
            big = next(r for r in rects if r["index"] == 0)
            small = next(r for r in rects if r["index"] == count - 1)  # the bottom-right single tile
            gap = lefts[1] - rights[0]
            assert cells[0]["width"] == cells[0]["height"] == span
            for length, unit in ((big["right"] - big["left"], small["right"] - small["left"]),
                                 (big["bottom"] - big["top"], small["bottom"] - small["top"])):
                assert abs(length - (span * unit + (span - 1) * gap)) <= PX * span, (name, big, small, gap)
            assert tile(page, 0).evaluate("(el) => el.classList.contains('big')")
    assert page_errors == []


# -- 2. the hall's 18-screen wall ----------------------------------------------------------------------------------


def test_a_3x6_wall_plays_18_cameras(serve_site: SiteStarter, rtsp: RtspDevServer, page: Page,
                                     page_errors: list[str], tmp_path: Path) -> None:
    cameras = small_cameras(rtsp, 18)
    ids = [c[0] for c in cameras]
    site = serve_site(cameras_yaml(cameras), server_yaml(tmp_path, walls=hall("3x6", ids)))
    page.set_viewport_size({"width": 1600, "height": 900})
    open_page(page, site, "/wall/hall")
    wait_shows(page, ids)
    everything = list(range(18))
    try:
        wait_playing(page, everything, after=1.0)
        before = page.evaluate(CURRENT_TIMES, everything)
        page.wait_for_function(ADVANCED, arg=before, timeout=PLAY_TIMEOUT_MS, polling=250)
    finally:
        shot = screenshot(page, "wall-3x6.png")
    states = {t["state"] for t in tiles(page)}
    assert states == {"live"}, tiles(page)
    sizes = page.evaluate("""() => [...document.querySelectorAll('#wall [data-testid="tile"] video')]
                               .map((v) => [v.videoWidth, v.videoHeight, v.error && v.error.code])""")
    assert all(w > 0 and h > 0 and err is None for w, h, err in sizes), sizes
    keep_for_docs(shot, "wall-3x6.png")
    assert page_errors == []


# -- 3. switching a tile's camera ----------------------------------------------------------------------------------


# Watch the focused camera item through two refreshes of the camera list (the page asks /api/cameras every 2 s):
# true if it kept the focus all along.
KEEPS_FOCUS = """(camera) => new Promise((resolve) => {
  const answers = () => performance.getEntriesByType('resource')
    .filter((e) => new URL(e.name).pathname === '/api/cameras').length;
  const start = answers();
  let held = true;
  const timer = setInterval(() => {
    held = held && document.activeElement?.dataset.cameraId === camera;
    if (answers() >= start + 2) { clearInterval(timer); resolve(held); }
  }, 50);
})"""


def test_drag_or_pick_a_camera_switches_the_tile(serve_site: SiteStarter, rtsp: RtspDevServer, page: Page,
                                                 page_errors: list[str], tmp_path: Path) -> None:
    cameras = small_cameras(rtsp, 3)
    car, person, bottle = (c[0] for c in cameras)
    site = serve_site(cameras_yaml(cameras), server_yaml(tmp_path))
    open_page(page, site, "/")
    wait_shows(page, [car, person, bottle, ""])
    wait_playing(page, [0, 1, 2], after=0.5)

    # drag a camera from the list onto a tile
    camera_item(page, bottle).drag_to(tile(page, 0))
    wait_shows(page, [bottle, person, bottle, ""])
    wait_playing(page, [0], after=1.0)
    assert wall_state(site, "@me", "admin")["tiles"][0]["camera"] == bottle

    # select a tile, then click a camera
    tile(page, 3).click()
    page.wait_for_function("() => document.querySelector('#wall [data-index=\"3\"]').classList.contains('selected')",
                           timeout=STATE_TIMEOUT_MS, polling=250)
    camera_item(page, car).click()
    wait_shows(page, [bottle, person, bottle, car])
    wait_playing(page, [3], after=1.0)

    # from the keyboard: the focused camera survives the list's periodic refresh and Enter puts it on the tile
    tile(page, 1).click()
    camera_item(page, car).focus()
    held = page.evaluate(KEEPS_FOCUS, car)
    assert held, "the camera list's refresh took the keyboard focus away"
    page.keyboard.press("Enter")
    wait_shows(page, [bottle, car, bottle, car])
    wait_playing(page, [1], after=1.0)
    assert [t["camera"] for t in wall_state(site, "@me", "admin")["tiles"]] == [bottle, car, bottle, car]

    # an enlarged tile stays enlarged when its camera changes (a pick, a tour step, an alarm)
    tile(page, 1).dblclick()
    page.wait_for_function(ENLARGED, arg=1, timeout=STATE_TIMEOUT_MS, polling=250)
    camera_item(page, person).drag_to(tile(page, 1))
    wait_shows(page, [bottle, person, bottle, car])
    page.wait_for_function(ENLARGED, arg=1, timeout=STATE_TIMEOUT_MS, polling=250)
    wait_playing(page, [1], after=1.0)
    tile(page, 1).dblclick()
    page.wait_for_function("() => [...document.querySelectorAll('#wall [data-testid=\"tile\"]')]"
                           ".every((t) => t.offsetParent !== null)", timeout=STATE_TIMEOUT_MS, polling=250)

    # a tile selected in a bigger layout is gone in a smaller one: a click on a camera fills the first empty tile
    tile(page, 3).hover()
    tile(page, 3).get_by_test_id("tile-clear").click()
    wait_shows(page, [bottle, person, bottle, ""])
    page.get_by_test_id("layout-select").select_option("3x3")
    wait_shows(page, [bottle, person, bottle, "", "", "", "", "", ""])
    tile(page, 8).click()
    page.get_by_test_id("layout-select").select_option("2x2")
    wait_shows(page, [bottle, person, bottle, ""])
    camera_item(page, car).click()
    wait_shows(page, [bottle, person, bottle, car])
    assert page.get_by_test_id("wall-notice").inner_text() == ""
    assert page_errors == []


# -- 4. tours ------------------------------------------------------------------------------------------------------

# What the wall showed, every 200 ms for `ms` milliseconds (distinct arrangements, in order).
WATCH = """(ms) => new Promise((resolve) => {
  const seen = [];
  const look = () => {
    const now = JSON.stringify([...document.querySelectorAll('#wall [data-testid="tile"]')]
      .sort((a, b) => Number(a.dataset.index) - Number(b.dataset.index)).map((t) => t.dataset.camera));
    if (seen[seen.length - 1] !== now) seen.push(now);
  };
  look();
  const timer = setInterval(look, 200);
  setTimeout(() => { clearInterval(timer); look(); resolve(seen.map((s) => JSON.parse(s))); }, ms);
})"""
TOUR_STATE = "() => document.querySelector('[data-testid=\"tour-status\"]').dataset.state"
PRECONNECTED = "() => document.querySelectorAll('#preconnect .tile').length > 0"


def test_a_tour_steps_on_time_skips_the_pinned_tile_pauses_and_stops(
        serve_site: SiteStarter, rtsp: RtspDevServer, page: Page, page_errors: list[str], tmp_path: Path) -> None:
    cameras = small_cameras(rtsp, 6)
    ids = [c[0] for c in cameras]
    site = serve_site(cameras_yaml(cameras), server_yaml(tmp_path))
    sockets: list[Any] = []
    page.on("websocket", lambda ws: sockets.append(ws) if "/ws/live/" in ws.url else None)
    open_page(page, site, "/")
    wait_shows(page, ids[:4])
    # a pinned tile: the first one keeps its camera through the tour
    tile(page, 0).hover()
    tile(page, 0).get_by_test_id("tile-pin").click()
    page.wait_for_function("() => document.querySelector('#wall [data-index=\"0\"]').classList.contains('pinned')",
                           timeout=STATE_TIMEOUT_MS, polling=250)
    page.evaluate("""() => { window.pinnedSeen = new Set();
        setInterval(() => window.pinnedSeen.add(document.querySelector('#wall [data-index="0"]').dataset.camera),
                    100); }""")

    page.get_by_test_id("tour-interval").fill("5")
    page.get_by_test_id("tour-start").click()  # over the list: all six cameras, three unpinned tiles per step
    first, second = [ids[0], *ids[0:3]], [ids[0], *ids[3:6]]
    wait_shows(page, first)
    started = time.monotonic()
    assert page.evaluate(TOUR_STATE) == "running"
    wait_shows(page, second, timeout=20_000)
    took = time.monotonic() - started
    assert 3.5 <= took <= 9.0, f"a 5 s tour stepped after {took:.1f} s"

    page.get_by_test_id("tour-pause").click()
    page.wait_for_function(f"() => ({TOUR_STATE})() === 'paused'", timeout=STATE_TIMEOUT_MS, polling=250)
    assert page.get_by_test_id("tour-status").inner_text() == "轮巡已暂停"
    paused_on = cameras_on(page)
    seen = page.evaluate(WATCH, 6500)
    assert seen == [paused_on], f"a paused tour moved on: {seen}"
    wait_playing(page, [0, 1, 2, 3], after=1.0)  # the stepped-in cameras play (they were pre-connected)

    page.get_by_test_id("tour-pause").click()  # resume: the tour goes on from where it paused
    page.wait_for_function(f"() => ({TOUR_STATE})() === 'running'", timeout=STATE_TIMEOUT_MS, polling=250)
    page.wait_for_function(SHOWS, arg=first if paused_on == second else second, timeout=20_000, polling=250)

    # the next step's cameras are connected off screen before it comes; stopping the tour closes them
    page.wait_for_function(PRECONNECTED, timeout=20_000, polling=100)
    page.get_by_test_id("tour-stop").click()
    page.wait_for_function(f"() => ({TOUR_STATE})() === 'off'", timeout=STATE_TIMEOUT_MS, polling=250)
    page.wait_for_function(f"() => !({PRECONNECTED})()", timeout=10_000, polling=250)
    assert wait_until(lambda: page.evaluate("() => true") and len([ws for ws in sockets if not ws.is_closed()]) == 4,
                      10), [ws.url for ws in sockets if not ws.is_closed()]
    assert wall_state(site, "@me", "admin")["tour"] is None
    stopped_on = cameras_on(page)
    assert page.evaluate(WATCH, 6500) == [stopped_on], "a stopped tour moved on"
    assert page.get_by_test_id("tour-stop").is_disabled()
    assert page.evaluate("() => [...window.pinnedSeen]") == [ids[0]], "the pinned tile never changed"
    assert wall_state(site, "@me", "admin")["tiles"][0]["pinned"]
    assert page_errors == []


# -- 5. the hall's kiosk display follows the operators -------------------------------------------------------------

FOLLOW_S = 4.0  # "within a couple of seconds", with room for a loaded two-core machine


def follows(kiosk: Page, cameras: list[str], since: float) -> float:
    """Wait until the kiosk shows ``cameras``; seconds since ``since``."""
    wait_shows(kiosk, cameras, timeout=15_000)
    return time.monotonic() - since


def test_the_kiosk_follows_the_operator_and_push_to_wall(
        serve_site: SiteStarter, rtsp: RtspDevServer, browser: Browser, page: Page, page_errors: list[str],
        tmp_path: Path) -> None:
    cameras = small_cameras(rtsp, 3)
    car, person, bottle = (c[0] for c in cameras)
    site = serve_site(cameras_yaml(cameras), server_yaml(tmp_path, walls=hall("2x2", [car, person])))
    site.add_user("screen", "viewer", grants=(car, person, bottle))
    site.add_user("duty", "operator", grants=(car, person, bottle))

    with second_page(browser, site, "/wall/hall?kiosk=1", "screen") as kiosk:
        kiosk_errors: list[str] = []
        kiosk.on("pageerror", lambda exc: kiosk_errors.append(str(exc)))
        wait_shows(kiosk, [car, person, "", ""])
        for part in ("wall-toolbar", "camera-panel"):
            assert not kiosk.get_by_test_id(part).is_visible(), part
        assert not kiosk.locator("header").is_visible()
        kiosk.locator('#wall [data-index="0"]').hover()
        assert not kiosk.locator('#wall [data-index="0"] [data-testid="tile-pin"]').is_visible()
        wait_playing(kiosk, [0, 1], after=0.5)

        open_page(page, site, "/wall/hall", "duty")
        wait_shows(page, [car, person, "", ""])
        wait_menus(page)
        assert not page.get_by_test_id("push-controls").is_visible(), "push to wall is for the seat page"
        tile(page, 2).click()
        clicked = time.monotonic()
        camera_item(page, bottle).click()
        took = follows(kiosk, [car, person, bottle, ""], clicked)
        assert took <= FOLLOW_S, f"the kiosk followed after {took:.1f} s"
        wait_playing(kiosk, [2], after=1.0)

        picked = time.monotonic()
        page.get_by_test_id("layout-select").select_option("1+5")
        took = follows(kiosk, [car, person, bottle, "", "", ""], picked)
        assert took <= FOLLOW_S, f"the kiosk took the layout after {took:.1f} s"
        assert kiosk.evaluate("() => document.getElementById('wall').dataset.layout") == "1+5"

        # the operator's own seat, arranged and pushed to the hall
        open_page(page, site, "/", "duty")
        # a new page of four live tiles beside the kiosk's: past 45 s once in a clean-clone run beside Ray tests
        wait_shows(page, [car, person, bottle, ""], timeout=2 * STATE_TIMEOUT_MS)
        wait_menus(page)
        page.get_by_test_id("layout-select").select_option("1")
        wait_shows(page, [car])
        tile(page, 0).click()
        camera_item(page, person).click()
        wait_shows(page, [person])
        assert page.get_by_test_id("push-controls").is_visible()
        assert page.get_by_test_id("push-target").input_value() == "hall"
        pushed = time.monotonic()
        page.get_by_test_id("push-to-wall").click()
        took = follows(kiosk, [person], pushed)
        assert took <= FOLLOW_S, f"the push reached the kiosk after {took:.1f} s"
        assert page.get_by_test_id("wall-notice").inner_text() == "已推送到大屏"
        wait_playing(kiosk, [0], after=1.0)
        assert kiosk_errors == []
    assert wall_state(site, "hall", "screen")["updated_by"] == "duty"
    assert page_errors == []


# -- 6. the alarm pop-up -------------------------------------------------------------------------------------------

BANNER = '#wall [data-testid="tile"][data-index="0"] [data-testid="alarm-tile"]'
SNAPSHOT_LOADED = """(caseId) => {
  const banner = document.querySelector('[data-testid="alarm-tile"]');
  const img = banner && banner.querySelector('[data-testid="alarm-snapshot"]');
  if (!banner || banner.dataset.case !== String(caseId) || !img.complete || img.naturalWidth !== 640) return false;
  const box = img.getBoundingClientRect(), tile = banner.closest('.tile').getBoundingClientRect();
  return new URL(img.src).pathname.startsWith('/api/') && getComputedStyle(img).display !== 'none'
    && box.width > 100 && box.height > 50 && box.left >= tile.left && box.bottom <= tile.bottom + 1;
}"""


def test_an_alarm_pops_up_on_the_big_tile_is_acknowledged_and_the_next_one_shows(
        serve_site: SiteStarter, rtsp: RtspDevServer, page: Page, page_errors: list[str], tmp_path: Path) -> None:
    cameras = small_cameras(rtsp, 3)
    car, person, bottle = (c[0] for c in cameras)
    site = serve_site(cameras_yaml(cameras), server_yaml(tmp_path, walls=hall("1+5", [car, person, bottle])))
    site.add_user("duty", "operator", grants=(car, person, bottle))
    open_page(page, site, "/wall/hall", "duty")
    wait_shows(page, [car, person, bottle, "", "", ""])
    wait_playing(page, [0], after=0.5)

    first = raise_case(site, bottle, place="1-1")
    second = raise_case(site, person, place="2-2")  # while the first is on show: it waits its turn
    page.wait_for_function(SNAPSHOT_LOADED, arg=first, timeout=STATE_TIMEOUT_MS, polling=250)
    banner = page.locator(BANNER)
    assert banner.count() == 1 and page.locator('[data-testid="alarm-tile"]').count() == 1
    assert banner.get_by_test_id("alarm-code").inner_text() == "0501"
    assert "无照经营游商" in banner.locator(".alarm-title").inner_text()
    assert banner.locator(".alarm-where").inner_text() == "传送带 3"
    assert "+1" in banner.locator(".alarm-queued").inner_text()
    shown = tiles(page)[0]
    assert shown["camera"] == bottle and shown["alarm"], "the big tile shows the alarm's camera"
    wait_playing(page, [0], after=1.0)
    assert page.evaluate("() => document.body.dataset.cue") == "1", "the alarm sounded once"
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"camera-item\"]')]"
                           ".every((li) => li.dataset.state === 'live')", timeout=STATE_TIMEOUT_MS, polling=250)
    keep_for_docs(screenshot(page, "wall-alarm.png"), "wall-alarm.png")

    page.get_by_test_id("alarm-ack").click()  # acknowledged: the queued alarm takes the tile
    page.wait_for_function(SNAPSHOT_LOADED, arg=second, timeout=STATE_TIMEOUT_MS, polling=250)
    assert tiles(page)[0]["camera"] == person and tiles(page)[0]["alarm"]
    assert page.locator(BANNER).locator(".alarm-queued").inner_text() == ""
    wait_playing(page, [0], after=1.0)

    page.get_by_test_id("alarm-ack").click()  # the last one: the tile reverts to the camera it showed before
    wait_shows(page, [car, person, bottle, "", "", ""])
    page.wait_for_function("() => !document.querySelector('[data-testid=\"alarm-tile\"], #wall .tile.alarm')",
                           timeout=STATE_TIMEOUT_MS, polling=250)
    wait_playing(page, [0], after=1.0)
    state = wall_state(site, "hall", "duty")
    assert state["alarm"] is None and state["queued"] == 0
    assert page_errors == []


# -- 7. grants: a viewer never lists, picks or opens a camera not granted to them ----------------------------------

SECRET, SECRET_NAME = "secret-gate", "机密门岗"
FETCH = """async ([method, path, body]) => {
  const res = await fetch(path, { method, headers: { 'Content-Type': 'application/json' },
                                  body: body === null ? undefined : JSON.stringify(body) });
  return [res.status, await res.text()];
}"""


def live_close(site: LiveServer, camera: str, cookie: str) -> tuple[int, str]:
    """Open /ws/live/{camera} with ``cookie``; the server's close code and reason (or a failure if it streams)."""
    url = f"ws://127.0.0.1:{site.port}/ws/live/{camera}"
    with connect(url, additional_headers={"Cookie": cookie}, open_timeout=20, close_timeout=10) as ws:
        try:
            first = ws.recv(timeout=20)
        except ConnectionClosed as exc:
            assert exc.rcvd is not None
            return exc.rcvd.code, exc.rcvd.reason
    raise AssertionError(f"/ws/live/{camera} served {str(first)[:80]!r}")


def test_a_viewer_cannot_list_pick_or_open_a_camera_not_granted(
        serve_site: SiteStarter, rtsp: RtspDevServer, page: Page, page_errors: list[str], tmp_path: Path) -> None:
    car = "car-01"
    cameras = [(car, "停车场 1", rtsp.url("car")), (SECRET, SECRET_NAME, rtsp.url("person"))]
    site = serve_site(cameras_yaml(cameras), server_yaml(tmp_path, walls=hall("2x2", [car, SECRET])))
    site.add_user("li", "viewer", grants=(car,))
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))

    # the viewer's own seat: the list and the tiles hold only the granted camera
    open_page(page, site, "/", "li")
    wait_shows(page, [car, "", "", ""])
    wait_menus(page)
    items = page.locator('[data-testid="camera-item"]').evaluate_all("(li) => li.map((i) => i.dataset.cameraId)")
    assert items == [car]
    page.get_by_test_id("camera-search").fill("机密")
    page.wait_for_function("() => !document.querySelector('[data-testid=\"camera-item\"]')",
                           timeout=STATE_TIMEOUT_MS, polling=250)
    page.get_by_test_id("camera-search").fill("")
    # picking it anyway (by hand, with the page's own session) is refused exactly like a camera that does not exist
    secret = page.evaluate(FETCH, ["PUT", "/api/walls/@me/tiles/1", {"camera": SECRET}])
    ghost = page.evaluate(FETCH, ["PUT", "/api/walls/@me/tiles/1", {"camera": "no-such-camera"}])
    assert secret[0] == 404 and secret == ghost, (secret, ghost)
    tour = page.evaluate(FETCH, ["POST", "/api/walls/@me/tour", {"cameras": [car, SECRET], "interval": 5}])
    assert tour[0] == 404, tour
    assert [t["camera"] for t in wall_state(site, "@me", "li")["tiles"]] == [car, None, None, None]

    # the shared wall: the ungranted tile is forbidden and says nothing about its camera
    page.goto(site.url + "/wall/hall")
    wait_shows(page, [car, "", "", ""])
    wait_menus(page)
    forbidden = tile(page, 1)
    page.wait_for_function("() => document.querySelector('#wall [data-index=\"1\"]').dataset.state === 'forbidden'",
                           timeout=STATE_TIMEOUT_MS, polling=250)
    assert forbidden.locator(".state").inner_text() == "无权限"
    wait_playing(page, [0], after=1.0)
    assert page.evaluate("() => document.body.classList.contains('read-only')")
    for control in ("camera-panel", "tour-controls", "layout-select", "preset-controls"):
        assert not page.get_by_test_id(control).is_visible(), f"a viewer sees {control}"
    html = page.content()
    assert SECRET not in html and SECRET_NAME not in html

    # an operator who is not one of the hall's controllers watches it like the viewer: the server says so
    site.add_user("other", "operator", grants=(car,))
    open_page(page, site, "/wall/hall", "other")
    wait_shows(page, [car, "", "", ""])
    wait_menus(page)
    assert page.evaluate("() => document.body.classList.contains('read-only')")
    for control in ("camera-panel", "tour-controls", "layout-select", "preset-controls"):
        assert not page.get_by_test_id(control).is_visible(), f"a non-controller sees {control}"
    refused = page.evaluate(FETCH, ["PUT", "/api/walls/hall/tiles/1", {"camera": None}])
    assert refused[0] == 403, refused
    assert not [url for url in sockets if SECRET in url], sockets

    # the live socket, with the browser's own cookie: closed as "not found"
    page.get_by_test_id("lang-switch").click()  # in English, the empty and the forbidden tiles say so too
    page.wait_for_function("() => document.querySelector('#wall [data-index=\"1\"] .state').textContent"
                           " === 'no access'", timeout=STATE_TIMEOUT_MS, polling=250)
    names = page.locator('#wall [data-testid="tile"] .name').all_inner_texts()
    assert names == ["停车场 1", "no access", "empty", "empty"], names

    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    jar = f"{COOKIE}={cookie['value']}"
    assert live_close(site, SECRET, jar) == live_close(site, "no-such-camera", jar) == (4404, "camera not found")
    assert page_errors == []


# -- 8. a camera that dies and comes back --------------------------------------------------------------------------

FAST_STREAMS = "  open_timeout: 3\n  read_timeout: 2\n  stall_after: 1\n  backoff_initial: 0.2\n  backoff_max: 1.0\n"
# The tile at `index` has played `seconds` more since the last reset of window.gained: small forward steps of its
# clock only (a new stream after a reconnect starts a new MediaSource; a jump to the live edge is not playing).
GAINS = """([index, seconds]) => {
  const v = document.querySelector(`#wall [data-testid="tile"][data-index="${index}"] video`);
  const g = window.gained || (window.gained = { last: v.currentTime, total: 0, src: v.src });
  if (g.src !== v.src) { g.src = v.src; g.last = v.currentTime; }
  const step = v.currentTime - g.last;
  if (step > 0 && step < 0.6) g.total += step;
  g.last = v.currentTime;
  return g.total >= seconds;
}"""


def test_a_killed_cameras_tile_shows_offline_and_recovers(
        serve_site: SiteStarter, rtsp: RtspDevServer, own_rtsp: Any, media_dir: Path, page: Page,
        page_errors: list[str], tmp_path: Path) -> None:
    camera = own_rtsp()
    port = camera.port
    cameras = [("car-01", "停车场 1", rtsp.url("car")), ("gate", "东门", camera.url("cam"))]
    site = serve_site(cameras_yaml(cameras), server_yaml(tmp_path, streams=FAST_STREAMS))
    open_page(page, site, "/")
    wait_shows(page, ["car-01", "gate", "", ""])
    wait_playing(page, [0, 1], after=1.0)
    page.wait_for_function("() => document.querySelector('#wall [data-index=\"1\"]').dataset.state === 'live'",
                           timeout=STATE_TIMEOUT_MS, polling=250)

    camera.kill()
    page.wait_for_function("() => document.querySelector('#wall [data-index=\"1\"]').dataset.state === 'offline'",
                           timeout=STATE_TIMEOUT_MS, polling=250)
    assert tile(page, 1).locator(".state").inner_text() == "离线"
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"camera-item\"][data-camera-id=\"gate\"]').dataset.state"
        " === 'offline'", timeout=STATE_TIMEOUT_MS, polling=250)
    assert tiles(page)[0]["state"] == "live", "the other camera is not disturbed"

    own_rtsp(port=port, cam=media_dir / "car.mp4")  # the camera comes back on the same address
    page.wait_for_function("() => document.querySelector('#wall [data-index=\"1\"]').dataset.state === 'live'",
                           timeout=PLAY_TIMEOUT_MS, polling=250)
    page.evaluate("() => { window.gained = null; }")
    page.wait_for_function(GAINS, arg=[1, 1.5], timeout=PLAY_TIMEOUT_MS, polling=250)
    assert tile(page, 1).locator(".state").inner_text() == "在线"
    assert page.evaluate("() => document.querySelector('#wall [data-index=\"1\"] video').error") is None
    assert tiles(page)[1]["camera"] == "gate"
    assert page_errors == []


# -- 9. presets (预案) ----------------------------------------------------------------------------------------------


def save_preset(page: Page, name: str) -> None:
    page.get_by_test_id("preset-name").fill(name)
    page.get_by_test_id("preset-save").click()
    page.wait_for_function("(name) => document.querySelector('[data-testid=\"preset-select\"]').value === name",
                           arg=name, timeout=STATE_TIMEOUT_MS, polling=250)
    assert page.get_by_test_id("wall-notice").inner_text() == "预案已保存"


def test_a_preset_brings_back_its_layout_tiles_and_pins(serve_site: SiteStarter, rtsp: RtspDevServer, page: Page,
                                                        page_errors: list[str], tmp_path: Path) -> None:
    ids = [c[0] for c in small_cameras(rtsp, 4)]
    site = serve_site(cameras_yaml(small_cameras(rtsp, 4)), server_yaml(tmp_path))
    open_page(page, site, "/")
    wait_shows(page, ids)
    wait_menus(page)
    tile(page, 2).hover()
    tile(page, 2).get_by_test_id("tile-pin").click()
    page.wait_for_function("() => document.querySelector('#wall [data-index=\"2\"]').classList.contains('pinned')",
                           timeout=STATE_TIMEOUT_MS, polling=250)
    save_preset(page, "早高峰")

    # another arrangement: 3x3, another camera on the first tile, the pin taken off; saved as a second preset
    page.get_by_test_id("layout-select").select_option("3x3")
    wait_shows(page, [*ids, "", "", "", "", ""])
    tile(page, 0).click()
    camera_item(page, ids[3]).click()
    night = [ids[3], *ids[1:], "", "", "", "", ""]
    wait_shows(page, night)
    tile(page, 2).hover()
    tile(page, 2).get_by_test_id("tile-pin").click()
    page.wait_for_function("() => !document.querySelector('#wall .tile.pinned')", timeout=STATE_TIMEOUT_MS,
                           polling=250)
    save_preset(page, "夜间")
    options = page.locator('[data-testid="preset-select"] option').evaluate_all("(os) => os.map((o) => o.value)")
    assert sorted(options) == sorted(["早高峰", "夜间"])

    page.get_by_test_id("preset-select").select_option("早高峰")
    page.get_by_test_id("preset-recall").click()
    wait_shows(page, ids)
    assert page.evaluate("() => document.getElementById('wall').dataset.layout") == "2x2"
    assert page.get_by_test_id("layout-select").input_value() == "2x2"
    assert [t["pinned"] for t in tiles(page)] == [False, False, True, False]
    wait_playing(page, [0, 1, 2, 3], after=0.5)

    page.reload()  # presets and the recalled arrangement live on the server
    wait_shows(page, ids)
    assert [t["pinned"] for t in tiles(page)] == [False, False, True, False]
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"preset-select\"] option').length === 2",
                           timeout=STATE_TIMEOUT_MS, polling=250)
    page.get_by_test_id("preset-select").select_option("夜间")
    page.get_by_test_id("preset-recall").click()
    wait_shows(page, night)
    assert not any(t["pinned"] for t in tiles(page))
    assert wall_state(site, "@me", "admin")["layout"]["name"] == "3x3"
    assert page_errors == []


# -- the page's own ordering: a late push of an older state never turns the wall back ------------------------------

LAYOUTS_SEEN = """() => { window.layoutsSeen = [];
  new MutationObserver(() => window.layoutsSeen.push(document.getElementById('wall').dataset.layout))
    .observe(document.getElementById('wall'), { attributes: true, attributeFilter: ['data-layout'] }); }"""


def test_a_late_push_of_an_older_state_is_ignored(serve_site: SiteStarter, rtsp: RtspDevServer, page: Page,
                                                  page_errors: list[str], tmp_path: Path) -> None:
    """The page gets each of its own changes twice, as the answer and as a push; a push that lags behind the answer
    to a later change is stale. Playwright's WebSocket routing sits between the page and the real /ws/wall and only
    holds pushes back: a lagging channel, which no real part lets a test cause on demand."""
    cameras = small_cameras(rtsp, 3)
    car, person, bottle = (c[0] for c in cameras)
    site = serve_site(cameras_yaml(cameras), server_yaml(tmp_path, walls=hall("2x2", [car, person])))
    site.add_user("duty", "operator", grants=(car, person, bottle))
    held: list[str | bytes] = []
    channel: dict[str, Any] = {"hold": False}

    def lagging_channel(ws: Any) -> None:
        server = ws.connect_to_server()
        channel["page"] = ws

        def from_server(message: str | bytes) -> None:
            if channel["hold"] and json.loads(message).get("type") == "wall":
                held.append(message)
            else:
                ws.send(message)

        server.on_message(from_server)

    page.route_web_socket("**/ws/wall", lagging_channel)
    open_page(page, site, "/wall/hall")
    wait_shows(page, [car, person, "", ""])
    wait_menus(page)

    channel["hold"] = True
    page.get_by_test_id("layout-select").select_option("1+5")
    wait_shows(page, [car, person, "", "", "", ""])
    page.get_by_test_id("layout-select").select_option("3x3")
    wait_shows(page, [car, person, "", "", "", "", "", "", ""])
    assert wait_until(lambda: page.evaluate("() => true") and len(held) == 2, 20), "the pushes never came"
    page.evaluate(LAYOUTS_SEEN)

    channel["hold"] = False
    channel["page"].send(held[0])  # the push of the 1+5 change, after the answer to the 3x3 one
    res = site.client("duty").put("/api/walls/hall/tiles/4", json={"camera": bottle},
                                  headers={"Origin": site.origin})
    assert res.status_code == 200, res.text
    wait_shows(page, [car, person, "", "", bottle, "", "", "", ""])  # a later push on the same socket: the late one
    assert page.evaluate("() => window.layoutsSeen") == [], "the stale push turned the wall back"  # came before it
    assert page_errors == []
