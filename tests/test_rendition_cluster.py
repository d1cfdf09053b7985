"""Cluster mode: a live view that asks for the H.264 rendition of an H.265 camera owned by a camera worker on
another Ray node gets it from that worker (issue 14 item 1; the request passes through ``open_live``), and the
worker's own cap (``server.live.renditions``) refuses the next camera with 4430.

Real parts: a Ray cluster on loopback (two worker nodes), PostgreSQL, the real GStreamer RTSP server with a
libx265 clip, the app on a loopback port, WebSocket clients on real sockets; PyAV decodes what arrives.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import av
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from streams.devserver.rtsp import RtspDevServer
from tests.cluster_helpers import WORKER_NODES, cluster_server_yaml, ray_cluster, ray_module_cluster
from tests.conftest import LiveServer, SiteStarter, wait_until
from tests.hevc_helpers import hevc_clip

pytestmark = [pytest.mark.slow]
__all__ = ["ray_cluster", "ray_module_cluster"]  # fixtures, used by name


def open_rendition(site: LiveServer, cam_id: str) -> ClientConnection:
    return connect(f"ws://127.0.0.1:{site.port}/ws/live/{cam_id}?rendition=h264&width=640", open_timeout=20,
                   close_timeout=10, max_size=None, max_queue=None, additional_headers={"Cookie": site.cookie()})


def receive_rendition(ws: ClientConnection, fragments: int = 30, timeout: float = 60.0) -> tuple[dict[str, Any],
                                                                                                     bytes]:
    """The init message and the fMP4 bytes (init segment + ``fragments`` fragments) of one live view."""
    deadline = time.monotonic() + timeout
    init: dict[str, Any] | None = None
    data = bytearray()
    got = 0
    while got < fragments:
        msg = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        if isinstance(msg, str):
            parsed = json.loads(msg)
            if parsed["type"] == "init":
                init, data, got = parsed, bytearray(), 0
        elif init is not None:
            data += msg
            got += msg.count(b"moof")
    assert init is not None
    return init, bytes(data)


def test_a_worker_makes_the_rendition_of_its_h265_camera(
        ray_cluster: Any, serve_site: SiteStarter, postgres_server: int, tmp_path: Path) -> None:
    rtsp = RtspDevServer({"hevc": hevc_clip(tmp_path, 120)}).start()
    try:
        cameras = f"""
cameras:
  - {{id: south, name: 南门, url: "{rtsp.url('hevc')}"}}
  - {{id: north, name: 北门, url: "{rtsp.url('hevc')}"}}
"""
        server = cluster_server_yaml(tmp_path, postgres_server, ray_cluster.address, "citywall-rendition")
        server = server.replace("server:\n", "server:\n  live: {renditions: 1}\n", 1)
        site = serve_site(cameras, server)
        client = site.client(timeout=20)
        assert wait_until(lambda: {c["id"]: (c["state"], c.get("codec")) for c in client.get("/api/cameras").json()}
                          == {"south": ("live", "hevc"), "north": ("live", "hevc")}, 150, 0.5)
        # every worker node's worker ready first: one that joins later rebalances the cameras (a node the previous
        # test of the shared cluster removed is back, and its worker may start after the cameras went live)
        pool = site.app.state.services.runtime.pool
        assert wait_until(lambda: len([s for s in pool.slots() if s.ready]) == WORKER_NODES, 150, 0.5)
        assert pool.sync()
        assert wait_until(lambda: {c["id"]: c["state"] for c in client.get("/api/cameras").json()}
                          == {"south": "live", "north": "live"}, 150, 0.5)
        workers = {c["id"]: c["worker"] for c in client.get("/api/cameras").json()}

        with open_rendition(site, "south") as ws:
            init, data = receive_rendition(ws)
            assert init["rendition"] == "h264" and init["codec"].startswith("avc1.") and init["width"] == 640
            with av.open(io.BytesIO(data)) as container:
                assert container.streams.video[0].codec_context.name == "h264"
                assert len(list(container.decode(video=0))) >= 25
            if workers["north"] == workers["south"]:  # the cap is the worker's: its second camera is refused
                with open_rendition(site, "north") as refused, pytest.raises(ConnectionClosed) as closed:
                    receive_rendition(refused, 1, 30)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4430, closed.value
            else:  # on the other worker, within that worker's own cap
                with open_rendition(site, "north") as other:
                    assert receive_rendition(other, 5)[0]["rendition"] == "h264"
    finally:
        rtsp.stop()
