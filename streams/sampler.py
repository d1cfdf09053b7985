"""FrameSampler: a frame every *interval* seconds for analytics, decoding nothing that is not used.

Decoding is what costs CPU (design.md: 720p H.264 full decode ≈ 42 ms per video-second, keyframes only ≈ 7 ms).
So at each keyframe the sampler decides whether the group of pictures it opens contains a due sample:
- no  → the whole GOP is skipped without touching the decoder;
- yes → packets are decoded until the sample is taken and the next one falls past this GOP.
When the interval is at least the GOP this reduces to decoding due keyframes only; when it is shorter, to
decoding up to each k-th frame. Until the second keyframe of a connection the GOP length is unknown, so the
first GOP is decoded as needed — a one-off per connection.

A camera with a GOP longer than the interval makes the second case expensive: a look every 2 s on a 4.8 s GOP
decodes 80 % of all frames to reach the frames at 2 s and 4 s into each GOP (docs/performance.md). With
``max_interval`` a site accepts looks up to that far apart instead: when the GOP fits within it, the sampler
snaps its looks to the keyframes (one look per GOP, keyframes decoded only), and the rules, which count time
rather than looks, carry on as before.
Scaling and colour conversion happen in FFmpeg (``frame.reformat``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from streams.source import Epoch, TimedPacket

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class SampledFrame:
    camera_id: str
    image: np.ndarray  # H×W×3 uint8, BGR
    pts_s: float  # stream time (seconds)
    wall: float  # wall-clock time the packet arrived
    mono: float  # monotonic time the packet arrived
    source_size: tuple[int, int]  # (width, height) of the camera's picture
    keyframe: bool


def output_size(source: tuple[int, int], width: int | None, height: int | None) -> tuple[int, int]:
    """Requested size, filling a missing side from the source aspect ratio (even numbers, as codecs like)."""
    sw, sh = source
    if width and height:
        return width, height
    if width:
        return width, max(2, round(sh * width / sw / 2) * 2)
    if height:
        return max(2, round(sw * height / sh / 2) * 2), height
    return sw, sh


class FrameSampler:
    """A packet consumer that hands ``on_frame`` one :class:`SampledFrame` per interval."""

    def __init__(self, camera_id: str, interval: float, on_frame: Callable[[SampledFrame], None], *,
                 width: int | None = None, height: int | None = None, max_interval: float | None = None) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        if max_interval is not None and max_interval < interval:
            raise ValueError("max_interval must be at least interval")
        self.camera_id = camera_id
        self.interval = interval
        # Looks may stretch to this when that means decoding keyframes only (the GOP fits within it).
        self.max_interval = interval if max_interval is None else max_interval
        self.on_frame = on_frame
        self.width, self.height = width, height
        self._lock = threading.Lock()
        self._decoder: av.VideoCodecContext | None = None
        self._epoch: Epoch | None = None
        self._next_due: float | None = None
        self._gop: float | None = None
        self._last_key_s: float | None = None
        self._decoding = False
        self._arrivals: dict[int, TimedPacket] = {}
        # One scaler for the sampler's life: frame.reformat() builds a new swscale context for every frame, which
        # cost ~1.5 ms per 720p keyframe, as much again as the scale itself (issue 17); this one is rebuilt by
        # PyAV only when the size or format changes.
        self._scaler = VideoReformatter()
        self.decoded = 0  # frames that went through the decoder
        self.skipped = 0  # packets never decoded
        self.emitted = 0
        self.decode_seconds = 0.0  # time inside the decoder (for the service's metrics)

    def on_epoch(self, epoch: Epoch) -> None:
        with self._lock:
            decoder = epoch.new_decoder()
            decoder.thread_type = "SLICE"  # frame threading adds a frame of delay per thread
            self._decoder, self._epoch = decoder, epoch
            self._decoding, self._gop, self._last_key_s = False, None, None
            self._next_due = None
            self._arrivals.clear()

    def on_drop(self) -> None:
        with self._lock:
            self._decoder, self._epoch, self._decoding = None, None, False
            self._arrivals.clear()

    def on_packet(self, item: TimedPacket) -> None:
        with self._lock:
            if self._decoder is None or item.epoch is not self._epoch:
                return
            if item.keyframe:
                self._on_keyframe(item.pts_s)
            if not self._decoding:
                self.skipped += 1
                return
            assert item.packet.pts is not None  # PacketReader.packets() fills pts in
            self._arrivals[item.packet.pts] = item
            try:
                frames = self._decode(item.packet)
                if item.keyframe and not frames and self._keyframe_only():
                    frames = self._drain()  # reorder delay would hold the keyframe until more packets come
            except av.error.FFmpegError as exc:
                log.debug("%s: decode error %s", self.camera_id, exc)
                return
            for frame in frames:
                self._consider(frame)
            if self._decoding and (self._keyframe_only() or
                                   (self._next_due is not None and self._past_gop(self._next_due))):
                self._stop_gop()  # keyframes only: nothing after the keyframe is needed

    def _keyframe_only(self) -> bool:
        return self._gop is not None and self._gop <= self.max_interval + 1e-6

    def _on_keyframe(self, pts_s: float) -> None:
        if self._last_key_s is not None and pts_s > self._last_key_s:
            self._gop = pts_s - self._last_key_s
        self._last_key_s = pts_s
        if self._next_due is None:
            self._next_due = pts_s
        if self._decoding:
            self._stop_gop()
        # A sample is due in this GOP if it is due before the next keyframe (GOP unknown: assume yes); with
        # keyframes only, this keyframe serves if it is the one nearest the due time.
        if self._gop is None:
            self._decoding = True
        elif self._keyframe_only():
            self._decoding = self._next_due - self._tolerance() <= pts_s
        else:
            self._decoding = self._next_due < pts_s + self._gop - 1e-6

    def _tolerance(self) -> float:
        """Take the frame nearest the due time: within half a GOP when only keyframes are decoded, else half a frame."""
        if self._keyframe_only():
            assert self._gop is not None
            return 0.5 * self._gop
        return 0.5 / (self._epoch.info.fps or 25) if self._epoch else 0.02

    def _past_gop(self, t: float) -> bool:
        if self._gop is None:
            return False  # GOP length unknown until the second keyframe: decode the first GOP as needed
        return self._last_key_s is not None and t >= self._last_key_s + self._gop - 1e-6

    def _decode(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        assert self._decoder is not None
        t0 = time.perf_counter()
        try:
            return list(self._decoder.decode(packet))
        finally:
            self.decode_seconds += time.perf_counter() - t0

    def _drain(self) -> list[av.VideoFrame]:
        assert self._decoder is not None
        frames = self._decode(None)
        self._decoder.flush_buffers()
        return frames

    def _stop_gop(self) -> None:
        for frame in self._drain():
            self._consider(frame)
        self._decoding = False
        self._arrivals.clear()

    def _consider(self, frame: av.VideoFrame) -> None:
        self.decoded += 1
        assert self._epoch is not None
        if frame.pts is None or self._next_due is None:
            return
        t = float(frame.pts * self._epoch.info.time_base)
        tolerance = self._tolerance()
        if t + tolerance < self._next_due:
            return
        arrival = self._arrivals.pop(frame.pts, None)
        size = output_size((frame.width, frame.height), self.width, self.height)
        image = self._scaler.reformat(frame, width=size[0], height=size[1], format="bgr24").to_ndarray()
        # Catch up rather than burst if we fell behind (e.g. after a stall).
        self._next_due = max(self._next_due + self.interval, t + self.interval)
        self.emitted += 1
        sampled = SampledFrame(
            camera_id=self.camera_id, image=image, pts_s=t,
            wall=arrival.wall if arrival else 0.0, mono=arrival.mono if arrival else 0.0,
            source_size=(frame.width, frame.height), keyframe=bool(frame.key_frame),
        )
        try:
            self.on_frame(sampled)
        except Exception:  # the analysis side must never kill the camera thread
            log.exception("%s: frame consumer failed", self.camera_id)
