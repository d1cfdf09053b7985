"""``citywall demo --rtsp``: the demo's clips served by GStreamer's RTSP server, so the cameras take the real ingest
path (RTSP over TCP, the camera's own H.264 packetized and paced like a camera's) instead of ``file:`` sources.

GStreamer's Python bindings exist only for Debian's ``/usr/bin/python3``, not in citywall's virtual environment,
so the server is a child process running ``wall/demo_rtsp_server.py`` under that interpreter (or the one named by
``CITYWALL_GST_PYTHON``). This module checks
that it can run (naming the Debian packages when not), makes long looped copies of the clips (the server's file
mounts play a file once; a stream copy made with PyAV, never re-encoded, cached in the data directory), starts the
child, reads the port it bound from its ``READY`` line, and points each demo camera at its own mount
``rtsp://127.0.0.1:PORT/<camera id>``.

After the looped copy ends (:data:`LOOP_SECONDS`) the camera sees the stream end, reconnects like after any drop,
and gets the clip from its start again (the mounts are not shared): a real drop-and-reconnect every few minutes.

The child never outlives citywall: :meth:`DemoRtspServer.stop` ends it (SIGTERM, then SIGKILL), it runs in its own
session so a terminal's Ctrl-C reaches only citywall (which then stops it in order), and it quits by itself when
its stdin — a pipe citywall holds — closes, which also covers a citywall killed outright.
"""

from __future__ import annotations

import dataclasses
import math
import os
import selectors
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wall.config import SiteConfig

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's: the interpreter its python3-gi and GStreamer bindings belong to
PYTHON_ENV = "CITYWALL_GST_PYTHON"  # names another interpreter with those bindings (a distro that puts them elsewhere)
SERVER_SCRIPT = Path(__file__).with_name("demo_rtsp_server.py")
LOOP_SECONDS = 600.0  # ~80 MB of looped copies for the demo's clips; then each camera reconnects
EXIT_UNAVAILABLE = 3  # `citywall demo --rtsp` without GStreamer's RTSP server
CODECS = {"h264": "h264", "hevc": "h265"}  # PyAV's codec name → the server's
INSTALL = ("gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp python3-gi python3-gst-1.0 gstreamer1.0-plugins-base "
           "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad")


class RtspUnavailable(RuntimeError):
    """The RTSP server cannot run here; the message says why and what to install."""


def _system_env() -> dict[str, str]:
    # The venv's PYTHONPATH/PYTHONHOME (if any) must not leak into Debian's interpreter.
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def system_python() -> str:
    """The interpreter that runs the server: $CITYWALL_GST_PYTHON, else Debian's /usr/bin/python3."""
    return os.environ.get(PYTHON_ENV) or SYSTEM_PYTHON


def why_unavailable() -> str | None:
    """Why GStreamer's RTSP server cannot run here (with the Debian packages to install), or None when it can."""
    python = system_python()
    if not Path(python).is_file():
        return f"{python} is missing (GStreamer's Python bindings need it); apt-get install python3 {INSTALL}"
    try:
        check = subprocess.run([python, str(SERVER_SCRIPT), "--check"], capture_output=True, text=True,
                               timeout=60, check=False, env=_system_env(), stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {python}: {exc}"
    last = (check.stdout.strip().splitlines() or [""])[-1]
    if check.returncode == 0 and last == "OK":
        return None
    if last.startswith("MISSING "):
        return f"GStreamer's RTSP server is not installed; apt-get install {last.removeprefix('MISSING ')}"
    return f"GStreamer's RTSP server does not start ({(check.stderr.strip().splitlines() or ['no output'])[-1]})"


def looped_copy(src: Path, directory: Path, seconds: float = LOOP_SECONDS) -> tuple[Path, str]:
    """A stream copy of ``src``'s video repeated to last at least ``seconds``, with continuous timestamps, and its
    codec for the server. Cached in ``directory`` (rebuilt when the clip is newer); written under a temporary
    name and renamed, so an interrupted run never leaves half a file that a later run would serve."""
    import av

    with av.open(str(src)) as probe:
        if not probe.streams.video:
            raise RtspUnavailable(f"{src.name}: no video track")
        stream = probe.streams.video[0]
        codec = CODECS.get(stream.codec_context.name)
        if codec is None:
            raise RtspUnavailable(f"{src.name}: {stream.codec_context.name} cannot be served (H.264 or H.265 only)")
        dts = [(p.dts, p.duration or 0) for p in probe.demux(stream) if p.dts is not None]
        time_base = stream.time_base
    if not dts or time_base is None:
        raise RtspUnavailable(f"{src.name}: no video packets")
    first = min(d for d, _ in dts)
    span = max(d + dur for d, dur in dts) - first  # one pass, in the stream's time base
    loops = max(1, math.ceil(seconds / float(span * time_base)))
    dst = directory / f"{src.stem}.loop{int(seconds)}.mp4"
    if dst.is_file() and dst.stat().st_size > 0 and dst.stat().st_mtime >= src.stat().st_mtime:
        return dst, codec
    directory.mkdir(parents=True, exist_ok=True)
    part = dst.with_name(f".{dst.name}.part")
    with av.open(str(part), "w", format="mp4") as out:
        out_stream = None
        for i in range(loops):
            with av.open(str(src)) as inp:
                video = inp.streams.video[0]
                if out_stream is None:
                    out_stream = out.add_stream_from_template(video)
                for packet in inp.demux(video):
                    if packet.dts is None:  # the demuxer's final empty packet
                        continue
                    packet.dts += i * span
                    if packet.pts is not None:
                        packet.pts += i * span
                    packet.stream = out_stream
                    out.mux(packet)
    part.replace(dst)
    return dst, codec


class DemoRtspServer:
    """The running RTSP server child with one mount per camera: ``url(camera_id)`` is that camera's address."""

    def __init__(self, mounts: dict[str, tuple[str, Path]], port: int = 0) -> None:
        self.mounts = mounts  # camera id → (codec, file)
        self.port = port
        self.proc: subprocess.Popen[str] | None = None
        self._last = ""  # the child's last line, for the error message

    def url(self, name: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{name}"

    def start(self, timeout: float = 30.0) -> DemoRtspServer:
        args = [system_python(), str(SERVER_SCRIPT), "--port", str(self.port)]
        args += [f"{name}={codec}:{path}" for name, (codec, path) in self.mounts.items()]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=_system_env(), start_new_session=True)
        try:
            if self._wait_ready(timeout):
                return self
        except BaseException:  # Ctrl-C while it starts: no child left behind
            self.stop()
            raise
        last = self._last
        self.stop()
        raise RtspUnavailable(f"the RTSP server did not start: {last or f'no answer within {timeout:.0f} s'}")

    def _wait_ready(self, timeout: float) -> bool:
        """Read the child's lines until ``READY <port>`` (True) or ``FAILED``, its end or the timeout (False)."""
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not sel.select(max(0.0, deadline - time.monotonic())):
                    return False
                line = self.proc.stdout.readline()
                if not line:  # the child ended before it was ready
                    return False
                self._last = line.strip()
                if self._last.startswith("READY "):
                    self.port = int(self._last.split()[1])
                    return True
                if self._last.startswith("FAILED"):
                    return False
        return False

    def stop(self) -> None:
        """End the child and wait for it (no zombie, no orphan); idempotent."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> DemoRtspServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def prepare(site: SiteConfig, port: int = 0, say: Callable[[str], object] = print) -> DemoRtspServer:
    """Check GStreamer and make the looped copies: the server with one mount per ``file:`` camera, not started yet
    (the caller's ``with`` starts and stops it). Raises :class:`RtspUnavailable` with the reason."""
    from streams.source import file_path, is_file_url

    why = why_unavailable()
    if why:
        raise RtspUnavailable(why)
    media = site.data_dir / "rtsp-media"
    copies: dict[Path, tuple[Path, str]] = {}
    mounts: dict[str, tuple[str, Path]] = {}
    for camera in site.cameras:
        if not is_file_url(camera.url):
            continue
        src = file_path(camera.url)
        if src not in copies:
            say(f"citywall demo: preparing {src.name} for RTSP (a {LOOP_SECONDS / 60:.0f}-minute loop, copied once)")
            copies[src] = looped_copy(src, media)
        path, codec = copies[src]
        mounts[camera.id] = (codec, path)
    return DemoRtspServer(mounts, port)


def rtsp_site(site: SiteConfig, server: DemoRtspServer) -> SiteConfig:
    """``site`` with each camera that has a mount reading it over RTSP (a started server: its port is known)."""
    cameras = [c.model_copy(update={"url": server.url(c.id), "main_url": None}) if c.id in server.mounts else c
               for c in site.cameras]
    return dataclasses.replace(site, cameras=cameras)
