"""The real app over real sockets: HTTP API and the live WebSocket against a real RTSP server.

Every test runs ``serve_site`` (the app under uvicorn on a loopback port) with cameras from the session's
GStreamer RTSP server and talks to it the way a browser or a tool would: httpx for HTTP, ``websockets`` for
``/ws/live``, logged in as the site's admin (session cookie). Nothing is mocked. Who may see what is tested in
``test_access.py``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import cv2
import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from streams.devserver.rtsp import RtspDevServer, free_port
from streams.mp4 import iter_boxes
from tests.conftest import ADMIN, LiveServer, SiteStarter, wait_until

pytestmark = pytest.mark.slow

PASSWORD = "S3cret-pw"
LIVE_TIMEOUT = 45.0  # a camera goes live in ~1 s; generous for a loaded 2-core machine
HTTP_TIMEOUT = 20.0


def cameras_yaml(*cameras: tuple[str, str]) -> str:
    lines = ["cameras:"]
    for cam_id, url in cameras:
        lines += [f"  - id: {cam_id}", f"    name: 测试 {cam_id}", f'    url: "{url}"']
    return "\n".join(lines) + "\n"


@pytest.fixture
def client(serve_site: SiteStarter) -> Iterator[httpx.Client]:
    """A plain client that carries the admin's session cookie to whichever site the test starts."""
    with httpx.Client(timeout=HTTP_TIMEOUT, auth=serve_site.auth()) as c:
        yield c


def camera(client: httpx.Client, base: str, cam_id: str) -> dict:
    res = client.get(f"{base}/api/cameras/{cam_id}")
    assert res.status_code == 200, res.text
    return res.json()


def wait_live(client: httpx.Client, base: str, *cam_ids: str, measured: bool = False) -> None:
    """Wait until every named camera is live (and, with ``measured``, has fps, bitrate and GOP)."""

    def ready() -> bool:
        for cam_id in cam_ids:
            cam = camera(client, base, cam_id)
            if cam["state"] != "live":
                return False
            if measured and not (cam["fps"] and cam["bitrate_kbps"] and cam["gop_seconds"]):
                return False
        return True

    assert wait_until(ready, LIVE_TIMEOUT, 0.25), [camera(client, base, c) for c in cam_ids]


def ws_url(site: LiveServer, cam_id: str) -> str:
    return f"ws://127.0.0.1:{site.port}/ws/live/{cam_id}"


def open_live(site: LiveServer, cam_id: str, user: str | None = ADMIN, **kwargs: object) -> ClientConnection:
    """A live WebSocket with ``user``'s session cookie (None: without one)."""
    # max_queue=None: a client that stops reading (the tests do, between checks) must still see the server's
    # close reply behind the video frames, or close() waits for its timeout.
    headers = {"Cookie": site.cookie(user)} if user else {}
    return connect(ws_url(site, cam_id), open_timeout=HTTP_TIMEOUT, close_timeout=10, max_size=None,
                   max_queue=None, additional_headers=headers, **kwargs)


def recv_init(ws: ClientConnection, timeout: float = 30.0) -> tuple[dict, bytes]:
    """Skip state texts until the JSON init; return it and the binary init segment that must follow it."""
    deadline = time.monotonic() + timeout
    while True:
        msg = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        assert isinstance(msg, str), "binary data before the init message"
        parsed = json.loads(msg)
        if parsed["type"] == "init":
            segment = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            assert isinstance(segment, bytes), f"init message not followed by the init segment: {segment!r}"
            return parsed, segment
        assert parsed["type"] == "state", parsed


def box_types(data: bytes) -> list[bytes]:
    return [kind for kind, _, _ in iter_boxes(data)]


def assert_no_secrets(body: str, rtsp: RtspDevServer) -> None:
    assert PASSWORD not in body
    assert "viewer:" not in body
    assert "rtsp://" not in body
    assert f":{rtsp.port}" not in body, "the RTSP server's address leaked"


# -- health and camera list ------------------------------------------------------------------------------


def test_healthz_and_camera_list_go_live_with_measurements(serve_site, rtsp: RtspDevServer,
                                                           client: httpx.Client) -> None:
    site = serve_site(cameras_yaml(("car", rtsp.url("car")), ("person", rtsp.url("person"))))
    health = client.get(f"{site.url}/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["cameras"] == 2

    wait_live(client, site.url, "car", "person", measured=True)
    res = client.get(f"{site.url}/api/cameras")
    assert res.status_code == 200
    cams = {c["id"]: c for c in res.json()}
    assert set(cams) == {"car", "person"}
    for cam in cams.values():
        assert cam["state"] == "live"
        assert cam["name"].startswith("测试 ")
        assert cam["codec"] == "h264"
        assert 5 <= cam["fps"] <= 60, cam
        assert cam["bitrate_kbps"] > 10, cam
        assert 0 < cam["gop_seconds"] <= 20, cam
        assert cam["width"] > 0 and cam["height"] > 0
        assert cam["viewers"] == 0
        assert "url" not in cam and "main_url" not in cam
    assert client.get(f"{site.url}/healthz").json()["states"].get("live") == 2


def test_camera_urls_and_credentials_never_leave_the_server(serve_site, rtsp: RtspDevServer,
                                                            client: httpx.Client) -> None:
    closed = free_port()
    site = serve_site(
        cameras_yaml(
            ("secret-live", rtsp.url("car", ("viewer", PASSWORD))),
            ("secret-dead", f"rtsp://viewer:{PASSWORD}@127.0.0.1:{closed}/car"),
        ).replace("    name: 测试 secret-live\n",
                  "    name: 测试 secret-live\n"
                  f'    main_url: "rtsp://viewer:{PASSWORD}@127.0.0.1:{rtsp.port}/hd"\n')
    )
    wait_live(client, site.url, "secret-live")

    def dead_failed() -> bool:
        cam = camera(client, site.url, "secret-dead")
        return cam["state"] in ("offline", "connecting") and bool(cam["last_error"])

    assert wait_until(dead_failed, LIVE_TIMEOUT, 0.25), camera(client, site.url, "secret-dead")
    dead = camera(client, site.url, "secret-dead")
    assert dead["last_error_kind"] == "refused", dead
    assert PASSWORD not in dead["last_error"]
    assert str(closed) not in dead["last_error"], "the camera's address leaked in last_error"
    assert camera(client, site.url, "secret-live")["has_main_stream"] is True

    bodies = {
        path: client.get(f"{site.url}{path}")
        for path in ("/healthz", "/api/cameras", "/api/cameras/secret-live", "/api/cameras/secret-dead",
                     "/api/cameras/secret-dead/snapshot.jpg", "/api/cameras/nope", "/openapi.json")
    }
    for path, res in bodies.items():
        assert res.status_code < 500, (path, res.status_code)
        text = res.content.decode("utf-8", "replace")
        assert_no_secrets(text, rtsp)
        assert str(closed) not in text, path

    with open_live(site, "secret-live") as ws:
        init, _ = recv_init(ws)
        assert_no_secrets(json.dumps(init), rtsp)
    with open_live(site, "secret-dead") as ws:
        state = json.loads(ws.recv(timeout=HTTP_TIMEOUT))
        assert state["type"] == "state"
        assert_no_secrets(json.dumps(state), rtsp)
        assert str(closed) not in json.dumps(state)


# -- not found, snapshots ----------------------------------------------------------------------------------


def test_unknown_camera_is_a_plain_404_everywhere(serve_site, rtsp: RtspDevServer, client: httpx.Client) -> None:
    site = serve_site(cameras_yaml(("car", rtsp.url("car"))))
    answers = [client.get(f"{site.url}{path}") for path in
               ("/api/cameras/ghost", "/api/cameras/ghost/snapshot.jpg", "/api/cameras/ghost/snapshot.jpg?width=320")]
    assert [r.status_code for r in answers] == [404, 404, 404]
    assert answers[0].json() == {"detail": "camera not found"}
    assert len({r.content for r in answers}) == 1, [r.content for r in answers]
    assert len({r.headers["content-type"] for r in answers}) == 1


def test_snapshot_is_a_jpeg_of_the_camera_and_scales(serve_site, rtsp: RtspDevServer, client: httpx.Client) -> None:
    site = serve_site(cameras_yaml(("car", rtsp.url("car")), ("hd", rtsp.url("hd"))))
    wait_live(client, site.url, "car", "hd")
    for cam_id in ("car", "hd"):
        url = f"{site.url}/api/cameras/{cam_id}/snapshot.jpg"
        assert wait_until(lambda url=url: client.get(url).status_code == 200, LIVE_TIMEOUT, 0.25)
        res = client.get(url)
        assert res.headers["content-type"] == "image/jpeg"
        image = cv2.imdecode(np.frombuffer(res.content, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None, "not a decodable JPEG"
        cam = camera(client, site.url, cam_id)
        assert image.shape[:2] == (cam["height"], cam["width"])
        assert image.std() > 5, "a flat picture, not video"

        small = client.get(url, params={"width": 320})
        assert small.status_code == 200
        thumb = cv2.imdecode(np.frombuffer(small.content, np.uint8), cv2.IMREAD_COLOR)
        assert thumb is not None
        assert thumb.shape[1] == 320
        assert abs(thumb.shape[0] - 320 * cam["height"] / cam["width"]) <= 2

    assert client.get(f"{site.url}/api/cameras/hd/snapshot.jpg", params={"width": 1920}).status_code == 200
    for bad in ("5", "0", "-1", "100000", "99999999999999999999999", "abc", "1.5", ""):
        res = client.get(f"{site.url}/api/cameras/car/snapshot.jpg", params={"width": bad})
        assert 400 <= res.status_code < 500, (bad, res.status_code, res.text)


# -- live WebSocket ----------------------------------------------------------------------------------------


def test_live_websocket_sends_playable_fmp4(serve_site, rtsp: RtspDevServer, client: httpx.Client,
                                            tmp_path: Path) -> None:
    site = serve_site(cameras_yaml(("car", rtsp.url("car"))))
    wait_live(client, site.url, "car")
    fragments: list[bytes] = []
    with open_live(site, "car") as ws:
        init, segment = recv_init(ws)
        assert init["camera"] == "car"
        assert init["mime"].startswith('video/mp4; codecs="avc1.'), init
        assert init["mime"] == f'video/mp4; codecs="{init["codec"]}"'
        assert len(init["codec"]) == len("avc1.640028")
        cam = camera(client, site.url, "car")
        assert (init["width"], init["height"]) == (cam["width"], cam["height"])
        kinds = box_types(segment)
        assert kinds[0] == b"ftyp", kinds
        assert b"moov" in kinds
        assert camera(client, site.url, "car")["viewers"] == 1

        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline or len(fragments) < 10:
            assert time.monotonic() < deadline + 30, f"only {len(fragments)} fragments"
            msg = ws.recv(timeout=30)
            if isinstance(msg, str):
                parsed = json.loads(msg)
                assert parsed["type"] == "state", "a second init without a reconnect"
                continue
            fragments.append(msg)
    for fragment in fragments:
        kinds = box_types(fragment)
        assert kinds[-1] == b"mdat" and b"moof" in kinds, kinds
        assert set(kinds) <= {b"moof", b"mdat", b"styp", b"sidx"}, kinds
    assert len(fragments) >= 25, f"{len(fragments)} fragments in ~3 s of a 25 fps camera"

    path = tmp_path / "live.mp4"
    path.write_bytes(segment + b"".join(fragments))
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) >= 25
    assert frames[0].key_frame, "a viewer must start at a keyframe"
    assert (frames[0].width, frames[0].height) == (cam["width"], cam["height"])
    times = [f.time for f in frames]
    assert all(b > a for a, b in itertools.pairwise(times)), "timestamps must increase"
    assert frames[0].to_ndarray(format="gray").std() > 5


def test_live_websocket_unknown_camera_closes_4404(serve_site, rtsp: RtspDevServer) -> None:
    site = serve_site(cameras_yaml(("car", rtsp.url("car"))))
    for cam_id in ("ghost", "CAR", "car%20", "%E6%91%84%E5%83%8F"):
        with open_live(site, cam_id) as ws, pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=HTTP_TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404, (cam_id, closed.value)
        assert closed.value.rcvd.reason == "camera not found"


def test_live_websocket_checks_origin(serve_site, rtsp: RtspDevServer) -> None:
    site = serve_site(cameras_yaml(("car", rtsp.url("car"))))
    for foreign in ("http://evil.example", f"http://127.0.0.1:{site.port}.evil.example",
                    f"https://evil.example:{site.port}", "null"):
        try:
            with open_live(site, "car", origin=foreign) as ws:
                ws.recv(timeout=HTTP_TIMEOUT)
        except InvalidStatus as exc:  # refused at the handshake
            assert exc.response.status_code == 403, foreign
        except ConnectionClosed as exc:  # or accepted and closed as a policy violation
            assert exc.rcvd is not None and exc.rcvd.code == 1008, (foreign, exc)
        else:
            pytest.fail(f"a handshake from Origin {foreign} was served")

    with open_live(site, "car", origin=f"http://127.0.0.1:{site.port}") as ws:
        _, segment = recv_init(ws)
        assert box_types(segment)[0] == b"ftyp"


def test_two_viewers_share_one_remux(serve_site, rtsp: RtspDevServer, client: httpx.Client) -> None:
    site = serve_site(cameras_yaml(("car", rtsp.url("car"))))
    wait_live(client, site.url, "car")
    viewers: Callable[[], int] = lambda: camera(client, site.url, "car")["viewers"]  # noqa: E731
    with open_live(site, "car") as first, open_live(site, "car") as second:
        init1, seg1 = recv_init(first)
        init2, seg2 = recv_init(second)
        assert init1["mime"] == init2["mime"]
        assert seg1 == seg2, "both viewers get the same init segment from one muxer"
        assert wait_until(lambda: viewers() == 2, HTTP_TIMEOUT, 0.1), viewers()
        # both still receive video
        for ws in (first, second):
            assert any(isinstance(ws.recv(timeout=30), bytes) for _ in range(5))
        first.close()
        assert wait_until(lambda: viewers() == 1, HTTP_TIMEOUT, 0.1), viewers()
        assert any(isinstance(second.recv(timeout=30), bytes) for _ in range(5))
    assert wait_until(lambda: viewers() == 0, HTTP_TIMEOUT, 0.1), viewers()
    # a viewer after everyone left gets a fresh muxer and video at once
    with open_live(site, "car") as again:
        _, segment = recv_init(again)
        assert box_types(segment)[0] == b"ftyp"
    assert wait_until(lambda: viewers() == 0, HTTP_TIMEOUT, 0.1), viewers()


# -- hostile input -----------------------------------------------------------------------------------------

HOSTILE_PATHS = [
    "/api/cameras/" + "a" * 5000,
    "/api/cameras/" + "a" * 5000 + "/snapshot.jpg",
    "/api/cameras/%E6%91%84%E5%83%8F%E6%9C%BA",
    "/api/cameras/%F0%9F%92%A9/snapshot.jpg",
    "/api/cameras/%00",
    "/api/cameras/car%00",
    "/api/cameras/%00/snapshot.jpg?width=320",
    "/api/cameras/%ff%fe",
    "/api/cameras/..%2F..%2Fetc%2Fpasswd",
    "/api/cameras/%2e%2e/snapshot.jpg",
    "/api/cameras/car/snapshot.jpg?width=%00",
    "/api/cameras/car/snapshot.jpg?width=1e3",
    "/api/cameras/car/snapshot.jpg?width=320&width=abc",
    "/api/cameras?limit=-1&%00=%00",
    "/static/..%2F..%2Fapp.py",
    "/static/%2e%2e/%2e%2e/pyproject.toml",
    "/static/%00",
    "/ws/live/car",  # a plain GET on a WebSocket route
    "/%ff",
]


def test_hostile_input_never_gives_5xx(serve_site, rtsp: RtspDevServer, client: httpx.Client) -> None:
    site = serve_site(cameras_yaml(("car", rtsp.url("car"))))
    wait_live(client, site.url, "car")
    for path in HOSTILE_PATHS:
        res = client.get(httpx.URL(site.url + path))
        assert res.status_code < 500, (path, res.status_code, res.text[:200])
        assert "Traceback" not in res.text
        if path.startswith("/static/"):
            assert res.status_code == 404, path
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        res = client.request(method, f"{site.url}/api/cameras/car")
        assert res.status_code == 405, (method, res.status_code)
    weird_headers = {"Host": "x" * 300, "Cookie": "a" * 4000, "Origin": "http://evil.example"}
    res = client.get(f"{site.url}/api/cameras", headers=weird_headers)
    assert res.status_code < 500
    for cam_id in ("a" * 3000, "%00", "%E6%91%84", "car%00", "%2e%2e"):
        with open_live(site, cam_id) as ws, pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=HTTP_TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404, cam_id
    # a '/' inside the id matches no route at all: the handshake is refused before any WebSocket exists
    for cam_id in ("..%2F..", "car%2Fsnapshot.jpg", "car/../car"):
        with pytest.raises(InvalidStatus) as refused:
            open_live(site, cam_id)
        assert 400 <= refused.value.response.status_code < 500, cam_id
    # the camera is still served after all that
    assert camera(client, site.url, "car")["state"] == "live"
