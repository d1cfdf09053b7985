"""Start and control the RTSP development server: real cameras, for the demo's ``--rtsp``, the tests and the
benchmarks.

GStreamer's Python bindings exist only for Debian's ``/usr/bin/python3``, not in citywall's virtual environment,
so the server is a child process running :mod:`streams.devserver.gst_server` under that interpreter (or the one
named by ``CITYWALL_GST_PYTHON``). :func:`why_unavailable` says what is missing (naming the Debian packages);
:class:`RtspDevServer` starts the child, hands it the mounts on its stdin, reads the port it bound from its
``READY`` line (no sleeping, no port race) and ends it. ``freeze``/``thaw`` (SIGSTOP/SIGCONT) make a camera that
keeps its socket open but sends nothing; ``kill`` a dead one.

The child never outlives its launcher: :meth:`RtspDevServer.stop` ends it (SIGTERM, then SIGKILL), it runs in
its own session so a terminal's Ctrl-C reaches only the launcher (which then stops it in order), and it quits by
itself when its stdin — a pipe the launcher holds — closes, which also covers a launcher killed outright.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from settings.packaged import packaged
from streams.devserver.clips import ClipError, codec_of

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's: the interpreter its python3-gi and GStreamer bindings belong to
PYTHON_ENV = "CITYWALL_GST_PYTHON"  # names another interpreter with those bindings (a distro that puts them elsewhere)
SERVER_SCRIPT = packaged("streams", "devserver", "gst_server.py")
INSTALL = ("gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp python3-gi python3-gst-1.0 gstreamer1.0-plugins-base "
           "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad")


class RtspUnavailable(RuntimeError):
    """The RTSP server cannot run here, or did not start; the message says why (and what to install)."""


def free_port() -> int:
    """A TCP port free on the loopback interface now (for a peer that must be told its port in advance)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


class RtspDevServer:
    """The running server child with named mounts: ``url(name)`` is that camera's address.

    ``mounts`` are open (name → file); ``auth`` mounts need HTTP basic credentials (name → (user, password,
    file)), to test "unauthorized" — gst-rtsp-server cannot mix the two in one server. ``shared``: one file reader
    per mount for all clients, as one camera encoder serves many viewers (the tests and benchmarks); not shared,
    each client gets its own pipeline from the file's start, so a camera that reconnects after the end of a looped
    file starts over (the demo). ``port`` 0 lets the child bind a free one; a restarted server passes the old one.
    """

    def __init__(self, mounts: Mapping[str, Path], *, shared: bool = True, port: int = 0,
                 auth: Mapping[str, tuple[str, str, Path]] | None = None) -> None:
        self.mounts = dict(mounts)
        self.auth = dict(auth or {})
        if self.mounts and self.auth:
            raise ValueError("open and protected mounts cannot share one server; start two")
        self.shared = shared
        self.port = port
        self.proc: subprocess.Popen[str] | None = None
        self._last = ""  # the child's last line, for the error message

    def url(self, name: str, credentials: tuple[str, str] | None = None) -> str:
        userinfo = f"{credentials[0]}:{credentials[1]}@" if credentials else ""
        return f"rtsp://{userinfo}127.0.0.1:{self.port}/{name}"

    def _spec(self) -> str:
        """The child's settings, one JSON line: every mount with its codec (probed here, where PyAV is)."""
        try:
            mounts = [{"name": name, "codec": codec_of(path), "path": str(path), "user": None, "password": None}
                      for name, path in self.mounts.items()]
            mounts += [{"name": name, "codec": codec_of(path), "path": str(path), "user": user, "password": password}
                       for name, (user, password, path) in self.auth.items()]
        except (ClipError, OSError) as exc:
            raise RtspUnavailable(str(exc)) from None
        return json.dumps({"port": self.port, "shared": self.shared, "mounts": mounts}) + "\n"

    def start(self, timeout: float = 30.0) -> RtspDevServer:
        spec = self._spec()
        self.proc = subprocess.Popen([system_python(), str(SERVER_SCRIPT)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=sys.stderr, text=True, env=_system_env(),
                                     start_new_session=True)
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(spec)
            self.proc.stdin.flush()  # and kept open: its end tells the child to stop
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

    def freeze(self) -> None:
        """The camera keeps its connections open but sends nothing (SIGSTOP)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """The camera dies at once (SIGKILL), without closing its connections in order."""
        self._end(graceful=False)

    def stop(self) -> None:
        """End the child and wait for it (no zombie, no orphan); idempotent."""
        self._end(graceful=True)

    def _end(self, graceful: bool) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a frozen child cannot act on SIGTERM
            if graceful:
                proc.terminate()
            else:
                proc.kill()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> RtspDevServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
