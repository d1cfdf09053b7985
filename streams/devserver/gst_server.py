"""The child process of :mod:`streams.devserver.rtsp`: GStreamer's gst-rtsp-server serving video files as cameras.

A script for Debian's ``/usr/bin/python3`` (GStreamer's GObject bindings exist only there, not in citywall's
virtual environment). It imports nothing from citywall and citywall never imports it; its GObject imports happen
inside the functions, so tools that import every module of the package do not need GStreamer.

    /usr/bin/python3 gst_server.py --check     prints "OK", or "MISSING <Debian packages>"
    /usr/bin/python3 gst_server.py             reads one JSON line on stdin, then serves:
        {"port": 0, "shared": true, "mounts": [{"name": "cam", "codec": "h264", "path": "/a.mp4",
                                                "user": null, "password": null}, ...]}

Each mount becomes ``rtsp://127.0.0.1:PORT/NAME``, sending the file's video track as the camera sent it (no
re-encode), paced at real time. The settings come on stdin, not in argv, so test credentials do not show in ``ps``
and a file name needs no quoting rules. ``port`` 0 binds a free port; once it listens the script prints
``READY <port>`` (the launcher reads the port instead of guessing one, and waits for that line instead of
sleeping), or ``FAILED <why>``.

It stops on SIGTERM or SIGINT, and when its stdin closes: the launcher holds the other end, so if the launcher dies
without stopping it (even by SIGKILL) the pipe closes and this server ends too — no orphan camera server.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys

ELEMENTS = ("filesrc", "qtdemux", "h264parse", "rtph264pay", "h265parse", "rtph265pay")
# What each missing piece is called in Debian, for the message the user sees.
PACKAGE_OF = {
    "gi": "python3-gi", "Gst": "python3-gst-1.0 gir1.2-gstreamer-1.0",
    "GstRtspServer": "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp",
    "filesrc": "gstreamer1.0-plugins-base", "qtdemux": "gstreamer1.0-plugins-good",
    "rtph264pay": "gstreamer1.0-plugins-good", "rtph265pay": "gstreamer1.0-plugins-good",
    "h264parse": "gstreamer1.0-plugins-bad", "h265parse": "gstreamer1.0-plugins-bad",
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


def serve(spec: dict) -> int:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(spec["port"]))
    points = server.get_mount_points()
    protected = [m for m in spec["mounts"] if m.get("user") is not None]
    if protected and len(protected) != len(spec["mounts"]):
        # gst-rtsp-server challenges (401) only clients without a token; a default token for open mounts would
        # turn the challenge into a 404, so a server is either all-open or all-protected.
        print("FAILED open and protected mounts cannot share one server; start two", flush=True)
        return 1
    auth = GstRtspServer.RTSPAuth() if protected else None
    for mount in spec["mounts"]:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(mount["path"], mount["codec"]))
        # Shared: one file reader for all clients of a mount, like one camera encoder for many viewers. Not
        # shared: every client gets its own pipeline from the file's start, so a client that reconnects after the
        # end of its (long, looped) file starts over instead of joining a finished media.
        factory.set_shared(bool(spec["shared"]))
        if auth is not None:
            user = mount["user"]
            token = GstRtspServer.RTSPToken()
            token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, user)
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, mount["password"]), token)
            role = Gst.Structure.from_string(
                f"{user}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")[0]
            factory.add_role_from_structure(role)
        points.add_factory("/" + mount["name"], factory)
    if auth is not None:
        server.set_auth(auth)
    if server.attach(None) == 0:
        print(f"FAILED cannot listen on 127.0.0.1:{spec['port']}", flush=True)
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
    parser.add_argument("--check", action="store_true", help="print what is missing, or OK")
    args = parser.parse_args()
    if args.check:
        need = missing()
        print("MISSING " + " ".join(need) if need else "OK", flush=True)
        return 1 if need else 0
    return serve(json.loads(sys.stdin.readline()))


if __name__ == "__main__":
    sys.exit(main())
