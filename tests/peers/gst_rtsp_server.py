"""A real RTSP server for tests and benchmarks: GStreamer's gst-rtsp-server.

Run with Debian's ``/usr/bin/python3`` (the GObject bindings exist only there):

    /usr/bin/python3 gst_rtsp_server.py --port 8554 cam0=/tmp/a.mp4 cam1=/tmp/b.mp4 | --auth secure=user:pass=/tmp/a.mp4

Each ``NAME=FILE`` becomes ``rtsp://127.0.0.1:PORT/NAME``, serving the file's H.264 track as the camera sent it
(no re-encode). A media is shared by all clients, so N viewers cost one file reader. The script prints
``READY <port>`` on stdout once it listens, so a launcher can wait for that line instead of sleeping.
``--auth NAME=USER:PASS=FILE`` mounts a file that needs HTTP basic credentials (to test "unauthorized").
"""

from __future__ import annotations

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PIPELINE = (
    "( filesrc location={path} ! qtdemux ! {parse} config-interval=-1 ! {pay} name=pay0 pt=96 )"
)


def _launch(path: str, codec: str) -> str:
    parse, pay = ("h265parse", "rtph265pay") if codec == "h265" else ("h264parse", "rtph264pay")
    return PIPELINE.format(path=path, parse=parse, pay=pay)


def _role(name: str) -> Gst.Structure:
    return Gst.Structure.from_string(
        f"{name}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
    )[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--codec", choices=["h264", "h265"], default="h264")
    parser.add_argument("--auth", action="append", default=[], help="NAME=USER:PASS=FILE")
    parser.add_argument("mounts", nargs="*", help="NAME=FILE")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()

    if args.auth and args.mounts:
        # gst-rtsp-server challenges (401) only clients without a token; a default token for open mounts
        # would turn the challenge into a 404, so a server is either all-open or all-protected.
        parser.error("--auth and open mounts cannot share one server; start two")
    auth = GstRtspServer.RTSPAuth() if args.auth else None

    for spec in args.mounts:
        name, path = spec.split("=", 1)
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(_launch(path, args.codec))
        factory.set_shared(True)
        mounts.add_factory("/" + name, factory)

    if auth is not None:
        for spec in args.auth:
            name, cred, path = spec.split("=", 2)
            user, password = cred.split(":", 1)
            token = GstRtspServer.RTSPToken()
            token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, user)
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
            factory = GstRtspServer.RTSPMediaFactory()
            factory.set_launch(_launch(path, args.codec))
            factory.set_shared(True)
            factory.add_role_from_structure(_role(user))
            mounts.add_factory("/" + name, factory)
        server.set_auth(auth)

    if server.attach(None) == 0:
        print(f"FAILED cannot listen on port {args.port}", flush=True)
        sys.exit(1)
    print(f"READY {args.port}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
