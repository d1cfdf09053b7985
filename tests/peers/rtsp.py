"""Start and control GStreamer's RTSP server (a real camera peer) from tests and benchmarks.

The server runs under Debian's ``/usr/bin/python3`` (the only interpreter with the GObject bindings) as a child
process; we wait for its ``READY`` line rather than sleeping. ``freeze``/``thaw`` (SIGSTOP/SIGCONT) simulate a
camera that keeps its socket open but sends nothing; ``kill`` a dead one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("gst_rtsp_server.py")
SHARED_VIDEOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "videos"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing_tools() -> str | None:
    """Why the real RTSP server cannot run here, or None when it can."""
    if not Path(SYSTEM_PYTHON).exists():
        return "Debian /usr/bin/python3 is missing"
    check = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"],
        capture_output=True, check=False,
    )
    if check.returncode != 0:
        return "GStreamer RTSP server bindings missing (apt-get install gir1.2-gst-rtsp-server-1.0 python3-gi)"
    if shutil.which("ffmpeg") is None:
        return "ffmpeg is missing (apt-get install ffmpeg)"
    return None


def looped_copy(src: Path, dst: Path, loops: int) -> Path:
    """A long stream-copied version of ``src`` (the RTSP file mount does not loop)."""
    if not dst.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(src), "-c", "copy",
             "-an", str(dst)],
            check=True,
        )
    return dst


def synthetic_clip(dst: Path, *, width: int = 1920, height: int = 1080, fps: int = 25, gop: int = 50,
                   seconds: int = 120, codec: str = "libx264") -> Path:
    """A generated H.264 clip (testsrc2) at a given size and GOP: a '1080p camera' with known parameters."""
    if not dst.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}",
             "-t", str(seconds), "-c:v", codec, "-preset", "ultrafast", "-tune", "zerolatency",
             "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-pix_fmt", "yuv420p",
             "-b:v", "2M", str(dst)],
            check=True,
        )
    return dst


class RtspServer:
    """A running gst-rtsp-server with named mounts; ``url(name)`` gives the camera URL."""

    def __init__(self, mounts: dict[str, Path], *, port: int | None = None,
                 auth: dict[str, tuple[str, str, Path]] | None = None) -> None:
        self.mounts = mounts
        self.auth = auth or {}
        self.port = port or free_port()
        self.proc: subprocess.Popen[str] | None = None

    def url(self, name: str, credentials: tuple[str, str] | None = None) -> str:
        userinfo = f"{credentials[0]}:{credentials[1]}@" if credentials else ""
        return f"rtsp://{userinfo}127.0.0.1:{self.port}/{name}"

    def start(self, timeout: float = 15.0) -> RtspServer:
        args = [SYSTEM_PYTHON, str(SCRIPT), "--port", str(self.port)]
        args += [f"{name}={path}" for name, path in self.mounts.items()]
        for name, (user, password, path) in self.auth.items():
            args += ["--auth", f"{name}={user}:{password}={path}"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=sys.stderr, text=True, env=env)
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("READY"):
                return self
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"RTSP server did not start on port {self.port}")

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
