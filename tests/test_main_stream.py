"""A maximised tile's main stream: opened on demand over the real RTSP server, closed after its last viewer."""

from __future__ import annotations

import pytest

from streams.config import CameraConfig, StreamSettings
from streams.devserver.rtsp import RtspDevServer
from streams.hub import CameraHub, MainStreams
from tests.conftest import wait_until
from tests.test_api import open_live, recv_init

pytestmark = pytest.mark.slow


def test_stream_main_sends_the_main_stream_and_falls_back_to_sub(serve_site, rtsp: RtspDevServer) -> None:
    site = serve_site(f"""cameras:
  - {{id: gate, name: 东门, url: "{rtsp.url('car')}", main_url: "{rtsp.url('hd')}"}}
  - {{id: lane, name: 小巷, url: "{rtsp.url('person')}"}}
""")
    with open_live(site, "gate") as sub:
        info, _ = recv_init(sub)
        assert (info["width"], info["height"]) != (1920, 1080)
    with open_live(site, "gate?stream=main") as main:
        info, _ = recv_init(main)
        assert (info["width"], info["height"]) == (1920, 1080), "the main stream, connected on demand"
    with open_live(site, "lane?stream=main") as fallback:
        info, _ = recv_init(fallback)
        assert info["camera"] == "lane" and info["width"] > 0, "no main stream: the sub stream"


def test_main_streams_close_after_the_last_viewer_lingered(rtsp: RtspDevServer) -> None:
    hub = CameraHub([CameraConfig(id="gate", name="gate", url=rtsp.url("car"), main_url=rtsp.url("hd"))],
                    StreamSettings())
    mains = MainStreams(hub, linger=0.5)
    first = mains.acquire("gate")
    assert first is not None and mains.acquire("gate") is first, "viewers share one main session"
    assert wait_until(lambda: first.health.keyframes >= 1, 30)
    mains.release("gate")
    mains.release("gate")
    assert wait_until(lambda: first.stopped, 5), "closed once nobody watched it for the linger time"
    again = mains.acquire("gate")
    assert again is not None and again is not first
    mains.stop()
    assert again.stopped
