"""Rendition: a camera's packets decoded, scaled and re-encoded as low-latency H.264 fMP4 for browsers that
cannot decode the camera's own codec.

Why: most public-security streams are H.265, and MediaSource plays HEVC only in Safari and in Chrome/Edge with a
hardware decoder; elsewhere a tile fell back to one still a second. A rendition is made on the server only
while such a browser watches (``streams.renditions.RenditionRegistry`` shares one per camera and size among all
of them), and it leaves the camera's own packets alone: the ring, the analytics and the direct live path still
see the camera's stream.

The output side is ``LiveRemux`` itself (init segment, one-frame fragments, the GOP cache a late joiner starts
from, slow viewers skipping to a keyframe), so a browser gets exactly what it gets from an H.264 camera. Only
the input differs: frames from an encoder instead of stream-copied packets. The encoder is libx264 with
ultrafast/zerolatency, no B-frames and a GOP of about a second, and each camera keyframe forces an encoder
keyframe, so a tile joins or resumes within a second and the rendition adds no more than a frame of delay.

Decoding and encoding cost milliseconds per frame, far too much for the camera's thread (which also feeds the
ring and the analytics): the session only queues packets (bounded; when the worker falls behind, the rest of
the GOP is dropped and it resumes at the next keyframe) and the rendition's own thread does the work.
"""

from __future__ import annotations

import logging
from fractions import Fraction

import av
import av.error
from av.video.frame import PictureType
from av.video.reformatter import VideoReformatter

from streams.packet_worker import PacketWorker, WorkerCounters
from streams.remux import MOVFLAGS, LiveRemux
from streams.sampler import output_size
from streams.source import Epoch, TimedPacket

log = logging.getLogger(__name__)

CODEC = "h264"  # what a rendition is (the tile's badge says so)
QUEUE_PACKETS = 150  # ~6 s at 25 fps: a primed GOP fits; more means the worker cannot keep up
GOP_SECONDS = 1.0
FULL_HD_PIXELS = 1920 * 1080
MIN_KBPS = 150  # below this a tile is mush whatever its size


def bitrate_cap(kbps_full_hd: int, size: tuple[int, int]) -> int:
    """The rendition's ceiling in kbit/s for an output of ``size``: ``kbps_full_hd`` scaled by its pixels (a
    tile a quarter of 1080p gets a quarter), never below MIN_KBPS."""
    return max(MIN_KBPS, round(kbps_full_hd * size[0] * size[1] / FULL_HD_PIXELS))


class _Drop:
    """Queue marker: the camera's connection ended (close the muxer; a new epoch follows a reconnect)."""


class Rendition(WorkerCounters, LiveRemux):
    """One camera at one width as H.264: a packet consumer whose viewers are those of ``LiveRemux``."""

    def __init__(self, camera_id: str, width: int, *, threads: int = 1, kbps_full_hd: int = 4000) -> None:
        super().__init__(camera_id)
        self.width = width
        # A ceiling on the encoder (x264's VBV over its constant quality): a busy H.265 street at CRF alone can
        # take several Mbit/s per tile, which a hall's network pays once per viewer.
        self.kbps_full_hd = kbps_full_hd
        self.kbps = 0  # the ceiling of the current output size (set when the encoder is made)
        self.threads = threads  # encoder threads: 1 keeps a rendition's cost to one core's share, predictably
        # what is queued when it stops is dropped: its viewers have gone
        self._worker: PacketWorker[Epoch | _Drop] = PacketWorker(
            f"rendition-{camera_id}-{width}", QUEUE_PACKETS, self._handle, failed=self._thread_failed,
            finish=self._finish, drain_on_stop=False)
        self._decoder: av.VideoCodecContext | None = None
        self._encoder: av.VideoStream | None = None
        self._scaler = VideoReformatter()
        self._size = (0, 0)
        self._base_pts: int | None = None
        self._last_pts = -1
        self._frame_s = 0.04
        self.frames_in = 0  # frames decoded
        self.frames_out = 0  # frames encoded; cpu_seconds: decode + scale + encode + mux

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._worker.start()

    def stop(self, wait: float = 0.0) -> None:
        """Stop the worker; it closes its own muxer (never under a running encode). ``wait``: join that long."""
        self._worker.stop(wait)

    @property
    def running(self) -> bool:
        return self._worker.running

    # -- packet consumer (the camera's thread: queue only) --------------------------------------------------------
    def on_epoch(self, epoch: Epoch) -> None:
        self._worker.reset_skip()
        self._worker.put_control(epoch)

    def on_packet(self, item: TimedPacket) -> None:
        self._worker.offer(item)

    def on_drop(self) -> None:
        self._worker.put_control(_Drop())

    # -- the worker (streams.packet_worker runs the loop) ---------------------------------------------------------
    def _handle(self, item: Epoch | TimedPacket | _Drop) -> None:
        if isinstance(item, Epoch):
            self._open(item)
        elif isinstance(item, _Drop):
            with self._lock:
                self._close_muxer()
        else:
            self._transcode(item)

    def _thread_failed(self) -> None:
        """A bug here must not take the process down; the tile reconnects and gets stills."""
        log.exception("rendition of camera %s failed", self.camera_id)

    def _finish(self) -> None:
        with self._lock:
            self._close_muxer()

    def _open(self, epoch: Epoch) -> None:
        info = epoch.info
        with self._lock:
            self._close_muxer()
            self._epoch = epoch
            decoder = epoch.new_decoder()
            decoder.thread_type = "SLICE"  # frame threading would hold frames back (latency)
            self._decoder = decoder
            width = min(self.width, info.width) if info.width else self.width
            self._size = output_size((info.width or width * 16 // 9, info.height or width * 9 // 16), width, None)
            fps = info.fps or 25.0
            self._frame_s = 1 / fps
            self._out = av.open(self._sink, "w", format="mp4", options={"movflags": MOVFLAGS, "flush_packets": "1"})
            gop = max(1, round(fps * GOP_SECONDS))
            self.kbps = bitrate_cap(self.kbps_full_hd, self._size)
            encoder = self._out.add_stream("libx264", rate=max(1, round(fps)), options={
                "preset": "ultrafast", "tune": "zerolatency", "bf": "0", "g": str(gop),
                "threads": str(self.threads), "forced-idr": "1", "crf": "23",
                "maxrate": f"{self.kbps}k", "bufsize": f"{self.kbps}k"})  # a one-second buffer: low latency
            encoder.width, encoder.height = self._size
            encoder.pix_fmt = "yuv420p"
            encoder.codec_context.time_base = info.time_base
            encoder.time_base = info.time_base
            self._encoder = encoder
            self._base_pts = None
            self._last_pts = -1

    def _transcode(self, item: TimedPacket) -> None:
        with self._lock:
            decoder, encoder, out = self._decoder, self._encoder, self._out
            if decoder is None or encoder is None or out is None or item.epoch is not self._epoch:
                return
            if self._base_pts is None:
                if not item.keyframe:
                    return  # a decoder (and a fragmented stream) starts at a keyframe
                self._base_pts = item.packet.pts or 0
            try:
                frames = decoder.decode(item.packet)
            except av.error.FFmpegError as exc:
                log.debug("rendition of %s: decode error %s", self.camera_id, exc)
                return
            width, height = self._size
            for frame in frames:
                self.frames_in += 1
                if frame.pts is None:
                    continue
                pts = frame.pts - self._base_pts
                if pts <= self._last_pts:
                    continue  # the encoder needs rising timestamps (a glitch in the camera's clock)
                self._last_pts = pts
                scaled = self._scaler.reformat(frame, width=width, height=height, format="yuv420p")
                scaled.pts = pts
                scaled.time_base = encoder.codec_context.time_base or Fraction(1, 90000)
                if item.keyframe and frame.key_frame:
                    scaled.pict_type = PictureType.I  # keyframes where the camera has them (and every GOP_SECONDS)
                for packet in encoder.encode(scaled):
                    self.frames_out += 1
                    self._pending_keys.append((bool(packet.is_keyframe), item.pts_s, self._frame_s))
                    out.mux(packet)
                    self._collect()

    def _picture_size(self) -> tuple[int, int]:
        return self._size

    def _close_muxer(self) -> None:
        self._decoder = None
        self._encoder = None
        super()._close_muxer()
