"""Structured logs: the real ``citywall serve --log-format json`` as a child process against a real RTSP server
(one camera live, one refused), read line by line from its stderr; and the formatters through the real logging
module. Every line must parse, carry the camera it is about, and never show a camera's credentials."""

from __future__ import annotations

import io
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from streams.devserver.rtsp import RtspDevServer, free_port
from tests.conftest import REPO, TEST_PASSWORD, wait_until
from wall.logs import JsonFormatter, camera_of, configure_logging

USER, PASSWORD = "camuser", "Log-s3cret-pw"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes the root logger: put the test process' own handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_json_lines_carry_camera_extras_and_no_credentials(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("json", stream=out)
    log = logging.getLogger("citywall.test")
    url = f"rtsp://{USER}:{PASSWORD}@10.1.2.3:554/Streaming/Channels/101"
    log.warning("camera %s offline (refused: %s)", "gate-1", url, extra={"camera": "gate-1", "attempt": 3,
                                                                          "detail": {"url": url}})

    def from_a_camera_thread() -> None:
        try:
            raise OSError(f"Connection refused: '{url}'")
        except OSError:
            logging.getLogger("streams.session").exception("camera %s: unexpected error", "lobby")

    thread = threading.Thread(target=from_a_camera_thread, name="camera-lobby")
    thread.start()
    thread.join()
    log.info("中文 消息 without a camera")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 3
    first, second, third = lines
    assert first["level"] == "warning" and first["logger"] == "citywall.test" and first["camera"] == "gate-1"
    assert first["attempt"] == 3 and first["detail"] == {"url": "rtsp://***@10.1.2.3:554/Streaming/Channels/101"}
    assert first["message"] == "camera gate-1 offline (refused: rtsp://***@10.1.2.3:554/Streaming/Channels/101)"
    assert first["ts"].endswith("+00:00") and "T" in first["ts"]
    assert second["camera"] == "lobby" and second["level"] == "error"
    assert "OSError: Connection refused: 'rtsp://***@10.1.2.3" in second["exception"]
    assert third["message"] == "中文 消息 without a camera" and "camera" not in third
    assert PASSWORD not in out.getvalue() and USER not in out.getvalue()


def test_text_lines_are_redacted_too(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("text", stream=out)
    logging.getLogger("x").error("db at postgresql+psycopg://citywall:%s@db/citywall is down", PASSWORD)
    line = out.getvalue().strip()
    assert line.endswith("ERROR x: db at postgresql+psycopg://***@db/citywall is down")
    assert PASSWORD not in line
    with pytest.raises(ValueError):
        configure_logging("yaml")  # type: ignore[arg-type]


def test_a_signed_links_signature_stays_out_of_the_access_log(restore_logging: None) -> None:
    """Whoever holds a signed evidence link holds the file until it expires: uvicorn's access line (which quotes
    the path with its query) keeps the path and the expiry, not the signature, in both formats."""
    path = "/api/platform/evidence/ab12.jpg?expires=1790000000&signature=" + "f" * 64
    access = logging.getLogger("uvicorn.access")
    # the suite's sites run uvicorn at log_level warning, which uvicorn sets on its loggers process-wide
    level, disabled = access.level, access.disabled
    access.setLevel(logging.INFO)
    access.disabled = False
    try:
        for fmt in ("text", "json"):
            out = io.StringIO()
            configure_logging(fmt, stream=out)  # type: ignore[arg-type]
            access.info('%s - "%s %s HTTP/%s" %d', "10.0.0.9:5000", "GET", path, "1.1", 200)
            text = out.getvalue()
            assert "f" * 64 not in text and "signature=***" in text and "expires=1790000000" in text, text
    finally:
        access.setLevel(level)
        access.disabled = disabled


def test_camera_of_reads_extra_before_thread() -> None:
    record = logging.LogRecord("n", logging.INFO, __file__, 1, "m", None, None)
    record.threadName = "camera-north"
    assert camera_of(record) == "north"
    record.camera = "south"
    assert camera_of(record) == "south"
    record.threadName, record.camera = "MainThread", None
    assert camera_of(record) is None
    assert "camera" not in json.loads(JsonFormatter().format(record))


class ServeProcess:
    """``citywall serve`` in a child process; its output lines (stdout and stderr together, as Docker's log
    driver sees them) are collected by a thread as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "wall.cli", *args], cwd=REPO, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def collect(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return self.seen

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.collect():
                obj = json.loads(line)
                if predicate(obj):
                    return obj
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.reader.join(5)
        self.collect()


@pytest.mark.slow
def test_serve_with_json_logs_names_cameras_and_hides_their_passwords(rtsp: RtspDevServer, tmp_path: Path) -> None:
    closed = free_port()
    config = tmp_path / "site"
    config.mkdir()
    (config / "cameras.yaml").write_text(
        "cameras:\n"
        f'  - {{id: lot, name: 停车场, url: "{rtsp.url("car", (USER, PASSWORD))}"}}\n'
        f'  - {{id: gone, name: 关闭, url: "rtsp://{USER}:{PASSWORD}@127.0.0.1:{closed}/x"}}\n',
        encoding="utf-8")
    (config / "server.yaml").write_text(
        "streams: {open_timeout: 3, read_timeout: 2, backoff_initial: 0.2, backoff_max: 1.0}\n", encoding="utf-8")
    env = {**os.environ, "CITYWALL_DATA_DIR": str(tmp_path / "data")}
    env.pop("CITYWALL_LOG_FORMAT", None)
    made = subprocess.run([sys.executable, "-m", "wall.cli", "user", "add", "admin", "--role", "admin",
                           "--config", str(config), "--password-stdin"], cwd=REPO, env=env,
                          input=TEST_PASSWORD + "\n", capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "data" / "citywall.sqlite3").is_file()  # CITYWALL_DATA_DIR wins over server.data_dir
    assert not (config / "data").exists()

    port = free_port()
    serve = ServeProcess(["serve", "--config", str(config), "--port", str(port), "--log-format", "json"], env)
    try:
        offline = serve.wait_for(lambda o: o.get("camera") == "gone" and "offline" in o["message"], 60)
        assert offline is not None, serve.seen[-20:]
        assert offline["logger"] == "streams.session" and offline["level"] == "info"
        assert "rtsp://***@" in offline["message"] or "refused" in offline["message"]
        base = f"http://127.0.0.1:{port}"
        assert wait_until(lambda: _get(f"{base}/healthz") == 200, 60, 0.5)
        access = serve.wait_for(lambda o: o["logger"] == "uvicorn.access" and o.get("path") == "/healthz", 30)
        assert access is not None and access["status"] == 200 and access["method"] == "GET"

        with httpx.Client(base_url=base, timeout=20) as client:
            assert client.post("/api/session", json={"username": "admin", "password": TEST_PASSWORD}).status_code \
                == 200
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        with connect(f"ws://127.0.0.1:{port}/ws/live/lot", additional_headers={"Cookie": cookie},
                     open_timeout=20, max_size=None, max_queue=None) as ws:
            ws.recv(timeout=20)
            start = serve.wait_for(lambda o: o["message"].startswith("live view start"), 30)
            assert start is not None and start["camera"] == "lot" and start["logger"] == "wall.live"
    finally:
        serve.stop()
    lines = serve.seen
    assert len(lines) > 5
    for line in lines:
        obj = json.loads(line)  # every line is one JSON object
        assert {"ts", "level", "logger", "message"} <= obj.keys(), line
    text = "".join(lines)
    assert PASSWORD not in text and f"{USER}:" not in text
    assert any(json.loads(line).get("logger", "").startswith("uvicorn") for line in lines)
    assert any(json.loads(line)["message"].startswith(f"citywall: 2 cameras; open http://127.0.0.1:{port}/")
               for line in lines)  # the service's own notices are JSON lines too


def _get(url: str) -> int:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return 0
