"""LiveRemux: the camera's own packets → fragmented MP4 for MediaSource, one muxer per camera for all viewers.

No re-encode: each packet is stream-copied into a one-frame fragment (``frag_every_frame``), so a tile is at most
a frame behind the camera. The muxer runs only while someone watches; it keeps the init segment and the
fragments since the newest keyframe, so a new viewer (or a tile switched to this camera) starts at once.
A viewer that cannot keep up is not buffered without bound: its queue is dropped and it resumes at the next
keyframe, which is the only place a decoder can resume.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import av

from streams.mp4 import BoxSplitter, codec_string
from streams.source import Epoch, TimedPacket

log = logging.getLogger(__name__)

MOVFLAGS = "frag_every_frame+empty_moov+default_base_moof"


@dataclass(frozen=True)
class InitSegment:
    data: bytes
    codec: str | None  # RFC 6381, e.g. avc1.42C01E
    width: int
    height: int
    epoch: int

    @property
    def mime(self) -> str | None:
        return f'video/mp4; codecs="{self.codec}"' if self.codec else None


@dataclass(frozen=True)
class Fragment:
    data: bytes
    keyframe: bool
    pts_s: float
    duration_s: float


class _Sink:
    """A write-only file for the muxer: non-seekable, so FFmpeg streams fragments instead of seeking back."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


class LiveViewer:
    """One viewer's outbox, filled by the camera thread and drained by the viewer's own (async) sender."""

    def __init__(self, max_seconds: float, notify: Callable[[], object] | None = None,
                 from_cache: bool = True) -> None:
        self.max_seconds = max_seconds
        # False: start at the camera's next keyframe instead of the cached GOP (what go2rtc and Frigate do; kept
        # as the baseline of bench/wall.py and for a wall that prefers the freshest first frame over a fast one)
        self.from_cache = from_cache
        self.notify = notify or (lambda: None)
        self._items: deque[InitSegment | Fragment] = deque()
        self._buffered = 0.0
        self._lock = threading.Lock()
        self.waiting_for_keyframe = False
        self.skips = 0
        self.closed = False

    def push(self, item: InitSegment | Fragment) -> None:
        with self._lock:
            if isinstance(item, InitSegment):
                self._items.clear()
                self._buffered = 0.0
                self.waiting_for_keyframe = False
                self._items.append(item)
            else:
                if self.waiting_for_keyframe:
                    if not item.keyframe:
                        return
                    self.waiting_for_keyframe = False
                if self._buffered + item.duration_s > self.max_seconds:
                    # Too slow: drop what is queued (keeping a pending init) and resume at the next keyframe.
                    inits = [i for i in self._items if isinstance(i, InitSegment)]
                    self._items = deque(inits)
                    self._buffered = 0.0
                    self.skips += 1
                    if not item.keyframe:
                        self.waiting_for_keyframe = True
                        self.notify()
                        return
                self._items.append(item)
                self._buffered += item.duration_s
        self.notify()

    def drain(self) -> list[InitSegment | Fragment]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
            self._buffered = 0.0
        return items


class LiveRemux:
    """The per-camera muxer. Attach it to a session (it is a packet consumer); viewers subscribe to it."""

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        self._lock = threading.RLock()
        self._viewers: list[LiveViewer] = []
        self._out: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._sink = _Sink()
        self._splitter = BoxSplitter()
        self._pending_keys: deque[tuple[bool, float, float]] = deque()
        self._prefix = b""
        self._epoch: Epoch | None = None
        self._base_dts: int | None = None
        self._seconds_per_tick = 1 / 90000
        self.init: InitSegment | None = None
        self.gop: list[Fragment] = []
        self.fragments = 0

    # -- viewers ---------------------------------------------------------------------------------
    @property
    def viewer_count(self) -> int:
        return len(self._viewers)

    def add_viewer(self, viewer: LiveViewer) -> None:
        with self._lock:
            self._viewers.append(viewer)
            if self.init is not None:
                viewer.push(self.init)
                if viewer.from_cache:
                    for fragment in self.gop:
                        viewer.push(fragment)
                else:
                    viewer.waiting_for_keyframe = True

    def remove_viewer(self, viewer: LiveViewer) -> None:
        with self._lock:
            if viewer in self._viewers:
                self._viewers.remove(viewer)
            viewer.closed = True

    # -- packet consumer -------------------------------------------------------------------------
    def on_epoch(self, epoch: Epoch) -> None:
        with self._lock:
            self._close_muxer()
            self._epoch = epoch
            self._out = av.open(
                self._sink, "w", format="mp4", options={"movflags": MOVFLAGS, "flush_packets": "1"}
            )
            self._stream = self._out.add_stream_from_template(epoch.stream)
            if epoch.info.codec == "hevc":
                self._stream.codec_tag = "hvc1"  # what browsers (and Safari only) accept for HEVC in MSE
            self._base_dts = None
            self._seconds_per_tick = float(epoch.info.time_base)  # a double per packet, not Fraction arithmetic

    def on_packet(self, item: TimedPacket) -> None:
        with self._lock:
            if self._out is None or item.epoch is not self._epoch:
                return
            if self._base_dts is None:
                if not item.keyframe:
                    return  # a fragmented stream must start at a keyframe
                self._base_dts = item.packet.dts or 0
            packet = item.copy_packet(self._base_dts)
            packet.stream = self._stream
            duration = item.packet.duration * self._seconds_per_tick if item.packet.duration else 0.04
            self._pending_keys.append((item.keyframe, item.pts_s, duration))
            self._out.mux(packet)
            self._collect()

    def on_drop(self) -> None:
        with self._lock:
            self._close_muxer()

    def _collect(self) -> None:
        for kind, box in self._splitter.feed(self._sink.take()):
            if kind in (b"ftyp", b"styp", b"sidx", b"moof"):
                self._prefix += box
            elif kind == b"moov":
                data = self._prefix + box
                self._prefix = b""
                info = self._epoch.info if self._epoch else None
                width, height = self._picture_size()
                self.init = InitSegment(data, codec_string(data), width, height, info.epoch if info else 0)
                self.gop = []
                for viewer in self._viewers:
                    viewer.push(self.init)
            elif kind == b"mdat":
                keyframe, pts_s, duration = self._pending_keys.popleft() if self._pending_keys else (False, 0, 0)
                fragment = Fragment(self._prefix + box, keyframe, pts_s, duration)
                self._prefix = b""
                self.fragments += 1
                if keyframe:
                    self.gop = []
                self.gop.append(fragment)
                for viewer in self._viewers:
                    viewer.push(fragment)

    def _picture_size(self) -> tuple[int, int]:
        """The picture size the init segment announces: the camera's own here; a rendition's is its scaled one."""
        info = self._epoch.info if self._epoch else None
        return (info.width, info.height) if info else (0, 0)

    def _close_muxer(self) -> None:
        if self._out is not None:
            try:
                self._out.close()
                self._collect()  # the last frame's fragment is written only when the muxer closes
            except Exception as exc:  # a half-written muxer after a drop: nothing to save
                log.debug("closing muxer of %s: %s", self.camera_id, exc)
        self._out = None
        self._stream = None
        self._sink = _Sink()
        self._splitter = BoxSplitter()
        self._pending_keys.clear()
        self._prefix = b""
        self.init = None
        self.gop = []
