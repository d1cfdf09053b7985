"""PTZ (遥控) in the page: the pad of a maximised tile steers the test ONVIF device with the pointer and the keyboard,
stops on release, goes to presets and home; every tile of the camera shows who controls it, and a second
operator's pad says so and cannot steer it.

No ONVIF camera can be had on this machine: ``tests/peers/onvif_ptz.py`` (a real SOAP-over-HTTP server keeping a
pan/tilt/zoom state and presets) stands in for one. Debian chromium through Playwright.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser_helpers import STATE_TIMEOUT_MS, keep_for_docs, open_wall, screenshot, sign_in
from tests.conftest import SiteStarter, wait_until
from tests.peers.onvif_ptz import OnvifPtzDevice, Position
from tests.test_ptz import ANALYSIS_PRESET, ptz_site

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def device() -> Iterator[OnvifPtzDevice]:
    with OnvifPtzDevice(presets={"1": ("路口", ANALYSIS_PRESET), "2": ("停车场", Position(-0.6, 0.0, 0.3))}) as d:
        yield d


RELEASED = """() => { const b = document.querySelector('[data-testid="ptz-badge"]');
  return b && !b.textContent.includes('alice') && b.textContent.includes('规则暂停'); }"""


def tile(page: Page, index: int = 0) -> Any:
    return page.locator(f'#wall [data-testid="tile"][data-index="{index}"]')


def pad(page: Page, testid: str) -> Any:
    return page.locator(f'#wall .tile.maximised [data-testid="{testid}"]')


def hold(page: Page, testid: str) -> None:
    pad(page, testid).hover()
    page.mouse.down()


def test_the_pad_steers_the_camera_and_every_tile_shows_who_controls_it(
        serve_site: SiteStarter, device: OnvifPtzDevice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        browser: Browser, page: Page, page_errors: list[str]) -> None:
    site, _mono = ptz_site(serve_site, device, tmp_path, monkeypatch)
    for user in ("alice", "bob", "carol"):
        with site.client(user) as client:
            assert client.put("/api/walls/@me/tiles/0", json={"camera": "gate"}).status_code == 200

    open_wall(page, site, "alice")
    tile(page).wait_for(state="visible")
    page.wait_for_function("() => document.querySelector('#wall [data-index=\"0\"]').dataset.camera === 'gate'",
                           timeout=STATE_TIMEOUT_MS)
    assert pad(page, "ptz-pad").count() == 0  # only a maximised tile has the pad
    tile(page).dblclick()
    pad(page, "ptz-pad").wait_for(state="visible")

    # the pointer: hold ▶ and the camera turns right (renewed while held), let go and it stops
    hold(page, "ptz-right")
    assert wait_until(lambda: device.snapshot()[0].pan > 0.3, 15), device.operations()
    assert wait_until(lambda: device.operations().count("ContinuousMove") >= 2, 10), "a held move is renewed"
    page.mouse.up()
    assert wait_until(lambda: not device.snapshot()[1], 10) and "Stop" in device.operations()
    stopped = device.snapshot()[0].pan
    assert pad(page, "ptz-holder").inner_text() == "由您控制云台"
    # zoom in with the pointer
    hold(page, "ptz-zoom-in")
    assert wait_until(lambda: device.snapshot()[0].zoom > 0.1, 15)
    page.mouse.up()
    assert wait_until(lambda: not device.snapshot()[1], 10)

    # the keyboard: ↑ held tilts up, released stops; the pan stays where the pointer left it
    page.keyboard.down("ArrowUp")
    assert wait_until(lambda: device.snapshot()[0].tilt > 0.1, 15)
    page.keyboard.up("ArrowUp")
    assert wait_until(lambda: not device.snapshot()[1], 10)
    assert abs(device.snapshot()[0].pan - stopped) < 1e-6

    # presets from the camera, and home
    select = pad(page, "ptz-preset-select")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"ptz-preset-select\"] option').length === 2",
                           timeout=STATE_TIMEOUT_MS)
    select.select_option("2")
    pad(page, "ptz-preset-go").click()
    assert wait_until(lambda: device.snapshot()[0] == Position(-0.6, 0.0, 0.3), 10)
    assert pad(page, "ptz-preset-save").is_hidden()  # storing presets is an admin's
    shot = screenshot(page, "ptz-pad.png")
    keep_for_docs(shot, "ptz-pad.png")
    page.keyboard.press("Home")
    assert wait_until(lambda: device.snapshot()[0] == Position(0.0, 0.0, 0.0), 10)

    # every tile of the camera says who controls it: carol (may watch) and bob (may steer, but alice holds it)
    others = {}
    for user in ("carol", "bob"):
        context = browser.new_context(viewport={"width": 1280, "height": 760}, locale="zh-CN")
        other = context.new_page()
        other.on("pageerror", lambda exc: page_errors.append(str(exc)))
        sign_in(other, site, user)
        other.goto(site.url + "/")
        badge = tile(other).locator('[data-testid="ptz-badge"]')
        badge.wait_for(state="visible", timeout=STATE_TIMEOUT_MS)
        assert "alice 正在控制云台" in badge.inner_text()
        others[user] = other
    bob = others["bob"]
    tile(bob).dblclick()
    pad(bob, "ptz-holder").wait_for(state="visible")
    assert pad(bob, "ptz-holder").inner_text() == "alice 正在控制云台"
    assert pad(bob, "ptz-take").is_hidden()  # only an admin takes over
    before = device.operations().count("ContinuousMove")
    hold(bob, "ptz-left")
    bob.wait_for_function("() => document.querySelector('[data-testid=\"ptz-message\"]').textContent.includes('alice')",
                          timeout=STATE_TIMEOUT_MS)
    bob.mouse.up()
    message = pad(bob, "ptz-message")
    assert message.inner_text() == "alice 正在控制云台，请稍后再试"  # the page's language; the server's words…
    assert "controlled by alice" in (message.get_attribute("title") or "")  # …stay in the tooltip
    assert device.operations().count("ContinuousMove") == before  # refused before it reached the camera
    tile(others["carol"]).dblclick()
    others["carol"].wait_for_timeout(500)
    assert others["carol"].locator('[data-testid="ptz-pad"]').count() == 0  # no ptz right: no pad

    # alice lets go: no tile names her any more (they still say the rules are paused: it is off its preset)
    pad(page, "ptz-release").click()
    for other in others.values():
        other.wait_for_function(RELEASED, timeout=STATE_TIMEOUT_MS)
    for other in others.values():
        other.context.close()
    assert page_errors == []
