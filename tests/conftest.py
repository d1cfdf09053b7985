"""Shared fixtures: real media, a real GStreamer RTSP server, and the real app on a real socket."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.peers.rtsp import SHARED_VIDEOS, RtspServer, looped_copy, missing_tools, synthetic_clip

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("CITYWALL_ARTIFACTS", REPO / "artifacts"))


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it is truthy or ``timeout`` passes (no fixed sleeps in tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long looped copies of the shared sample clips, and a generated 1080p H.264 clip (GOP 2 s)."""
    why = missing_tools()
    if why:
        pytest.fail(f"test peers missing: {why}. Run .ci/run (or see README) to install them.")
    if not SHARED_VIDEOS.is_dir():
        pytest.fail(f"sample videos not found at {SHARED_VIDEOS}")
    d = tmp_path_factory.mktemp("media")
    looped_copy(SHARED_VIDEOS / "car-detection.mp4", d / "car.mp4", 20)  # 30 s × 21 ≈ 10 min
    looped_copy(SHARED_VIDEOS / "one-by-one-person-detection.mp4", d / "person.mp4", 4)  # ≈ 11 min
    looped_copy(SHARED_VIDEOS / "bottle-detection.mp4", d / "bottle.mp4", 15)  # ≈ 10 min, High profile
    synthetic_clip(d / "hd1080-short.mp4", width=1920, height=1080, fps=25, gop=50, seconds=30)
    looped_copy(d / "hd1080-short.mp4", d / "hd1080.mp4", 10)  # ≈ 5.5 min
    return d


@pytest.fixture(scope="session")
def rtsp(media_dir: Path) -> Iterator[RtspServer]:
    """One real RTSP server for the session with four cameras (mounts are shared between clients)."""
    server = RtspServer({
        "car": media_dir / "car.mp4",
        "person": media_dir / "person.mp4",
        "bottle": media_dir / "bottle.mp4",
        "hd": media_dir / "hd1080.mp4",
    })
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_rtsp(media_dir: Path) -> Iterator[Callable[..., RtspServer]]:
    """Start private servers a test may freeze, kill or restart without disturbing others."""
    started: list[RtspServer] = []

    def start(port: int | None = None, **mounts: Path) -> RtspServer:
        server = RtspServer(mounts or {"cam": media_dir / "car.mp4"}, port=port).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class LiveServer:
    """The real app under uvicorn on a free loopback port, in a thread of the test process."""

    def __init__(self, app, port: int) -> None:
        import uvicorn

        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    ws_max_size=1 << 20))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        if not wait_until(lambda: self.server.started, 20):
            raise RuntimeError("uvicorn did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture
def serve_site(tmp_path: Path) -> Iterator[Callable[[str], LiveServer]]:
    """Write a cameras.yaml, load it like ``citywall serve`` does and run the app on a real socket."""
    from tests.peers.rtsp import free_port
    from wall.app import create_app
    from wall.config import load_config

    servers: list[LiveServer] = []

    def start(cameras_yaml: str, server_yaml: str = "", analytics_yaml: str = "") -> LiveServer:
        (tmp_path / "cameras.yaml").write_text(cameras_yaml, encoding="utf-8")
        if server_yaml:
            (tmp_path / "server.yaml").write_text(server_yaml, encoding="utf-8")
        if analytics_yaml:
            (tmp_path / "analytics.yaml").write_text(analytics_yaml, encoding="utf-8")
        site = load_config(tmp_path)
        live = LiveServer(create_app(site), free_port()).__enter__()
        servers.append(live)
        return live

    yield start
    for live in servers:
        live.__exit__(None, None, None)
