"""``citywall demo --rtsp``: the demo's clips served by the RTSP development server (streams/devserver/), so the
cameras take the real ingest path (RTSP over TCP, the camera's own H.264 packetized and paced like a camera's)
instead of ``file:`` sources.

This module makes long looped copies of the clips (the server's file mounts play a file once; a stream copy,
never re-encoded, cached in the data directory) and points each demo camera at its own mount
``rtsp://127.0.0.1:PORT/<camera id>``. After the looped copy ends (:data:`LOOP_SECONDS`) the camera sees the
stream end, reconnects like after any drop, and gets the clip from its start again (the mounts are not shared):
a real drop-and-reconnect every few minutes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from streams.devserver.clips import ClipError, looped_copy
from streams.devserver.rtsp import RtspDevServer, RtspUnavailable, why_unavailable

if TYPE_CHECKING:
    from wall.config import SiteConfig

LOOP_SECONDS = 600.0  # ~80 MB of looped copies for the demo's clips; then each camera reconnects
EXIT_UNAVAILABLE = 3  # `citywall demo --rtsp` without GStreamer's RTSP server


def prepare(site: SiteConfig, port: int = 0, say: Callable[[str], object] = print) -> RtspDevServer:
    """Check GStreamer and make the looped copies: the server with one mount per ``file:`` camera, not started yet
    (the caller's ``with`` starts and stops it). Raises :class:`RtspUnavailable` with the reason."""
    from streams.source import file_path, is_file_url

    why = why_unavailable()
    if why:
        raise RtspUnavailable(why)
    media = site.data_dir / "rtsp-media"
    copies: dict[Path, Path] = {}
    mounts: dict[str, Path] = {}
    for camera in site.cameras:
        if not is_file_url(camera.url):
            continue
        src = file_path(camera.url)
        if src not in copies:
            say(f"citywall demo: preparing {src.name} for RTSP (a {LOOP_SECONDS / 60:.0f}-minute loop, copied once)")
            try:
                copies[src] = looped_copy(src, media / f"{src.stem}.loop{int(LOOP_SECONDS)}.mp4", LOOP_SECONDS)
            except ClipError as exc:
                raise RtspUnavailable(str(exc)) from None
        mounts[camera.id] = copies[src]
    return RtspDevServer(mounts, shared=False, port=port)


def rtsp_site(site: SiteConfig, server: RtspDevServer) -> SiteConfig:
    """``site`` with each camera that has a mount reading it over RTSP (a started server: its port is known)."""
    cameras = [c.model_copy(update={"url": server.url(c.id), "main_url": None}) if c.id in server.mounts else c
               for c in site.cameras]
    return dataclasses.replace(site, cameras=cameras)
