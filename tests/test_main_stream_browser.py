"""A maximised tile plays the camera's main stream (wall-grid.js ``toStream``) in a real browser: on the grid the
tile shows the sub stream, a double click enlarges it and its video becomes the main stream's 1920×1080 picture,
a second double click puts it back on the sub stream; a camera without a main stream stays on its one stream.
Real app, real GStreamer RTSP server (sub: the car clip; main: the 1080p clip), Debian chromium."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from streams.devserver.rtsp import RtspDevServer
from tests.browser_helpers import PLAY_TIMEOUT_MS, open_wall

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.conftest import SiteStarter

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# the tile's video plays (time advances) at the given picture size; the tile's own <video>, not a pooled one
PLAYS_AT = """([index, width, height]) => {
  const tile = document.querySelector(`#wall [data-testid="tile"][data-index="${index}"]`);
  const v = tile && tile.querySelector('video');
  if (!v || v.videoWidth !== width || v.videoHeight !== height || v.readyState < 2) return false;
  const seen = Number(v.dataset.testSeen || -1);
  v.dataset.testSeen = String(v.currentTime);
  return seen >= 0 && v.currentTime > seen;
}"""
SIZE = """(index) => { const v = document.querySelector(`#wall [data-index="${index}"] video`);
  return [v.videoWidth, v.videoHeight]; }"""


def tile(page: Page, index: int) -> Any:
    return page.locator(f'#wall [data-testid="tile"][data-index="{index}"]')


def test_a_maximised_tile_switches_to_the_main_stream_and_back(serve_site: SiteStarter, rtsp: RtspDevServer,
                                                               page: Page, page_errors: list[str]) -> None:
    site = serve_site(f"""cameras:
  - {{id: gate, name: 东门, url: "{rtsp.url('car')}", main_url: "{rtsp.url('hd')}"}}
  - {{id: lane, name: 小巷, url: "{rtsp.url('person')}"}}
""")
    with site.client() as admin:
        for index, camera in enumerate(("gate", "lane")):
            assert admin.put(f"/api/walls/@me/tiles/{index}", json={"camera": camera}).status_code == 200
    open_wall(page, site)
    tile(page, 0).wait_for(state="visible")
    page.wait_for_function("(i) => { const v = document.querySelector(`#wall [data-index=\"${i}\"] video`);"
                           " return v && v.readyState >= 2 && v.videoWidth > 0; }", arg=0, timeout=PLAY_TIMEOUT_MS,
                           polling=250)
    sub = page.evaluate(SIZE, 0)
    assert sub != [1920, 1080], "on the grid: the sub stream"

    tile(page, 0).dblclick()
    page.wait_for_function(PLAYS_AT, arg=[0, 1920, 1080], timeout=PLAY_TIMEOUT_MS, polling=300)
    assert tile(page, 0).get_attribute("data-stream") == "main"
    assert "maximised" in (tile(page, 0).get_attribute("class") or "")

    tile(page, 0).dblclick()  # back on the grid: the sub stream again
    page.wait_for_function(PLAYS_AT, arg=[0, *sub], timeout=PLAY_TIMEOUT_MS, polling=300)
    assert tile(page, 0).get_attribute("data-stream") == "sub"

    # a camera without a main stream keeps its one stream when maximised
    page.wait_for_function("(i) => { const v = document.querySelector(`#wall [data-index=\"${i}\"] video`);"
                           " return v && v.readyState >= 2 && v.videoWidth > 0; }", arg=1, timeout=PLAY_TIMEOUT_MS,
                           polling=250)
    only = page.evaluate(SIZE, 1)
    tile(page, 1).dblclick()
    page.wait_for_function(PLAYS_AT, arg=[1, *only], timeout=PLAY_TIMEOUT_MS, polling=300)
    assert tile(page, 1).get_attribute("data-stream") is None
    assert not page_errors
