"""CameraSession: one camera, one thread, forever — connect, fan packets out, and reconnect when it breaks.

A camera that is refused, frozen, killed or sends garbage only ever affects its own thread: every failure
becomes a classified, redacted ``last_error`` and a backoff, and every consumer call is guarded so a bug in one
consumer cannot stop the camera.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

import cv2
import numpy as np

from streams.config import CameraConfig, StreamSettings
from streams.health import Backoff, CameraHealth, CameraState
from streams.remux import LiveRemux
from streams.ring import PacketRing
from streams.source import Epoch, PacketReader, SourceError, TimedPacket, classify

log = logging.getLogger(__name__)


class PacketConsumer(Protocol):
    """What the session feeds. Called from the camera's thread; must not block."""

    def on_epoch(self, epoch: Epoch) -> None: ...
    def on_packet(self, item: TimedPacket) -> None: ...
    def on_drop(self) -> None: ...


class CameraSession:
    def __init__(self, camera: CameraConfig, settings: StreamSettings, *, url: str | None = None,
                 realtime: bool | None = None) -> None:
        self.camera = camera
        self.settings = settings
        self.url = url or camera.url
        self.realtime = realtime
        self.health = CameraHealth(camera.id, settings.stall_after)
        self.ring = PacketRing(settings.ring_seconds, int(settings.ring_max_mb * 1024 * 1024))
        self.remux = LiveRemux(camera.id)
        self._consumers: tuple[PacketConsumer, ...] = ()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._epoch: Epoch | None = None
        self._backoff = Backoff(settings.backoff_initial, settings.backoff_max)
        self._snapshot: tuple[int, bytes] | None = None

    @property
    def id(self) -> str:
        return self.camera.id

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"camera-{self.id}", daemon=True)
            self._thread.start()

    def request_stop(self) -> None:
        """Signal the thread without waiting (lets a hub stop many cameras in parallel)."""
        self._stop.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop and wait. The container is closed by its own thread: closing it under a running demux crashes
        FFmpeg, so a frozen camera holds us for at most ``read_timeout`` (its read gives up by then)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.settings.read_timeout + 2)
        self.health.set_state(CameraState.STOPPED)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # -- consumers -------------------------------------------------------------------------------
    def attach(self, consumer: PacketConsumer, *, prime: bool = False) -> None:
        """Add a consumer; with ``prime`` it first receives the newest GOP from the ring (instant start)."""
        with self._lock:
            if consumer in self._consumers:
                return
            if prime and self._epoch is not None:
                gop = self.ring.latest_gop()
                self._call(consumer.on_epoch, self._epoch)
                for item in gop:
                    if item.epoch is self._epoch:
                        self._call(consumer.on_packet, item)
            elif self._epoch is not None:
                self._call(consumer.on_epoch, self._epoch)
            self._consumers = (*self._consumers, consumer)

    def detach(self, consumer: PacketConsumer) -> None:
        with self._lock:
            self._consumers = tuple(c for c in self._consumers if c is not consumer)
        self._call(consumer.on_drop)

    def watch(self, viewer) -> None:
        """Start sending live fMP4 to ``viewer``; the remux runs only while at least one viewer watches."""
        with self._lock:
            first = self.remux.viewer_count == 0
        if first:
            self.attach(self.remux, prime=True)
        self.remux.add_viewer(viewer)

    def unwatch(self, viewer) -> None:
        self.remux.remove_viewer(viewer)
        if self.remux.viewer_count == 0:
            self.detach(self.remux)

    # -- stills ----------------------------------------------------------------------------------
    def snapshot_jpeg(self, width: int | None = None, quality: int = 80) -> bytes | None:
        """The newest keyframe as JPEG (the tile's fallback when the browser cannot play the codec)."""
        key = self.ring.latest_keyframe()
        if key is None:
            return None
        if self._snapshot and self._snapshot[0] == id(key) and width is None:
            return self._snapshot[1]
        decoder = key.epoch.new_decoder()
        frames = list(decoder.decode(key.packet)) + list(decoder.decode(None))
        if not frames:
            return None
        frame = frames[0]
        if width:
            height = max(2, round(frame.height * width / frame.width / 2) * 2)
            frame = frame.reformat(width=width, height=height)
        image: np.ndarray = frame.to_ndarray(format="bgr24")
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            return None
        data = buf.tobytes()
        if width is None:
            self._snapshot = (id(key), data)
        return data

    # -- the camera thread -----------------------------------------------------------------------
    def _call(self, fn, *args) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("camera %s: consumer %s failed", self.id, getattr(fn, "__qualname__", fn))

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            if not first:
                self.health.reconnects += 1
            first = False
            self.health.set_state(CameraState.CONNECTING)
            got_packets = self._connect_and_read()
            if self._stop.is_set():
                break
            if got_packets:
                self._backoff.reset()
            self.health.set_state(CameraState.OFFLINE)
            delay = self._backoff.next_delay()
            log.info("camera %s offline (%s); retry in %.1fs", self.id, self.health.last_error, delay)
            self._stop.wait(delay)

    def _connect_and_read(self) -> bool:
        reader = PacketReader(
            self.url,
            open_timeout=self.settings.open_timeout,
            read_timeout=self.settings.read_timeout,
            realtime=self.realtime,
        )
        got = False
        try:
            info = reader.open()
            assert reader.stream is not None
            epoch = Epoch(info, reader.stream, reader)
            h = self.health
            h.codec, h.profile, h.width, h.height = info.codec, info.profile, info.width, info.height
            h.new_connection()
            with self._lock:
                self._epoch = epoch
                for consumer in self._consumers:
                    self._call(consumer.on_epoch, epoch)
            # A float, not the Fraction: Fraction arithmetic per packet cost ~35 µs, 0.9 ms per camera-second
            # (docs/performance.md, issue 17); a double holds pts × time base to well under a microsecond.
            seconds_per_tick = float(info.time_base)
            for packet in reader.packets():
                if self._stop.is_set():
                    break
                assert packet.pts is not None  # packets() fills pts in
                item = TimedPacket(epoch, packet, time.time(), time.monotonic(),
                                   packet.pts * seconds_per_tick, bool(packet.is_keyframe))
                h.on_packet(packet.size, item.keyframe, item.pts_s)
                got = True
                self.ring.append(item)
                with self._lock:
                    for consumer in self._consumers:
                        self._call(consumer.on_packet, item)
            if not self._stop.is_set():
                self.health.on_error("ended", "the camera ended the stream")
        except SourceError as exc:
            self.health.on_error(exc.kind, str(exc))
        except Exception as exc:  # anything else is still only this camera's problem
            err = classify(exc)
            self.health.on_error(err.kind, str(err))
            log.exception("camera %s: unexpected error", self.id)
        finally:
            with self._lock:
                self._epoch = None
                for consumer in self._consumers:
                    self._call(consumer.on_drop)
            if self._stop.is_set():
                reader.close()
        return got
