"""Development peers: a real RTSP camera server (GStreamer's gst-rtsp-server) and the clips it serves.

One implementation for everything that needs cameras without a camera: ``citywall demo --rtsp`` (wall/demo_rtsp.py),
the test suite (tests/conftest.py) and the benchmarks (bench/). :mod:`streams.devserver.rtsp` starts and controls
the server, :mod:`streams.devserver.gst_server` is the server itself (a script for Debian's python3), and
:mod:`streams.devserver.clips` makes the files it serves (long looped copies, generated test patterns).
The service never imports this package.
"""
