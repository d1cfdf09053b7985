"""The RTSP server of ``citywall demo --rtsp``: GStreamer's gst-rtsp-server serving the demo clips as cameras.

This file is a script for Debian's ``/usr/bin/python3`` (the GObject bindings of GStreamer exist only there, not
in citywall's virtual environment); ``wall/demo_rtsp.py`` starts it and talks to it over its stdout and stdin:

    /usr/bin/python3 demo_rtsp_server.py [--port N] NAME=CODEC:FILE ...     (CODEC: h264 or h265)
    /usr/bin/python3 demo_rtsp_server.py --check                           (what is missing, or "OK")

Each ``NAME=CODEC:FILE`` becomes ``rtsp://127.0.0.1:PORT/NAME``, sending the file's video track as the camera sent
it (no re-encode), paced at real time like a camera. ``--port 0`` (the default) binds a free port; once it listens
the script prints ``READY <port>`` so the launcher reads the port instead of guessing one (no race) and waits for
that line instead of sleeping.

It stops on SIGTERM or SIGINT, and when its stdin closes: the launcher holds the other end, so if citywall dies
without stopping it (even by SIGKILL) the pipe closes and this server ends too — no orphan camera server.

It imports nothing from citywall and is not imported by it (its GObject imports happen inside the functions, so
tools that import every module of the package do not need GStreamer). ``tests/peers/gst_rtsp_server.py`` is the
test suite's own richer copy (authentication, freezing); this one is the product's.
"""

from __future__ import annotations

import argparse
import signal
import sys

ELEMENTS = ("filesrc", "qtdemux", "h264parse", "rtph264pay")
# What each missing piece is called in Debian, for the message the user sees.
PACKAGE_OF = {
    "gi": "python3-gi", "Gst": "python3-gst-1.0 gir1.2-gstreamer-1.0",
    "GstRtspServer": "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp",
    "filesrc": "gstreamer1.0-plugins-base", "qtdemux": "gstreamer1.0-plugins-good",
    "rtph264pay": "gstreamer1.0-plugins-good", "h264parse": "gstreamer1.0-plugins-bad",
}


def missing() -> list[str]:
    """The Debian packages this server still needs (empty when it can run). Without the bindings the plugins
    cannot be checked, so then every package is named: one apt-get line that surely works."""
    everything = sorted({pkg for pkgs in PACKAGE_OF.values() for pkg in pkgs.split()})
    try:
        import gi
    except ImportError:
        return everything
    for namespace in ("Gst", "GstRtspServer"):
        try:
            gi.require_version(namespace, "1.0")
        except ValueError:
            return everything
    from gi.repository import Gst

    Gst.init(None)
    return sorted({pkg for e in ELEMENTS if Gst.ElementFactory.find(e) is None for pkg in PACKAGE_OF[e].split()})


def launch_line(path: str, codec: str) -> str:
    """The media pipeline of one mount: demux the file and packetize its track as it is (no decoding)."""
    parse, pay = ("h265parse", "rtph265pay") if codec == "h265" else ("h264parse", "rtph264pay")
    # config-interval=-1: parameter sets before every keyframe, so a client joining late can decode at once.
    return f'( filesrc location="{path}" ! qtdemux ! {parse} config-interval=-1 ! {pay} name=pay0 pt=96 )'


def serve(port: int, mounts: list[str]) -> int:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    points = server.get_mount_points()
    for spec in mounts:
        name, rest = spec.split("=", 1)
        codec, path = rest.split(":", 1)
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(path, codec))
        # Not shared: every client gets its own pipeline from the clip's start, so a camera that reconnects after
        # the end of its (long, looped) file starts over instead of joining a finished media.
        factory.set_shared(False)
        points.add_factory("/" + name, factory)
    if server.attach(None) == 0:
        print(f"FAILED cannot listen on 127.0.0.1:{port}", flush=True)
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    # stdin closed (the launcher ended, however it ended): stop as well.
    GLib.io_add_watch(sys.stdin.fileno(), GLib.PRIORITY_DEFAULT, GLib.IO_HUP | GLib.IO_IN | GLib.IO_ERR,
                      lambda *_: loop.quit() or False)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0: a free one (default)")
    parser.add_argument("--check", action="store_true", help="print what is missing, or OK")
    parser.add_argument("mounts", nargs="*", metavar="NAME=CODEC:FILE")
    args = parser.parse_args()
    if args.check:
        need = missing()
        print("MISSING " + " ".join(need) if need else "OK", flush=True)
        return 1 if need else 0
    return serve(args.port, args.mounts)


if __name__ == "__main__":
    sys.exit(main())
