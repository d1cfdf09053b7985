"""``citywall serve`` stops cleanly (exit 0, port free) on SIGTERM (Docker, systemd) and on SIGINT, also when
started in the background by a shell (which starts it with SIGINT ignored)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from streams.devserver.rtsp import free_port
from tests.conftest import REPO, wait_until
from wall.demo import MEDIA

pytestmark = pytest.mark.slow


def serve(tmp_path: Path, ignore_sigint: bool) -> tuple[subprocess.Popen[str], int]:
    (tmp_path / "cameras.yaml").write_text(
        f'cameras:\n  - {{id: lot, name: 停车场, url: "file:{MEDIA / "car-detection.mp4"}"}}\n', "utf-8")
    (tmp_path / "server.yaml").write_text(f"server:\n  data_dir: {tmp_path / 'data'}\n", "utf-8")
    port = free_port()

    def background() -> None:
        if ignore_sigint:
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen([sys.executable, "-m", "wall.cli", "serve", "--config", str(tmp_path), "--port",
                             str(port)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=background)

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_until(up, 60, 0.25), proc.stdout.read() if proc.poll() is not None else "not serving"
    return proc, port


@pytest.mark.parametrize(("sig", "ignore_sigint"), [(signal.SIGTERM, False), (signal.SIGINT, True)])
def test_serve_exits_zero_on_a_stop_signal(tmp_path: Path, sig: signal.Signals, ignore_sigint: bool) -> None:
    proc, port = serve(tmp_path, ignore_sigint)
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, out
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
