"""CameraHub against a real RTSP server: faulty cameras never disturb healthy ones, and recover by themselves."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from streams import CameraConfig, CameraHub, StreamSettings
from streams.devserver.rtsp import RtspDevServer, free_port
from streams.health import Backoff, CameraState
from tests.conftest import wait_until

pytestmark = pytest.mark.slow

FAST = StreamSettings(open_timeout=3, read_timeout=2, stall_after=1, backoff_initial=0.2, backoff_max=1.0)


def cam(cid: str, url: str) -> CameraConfig:
    return CameraConfig(id=cid, name=cid, url=url)


class GarbageServer:
    """A TCP peer that answers every connection with random bytes: a broken or hostile 'camera'."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            with conn:
                try:
                    conn.recv(4096)
                    conn.sendall(os.urandom(2048) + b"\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self._stop = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def garbage() -> Iterator[GarbageServer]:
    server = GarbageServer()
    yield server
    server.close()


def packet_rate(hub: CameraHub, ids: list[str], seconds: float) -> dict[str, float]:
    before = {i: hub.get(i).health.packets for i in ids}  # type: ignore[union-attr]
    time.sleep(seconds)
    return {i: (hub.get(i).health.packets - before[i]) / seconds for i in ids}  # type: ignore[union-attr]


def assert_healthy_unaffected(hub: CameraHub, good: dict[str, float]) -> None:
    """Each healthy camera delivers its full frame rate while the faulty one misbehaves."""
    rates = packet_rate(hub, list(good), 6.0)
    for cid, fps in good.items():
        assert rates[cid] >= 0.85 * fps, f"{cid}: {rates[cid]:.1f} packets/s, expected ≈ {fps}"
        assert hub.get(cid).health.current_state() == CameraState.LIVE  # type: ignore[union-attr]


GOOD_FPS = {"car": 12.5, "person": 10.0, "bottle": 29.83}


def good_cameras(rtsp: RtspDevServer) -> list[CameraConfig]:
    return [cam(name, rtsp.url(name)) for name in GOOD_FPS]


def test_refused_camera_goes_offline_and_others_flow(rtsp: RtspDevServer) -> None:
    hub = CameraHub([*good_cameras(rtsp), cam("bad", f"rtsp://u:pw-secret@127.0.0.1:{free_port()}/x")], FAST)
    hub.start()
    try:
        assert wait_until(lambda: all(hub.get(c).health.state == CameraState.LIVE for c in GOOD_FPS), 20)
        bad = hub.get("bad").health
        assert wait_until(lambda: bad.reconnects >= 2, 10)
        assert bad.current_state() in (CameraState.OFFLINE, CameraState.CONNECTING)
        assert bad.last_error_kind == "refused"
        assert "pw-secret" not in (bad.last_error or "")
        assert_healthy_unaffected(hub, GOOD_FPS)
    finally:
        hub.stop()


def test_garbage_camera_is_classified_and_isolated(rtsp: RtspDevServer, garbage: GarbageServer) -> None:
    hub = CameraHub([*good_cameras(rtsp), cam("junk", f"rtsp://127.0.0.1:{garbage.port}/x")], FAST)
    hub.start()
    try:
        assert wait_until(lambda: all(hub.get(c).health.state == CameraState.LIVE for c in GOOD_FPS), 20)
        junk = hub.get("junk").health
        assert wait_until(lambda: junk.last_error_kind is not None and garbage.connections >= 2, 15)
        assert junk.current_state() != CameraState.LIVE
        assert junk.packets == 0
        assert_healthy_unaffected(hub, GOOD_FPS)
    finally:
        hub.stop()


def test_frozen_camera_stalls_times_out_and_recovers(rtsp: RtspDevServer, own_rtsp) -> None:
    frozen = own_rtsp()
    hub = CameraHub([*good_cameras(rtsp), cam("frozen", frozen.url("cam"))], FAST)
    hub.start()
    try:
        health = hub.get("frozen").health
        assert wait_until(lambda: health.state == CameraState.LIVE, 20)
        frozen.freeze()
        # Connected but silent: 'stalled' by the clock, then the read timeout turns it into a drop.
        assert wait_until(lambda: health.current_state() == CameraState.STALLED, 5, 0.05)
        assert wait_until(lambda: health.last_error_kind is not None, 15)
        assert health.last_error_kind in ("timeout", "ended", "io")
        assert_healthy_unaffected(hub, GOOD_FPS)
        reconnects = health.reconnects
        frozen.thaw()
        # the thawed server first works off what queued while it was stopped: past 30 s once on a loaded CI box
        assert wait_until(lambda: health.current_state() == CameraState.LIVE, 60)
        assert health.reconnects > reconnects - 1
    finally:
        hub.stop()


def test_killed_camera_recovers_when_restarted(rtsp: RtspDevServer, own_rtsp, media_dir) -> None:
    dead = own_rtsp()
    port = dead.port
    hub = CameraHub([*good_cameras(rtsp), cam("dead", dead.url("cam"))], FAST)
    hub.start()
    try:
        health = hub.get("dead").health
        assert wait_until(lambda: health.state == CameraState.LIVE, 20)
        dead.kill()
        assert wait_until(lambda: health.current_state() in (CameraState.OFFLINE, CameraState.CONNECTING), 10)
        assert_healthy_unaffected(hub, GOOD_FPS)
        packets = health.packets
        own_rtsp(port=port, cam=media_dir / "car.mp4")  # the camera comes back on the same address
        assert wait_until(lambda: health.current_state() == CameraState.LIVE and health.packets > packets, 30)
        assert health.reconnects >= 1
        snap = health.snapshot()  # measured again on the new connection
        assert snap["state"] == "live" and snap["codec"] == "h264" and snap["width"] == 768
    finally:
        hub.stop()


def test_stop_is_prompt_even_with_a_frozen_camera(own_rtsp) -> None:
    frozen = own_rtsp()
    hub = CameraHub([cam("f", frozen.url("cam"))], FAST)
    hub.start()
    assert wait_until(lambda: hub.get("f").health.state == CameraState.LIVE, 20)
    frozen.freeze()
    time.sleep(0.5)
    t0 = time.monotonic()
    hub.stop()
    assert time.monotonic() - t0 < FAST.read_timeout + 4
    assert hub.get("f").health.state == CameraState.STOPPED


def test_backoff_is_capped_exponential_with_jitter() -> None:
    b = Backoff(initial=1.0, maximum=8.0)
    delays = [b.next_delay() for _ in range(10)]
    ceilings = [min(8.0, 2**i) for i in range(10)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len({round(d, 6) for d in delays}) > 5  # jittered, not in lock-step
    b.reset()
    assert b.next_delay() <= 1.0
