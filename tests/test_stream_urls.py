"""Admin-entered stream URLs are data, never templates (issue 16, finding 2), over the real app and a real TCP
listener standing in for "anything on the network the server can reach".

Before: ``POST /api/config/cameras/probe`` with ``rtsp://127.0.0.1:PORT/${HOME}:${PATH}`` sent the server's
environment to that listener, a URL with ``\\r\\n`` wrote lines of the sender's choosing to it, and probes were
unlimited (a port scanner with classified answers). Now: ``${…}`` expands only ``CITYWALL_CAM_*`` variables,
control characters are refused, each admin has 10 probes a minute, and every probe is audited.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import pytest

from streams.devserver.rtsp import free_port
from tests.conftest import LiveServer, SiteStarter
from tests.test_access import audit_rows, offline_cameras


class Listener:
    """A TCP service on loopback that records every connection's bytes (what a probe would leak to it)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(2)
            data = b""
            try:
                while chunk := conn.recv(65536):
                    data += chunk
            except OSError:
                pass
            self.received.append(data)
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.close()


@pytest.fixture
def site(serve_site: SiteStarter) -> LiveServer:
    return serve_site(offline_cameras("car"))


def probe(site: LiveServer, url: str) -> tuple[int, str]:
    res = site.client(headers={"Origin": site.origin}).post("/api/config/cameras/probe", json={"url": url})
    return res.status_code, res.text


def test_a_typed_url_cannot_read_the_servers_environment(site: LiveServer, listener: Listener,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYWALL_DB_PASSWORD", "db-secret-4711")
    for name in ("HOME", "PATH", "CITYWALL_DB_PASSWORD"):
        status, text = probe(site, f"rtsp://127.0.0.1:{listener.port}/${{{name}}}")
        assert status in (400, 422), text
        assert f"${{{name}}}" in text or name in text, "the answer names the refused reference"
        assert os.environ[name] not in text
    assert listener.received == [], "nothing was sent anywhere"


def test_control_characters_are_refused_and_nothing_is_written_to_the_target(
        site: LiveServer, listener: Listener) -> None:
    base = f"rtsp://127.0.0.1:{listener.port}/cam"
    for injected in (base + "\r\nX-Injected: 1", base + "\nGET / HTTP/1.0", base + "\x00", base + "\u2028x",
                     f"rtsp://127.0.0.1:{listener.port}/a b"):
        status, text = probe(site, injected)
        assert status == 400, (injected, text)
        assert "control character" in text or "space" in text, text
    admin = site.client(headers={"Origin": site.origin})
    saved = admin.put("/api/config/cameras/car", json={"url": base + "\r\nX-Injected: 1"})
    assert saved.status_code == 422, saved.text
    assert "X-Injected" not in (site.app.state.services.site.directory / "cameras.yaml").read_text(encoding="utf-8")
    assert listener.received == []


def test_the_allowed_prefix_expands_in_the_file_form(site: LiveServer, listener: Listener,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``${CITYWALL_CAM_*}`` is the site's own form for camera secrets: a probe may use it, and the saved file
    keeps the reference, never the value."""
    monkeypatch.setenv("CITYWALL_CAM_PASSWORD", "cam-secret-1234")
    status, text = probe(site, f"rtsp://viewer:${{CITYWALL_CAM_PASSWORD}}@127.0.0.1:{listener.port}/cam")
    assert status == 200, text  # the probe ran (and failed to find a camera there)
    assert "cam-secret-1234" not in text
    assert listener.received and listener.received[0].startswith(b"OPTIONS rtsp://127.0.0.1:")
    audit = audit_rows(site, action="camera.probe")
    assert audit and "cam-secret-1234" not in str(audit)


def test_probes_are_limited_per_admin_and_audited(site: LiveServer) -> None:
    closed = f"rtsp://127.0.0.1:{free_port()}/nothing"
    answers = [probe(site, closed)[0] for _ in range(11)]
    assert answers == [200] * 10 + [429], answers
    res = site.client(headers={"Origin": site.origin}).post("/api/config/cameras/probe", json={"url": closed})
    assert res.status_code == 429 and 1 <= int(res.headers["retry-after"]) <= 60
    assert "at most 10 stream probes a minute" in res.text
    rows = audit_rows(site, action="camera.probe")
    assert len(rows) == 10 and {r["detail"]["kind"] for r in rows} == {"refused"}
